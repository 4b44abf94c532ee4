"""Budget enforcement, window roll-over with an injected clock, validation, records, concurrency."""

from __future__ import annotations

import math
import statistics
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.privacy import (
    BudgetExhausted,
    InvalidRelease,
    PrivacyAccountant,
    PrivacyPolicy,
    PrivacySpendRecord,
    calibrate_gaussian,
    window_start_for,
)


class FakeClock:
    def __init__(self, now_ms: int = 1_750_000_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def _accountant(budget: float = 0.1, window: int = 60, **kwargs: Any) -> tuple[PrivacyAccountant, FakeClock]:
    clock = FakeClock()
    return PrivacyAccountant("binance", PrivacyPolicy(budget, window), clock=clock, **kwargs), clock


def test_exhausted_budget_refuses_with_the_figures_and_charges_nothing() -> None:
    records: list[PrivacySpendRecord] = []
    acc, _ = _accountant(budget=0.1, on_spend=records.append)
    acc.release([1.0, 2.0], 1.0, 0.06)
    spent = acc.spent_zcdp_rho
    with pytest.raises(BudgetExhausted) as err:
        acc.release([1.0, 2.0], 1.0, 0.05)
    exc = err.value
    assert exc.agent_id == "binance" and exc.budget_rho == 0.1
    assert exc.spent_rho == spent and exc.requested_rho == 0.05 and exc.cost_rho <= 0.05
    assert exc.remaining_rho == pytest.approx(0.04)
    assert "exhausted" in str(exc) and "requested zCDP rho=0.05" in str(exc)
    assert acc.spent_zcdp_rho == spent  # refused: nothing charged
    assert len(records) == 1  # and nothing recorded
    acc.release([3.0], 1.0, 0.039)  # what is left can still be used


def test_split_evenly_fits_exactly_n_releases() -> None:
    policy = PrivacyPolicy(1.0, 60)
    acc = PrivacyAccountant("kraken", policy, clock=FakeClock())
    rho = policy.rho_per_release(10)
    assert rho <= 0.1
    for _ in range(10):
        acc.release([0.5], 1.0, rho)
    with pytest.raises(BudgetExhausted):
        acc.release([0.5], 1.0, rho)
    # Naively using budget/n: OpenDP's upward-rounded sum makes the 10th release over budget.
    naive = PrivacyAccountant("kraken", policy, clock=FakeClock())
    for _ in range(9):
        naive.release([0.5], 1.0, 0.1)
    with pytest.raises(BudgetExhausted):
        naive.release([0.5], 1.0, 0.1)


def test_window_roll_over_with_injected_clock() -> None:
    acc, clock = _accountant(budget=0.1, window=60)
    start = acc.window_start_unix_ms
    assert start == window_start_for(clock.now_ms, 60) and start % 60_000 == 0
    acc.release([1.0], 1.0, 0.1)
    with pytest.raises(BudgetExhausted):
        acc.release([1.0], 1.0, 0.01)
    clock.now_ms = start + 59_999  # still the same window
    with pytest.raises(BudgetExhausted):
        acc.release([1.0], 1.0, 0.01)
    clock.now_ms = start + 60_000  # next window: a fresh budget
    assert acc.spent_zcdp_rho == 0.0 and acc.window_start_unix_ms == start + 60_000
    record = acc.release_with_record([1.0], 1.0, 0.05).record
    assert record.window_start_unix_ms == start + 60_000 and record.sequence == 1
    clock.now_ms = start + 10  # the clock steps back: the old window is not reopened
    assert acc.window_start_unix_ms == start + 60_000
    assert acc.spent_zcdp_rho == pytest.approx(0.05)
    clock.now_ms = start + 3 * 60_000 + 5  # skipping windows is fine
    assert acc.window_start_unix_ms == start + 180_000 and acc.spent_zcdp_rho == 0.0


def test_record_content() -> None:
    acc, clock = _accountant(budget=0.5)
    acc.release([1.0], 2.0, 0.1)
    release = acc.release_with_record([1.0, 2.0, 3.0], 2.0, 0.2)
    record = release.record
    _, scale, charge = calibrate_gaussian(2.0, 0.2, 3)
    assert record.sequence == 2 and record.dimension == 3 and record.at_unix_ms == clock.now_ms
    assert record.noise_scale == scale and record.rho_charged == charge
    assert record.spent_zcdp_rho == acc.spent_zcdp_rho and record.budget_zcdp_rho == 0.5
    assert record.kind == "PRIVACY_SPEND" and record.mechanism == "gaussian" and record.opendp_version
    assert len(release.values) == 3 and all(math.isfinite(v) for v in release.values)
    payload = record.canonical_json()
    assert PrivacySpendRecord.model_validate_json(payload) == record
    assert payload == PrivacySpendRecord.model_validate_json(payload).canonical_json()
    assert b" " not in payload and b'"values"' not in payload  # no released data in the ledger


def test_noise_has_the_calibrated_scale() -> None:
    # One release of a long vector: 4000 independent draws. OpenDP's sampler, not ours, is being
    # checked for wiring (scale and centring), so the tolerance is loose: ~6 standard errors.
    acc = PrivacyAccountant("x", PrivacyPolicy(1.0, 60, max_dimension=4000), clock=FakeClock())
    release = acc.release_with_record([100.0] * 4000, 3.0, 0.5)
    noise = [v - 100.0 for v in release.values]
    assert abs(statistics.fmean(noise)) < 6 * release.record.noise_scale / math.sqrt(4000)
    assert statistics.stdev(noise) == pytest.approx(release.record.noise_scale, rel=0.07)
    assert release.record.noise_scale == pytest.approx(3.0 / math.sqrt(1.0))


def test_inputs_are_validated_with_the_field_named() -> None:
    acc, _ = _accountant(budget=0.5)
    cases: list[tuple[Any, Any, Any, str]] = [
        ([1.0, math.nan], 1.0, 0.1, r"vector\[1\]: expected a finite float, got nan"),
        ([math.inf], 1.0, 0.1, r"vector\[0\]: expected a finite float, got inf"),
        ([True], 1.0, 0.1, r"vector\[0\]: expected a float, got bool"),
        (["1.0x"], 1.0, 0.1, r"vector\[0\]: expected a float"),
        ([], 1.0, 0.1, r"vector: expected 1\.\.4096 values, got 0"),
        ([0.0] * 4097, 1.0, 0.1, r"vector: expected 1\.\.4096 values, got 4097"),
        ("abc", 1.0, 0.1, "vector: expected a sequence"),
        ([1.0], 0.0, 0.1, "sensitivity: expected in"),
        ([1.0], -1.0, 0.1, "sensitivity"),
        ([1.0], math.nan, 0.1, "sensitivity: expected a finite number, got nan"),
        ([1.0], 1e13, 0.1, "sensitivity"),
        ([1.0], 1.0, 0.0, "rho_cost: expected in"),
        ([1.0], 1.0, math.inf, "rho_cost: expected a finite number"),
        ([1.0], 1.0, 0.6, r"rho_cost: expected in \(0\.0, 0\.5\]"),
        ([1.0], "1", 0.1, "sensitivity: expected a number, got str"),
    ]
    for vector, sensitivity, rho, message in cases:
        with pytest.raises(InvalidRelease, match=message):
            acc.release(vector, sensitivity, rho)
    assert acc.spent_zcdp_rho == 0.0
    # numpy arrays are accepted (converted to Python floats at the boundary)
    assert len(acc.release(np.array([1.0, 2.0]), 1.0, 0.1)) == 2


def test_policy_and_clock_validation() -> None:
    with pytest.raises(InvalidRelease, match="zcdp_rho_per_window"):
        PrivacyPolicy(0.0, 60)
    with pytest.raises(InvalidRelease, match=r"window_seconds: expected 1\.\.4294967295, got 0"):
        PrivacyPolicy(1.0, 0)
    with pytest.raises(InvalidRelease, match="window_seconds: expected an integer"):
        PrivacyPolicy(1.0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidRelease, match="delta"):
        PrivacyPolicy(1.0, 60, delta=0.0)
    with pytest.raises(InvalidRelease, match="releases"):
        PrivacyPolicy(1.0, 60).rho_per_release(0)
    with pytest.raises(InvalidRelease, match="clock: expected a non-negative integer"):
        PrivacyAccountant("a", PrivacyPolicy(1.0, 60), clock=lambda: 1.5)  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidRelease, match="agent_id"):
        PrivacyAccountant("", PrivacyPolicy(1.0, 60))
    with pytest.raises(InvalidRelease, match="window_start_unix_ms: expected a multiple"):
        PrivacyAccountant("a", PrivacyPolicy(1.0, 60), window_start_unix_ms=1)
    with pytest.raises(InvalidRelease, match="spent_zcdp_rho"):
        PrivacyAccountant("a", PrivacyPolicy(1.0, 60), spent_zcdp_rho=2.0)


def test_a_failing_ledger_hook_blocks_the_release_but_keeps_the_charge() -> None:
    def broken(record: PrivacySpendRecord) -> None:
        raise RuntimeError("ledger queue full")

    acc, _ = _accountant(budget=0.5, on_spend=broken)
    with pytest.raises(RuntimeError, match="ledger queue full"):
        acc.release([1.0], 1.0, 0.2)
    assert acc.spent_zcdp_rho == pytest.approx(0.2)  # over-counting is the safe side


def test_concurrent_releases_never_overspend() -> None:
    acc, _ = _accountant(budget=1.0)
    rho = acc.policy.rho_per_release(40)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            try:
                acc.release([1.0], 1.0, rho)
                result = "ok"
            except BudgetExhausted:
                result = "refused"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 40 and outcomes.count("refused") == 20
    assert acc.spent_zcdp_rho <= 1.0
    assert acc.snapshot().releases == 40


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.floats(1e-4, 0.08), st.integers(0, 30_000)),  # (rho request, ms to advance)
        min_size=1,
        max_size=25,
    )
)
def test_invariant_spend_never_exceeds_budget(steps: list[tuple[float, int]]) -> None:
    acc, clock = _accountant(budget=0.2, window=60)
    for rho, advance in steps:
        clock.now_ms += advance
        before = acc.spent_zcdp_rho
        _, _, charge = calibrate_gaussian(1.0, rho, 1)
        try:
            acc.release([0.0], 1.0, rho)
        except BudgetExhausted:
            assert before + charge > 0.2 - 1e-12  # refused only when it truly would not fit
            assert acc.spent_zcdp_rho == before
        else:
            assert acc.spent_zcdp_rho <= 0.2
