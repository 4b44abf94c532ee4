"""The running agent's opportunities and windows: plans the agent itself commits, executed by its real
runtime (paper venue, virtual time), fed to ``OpportunityFeed`` and read through ``AgentStatus``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agents.agent_config import AgentConfig, ConfigError, parse_config
from agents.controls import AgentStatus
from agents.opportunities import OpportunityFeed
from agents.runtime import ExecutionStatus
from tests.crashonly.agent.ag_helpers import commit_trades
from tests.gateway.gw_helpers import controls_for, one_book_runtime

D = Decimal
CONFIG = AgentConfig.model_validate({"venue": "v", "exchange": "simulator", "source": "simulator"})


def test_plans_become_opportunities_their_fills_trades_and_windows_close_after_grace(tmp_path: Path) -> None:
    runtime, time = one_book_runtime(tmp_path)
    controls, events = controls_for(runtime)
    feed = OpportunityFeed("v", min_pnl=D(0), grace_ms=1000, now_ms=runtime.clock.now_ms, emit=events.append)
    view = AgentStatus(runtime, CONFIG, controls, opportunities=feed)
    try:
        assert view.opportunities() == {"venue": "v", "opportunities": []}
        assert view.windows() == {"venue": "v", "windows": []}
        fills, realised = 0, D(0)
        for sequence, (qty, price) in enumerate([(D(1), 100.5), (D(-2), 99.5)], start=1):
            runtime.constrain()
            plan = commit_trades(
                runtime.agent,
                {"SOL": qty},
                session_id=f"s{sequence}",
                sequence=sequence,
                now_ms=time.now_ms(),
                prices={"SOL": price},
            )
            assert plan is not None
            opportunity = feed.plan(plan, runtime.agent.curves)
            outcome = runtime.execute(plan)
            assert outcome is not None and outcome.status is ExecutionStatus.FILLED
            feed.executed(outcome)
            fills, realised = fills + outcome.fill_count, realised + outcome.realised_profit
            assert opportunity.predicted_pnl == outcome.predicted_profit  # the runtime's own valuation
            time.advance(300)
        shown = view.opportunities()["opportunities"]
        assert isinstance(shown, list) and len(shown) == 2
        first, second = shown
        assert first["session_id"] == "s1" and first["direction"] == "buy" and first["traded"] is True
        assert first["assets"] == {"SOL": "1"} and second["direction"] == "sell"
        assert set(first) >= {"session_id", "ts_ms", "predicted_pnl", "direction", "assets", "traded"}
        windows = view.windows()["windows"]
        assert isinstance(windows, list) and len(windows) == 1
        [window] = windows
        assert window["open"] is True and window["end_ms"] is None and window["signals"] == 2
        assert window["trades"] == fills and window["realised_pnl"] == format(realised, "f")
        time.advance(2000)
        [closed] = view.windows(limit=5)["windows"]  # read after the grace period: closed
        assert closed["open"] is False and closed["end_ms"] == shown[1]["ts_ms"]
        assert view.opportunities(limit=1)["opportunities"] == [shown[1]]
    finally:
        runtime.close()
    kinds = [e["event"] for e in events]
    assert kinds == ["opportunity", "window_open", "opportunity", "window_close"]


def test_observe_only_would_trades_are_opportunities_never_traded(tmp_path: Path) -> None:
    runtime, _ = one_book_runtime(tmp_path)
    controls, events = controls_for(runtime)
    feed = OpportunityFeed("v", min_pnl=D(0), grace_ms=1000, now_ms=runtime.clock.now_ms, emit=events.append)
    try:
        controls.apply("observe-only", "alice")
        runtime.constrain()
        shown = controls.observe("s1", {"SOL": 101.0})
        assert shown is not None and shown["legs"]
        first = feed.would_trade(shown, {"SOL-USD": "SOL"}, {"SOL": 101.0})
        assert first is not None and first.direction == "buy" and first.sequence == 0
        assert first.predicted_pnl == D(str(shown["expected_profit"])) and not first.traded
        assert feed.would_trade(shown, {"SOL-USD": "SOL"}, {"SOL": 101.0}) is None  # same session again
        [listed] = feed.opportunities(10)
        assert listed["source"] == "would_trade" and listed["traded"] is False
    finally:
        runtime.close()


def test_a_bad_input_is_logged_and_left_out_never_raised(tmp_path: Path) -> None:
    runtime, _ = one_book_runtime(tmp_path)
    events: list[dict[str, object]] = []
    feed = OpportunityFeed("v", min_pnl=D(0), grace_ms=10, now_ms=runtime.clock.now_ms, emit=events.append)
    try:
        bad = {"prices_from": "s1", "expected_profit": "1", "legs": [{"instrument": "SOL-USD", "size": "x"}]}
        assert feed.would_trade(bad, {"SOL-USD": "SOL"}, {"SOL": 1.0}) is None
        assert feed.opportunities(10) == [] and events == []
    finally:
        runtime.close()


def test_the_windows_config_has_defaults_and_errors_name_the_key() -> None:
    assert CONFIG.windows.min_pnl == 0 and CONFIG.windows.grace_ms == 10_000
    base = {"venue": "v", "exchange": "simulator", "source": "simulator"}
    assert parse_config({**base, "windows": {"min_pnl": "2.5", "grace_s": 0.25}}).windows.grace_ms == 250
    for bad, key in (({"min_pnl": -1}, "windows.min_pnl"), ({"grace_s": 0}, "windows.grace_s")):
        with pytest.raises(ConfigError, match=key):
            parse_config({**base, "windows": bad})
