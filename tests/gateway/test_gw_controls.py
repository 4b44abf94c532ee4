"""``AgentControls`` against a real runtime: each action's effect on planning and orders, and its record."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from agents.agent_config import AgentConfig
from agents.controls import AgentStatus, ControlAction, redacted_config, would_trade
from agents.risk.events import Mode
from agents.runtime import ExecutionStatus
from sdk.curves.order_book import OrderBookCurve
from tests.crashonly.agent.ag_helpers import commit_trades
from tests.gateway.gw_helpers import controls_for, one_book_runtime

D = Decimal


def test_pause_plans_nothing_refuses_a_plan_in_flight_and_resume_trades_again(tmp_path: Path) -> None:
    runtime, time = one_book_runtime(tmp_path)
    controls, events = controls_for(runtime)
    try:
        assert runtime.constrain()["SOL"] != (0.0, 0.0)
        plan = commit_trades(runtime.agent, {"SOL": D(1)}, session_id="s1", sequence=1, now_ms=time.now_ms())
        result = controls.apply("pause", "alice")
        assert result.ok and result.mode == "paused"
        assert runtime.constrain()["SOL"] == (0.0, 0.0)  # nothing planned while paused
        assert plan is not None
        outcome = runtime.execute(plan)  # committed before the pause: refused, no order sent
        assert outcome is not None and outcome.status is ExecutionStatus.REFUSED
        assert outcome.risk_gates == ("pause",)
        assert controls.apply(ControlAction.RESUME, "alice").mode == "active"
        assert runtime.constrain()["SOL"] != (0.0, 0.0)  # plans again
    finally:
        runtime.close()
    assert [(e["event"], e["action"], e["actor"], e["ok"]) for e in events] == [
        ("control", "pause", "alice", True),
        ("control", "resume", "alice", True),
    ]


def test_observe_only_plans_nothing_but_shows_what_it_would_trade(tmp_path: Path) -> None:
    runtime, _ = one_book_runtime(tmp_path)
    controls, events = controls_for(runtime)
    try:
        controls.apply("observe-only", "bob")
        assert runtime.constrain()["SOL"] == (0.0, 0.0)  # the region is never exposed by it
        lower, upper = runtime.risk.would_box["SOL"]
        assert lower < 0 < upper
        shown = controls.observe("s7", {"SOL": 101.0})  # the region pays more than this book asks
        assert shown is not None and shown["event"] == "would_trade"
        legs = shown["legs"]
        assert isinstance(legs, list) and len(legs) == 1
        assert legs[0]["side"] == "BUY" and D(legs[0]["size"]) > 0
        assert D(str(shown["expected_profit"])) > 0
        assert controls.last_would_trade == shown
        assert controls.apply("observe-off", "bob").mode == "active"
        assert controls.observe("s8", {"SOL": 101.0}) is None  # active: it trades instead
        refused = controls.apply("observe-off", "bob")  # not observing: refused, and recorded
        assert not refused.ok and "observe_only" in refused.error
    finally:
        runtime.close()
    assert [e["event"] for e in events] == ["control", "would_trade", "control", "control"]
    assert events[-1]["ok"] is False and events[-1]["actor"] == "bob"


def test_kill_cancels_working_orders_and_only_an_admin_reset_leaves_it(tmp_path: Path) -> None:
    runtime, time = one_book_runtime(tmp_path, latency_ms=100)
    controls, events = controls_for(runtime)
    try:
        runtime.constrain()
        plan = commit_trades(runtime.agent, {"SOL": D(1)}, session_id="s1", sequence=1, now_ms=time.now_ms())
        assert plan is not None
        assert runtime.execute(plan) is None  # in flight for 100 ms
        result = controls.apply("kill", "root")
        assert result.ok and result.mode == "killed"
        assert len(result.detail["cancelled"]) == 1
        assert runtime.constrain()["SOL"] == (0.0, 0.0)
        assert not controls.apply("resume", "root").ok  # a kill is left by an explicit reset only
        assert controls.apply("reset-kill", "root").mode == Mode.OBSERVE_ONLY.value
    finally:
        runtime.close()
    assert [e["action"] for e in events] == ["kill", "resume", "reset-kill"]
    assert [e["ok"] for e in events] == [True, False, True]


def test_cancel_all_with_nothing_working_cancels_nothing(tmp_path: Path) -> None:
    runtime, _ = one_book_runtime(tmp_path)
    controls, events = controls_for(runtime)
    try:
        result = controls.apply("cancel-all", "alice")
    finally:
        runtime.close()
    assert result.ok and result.detail == {"cancelled": []} and result.mode == "active"
    assert events[0]["cancelled"] == []


def test_emergency_hedge_hands_the_net_position_to_the_federation_once(tmp_path: Path) -> None:
    runtime, time = one_book_runtime(tmp_path)
    controls, events = controls_for(runtime)
    try:
        runtime.constrain()
        plan = commit_trades(runtime.agent, {"SOL": D(2)}, session_id="s1", sequence=1, now_ms=time.now_ms())
        assert plan is not None
        outcome = runtime.execute(plan)
        assert outcome is not None and outcome.status is ExecutionStatus.FILLED
        controls.apply("pause", "alice")  # hedges are not gated: a paused agent can be flattened
        first = controls.apply("emergency-hedge", "alice")
        assert first.ok and first.detail == {"hedge": {"SOL": "-2"}}  # bought 2: the region sells 2
        assert runtime.hedge_targets() == {"SOL": D(2)}  # the next session brings the position
        again = controls.apply("emergency-hedge", "alice")
        assert again.detail == {"hedge": {}}  # handed over already: nothing twice
        runtime.constrain()
        assert runtime.agent.hedge_targets == {"SOL": D(2)}
    finally:
        runtime.close()
    assert [e["action"] for e in events] == ["pause", "emergency-hedge", "emergency-hedge"]


def test_would_trade_is_the_best_response_within_the_box_on_the_lot_grid() -> None:
    book = OrderBookCurve([(99.0, 10.0)], [(100.0, 10.0)], taker_fee_bps=0.0, book_usage=1.0)
    lots = {"SOL": D("0.1")}
    assert would_trade({"SOL": book}, {"SOL": (D(-5), D("2.55"))}, {"SOL": 101.0}, lots) == {"SOL": D("2.5")}
    assert would_trade({"SOL": book}, {"SOL": (D(-5), D(5))}, {"SOL": 98.0}, lots) == {"SOL": D("-5.0")}
    assert would_trade({"SOL": book}, {"SOL": (D(-5), D(5))}, {"SOL": 99.5}, lots) == {}  # inside the spread
    assert would_trade({"SOL": book}, {"SOL": (D(-5), D(5))}, {}, lots) == {}  # no price, no trade
    assert would_trade({"SOL": book}, {"SOL": (D(0), D(0))}, {"SOL": 101.0}, lots) == {}


def test_status_views_are_json_ready_and_the_config_hides_credentials(tmp_path: Path) -> None:
    runtime, _ = one_book_runtime(tmp_path)
    secret = tmp_path / "gateway.secret"
    config = AgentConfig.model_validate(
        {
            "venue": "v",
            "exchange": "simulator",
            "source": "simulator",
            "credentials": {"api_key_env": "MY_KEY_VAR", "file": str(tmp_path / "api.json")},
            "gateway": {"port": 0, "secret_file": str(secret)},
        }
    )
    controls, _ = controls_for(runtime)
    view = AgentStatus(runtime, config, controls, sessions=lambda: 3)
    try:
        assert view.status()["sessions"] == 3 and view.status()["mode"] == "active"
        assert view.inventory()["balances"] == {"SOL": "100", "USD": "100000"}
        assert view.risk()["mode"] == "active"
        assert view.trades() == {"orders": [], "fills": []}
        shown = repr(view.config_view())
    finally:
        runtime.close()
    assert "MY_KEY_VAR" not in shown and "api.json" not in shown and str(secret) not in shown
    assert redacted_config(config)["credentials"] == {"configured": True}
