"""Leg-out decisions: unit cases and the 'never unhedged past deadline + hedge time' property."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.execution.events import InMemorySink
from agents.execution.legout import (
    HedgeQuote,
    LegOutMonitor,
    LegOutPolicy,
    LegProgress,
    decide_leg_out,
    exposure_gaps,
)
from sdk.adapters.execution import FillEvent, Liquidity, OrderEvent, OrderRequest, OrderStatus, Side
from tests.execution.exec_helpers import book

D = Decimal
POLICY = LegOutPolicy(hedge_slippage_bps=D(50), hedge_timeout_ms=500, max_hedge_rounds=3)


def leg(
    key: str, venue: str, side: Side, size: str, filled: str, deadline: int, working: bool
) -> LegProgress:
    return LegProgress(key, venue, "SOL-USD", "SOL", side, D(size), D(filled), deadline, working)


def quote(venue: str, asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> HedgeQuote:
    return HedgeQuote(venue, "SOL-USD", "SOL", book(bids, asks), D("0.01"), D("0.01"))


def test_no_action_while_legs_are_live_or_balanced() -> None:
    legs = [leg("a", "A", Side.BUY, "1", "1", 100, False), leg("b", "B", Side.SELL, "1", "0", 100, True)]
    assert decide_leg_out("p", legs, [], quotes=[], now_ms=50, policy=POLICY).empty
    done = [leg("a", "A", Side.BUY, "1", "1", 100, False), leg("b", "B", Side.SELL, "1", "1", 100, False)]
    assert decide_leg_out("p", done, [], quotes=[], now_ms=500, policy=POLICY).empty


def test_filled_buy_and_expired_sell_hedges_on_most_liquid_other_venue() -> None:
    legs = [leg("a", "A", Side.BUY, "2", "2", 100, False), leg("b", "B", Side.SELL, "2", "0.5", 100, True)]
    quotes = [
        quote("B", [("101", "9")], [("100", "9")]),  # the venue that failed: excluded
        quote("C", [("101", "9")], [("100", "1")]),
        quote("D", [("101", "9")], [("99.8", "3"), ("99", "50")]),
    ]
    decision = decide_leg_out("p", legs, [], quotes=quotes, now_ms=100, policy=POLICY)
    assert decision.cancels == ("b",)
    (hedge,) = decision.hedges
    assert (hedge.venue, hedge.side, hedge.size) == ("D", Side.SELL, D("1.5"))
    assert hedge.limit_price == D("99.31")  # 99.8 * (1 - 0.5%) rounded up to the tick
    assert hedge.deadline_ms == 600
    (event,) = decision.events
    assert event.imbalance == D("-1.5") and event.legged_out == ("b",) and event.action == "hedge"
    assert event.payload()["hedges"]


def test_partial_ioc_is_hedged_before_deadline() -> None:
    legs = [
        leg("a", "A", Side.BUY, "2", "2", 1_000, False),
        leg("b", "B", Side.SELL, "2", "1.2", 1_000, False),
    ]
    decision = decide_leg_out(
        "p", legs, [], quotes=[quote("C", [], [("100", "5")])], now_ms=10, policy=POLICY
    )
    assert [(h.venue, h.size) for h in decision.hedges] == [("C", D("0.8"))]


def test_insufficient_liquidity_splits_then_asks_for_replan() -> None:
    legs = [leg("a", "A", Side.SELL, "5", "5", 0, False)]
    legs.append(leg("b", "B", Side.BUY, "5", "0", 0, False))
    quotes = [quote("C", [("10", "2")], []), quote("D", [("10.01", "1")], [])]
    decision = decide_leg_out("p", legs, [], quotes=quotes, now_ms=0, policy=POLICY)
    assert [(h.venue, h.size) for h in decision.hedges] == [("C", D(2)), ("D", D(1))]
    (replan,) = decision.replans
    assert (replan.side, replan.size, replan.exclude_venues) == (Side.BUY, D(2), ("B",))
    assert decision.events[0].action == "hedge+replan"


def test_prefer_replan_and_exhausted_rounds() -> None:
    legs = [leg("a", "A", Side.BUY, "1", "1", 0, False), leg("b", "B", Side.SELL, "1", "0", 0, False)]
    quotes = [quote("C", [], [("100", "5")])]
    d1 = decide_leg_out("p", legs, [], quotes=quotes, now_ms=1, policy=LegOutPolicy(prefer_replan=True))
    assert not d1.hedges and d1.replans[0].size == D(1)
    failed = [LegProgress(f"h{i}", "C", "SOL-USD", "SOL", Side.SELL, D(1), D(0), 0, False) for i in range(3)]
    d2 = decide_leg_out("p", legs, failed, quotes=quotes, now_ms=1, policy=POLICY)
    assert not d2.hedges and d2.replans and d2.replans[0].exclude_venues == ("B", "C")


def test_dust_below_every_lot_is_ignored() -> None:
    legs = [leg("a", "A", Side.BUY, "1", "1", 0, False), leg("b", "B", Side.SELL, "1", "0.995", 0, False)]
    decision = decide_leg_out("p", legs, [], quotes=[quote("C", [], [("100", "5")])], now_ms=1, policy=POLICY)
    assert decision.empty


def test_late_fill_after_hedge_is_hedged_back() -> None:
    legs = [leg("a", "A", Side.BUY, "1", "1", 0, False), leg("b", "B", Side.SELL, "1", "1", 0, False)]
    hedges = [LegProgress("h", "C", "SOL-USD", "SOL", Side.SELL, D(1), D(1), 0, False)]
    assert exposure_gaps(legs, hedges, 1) == {"SOL": D(1)}
    decision = decide_leg_out(
        "p", legs, hedges, quotes=[quote("C", [("100", "5")], [])], now_ms=1, policy=POLICY
    )
    assert [(h.side, h.size) for h in decision.hedges] == [(Side.BUY, D(1))]


# --- property: simulate random fill / no-fill sequences through the monitor ---------------------------

leg_outcomes = st.lists(
    st.tuples(
        st.sampled_from(list(Side)),
        st.integers(min_value=1, max_value=500),  # size in lots of 0.01
        st.integers(min_value=0, max_value=100),  # percent that fills
        st.integers(min_value=50, max_value=400),  # deadline ms
        st.integers(min_value=0, max_value=450),  # when the venue reports (fills then final status)
        st.booleans(),  # resting (still working at deadline) or IOC
    ),
    min_size=1,
    max_size=5,
)


def _order(cid: str, venue: str, side: Side, size: Decimal, deadline: int) -> OrderRequest:
    return OrderRequest(cid, cid, "plan", venue, "SOL-USD", "SOL", side, size, D(100), deadline)


@settings(max_examples=150, deadline=None)
@given(leg_outcomes, st.integers(min_value=1, max_value=400))
def test_no_position_unhedged_past_deadline_plus_hedge_time(
    outcomes: list[tuple[Side, int, int, int, int, bool]], hedge_latency: int
) -> None:
    """Legs of a delta-neutral plan fill at random or not; with hedge liquidity available, the net
    position is flat by max(deadline) + hedge timeout, and every hedge was recorded as a LegOutEvent."""
    sink = InMemorySink()
    policy = LegOutPolicy(hedge_slippage_bps=D(50), hedge_timeout_ms=500, max_hedge_rounds=10)
    monitor = LegOutMonitor(policy, sink)
    lot = D("0.01")
    # Balance the plan with a final leg so planned sums to zero.
    net = sum((side.sign * lots * lot for side, lots, *_ in outcomes), D(0))
    legs = list(outcomes)
    if net != 0:
        legs.append((Side.of_signed(-net), int(abs(net) / lot), 100, 300, 0, False))
    schedule: list[tuple[int, int, str, object]] = []  # (time, order, cid, event)
    for i, (side, lots, pct, deadline, report, resting) in enumerate(legs):
        cid = f"leg{i}"
        size = lots * lot
        monitor.track_leg(_order(cid, f"V{i}", side, size, deadline))
        filled = (size * pct / 100 / lot).to_integral_value() * lot
        # A fill can only happen before the deadline; a resting order is cancelled at the deadline.
        when = min(report, deadline - 1)
        if filled > 0:
            fill = FillEvent(
                f"f{i}",
                cid,
                "plan",
                f"V{i}",
                "SOL-USD",
                "SOL",
                side,
                D(100),
                filled,
                D(0),
                Liquidity.TAKER,
                when,
            )
            schedule.append((when, 0, cid, fill))
        final_at = deadline if resting else when
        status = OrderStatus.FILLED if filled == size else OrderStatus.CANCELLED
        schedule.append(
            (final_at, 1, cid, OrderEvent(cid, f"V{i}", "SOL-USD", status, filled, D(0), final_at))
        )
    schedule.sort(key=lambda item: (item[0], item[1], item[2]))
    quotes = [HedgeQuote("H", "SOL-USD", "SOL", book([("99.9", "100000")], [("100.1", "100000")]), lot, lot)]
    hedge_fills: list[tuple[int, OrderRequest]] = []
    position = D(0)
    horizon = max(deadline for *_, deadline, _, _ in legs) + policy.hedge_timeout_ms
    for now in range(0, horizon + 1):
        while schedule and schedule[0][0] <= now:
            _, _, _, event = schedule.pop(0)
            assert isinstance(event, FillEvent | OrderEvent)
            if isinstance(event, FillEvent):
                position += event.signed_size
            monitor.on_event(event)
        while hedge_fills and hedge_fills[0][0] <= now:
            _, h = hedge_fills.pop(0)
            position += h.side.sign * h.size
            monitor.on_event(
                FillEvent(
                    f"fill-{h.client_order_id}",
                    h.client_order_id,
                    "plan",
                    h.venue,
                    h.instrument,
                    h.asset,
                    h.side,
                    h.limit_price,
                    h.size,
                    D(0),
                    Liquidity.TAKER,
                    now,
                )
            )
            monitor.on_event(
                OrderEvent(h.client_order_id, h.venue, h.instrument, OrderStatus.FILLED, h.size, D(0), now)
            )
        decision = monitor.tick(now, quotes)
        assert not decision.replans  # ample liquidity: always hedged, never re-planned
        for spec in decision.hedges:
            hedge = OrderRequest(
                spec.idempotency_key,
                spec.idempotency_key,
                "plan",
                spec.venue,
                spec.instrument,
                spec.asset,
                spec.side,
                spec.size,
                spec.limit_price,
                spec.deadline_ms,
            )
            monitor.track_hedge(hedge)
            hedge_fills.append((now + min(hedge_latency, policy.hedge_timeout_ms), hedge))
            hedge_fills.sort(key=lambda item: item[0])
    assert position == 0
    assert monitor.complete("plan", horizon)
    hedged = sum((h.size for e in sink.events for h in getattr(e, "hedges", ())), D(0))
    assert hedged == sum((abs(e.imbalance) for e in sink.events if hasattr(e, "imbalance")), D(0))


def test_refused_leg_counts_in_full_plan_view_only() -> None:
    refused = LegProgress("b", "B", "SOL-USD", "SOL", Side.SELL, D(1), D(0), 100, False, sent=False)
    nothing = [LegProgress("a", "A", "SOL-USD", "SOL", Side.BUY, D(1), D(0), 100, False), refused]
    assert exposure_gaps(nothing, [], 200) == {"SOL": D(0)}  # A missed, B refused: nothing to hedge
    alone = [refused]  # one venue's view: its leg was refused and nothing traded
    assert decide_leg_out("p", alone, [], quotes=[], now_ms=200, policy=POLICY).empty
    filled = [LegProgress("a", "A", "SOL-USD", "SOL", Side.BUY, D(1), D(1), 100, False), refused]
    decision = decide_leg_out(
        "p", filled, [], quotes=[quote("C", [], [("100", "5")])], now_ms=50, policy=POLICY
    )
    assert [(h.venue, h.side, h.size) for h in decision.hedges] == [("C", Side.SELL, D(1))]
