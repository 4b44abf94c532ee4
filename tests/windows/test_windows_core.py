"""Opportunity windows (``agents.windows``): examples, and the invariants as Hypothesis properties."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.windows import (
    DIRECTIONS,
    Opportunity,
    WindowTracker,
    direction_of,
    replay,
    window_stats,
)

D = Decimal


def opp(
    ts: int, pnl: str, *, session: str | None = None, seq: int = 0, direction: str = "buy"
) -> Opportunity:
    return Opportunity(
        venue="v",
        session_id=session or f"s{ts}",
        sequence=seq,
        ts_ms=ts,
        predicted_pnl=D(pnl),
        assets={"SOL": D(1) if direction == "buy" else D(-1) if direction == "sell" else D(0)},
        direction=direction,  # type: ignore[arg-type]
    )


def test_a_window_opens_extends_within_grace_and_closes_after_it() -> None:
    tracker = WindowTracker("v", min_pnl=D(1), grace_ms=1000)
    events = tracker.observe(opp(0, "0.5"))  # below the threshold: recorded, no window
    assert [e["event"] for e in events] == ["opportunity"]
    events = tracker.observe(opp(100, "2"))
    assert [e["event"] for e in events] == ["opportunity", "window_open"]
    assert events[1]["window_id"] == "v:100" and events[1]["min_pnl"] == "1" and events[1]["grace_ms"] == 1000
    assert [e["event"] for e in tracker.observe(opp(1100, "3", direction="sell"))] == ["opportunity"]
    assert tracker.observe(opp(2000, "0.1")) == [opp(2000, "0.1").event()]  # noise does not extend
    assert tracker.advance(2100) == []  # exactly at last + grace: still open
    closed = tracker.advance(2101)
    assert len(closed) == 1 and closed[0]["event"] == "window_close"
    assert closed[0]["start_ms"] == 100 and closed[0]["end_ms"] == 1100 and closed[0]["signals"] == 2
    assert closed[0]["max_pnl"] == "3" and closed[0]["mean_pnl"] == "2.5"
    assert closed[0]["direction"] == "flat"  # one buy, one sell: no majority
    assert closed[0]["realised_pnl"] is None and closed[0]["trades"] == 0 and closed[0]["open"] is False
    events = tracker.observe(opp(5000, "4"))
    assert [e["event"] for e in events] == ["opportunity", "window_open"]
    assert [w.open for w in tracker.windows()] == [False, True]


def test_a_late_signal_first_closes_the_window_it_comes_after() -> None:
    tracker = WindowTracker("v", min_pnl=D(0), grace_ms=10)
    tracker.observe(opp(0, "1"))
    events = tracker.observe(opp(11, "1"))
    assert [e["event"] for e in events] == ["window_close", "opportunity", "window_open"]


def test_executions_reach_the_opportunity_and_its_window_even_once_closed() -> None:
    tracker = WindowTracker("v", min_pnl=D(0), grace_ms=10)
    tracker.observe(opp(0, "1", session="a", seq=1))
    tracker.observe(opp(5, "3", session="b", seq=2))
    tracker.advance(100)
    assert tracker.executed("a", 1, fills=2, realised_pnl=D("0.9"))
    assert tracker.executed("b", 2, fills=0, realised_pnl=D(0))  # refused: not traded
    assert not tracker.executed("zz", 9, fills=1, realised_pnl=D(1))
    [window] = tracker.windows()
    assert window.stats.trades == 2 and window.stats.realised_pnl == D("0.9")
    assert [o.traded for o in tracker.opportunities()] == [True, False]
    assert tracker.opportunities(1)[0].session_id == "b" and tracker.opportunities(0) == []
    assert tracker.window_of("a", 1) == "v:0"


def test_bad_input_is_refused_naming_the_field() -> None:
    tracker = WindowTracker("v", min_pnl=D(0), grace_ms=10)
    tracker.observe(opp(50, "1"))
    with pytest.raises(ValueError, match="now_ms"):
        tracker.observe(opp(40, "1"))
    with pytest.raises(ValueError, match="already observed"):
        tracker.observe(opp(50, "1"))
    with pytest.raises(ValueError, match="grace_ms"):
        WindowTracker("v", min_pnl=D(0), grace_ms=-1)
    with pytest.raises(ValueError, match="direction"):
        opp(1, "1", direction="up")
    with pytest.raises(ValueError, match="predicted_pnl"):
        Opportunity.from_event({"ts_ms": 1, "predicted_pnl": "NaN"})


def test_direction_is_the_sign_of_the_net_quote_value() -> None:
    assert direction_of({"BTC": D("0.1"), "SOL": D(-10)}, {"BTC": D(50_000), "SOL": D(100)}) == "buy"
    assert direction_of({"BTC": D("0.1"), "SOL": D(-10)}) == "sell"  # no prices: summed quantities
    assert direction_of({}) == "flat"


def test_the_opportunity_event_parses_back() -> None:
    o = opp(7, "1.25", session="s", seq=3, direction="sell")
    assert Opportunity.from_event(o.event()) == o


# -- properties --------------------------------------------------------------------------------------------
step = st.tuples(
    st.integers(0, 50),  # gap to the previous opportunity (ms)
    st.integers(-300, 300),  # predicted profit, in cents
    st.sampled_from(DIRECTIONS),
    st.integers(0, 3),  # fills
    st.integers(-300, 300),  # realised, in cents
)


def build(steps: list[tuple[int, int, str, int, int]]) -> tuple[list[Opportunity], dict]:
    out, executions, ts = [], {}, 0
    for i, (gap, pnl, direction, fills, realised) in enumerate(steps):
        ts += gap
        out.append(opp(ts, str(D(pnl) / 100), session=f"s{i}", seq=i + 1, direction=direction))
        executions[(f"s{i}", i + 1)] = (fills, D(realised) / 100)
    return out, executions


@settings(max_examples=200, deadline=None)
@given(st.lists(step, max_size=40), st.integers(0, 30), st.integers(-100, 100), st.integers(0, 100))
def test_windows_partition_the_signals_never_overlap_and_close_after_grace(
    steps: list[tuple[int, int, str, int, int]], grace: int, threshold: int, later: int
) -> None:
    opps, executions = build(steps)
    min_pnl = D(threshold) / 100
    now = (opps[-1].ts_ms if opps else 0) + later
    seen, windows = replay(opps, min_pnl=min_pnl, grace_ms=grace, now_ms=now, executions=executions)
    signals = [o for o in seen if o.predicted_pnl > min_pnl]
    # every signal in exactly one window, and nothing else in any
    owners = [[w for w in windows if w.start_ms <= s.ts_ms <= w.last_ms] for s in signals]
    assert all(len(o) == 1 for o in owners)
    assert sum(w.stats.signals for w in windows) == len(signals)
    # never overlap: each window starts more than the grace period after the previous one's last signal
    for a, b in itertools.pairwise(windows):
        assert b.start_ms - a.last_ms > grace
    # closed exactly when the grace period ran out
    for w in windows:
        assert w.open == (now - w.last_ms <= grace)
        assert w.end_ms is None if w.open else w.end_ms == w.last_ms
    assert all(not w.open for w in windows[:-1])
    # the incremental statistics equal a recomputation from the members
    for w, members in zip(windows, _members(signals, windows), strict=True):
        assert w.stats == window_stats(members)
    # every opportunity got its execution
    assert all(o.fills == executions[o.key][0] for o in seen)


def _members(signals: list[Opportunity], windows: list) -> list[list[Opportunity]]:
    return [[s for s in signals if w.start_ms <= s.ts_ms <= w.last_ms] for w in windows]


@settings(max_examples=100, deadline=None)
@given(st.lists(step, min_size=1, max_size=30), st.integers(0, 30))
def test_the_events_tell_the_same_windows_as_the_views(
    steps: list[tuple[int, int, str, int, int]], grace: int
) -> None:
    opps, _ = build(steps)
    tracker = WindowTracker("v", min_pnl=D(0), grace_ms=grace)
    events: list[dict[str, object]] = []
    for o in opps:
        events += tracker.observe(o)
    events += tracker.advance(opps[-1].ts_ms + grace + 1)
    opened = [e["window_id"] for e in events if e["event"] == "window_open"]
    closed = [e for e in events if e["event"] == "window_close"]
    assert opened == [e["window_id"] for e in closed]  # each window opens once, closes once, in order
    assert closed == [{"event": "window_close", "venue": "v", **w.view()} for w in tracker.windows()]
    assert sum(e["event"] == "opportunity" for e in events) == len(opps)


@settings(max_examples=50, deadline=None)
@given(st.lists(step, min_size=1, max_size=30), st.integers(1, 5))
def test_a_bounded_tracker_shows_the_newest(steps: list[tuple[int, int, str, int, int]], keep: int) -> None:
    opps, _ = build(steps)
    tracker = WindowTracker("v", min_pnl=D(0), grace_ms=5, keep=keep)
    for o in opps:
        tracker.observe(o)
    assert tracker.opportunities() == opps[-keep:]
    assert len(tracker.windows()) <= keep + 1
