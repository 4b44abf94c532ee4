"""One test per gate: it refuses (or switches mode) exactly when it should, and says so on the sink."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.execution.events import InMemorySink
from agents.execution.plan import ExecLeg
from agents.risk.events import Gate, Mode, RiskEvent
from agents.risk.limits import RiskConfigError, RiskLimits
from agents.risk.manager import DAY_MS, RiskManager
from agents.risk.market import MarketState
from agents.risk.unwind import plan_adl_unwind, plan_margin_unwind
from sdk.adapters.execution import ExecutionInputError, Side, decimal_book

D = Decimal
NOW = 1_700_000_000_000


def leg(i: int, side: Side = Side.BUY, size: str = "1", cap: str = "100", venue: str = "A") -> ExecLeg:
    return ExecLeg("s/1", venue, i, "SOL-USD", "SOL", side, D(size), D(cap), NOW + 5_000, f"k{i}")


def market(ts: int = NOW, depth: str = "10") -> MarketState:
    book = decimal_book([("99", depth)], [("100", depth)], ts, venue="A", symbol="SOL-USD")
    return MarketState({("A", "SOL-USD"): book, ("B", "SOL-USD"): book})


def manager(**limits: object) -> tuple[RiskManager, InMemorySink]:
    sink = InMemorySink()
    return RiskManager(RiskLimits(**limits), sink), sink  # type: ignore[arg-type]


def gates(sink: InMemorySink) -> list[tuple[Gate, str]]:
    return [(e.gate, e.action) for e in sink.events if isinstance(e, RiskEvent)]


def test_clean_plan_is_allowed_and_check_is_pure() -> None:
    rm, sink = manager()
    plan = [leg(0), leg(1, Side.SELL, cap="99", venue="B")]
    first = rm.check(plan, market(), NOW)
    second = rm.check(plan, market(), NOW)
    assert first == second and first.ok and len(first.allowed) == 2
    assert sink.events == []
    assert rm.notional_used(NOW) == 0


def test_observe_only_refuses_everything_and_records() -> None:
    rm, sink = manager()
    rm.observe_only("operator", NOW)
    decision = rm.enforce([leg(0)], market(), NOW)
    assert not decision.allowed and decision.refused[0].gate is Gate.OBSERVE_ONLY
    assert gates(sink) == [(Gate.OBSERVE_ONLY, "observe_only"), (Gate.OBSERVE_ONLY, "refuse")]
    rm.resume("operator", NOW)
    assert rm.check([leg(0)], market(), NOW).ok


def test_pause_resume() -> None:
    rm, sink = manager()
    rm.pause("maintenance", NOW)
    assert rm.check([leg(0)], market(), NOW).refused[0].gate is Gate.PAUSE
    rm.resume("done", NOW)
    assert rm.check([leg(0)], market(), NOW).ok
    assert gates(sink) == [(Gate.PAUSE, "pause"), (Gate.PAUSE, "resume")]


def test_kill_switch_cancels_all_and_needs_explicit_reset() -> None:
    rm, sink = manager()
    rm.kill("operator", NOW)
    decision = rm.check([leg(0)], market(), NOW)
    assert decision.cancel_all and decision.refused[0].gate is Gate.KILL_SWITCH
    with pytest.raises(ExecutionInputError, match="reset_kill"):
        rm.resume("try", NOW)
    rm.reset_kill("reviewed", NOW)
    assert rm.mode is Mode.OBSERVE_ONLY  # never straight back to trading
    assert gates(sink) == [(Gate.KILL_SWITCH, "kill"), (Gate.KILL_SWITCH, "reset")]


def test_daily_notional_cap_resets_next_utc_day() -> None:
    rm, sink = manager(daily_notional_cap=D(250))
    assert rm.enforce([leg(0), leg(1)], market(), NOW).ok  # 200
    decision = rm.enforce([leg(2)], market(), NOW)
    assert decision.refused[0].gate is Gate.DAILY_NOTIONAL
    assert (Gate.DAILY_NOTIONAL, "refuse") in gates(sink)
    tomorrow = (NOW // DAY_MS + 1) * DAY_MS
    assert rm.check([leg(2)], market(tomorrow), tomorrow).ok


def test_daily_loss_cap() -> None:
    rm, sink = manager(daily_loss_cap=D(100))
    assert rm.record_pnl(D(-60), NOW) is None
    assert sink.events == []
    event = rm.record_pnl(D(-40), NOW)
    assert event is not None and event.gate is Gate.DAILY_LOSS
    assert rm.check([leg(0)], market(), NOW).refused[0].gate is Gate.DAILY_LOSS
    assert rm.record_pnl(D(-1), NOW) is None  # already past the cap: one event only
    tomorrow = NOW + DAY_MS
    assert rm.check([leg(0)], market(tomorrow), tomorrow).ok


def test_max_trades_per_window() -> None:
    rm, _ = manager(max_trades=3, trades_window_ms=1_000)
    assert rm.enforce([leg(0), leg(1)], market(), NOW).ok
    assert rm.check([leg(2), leg(3)], market(), NOW + 10).refused[0].gate is Gate.TRADE_RATE
    assert rm.check([leg(2)], market(), NOW + 10).ok
    assert rm.check([leg(2), leg(3)], market(), NOW + 1_000).ok  # window slid past


def test_book_usage_cap_and_all_or_nothing() -> None:
    rm, _ = manager(book_usage_cap=D("0.5"))
    decision = rm.check([leg(0, size="6"), leg(1, Side.SELL, "1", "99", "B")], market(depth="10"), NOW)
    assert {r.gate for r in decision.refused} == {Gate.BOOK_USAGE, Gate.ALL_OR_NOTHING}
    assert not decision.allowed
    rm2, _ = manager(book_usage_cap=D("0.5"), all_or_nothing=False)
    partial = rm2.check([leg(0, size="6"), leg(1, Side.SELL, "1", "99", "B")], market(depth="10"), NOW)
    assert [leg.idempotency_key for leg in partial.allowed] == ["k1"]
    # Depth beyond the limit price does not count.
    assert rm.check([leg(0, size="1", cap="99.5")], market(), NOW).refused[0].gate is Gate.BOOK_USAGE


def test_prediction_error_gate_three_misses_in_ten_minutes() -> None:
    rm, sink = manager(prediction_error_pct=D(20))
    assert rm.record_outcome("p1", D(10), D(11), NOW) is None  # 9% miss: fine
    assert rm.record_outcome("p2", D(5), D(10), NOW) is None
    assert rm.record_outcome("p3", D(5), D(10), NOW + 300_000) is None
    assert rm.record_outcome("p4", D(5), D(10), NOW + 600_000) is None  # p2 just left the 10-minute window
    event = rm.record_outcome("p5", D(-1), D(10), NOW + 600_500)
    assert event is not None and event.gate is Gate.PREDICTION_ERROR
    assert rm.mode is Mode.OBSERVE_ONLY
    assert rm.check([leg(0)], market(NOW + 600_500), NOW + 600_500).refused[0].gate is Gate.OBSERVE_ONLY
    assert (Gate.PREDICTION_ERROR, "observe_only") in gates(sink)


def test_staleness_auto_pause_and_recovery() -> None:
    rm, sink = manager()
    decision = rm.enforce([leg(0)], market(ts=NOW - 10_001), NOW)
    assert decision.refused[0].gate is Gate.STALENESS
    assert (Gate.STALENESS, "refuse") in gates(sink)
    assert rm.check([leg(0)], market(ts=NOW - 10_000), NOW).ok  # fresh enough again: resumes by itself
    assert rm.check([leg(0)], MarketState({}), NOW).refused[0].gate is Gate.STALENESS


def test_anomaly_pause_on_k_sigma_jump() -> None:
    rm, sink = manager(anomaly_sigma=5.0, anomaly_min_samples=10, anomaly_cooldown_ms=5_000)
    price = D(100)
    for i in range(30):
        price += D("0.01") if i % 2 else D("-0.01")
        assert rm.observe_price("A", "SOL-USD", price, NOW + i * 100) is None
    event = rm.observe_price("A", "SOL-USD", D(103), NOW + 3_000)
    assert event is not None and event.gate is Gate.ANOMALY
    assert rm.check([leg(0)], market(NOW + 3_000), NOW + 3_000).refused[0].gate is Gate.ANOMALY
    assert rm.check([leg(0)], market(NOW + 8_000), NOW + 8_000).ok
    assert gates(sink) == [(Gate.ANOMALY, "pause")]


def test_no_anomaly_from_too_few_samples() -> None:
    rm, _ = manager(anomaly_min_samples=20)
    assert rm.observe_price("A", "X", D(1), NOW) is None
    assert rm.observe_price("A", "X", D(2), NOW + 1) is None


def test_margin_breach_unwinds_both_sides_and_stops() -> None:
    rm, sink = manager(min_margin_ratio=D("0.2"))
    positions = {("perp", "SOL"): D(-5), ("spot", "SOL"): D(5), ("spot", "BTC"): D(1)}
    assert rm.observe_margin("perp", D("0.5"), positions, NOW) == ()
    unwinds = rm.observe_margin("perp", D("0.1"), positions, NOW)
    assert [(u.venue, u.asset, u.quantity) for u in unwinds] == [
        ("perp", "SOL", D(5)),
        ("spot", "SOL", D(-5)),
    ]
    assert rm.mode is Mode.KILLED
    assert gates(sink) == [(Gate.MARGIN, "unwind"), (Gate.KILL_SWITCH, "kill")]


def test_adl_unwinds_opposite_leg_and_stops() -> None:
    rm, sink = manager()
    positions = {("perp", "SOL"): D(-3), ("spotA", "SOL"): D(4), ("spotB", "SOL"): D(1)}
    unwinds = rm.observe_adl("perp", "SOL", D(2), positions, NOW)  # short 5 -> 3 by ADL
    assert [(u.venue, u.quantity) for u in unwinds] == [("spotA", D(-2))]
    assert rm.mode is Mode.KILLED
    assert (Gate.AUTO_DELEVERAGE, "unwind") in gates(sink)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(-50, 50).map(D), min_size=1),
    st.integers(-60, 60).map(D),
)
def test_adl_unwind_never_overshoots(holdings: dict[str, Decimal], reduced: Decimal) -> None:
    positions = {(v, "SOL"): q for v, q in holdings.items() if v != "a"}
    unwinds = plan_adl_unwind(positions, "a", "SOL", reduced, "adl")
    total = sum((u.quantity for u in unwinds), D(0))
    assert abs(total) <= abs(reduced)
    for u in unwinds:
        held = positions[(u.venue, "SOL")]
        assert u.quantity * held < 0 and abs(u.quantity) <= abs(held)  # only reduces, never flips
    assert plan_margin_unwind({}, "a", "r") == ()


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("daily_notional_cap", D("NaN"), "daily_notional_cap"),
        ("daily_loss_cap", D(-1), "daily_loss_cap"),
        ("book_usage_cap", D("1.5"), "book_usage_cap"),
        ("book_usage_cap", D(0), "book_usage_cap"),
        ("max_trades", 0, "max_trades"),
        ("stale_after_ms", -5, "stale_after_ms"),
        ("anomaly_sigma", float("inf"), "anomaly_sigma"),
    ],
)
def test_limits_validation(field: str, value: object, needle: str) -> None:
    with pytest.raises(RiskConfigError, match=needle):
        RiskLimits(**{field: value})  # type: ignore[arg-type]
