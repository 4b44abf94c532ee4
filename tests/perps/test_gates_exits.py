"""Entry gates and exits of a funding-arbitrage pair (issue 13): the spread design's properties.

- a failed hard constraint always means a score of 0, no trade, and a logged reason naming the constraint;
- a venue over 200 ms (round trip or clock offset) is stale, and so is one not polled recently;
- every exit's unwind flattens both legs exactly (the trades sum to zero: the region stays delta neutral).
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.perps.exits import ExitPolicy, ExitReason, OpenPair, PairState, check_exit, pnl
from agents.perps.funding import FundingInputError
from agents.perps.gates import (
    ConfluenceWeights,
    EntryPolicy,
    Freshness,
    LatencyMonitor,
    PairCandidate,
    ServerTimePoll,
    Signals,
    confluence,
    evaluate,
    hard_constraints,
)

D = Decimal
_UNIT = st.decimals(0, 1, places=3)
_RATE = st.decimals(D("-0.003"), D("0.003"), places=6)


@st.composite
def _candidates(draw: st.DrawFn) -> tuple[PairCandidate, dict[str, Freshness]]:
    size = draw(st.decimals(D("0.001"), 10, places=3))
    candidate = PairCandidate(
        "hl",
        "bybit",
        size,
        draw(_RATE),
        draw(_RATE),
        draw(st.decimals(0, 50, places=3)),
        draw(st.decimals(0, 50, places=3)),
        Signals(*(draw(_UNIT) for _ in range(5))),
    )
    flags = {v: draw(st.booleans()) for v in ("hl", "bybit")}
    fresh = {v: Freshness(v, ok, "" if ok else f"{v}: rtt 250 ms > 200 ms") for v, ok in flags.items()}
    return candidate, fresh


@settings(max_examples=400, deadline=None)
@given(_candidates())
def test_property_failed_hard_constraint_means_score_zero_and_no_trade(drawn) -> None:
    candidate, fresh = drawn
    policy = EntryPolicy()
    decision = evaluate(candidate, fresh, policy)
    failed = hard_constraints(candidate, fresh, policy)
    depth_ok = min(candidate.long_depth, candidate.short_depth) >= 2 * candidate.size
    all_fresh = all(f.fresh for f in fresh.values())
    delta_ok = candidate.short_rate_8h - candidate.long_rate_8h > D("0.0001")
    assert (not failed) == (depth_ok and all_fresh and delta_ok)
    if failed:
        assert decision.score == 0 and not decision.trade and decision.reasons == tuple(failed)
        named = {r.split(":")[0] for r in failed}
        assert named <= {"depth", "fresh", "funding_delta"}
        assert ("depth" in named) != depth_ok and ("fresh" in named) != all_fresh
        assert ("funding_delta" in named) != delta_ok
    else:
        score = confluence(candidate, policy)
        assert decision.score == score and 0 < score <= 1
        assert decision.trade == (score >= policy.min_score)


def test_a_refusal_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    candidate = PairCandidate("hl", "bybit", D(1), D("0.0001"), D("0.00015"), D(5), D(1))
    fresh = {v: Freshness(v, True, "") for v in ("hl", "bybit")}
    with caplog.at_level(logging.INFO, logger="agents.perps.gates"):
        decision = evaluate(candidate, fresh)
    assert not decision.trade and decision.score == 0
    assert any("depth: bybit offers 1 < 2 x size 1" in r.getMessage() for r in caplog.records)
    assert any("funding_delta: 0.00005 per 8h <= 0.0001" in r.getMessage() for r in caplog.records)


def test_score_uses_the_weights() -> None:
    candidate = PairCandidate("a", "b", D(1), D("-0.0005"), D("0.0005"), D(5), D(5), Signals(*(D(1),) * 5))
    assert confluence(candidate, EntryPolicy()) == 1
    half = PairCandidate("a", "b", D(1), D(0), D("0.0005"), D(5), D(5))
    assert confluence(half, EntryPolicy()) == D("0.35") * D("0.5")
    with pytest.raises(FundingInputError, match="weights: must sum to 1"):
        ConfluenceWeights(funding_delta=D("0.5"))
    with pytest.raises(FundingInputError, match="short_venue"):
        PairCandidate("a", "a", D(1), D(0), D(0), D(1), D(1))


def test_latency_monitor_marks_slow_or_skewed_or_silent_venues_stale() -> None:
    monitor = LatencyMonitor()
    assert not monitor.freshness("bybit", 0).fresh
    ok = monitor.observe("bybit", ServerTimePoll(1_000, 1_060, 1_100))
    assert ok.fresh and ok.rtt_ms == 100 and ok.offset_ms == 10
    slow = monitor.observe("bybit", ServerTimePoll(2_000, 2_120, 2_250))
    assert not slow.fresh and "rtt 250 ms > 200 ms" in slow.reason
    skewed = monitor.observe("hl", ServerTimePoll(3_000, 3_400, 3_050))
    assert not skewed.fresh and "clock offset 375 ms" in skewed.reason
    monitor.observe("hl", ServerTimePoll(4_000, 4_010, 4_020))
    assert monitor.freshness("hl", 4_020 + 10_000).fresh
    assert not monitor.freshness("hl", 4_021 + 10_000).fresh
    with pytest.raises(FundingInputError, match="received_ms"):
        ServerTimePoll(10, 5, 9)


# -- exits ---------------------------------------------------------------------------------------------------
def _pair(projected: str = "40") -> OpenPair:
    return OpenPair("BTC", "hl", "bybit", D("0.5"), D(30000), D(5), D(projected))


def test_each_exit_and_its_unwind() -> None:
    pair = _pair()
    hold = PairState(D("0.0003"), D(5), D(10))
    assert check_exit(pair, hold) is None
    converged = check_exit(pair, PairState(D("0.00004"), D(5), D(10)))
    assert converged is not None and converged.reason is ExitReason.FUNDING_CONVERGENCE
    assert dict(converged.trades) == {"hl": D("-0.5"), "bybit": D("0.5")}
    target = check_exit(pair, PairState(D("0.0003"), D(5), D(36)))
    assert target is not None and target.reason is ExitReason.PROFIT_TARGET
    widened = check_exit(pair, PairState(D("0.0003"), D(5) + D(151), D(200)))
    assert widened is not None and widened.reason is ExitReason.SPREAD_WIDENING
    stopped = check_exit(pair, PairState(D("0.0003"), D(5), D(-150)))
    assert stopped is not None and stopped.reason is ExitReason.STOP_LOSS


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(D("-0.002"), D("0.002"), places=6),
    st.decimals(-500, 500, places=2),
    st.decimals(-500, 500, places=2),
    st.decimals(0, 100, places=2),
)
def test_property_exits_flatten_both_legs_and_follow_the_order(delta, spread, funding, projected) -> None:
    pair = _pair(str(projected))
    state = PairState(delta, spread, funding)
    policy = ExitPolicy()
    unwind = check_exit(pair, state, policy)
    value = pnl(pair, state)
    if unwind is None:
        assert delta >= policy.converge_8h and value > -policy.stop_loss * pair.notional
        return
    assert sum(unwind.trades.values()) == 0 and unwind.trades["hl"] == -pair.size
    if value <= -policy.stop_loss * pair.notional:
        assert unwind.reason is ExitReason.STOP_LOSS
    elif unwind.reason is ExitReason.FUNDING_CONVERGENCE:
        assert delta < policy.converge_8h
