"""Per-agent zCDP privacy budget per time window, enforced before every release.

``PrivacyAccountant.release`` is the only way a signal leaves an agent with noise: it calibrates
OpenDP's Gaussian to the requested zCDP cost, checks that the window's spend would stay within the
budget, charges it, emits a ``PrivacySpendRecord`` (for the ledger) and only then samples the noise. If
the budget would be exceeded it raises ``BudgetExhausted`` and nothing is released or charged.

This is a privacy filter over a zCDP odometer, in OpenDP's terms: the spend is folded exactly as
OpenDP's ``make_fully_adaptive_composition`` odometer folds it, so ``make_privacy_filter`` with the same
budget refuses at the same release (tests check both). Windows are aligned to the Unix epoch
(``start = now - now mod window``); a clock that steps backwards never reopens an old window.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from agents.privacy.errors import BudgetExhausted, InvalidRelease
from agents.privacy.opendp_bridge import (
    add_rho,
    calibrate_gaussian,
    compose_rho,
    epsilon_for_rho,
    opendp_version,
)
from agents.privacy.records import BudgetSnapshot, PrivacySpendRecord

MAX_WINDOW_SECONDS = 2**32 - 1  # the IR carries it as uint32
MIN_SENSITIVITY = 1e-12
MAX_SENSITIVITY = 1e12
DEFAULT_DELTA = 1e-6
DEFAULT_MAX_DIMENSION = 4096

FloatVector = Sequence[float] | NDArray[Any]
"""A signal to release: a sequence of floats or a 1-D numpy array (converted at the boundary)."""

Clock = Callable[[], int]
"""Returns the current Unix time in milliseconds."""


def system_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _positive_finite(value: object, *, field: str, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRelease(f"{field}: expected a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidRelease(f"{field}: expected a finite number, got {number!r}")
    if not low < number <= high:
        raise InvalidRelease(f"{field}: expected in ({low!r}, {high!r}], got {number!r}")
    return number


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    """How much an agent may reveal: ``zcdp_rho_per_window`` per ``window_seconds`` window.

    ``delta`` is only for reporting (epsilon at this delta); enforcement is in zCDP rho.
    """

    zcdp_rho_per_window: float
    window_seconds: int
    delta: float = DEFAULT_DELTA
    max_dimension: int = DEFAULT_MAX_DIMENSION

    def __post_init__(self) -> None:
        _positive_finite(self.zcdp_rho_per_window, field="zcdp_rho_per_window", high=1e6)
        if isinstance(self.window_seconds, bool) or not isinstance(self.window_seconds, int):
            raise InvalidRelease(
                f"window_seconds: expected an integer, got {type(self.window_seconds).__name__}"
            )
        if not 1 <= self.window_seconds <= MAX_WINDOW_SECONDS:
            raise InvalidRelease(
                f"window_seconds: expected 1..{MAX_WINDOW_SECONDS}, got {self.window_seconds}"
            )
        _positive_finite(self.delta, field="delta", high=0.5)
        if isinstance(self.max_dimension, bool) or not isinstance(self.max_dimension, int):
            raise InvalidRelease(
                f"max_dimension: expected an integer, got {type(self.max_dimension).__name__}"
            )
        if not 1 <= self.max_dimension <= 1_000_000:
            raise InvalidRelease(f"max_dimension: expected 1..1000000, got {self.max_dimension}")

    def rho_per_release(self, releases: int) -> float:
        """The largest equal per-release rho such that ``releases`` of them fit the window budget.

        Not simply ``budget / releases``: OpenDP adds costs rounding up, so ten releases of 0.1 total
        slightly more than 1.0 and the tenth would be refused.
        """
        if isinstance(releases, bool) or not isinstance(releases, int) or not 1 <= releases <= 1_000_000:
            raise InvalidRelease(f"releases: expected 1..1000000, got {releases!r}")
        rho = self.zcdp_rho_per_window / releases
        while compose_rho([rho] * releases) > self.zcdp_rho_per_window:
            rho = math.nextafter(rho, 0.0)
        return rho


def window_start_for(now_unix_ms: int, window_seconds: int) -> int:
    """Start of the epoch-aligned window containing ``now_unix_ms``."""
    length = window_seconds * 1000
    return now_unix_ms - now_unix_ms % length


def validate_vector(values: FloatVector, *, max_dimension: int, field: str = "vector") -> list[float]:
    """Finite floats only (OpenDP would turn inf into the largest float and accept NaN silently)."""
    if isinstance(values, str | bytes) or not (hasattr(values, "__len__") and hasattr(values, "__iter__")):
        raise InvalidRelease(f"{field}: expected a sequence of floats, got {type(values).__name__}")
    n = len(values)
    if not 1 <= n <= max_dimension:
        raise InvalidRelease(f"{field}: expected 1..{max_dimension} values, got {n}")
    out: list[float] = []
    for i, value in enumerate(values):
        if isinstance(value, bool):
            raise InvalidRelease(f"{field}[{i}]: expected a float, got bool")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidRelease(f"{field}[{i}]: expected a float, got {type(value).__name__}") from None
        if not math.isfinite(number):
            raise InvalidRelease(f"{field}[{i}]: expected a finite float, got {number!r}")
        out.append(number)
    return out


@dataclass(frozen=True, slots=True)
class Release:
    values: tuple[float, ...]
    record: PrivacySpendRecord


class PrivacyAccountant:
    """One agent's budget. Thread-safe; the clock is injected (Unix ms) so tests never sleep."""

    def __init__(
        self,
        agent_id: str,
        policy: PrivacyPolicy,
        *,
        clock: Clock = system_clock_ms,
        on_spend: Callable[[PrivacySpendRecord], None] | None = None,
        window_start_unix_ms: int | None = None,
        spent_zcdp_rho: float = 0.0,
    ) -> None:
        if not isinstance(agent_id, str) or not 1 <= len(agent_id) <= 256:
            raise InvalidRelease(f"agent_id: expected 1..256 characters, got {agent_id!r}")
        if not isinstance(policy, PrivacyPolicy):
            raise InvalidRelease(f"policy: expected a PrivacyPolicy, got {type(policy).__name__}")
        self._agent_id = agent_id
        self._policy = policy
        self._clock = clock
        self._on_spend = on_spend
        self._lock = threading.Lock()
        now = self._now()
        start = (
            window_start_for(now, policy.window_seconds)
            if window_start_unix_ms is None
            else window_start_unix_ms
        )
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise InvalidRelease(f"window_start_unix_ms: expected a non-negative integer, got {start!r}")
        if start % (policy.window_seconds * 1000):
            raise InvalidRelease(
                f"window_start_unix_ms: expected a multiple of window_seconds*1000 "
                f"({policy.window_seconds * 1000}), got {start}"
            )
        spent = float(spent_zcdp_rho)
        if not math.isfinite(spent) or not 0.0 <= spent <= policy.zcdp_rho_per_window:
            raise InvalidRelease(
                f"spent_zcdp_rho: expected within [0, {policy.zcdp_rho_per_window!r}], got {spent_zcdp_rho!r}"
            )
        self._window_start = start
        self._spent = spent
        self._releases = 0
        self._roll(now)

    # -- time -------------------------------------------------------------------------------------

    def _now(self) -> int:
        now = self._clock()
        if isinstance(now, bool) or not isinstance(now, int) or now < 0:
            raise InvalidRelease(f"clock: expected a non-negative integer of Unix milliseconds, got {now!r}")
        return now

    def _roll(self, now: int) -> None:
        start = window_start_for(now, self._policy.window_seconds)
        if start > self._window_start:  # never backwards: a clock step back must not reopen a budget
            self._window_start = start
            self._spent = 0.0
            self._releases = 0

    # -- facts ------------------------------------------------------------------------------------

    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def policy(self) -> PrivacyPolicy:
        return self._policy

    def _refresh(self) -> tuple[int, float, int]:
        with self._lock:
            self._roll(self._now())
            return self._window_start, self._spent, self._releases

    @property
    def window_start_unix_ms(self) -> int:
        return self._refresh()[0]

    @property
    def spent_zcdp_rho(self) -> float:
        return self._refresh()[1]

    @property
    def remaining_zcdp_rho(self) -> float:
        return max(0.0, self._policy.zcdp_rho_per_window - self._refresh()[1])

    def epsilon_spent(self, delta: float | None = None) -> float:
        """OpenDP's epsilon (at ``delta``, default the policy's) of this window's spend so far."""
        d = self._policy.delta if delta is None else _positive_finite(delta, field="delta", high=0.5)
        return epsilon_for_rho(self._refresh()[1], d)

    def epsilon_budget(self, delta: float | None = None) -> float:
        d = self._policy.delta if delta is None else _positive_finite(delta, field="delta", high=0.5)
        return epsilon_for_rho(self._policy.zcdp_rho_per_window, d)

    def snapshot(self) -> BudgetSnapshot:
        start, spent, releases = self._refresh()
        budget = self._policy.zcdp_rho_per_window
        return BudgetSnapshot(
            agent_id=self._agent_id,
            window_start_unix_ms=start,
            window_seconds=self._policy.window_seconds,
            budget_zcdp_rho=budget,
            spent_zcdp_rho=spent,
            remaining_zcdp_rho=max(0.0, budget - spent),
            releases=releases,
            delta=self._policy.delta,
            epsilon_spent=epsilon_for_rho(spent, self._policy.delta),
            epsilon_budget=epsilon_for_rho(budget, self._policy.delta),
        )

    # -- the release path -------------------------------------------------------------------------

    def release(self, vector: FloatVector, sensitivity: float, rho_cost: float) -> tuple[float, ...]:
        """``vector`` plus Gaussian noise costing at most ``rho_cost`` (zCDP) at L2 ``sensitivity``.

        Raises ``BudgetExhausted`` (nothing released, nothing charged) if the window cannot afford it.
        """
        return self.release_with_record(vector, sensitivity, rho_cost).values

    def release_with_record(self, vector: FloatVector, sensitivity: float, rho_cost: float) -> Release:
        values = validate_vector(vector, max_dimension=self._policy.max_dimension)
        delta_l2 = _positive_finite(
            sensitivity, field="sensitivity", low=MIN_SENSITIVITY, high=MAX_SENSITIVITY
        )
        rho = _positive_finite(rho_cost, field="rho_cost", high=self._policy.zcdp_rho_per_window)
        measurement, scale, charge = calibrate_gaussian(delta_l2, rho, len(values))
        with self._lock:
            now = self._now()
            self._roll(now)
            after = add_rho(self._spent, charge)
            if after > self._policy.zcdp_rho_per_window:
                raise BudgetExhausted(
                    agent_id=self._agent_id,
                    window_start_unix_ms=self._window_start,
                    window_seconds=self._policy.window_seconds,
                    budget_rho=self._policy.zcdp_rho_per_window,
                    spent_rho=self._spent,
                    requested_rho=rho,
                    cost_rho=charge,
                )
            # Charge before sampling: if anything below fails, we over-count, never under-count.
            self._spent = after
            self._releases += 1
            record = PrivacySpendRecord(
                agent_id=self._agent_id,
                window_start_unix_ms=self._window_start,
                window_seconds=self._policy.window_seconds,
                sequence=self._releases,
                at_unix_ms=now,
                dimension=len(values),
                l2_sensitivity=delta_l2,
                noise_scale=scale,
                rho_requested=rho,
                rho_charged=charge,
                spent_zcdp_rho=after,
                budget_zcdp_rho=self._policy.zcdp_rho_per_window,
                delta=self._policy.delta,
                opendp_version=opendp_version(),
            )
        if self._on_spend is not None:
            self._on_spend(record)  # e.g. enqueue for the ledger; if it raises, nothing is released
        noisy = measurement(values)
        return Release(tuple(float(x) for x in noisy), record)
