"""Differentially private round answers: what an agent releases into the secure sums, under its budget.

Secure aggregation hides each contribution within a round, but sums across rounds still leak (after a
dropout, the difference of two sums is the dropped venue's plan). So, when a venue configures privacy,
every plan it puts into a sum is a *release*: its plan plus OpenDP Gaussian noise, charged to its
``PrivacyAccountant`` before it leaves the agent. Noise goes on the absolute value (``answer = x +
noise``; the contribution stays ``answer - counted_answer``), so it never accumulates in the
coordinator's running totals.

The decisions, and why:

* **The agent trades what it released.** Every answer is a post-processing of the agent's fresh
  releases (and of public broadcasts), and the plan it finally rounds and commits is its last answer.
  So the exact sums the coordinator needs for balance (the price-space crossover, the rounding phase
  and the residual placement) are themselves post-processing: they cost no budget and cannot undo the
  noise. The alternative (trade the exact best response, noise only the coordination) leaves the true
  plans unbalanced by the noise and needs the *exact* sum of the rounded plans to fix it: a plain,
  un-noised release of every venue's plan at the end of each session, which is exactly the leak.
* **Crossover from the cache.** The price-space crossover asks for ``x(lo) + w (x(hi) - x(lo))`` with
  ``w`` computed from the coordinator's (noisy) sums at ``lo`` and ``hi``. The agent answers it from the
  values it *sent* at those prices, per asset, so the crossover sums to exactly zero in the released
  values: balance survives noise, and the lot rounding's residual stays a few lots. The rounding phase
  then sums each venue's answer truncated onto its lot grid: post-processing too, so it stays exact
  (the residual placement needs that) without revealing anything new. (Residual proposals are still
  accepted or refused against the private box: one bit each, as without privacy.)
* **Sensitivity: a declared resolution.** Each traded asset is measured in units of the venue's
  declared, public *resolution* ``g_a`` and released at L2 sensitivity 1 in those units: two plans
  whose per-asset differences ``(x_a - x'_a) / g_a`` have L2 norm at most 1 are ``rho``-zCDP
  indistinguishable, and plans ``d`` units apart are ``rho d^2``-zCDP (the Gaussian's privacy map: DP
  under a metric, Chatzikokolakis et al. 2013). The default ``g_a`` is the width of the venue's box
  (``upper - lower``): then *any* two plans of one asset are neighbours (full-range protection; all
  ``m`` assets changed at once: ``rho m``). Full range has its price: at ``epsilon`` ~ 1 the noise is
  many times the box, and the agent trades what it releases. A venue that needs its plan blurred to,
  say, 0.05 BTC declares that resolution and keeps most of its profit (``bench_privacy_profit``).
* **Budget schedule.** A session spends at most ``SessionPrivacy.zcdp_rho``, split into at most
  ``max_releases`` fresh releases (equal shares, folded as OpenDP composes). A price round only
  releases the assets whose price is new; repeated prices reuse the sent value. Each answer to a new
  price is the least-squares *non-decreasing* fit of the asset's released points (a best response
  never falls as the price rises), interpolated at that price: post-processing that pools the noise of
  the probes the search clusters near the clearing price. Once the session's releases are used, new
  prices are answered from that fit alone (free), and ADMM rounds with the last answer. ADMM rounds
  that follow a price-space phase (the strategy's fallback) also keep the last answer: the gap they
  would chase is the noise's own cost, and the crossover the agent already answered is balanced.
  Exchange ADMM as the session's strategy needs hundreds of rounds, far more than a release schedule
  affords: under privacy use the price-space strategy (the default; ``bench_privacy_profit``).
* **Stopping.** The agent's certified gap term keeps its meaning: it bounds the released plan's
  distance from optimal, noise included (the dual bound is evaluated at the exact best response, a
  private hint). So a private session meets the coordinator's stopping rule only if the tolerance
  allows for the noise (``gap_tol_rel`` ~ 5% of profit in the benchmark); with the default 2e-4 it
  runs to ``max_rounds`` while the agents keep their balanced crossover: same plan, wasted rounds.
* **Refusal.** If the accountant refuses a release (``BudgetExhausted``: the window cannot afford it),
  the agent raises ``PrivacyRefusal`` and keeps refusing every round of the session: the transport turns
  that into "not responding", the coordinator reuses its last counted answer and drops it after
  ``max_missed_rounds``; the survivors' plan stays balanced without it. Nothing is ever overspent.
* **Distributed noise (optional).** With ``noise_shares = k > 1`` each agent adds ``1/sqrt(k)`` of the
  noise, trusting that every decoded sum holds at least ``k`` honest agents' shares (secure aggregation
  hides the individual shares); the charge then states the sum's guarantee (the record's
  ``l2_sensitivity`` is ``1 / sqrt(k)``: the share's units). ``k = 1`` (default) trusts nobody:
  the agent's own noise alone makes every sum private, whatever the others or the coordinator do.

What the guarantee covers, stated plainly: the x-part of every sum the coordinator decodes is
``rho``-zCDP per session (OpenDP's ``(epsilon, delta)``) with respect to each venue's plan, between
plans one resolution apart. Held fixed (not protected) are the venue's private box, cost curve
and limits: the answers are projected onto the box, and the scalar cost and duality-gap terms stay exact
(the certified stopping rule and the profit need them; at their sensitivity, noise would swamp the
profit). The squared steps are computed from answers, so they are post-processing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from agents.participant import ParticipantError
from agents.privacy import (
    BudgetExhausted,
    PrivacyAccountant,
    PrivacyError,
    PrivacySpendRecord,
    compose_rho,
    epsilon_for_rho,
)
from energibridge.protocol.contribution import FloatArray

MAX_RELEASES_PER_SESSION = 10_000
MAX_EPSILON = 500.0
"""OpenDP's zCDP -> (epsilon, delta) conversion overflows near rho = 750 (epsilon ~ 950 at 1e-6); beyond
this, configure ``SessionPrivacy.zcdp_rho`` directly."""
MAX_NOISE_SHARES = 10_000


class PrivacyRefusal(ParticipantError):
    """The accountant refused a release: the agent stops answering this session (it is out of budget)."""

    def __init__(self, venue_id: str, session_id: str, cause: BudgetExhausted) -> None:
        self.venue_id = venue_id
        self.session_id = session_id
        self.cause = cause
        super().__init__(
            f"{venue_id}: privacy budget exhausted, not answering session {session_id!r} any more: {cause}"
        )


def rho_for_epsilon(epsilon: float, delta: float) -> float:
    """The largest zCDP rho whose OpenDP ``(epsilon, delta)`` conversion is at most ``epsilon``."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not math.isfinite(epsilon):
        raise ValueError(f"epsilon: expected a finite number > 0, got {epsilon!r}")
    if not 0 < epsilon <= MAX_EPSILON:
        raise ValueError(f"epsilon: expected in (0, {MAX_EPSILON}], got {epsilon!r}")
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta <= 0.5:
        raise ValueError(f"delta: expected in (0, 0.5], got {delta!r}")
    low, high = 0.0, float(epsilon)  # epsilon(rho) >= rho, so rho = epsilon is always too much or exact
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if epsilon_for_rho(middle, float(delta)) <= epsilon:
            low = middle
        else:
            high = middle
    if low == 0.0:
        raise ValueError(f"epsilon: {epsilon!r} at delta {delta!r} leaves no positive zCDP rho")
    return low


def notional_resolution(notional: float, mids: Mapping[str, float]) -> dict[str, float]:
    """Per-asset resolution worth ``notional`` quote units at the public ``mids`` (e.g. "blur my plan to
    1,000 USD of each asset")."""
    if isinstance(notional, bool) or not isinstance(notional, int | float) or not math.isfinite(notional):
        raise ValueError(f"notional: expected a finite number > 0, got {notional!r}")
    if notional <= 0:
        raise ValueError(f"notional: expected a finite number > 0, got {notional!r}")
    out: dict[str, float] = {}
    for asset, mid in mids.items():
        ok = not isinstance(mid, bool) and isinstance(mid, int | float)
        if not ok or not math.isfinite(mid) or mid <= 0:
            raise ValueError(f"mids[{asset!r}]: expected a finite price > 0, got {mid!r}")
        out[asset] = float(notional) / float(mid)
    return out


def _count(value: object, field_name: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(f"SessionPrivacy.{field_name}: expected an integer in 1..{high}, got {value!r}")
    return value


@dataclass(frozen=True)
class SessionPrivacy:
    """How much of its plan an agent may reveal per session, and how it spends that.

    ``zcdp_rho``: the session's cap (zCDP; ``for_epsilon`` converts with OpenDP). ``max_releases``: fresh
    releases per session (each costs an equal share). ``resolution``: declared per-asset resolution
    ``g_a`` in base units (public; default the width of the venue's box: full-range protection).
    ``noise_shares``: see the module docstring (1 = the agent's own noise suffices).
    """

    zcdp_rho: float
    max_releases: int = 8
    resolution: Mapping[str, float] = field(default_factory=dict)
    noise_shares: int = 1

    def __post_init__(self) -> None:
        rho = self.zcdp_rho
        if isinstance(rho, bool) or not isinstance(rho, int | float) or not math.isfinite(rho):
            raise ValueError(f"SessionPrivacy.zcdp_rho: expected a finite number > 0, got {rho!r}")
        if not 0 < rho <= 1e6:
            raise ValueError(f"SessionPrivacy.zcdp_rho: expected in (0, 1e6], got {rho!r}")
        _count(self.max_releases, "max_releases", MAX_RELEASES_PER_SESSION)
        _count(self.noise_shares, "noise_shares", MAX_NOISE_SHARES)
        for asset, unit in self.resolution.items():
            if not isinstance(asset, str) or not asset:
                raise ValueError(f"SessionPrivacy.resolution: expected asset names, got {asset!r}")
            ok = not isinstance(unit, bool) and isinstance(unit, int | float)
            if not ok or not math.isfinite(unit) or unit <= 0:
                raise ValueError(
                    f"SessionPrivacy.resolution[{asset!r}]: expected a finite number > 0, got {unit!r}"
                )
        object.__setattr__(self, "resolution", dict(self.resolution))

    @classmethod
    def for_epsilon(
        cls,
        epsilon: float,
        delta: float,
        *,
        max_releases: int = 8,
        resolution: Mapping[str, float] | None = None,
        noise_shares: int = 1,
    ) -> SessionPrivacy:
        """A session budget of ``(epsilon, delta)``-DP, as OpenDP converts zCDP."""
        return cls(rho_for_epsilon(epsilon, delta), max_releases, dict(resolution or {}), noise_shares)

    def rho_per_release(self) -> float:
        """The largest equal share of which ``max_releases`` fold (as OpenDP adds) within ``zcdp_rho``."""
        releases = self.max_releases
        rho = self.zcdp_rho / releases
        while compose_rho([rho] * releases) > self.zcdp_rho:
            rho = math.nextafter(rho, 0.0)
        return rho


@dataclass(frozen=True)
class AgentPrivacy:
    """An agent's privacy configuration: its window accountant and its per-session schedule."""

    accountant: PrivacyAccountant
    session: SessionPrivacy

    def __post_init__(self) -> None:
        if not isinstance(self.accountant, PrivacyAccountant):
            raise ValueError(
                f"AgentPrivacy.accountant: expected a PrivacyAccountant, got {type(self.accountant).__name__}"
            )
        if not isinstance(self.session, SessionPrivacy):
            raise ValueError(
                f"AgentPrivacy.session: expected a SessionPrivacy, got {type(self.session).__name__}"
            )
        window = self.accountant.policy.zcdp_rho_per_window
        if self.session.zcdp_rho > window:
            raise ValueError(
                f"AgentPrivacy.session.zcdp_rho: a session may spend at most the window's budget "
                f"({window!r}), got {self.session.zcdp_rho!r}"
            )


class PrivateRelease:
    """One agent's releases in one session: noise through the accountant, box projection, reuse.

    Pure apart from the accountant (which samples OpenDP's noise and charges the budget). Every value
    it returns is within the venue's box and is a post-processing of this session's fresh releases.
    """

    def __init__(
        self,
        venue_id: str,
        session_id: str,
        assets: Sequence[str],
        boxes: Mapping[str, tuple[float, float]],
        privacy: AgentPrivacy,
    ) -> None:
        n = len(assets)
        unknown = sorted(set(boxes) - set(assets))
        if unknown:
            raise ValueError(f"{venue_id}: boxes for assets {unknown} outside the session {list(assets)}")
        self.venue_id = venue_id
        self.session_id = session_id
        self.accountant = privacy.accountant
        self.settings = privacy.session
        self.lower = np.zeros(n)
        self.upper = np.zeros(n)
        self.unit = np.zeros(n)
        for i, asset in enumerate(assets):
            if asset not in boxes:
                continue
            lower, upper = boxes[asset]
            if math.isnan(lower) or math.isnan(upper) or not lower <= 0 <= upper:
                raise ValueError(f"{venue_id}: box of {asset!r} must contain 0, got [{lower!r}, {upper!r}]")
            declared = self.settings.resolution.get(asset)
            if declared is None and not math.isfinite(upper - lower):
                raise ValueError(
                    f"{venue_id}: SessionPrivacy.resolution[{asset!r}] must be declared: the venue's box "
                    f"[{lower!r}, {upper!r}] is unbounded"
                )
            self.lower[i], self.upper[i] = lower, upper
            if upper > lower:
                self.unit[i] = upper - lower if declared is None else declared
        self.released = [int(i) for i in np.flatnonzero(self.unit > 0)]
        """Coordinates that carry a plan; the others are pinned at 0 (the venue cannot trade them)."""
        self.rho_per_release = self.settings.rho_per_release()
        self.fresh_releases = 0
        self.records: list[PrivacySpendRecord] = []
        self.refusal: PrivacyRefusal | None = None
        self.price_phase = False
        self._sent: dict[tuple[int, float], float] = {}
        self._points: list[dict[float, float]] = [{} for _ in range(n)]

    # ---- the round answers -----------------------------------------------------------------------

    def at_prices(self, prices: FloatArray, demand: Callable[[], FloatArray], last: FloatArray) -> FloatArray:
        """Answer a price round: sent values where the price repeats, else a fresh release (or, when the
        session's releases are used, an interpolation of the released points)."""
        self.price_phase = True
        self._check_open()
        out = np.zeros_like(last)
        new: list[int] = []
        for i in self.released:
            sent = self._sent.get((i, float(prices[i])))
            if sent is None:
                new.append(i)
            else:
                out[i] = sent
        if new and self.fresh_releases < self.settings.max_releases:
            values = self._release(demand(), new)
            for i, value in zip(new, values, strict=True):
                self._points[i][float(prices[i])] = float(value)
        for i in new:
            out[i] = self._estimate(i, float(prices[i]), float(last[i]))
            self._sent[(i, float(prices[i]))] = float(out[i])
        return out

    def crossover(
        self,
        low: FloatArray,
        high: FloatArray,
        weight: FloatArray,
        demand_at: Callable[[FloatArray], FloatArray],
        last: FloatArray,
    ) -> FloatArray:
        """``a(lo) + w (a(hi) - a(lo))`` of the values sent at ``lo`` and ``hi``: sums to zero exactly in
        what the coordinator counted."""
        at_low = self.at_prices(low, lambda: demand_at(low), last)
        at_high = self.at_prices(high, lambda: demand_at(high), last)
        return np.clip(at_low + weight * (at_high - at_low), self.lower, self.upper)

    def admm(self, proposal: Callable[[], FloatArray], last: FloatArray) -> FloatArray:
        """Answer an ADMM round: a fresh release of the proximal step, or the last answer once the session's
        releases are used or after a price-space phase (whose crossover is balanced)."""
        self._check_open()
        if self.price_phase or self.fresh_releases >= self.settings.max_releases or not self.released:
            return last.copy()
        out = np.zeros_like(last)
        index = self.released
        out[index] = np.clip(self._release(proposal(), index), self.lower[index], self.upper[index])
        return out

    # ---- mechanics -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.refusal is not None:
            raise self.refusal

    def _release(self, plan: FloatArray, coordinates: list[int]) -> FloatArray:
        """Charge, then noise: the plan in resolution units through OpenDP's Gaussian, back in base units."""
        index = np.asarray(coordinates, dtype=np.int64)
        unit = self.unit[index]
        values = np.asarray(plan, dtype=np.float64)[index]
        if not np.all(np.isfinite(values)):
            raise ParticipantError(f"{self.venue_id}: local step returned a non-finite plan {plan!r}")
        sensitivity = 1.0 / math.sqrt(self.settings.noise_shares)
        try:
            release = self.accountant.release_with_record(values / unit, sensitivity, self.rho_per_release)
        except BudgetExhausted as exc:
            self.refusal = PrivacyRefusal(self.venue_id, self.session_id, exc)
            raise self.refusal from exc
        except PrivacyError as exc:
            raise ParticipantError(f"{self.venue_id}: privacy release refused: {exc}") from exc
        self.fresh_releases += 1
        self.records.append(release.record)
        return unit * np.asarray(release.values, dtype=np.float64)

    def _estimate(self, i: int, price: float, fallback: float) -> float:
        """The asset's demand at ``price`` from its released points: their least-squares non-decreasing
        fit (a best response never falls as the price rises), linear in between, constant beyond, on
        the box. Post-processing: it pools the noise of nearby probes instead of trading the latest."""
        points = self._points[i]
        if not points:
            value = fallback
        else:
            prices = sorted(points)
            fitted = isotonic_fit([points[p] for p in prices])
            value = float(np.interp(price, prices, fitted))
        return float(np.clip(value, self.lower[i], self.upper[i]))


def isotonic_fit(values: Sequence[float]) -> list[float]:
    """The non-decreasing sequence nearest to ``values`` in least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, count]
    for value in values:
        blocks.append([float(value), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            previous = blocks[-1]
            total = previous[1] + count
            previous[0] = (previous[0] * previous[1] + mean * count) / total
            previous[1] = total
    return [mean for mean, count in blocks for _ in range(int(count))]
