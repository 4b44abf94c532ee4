"""Acceptance: the executor process is SIGKILLed after sending one leg and restarted. The fake exchange must
never receive the same client order id twice, and the plan must end complete (or hedged)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from energibridge.v1 import ir_pb2
from tests.execution.fake_binance import API_KEY, SECRET, FakeBinance

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _delta(venue: str, side: int, size: str, cap: str, deadline_ms: int) -> ir_pb2.PlanDelta:
    delta = ir_pb2.PlanDelta(session_id="sess", venue_id=venue, sequence=1, expected_profit_quote="0.8")
    delta.ir_version.major = 1
    delta.legs.add(
        instrument="SOL-USDT",
        asset="SOL",
        side=side,
        size=size,
        limit_price=cap,
        deadline_unix_ms=deadline_ms,
        idempotency_key=f"sess/1/{venue}/0",
    )
    return delta


def _config(tmp: Path, a: FakeBinance, b: FakeBinance) -> Path:
    deadline = time.time_ns() // 1_000_000 + 60_000
    plans = []
    for name, delta in (
        ("a", _delta("A", ir_pb2.SIDE_BUY, "1", "101", deadline)),
        ("b", _delta("B", ir_pb2.SIDE_SELL, "1", "100", deadline)),
    ):
        path = tmp / f"plan_{name}.binpb"
        path.write_bytes(delta.SerializeToString())
        plans.append(str(path))
    venue = {
        "exchange_id": "binance",
        "api_key": API_KEY,
        "secret": SECRET,
        "quote": "USDT",
        "instruments": {
            "SOL-USDT": {"symbol": "SOL/USDT", "asset": "SOL", "lot_size": "0.001", "tick_size": "0.01"}
        },
    }
    config = {
        "state_dir": str(tmp / "state"),
        "venues": [
            venue | {"venue_id": "A", "base_url": a.url},
            venue | {"venue_id": "B", "base_url": b.url},
        ],
        "plans": plans,
        "hedge": {"slippage_bps": "100", "timeout_ms": 2000, "max_rounds": 3},
        "poll_interval_ms": 20,
        "give_up_after_ms": 15_000,
    }
    path = tmp / "executor.json"
    path.write_text(json.dumps(config))
    return path


def _start(config: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "agents.execution.agent_executor", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_after_first_leg(config: Path, a: FakeBinance) -> None:
    a.state.hang_on_order = 1  # A accepts and fills the leg, then never answers
    proc = _start(config)
    try:
        assert a.state.hung.wait(60), "the executor never sent its first leg"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    a.state.hang_on_order = None
    a.state.released.set()


def _journal(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "state" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run_to_end(config: Path) -> dict[str, object]:
    proc = _start(config)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"executor exited {proc.returncode}: {err}"
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_kill_after_first_leg_restart_completes_without_duplicates(tmp_path: Path) -> None:
    with FakeBinance() as a, FakeBinance() as b:
        a.add_symbol("SOLUSDT", "SOL", "USDT", [("99.5", "5")], [("100", "5")])
        b.add_symbol("SOLUSDT", "SOL", "USDT", [("100.9", "5")], [("101.5", "5")])
        config = _config(tmp_path, a, b)
        _kill_after_first_leg(config, a)
        assert len(a.client_order_ids()) == 1 and b.client_order_ids() == []
        summary = _run_to_end(config)
        assert summary["all_complete"] is True
        # Exactly one order per leg ever reached the venues.
        assert len(a.client_order_ids()) == 1
        assert len(b.client_order_ids()) == 1
        assert [o.status for o in a.state.orders + b.state.orders] == ["FILLED", "FILLED"]
        # 1 SOL bought at 100 and sold at 100.9, fees 0.1% each side.
        assert summary["realised_pnl"] == {"sess/1": "0.6991"}
        kinds = [e["audit_kind"] for e in _journal(tmp_path)]
        assert kinds.count("AUDIT_KIND_EXECUTION_REPORT") == 1
        assert "AUDIT_KIND_LEG_OUT" not in kinds
        # A third run is a no-op: everything is reconciled, nothing is sent.
        assert _run_to_end(config)["all_complete"] is True
        assert len(a.client_order_ids()) == 1 and len(b.client_order_ids()) == 1


def test_kill_then_other_leg_refused_restart_hedges(tmp_path: Path) -> None:
    """After the restart venue B's leg is refused (no bid at its cap: book-usage gate), so the plan legs out
    and the filled buy on A is hedged by one marketable sell on the most liquid venue left (A)."""
    with FakeBinance() as a, FakeBinance() as b:
        a.add_symbol("SOLUSDT", "SOL", "USDT", [("99.5", "5")], [("100", "5")])
        b.add_symbol("SOLUSDT", "SOL", "USDT", [("90", "5")], [("101.5", "5")])
        config = _config(tmp_path, a, b)
        _kill_after_first_leg(config, a)
        summary = _run_to_end(config)
        assert summary["all_complete"] is True
        ids_a = a.client_order_ids()
        assert len(ids_a) == len(set(ids_a)) == 2  # the leg once, then one hedge
        assert b.client_order_ids() == []
        hedge = a.state.orders[1]
        assert (hedge.side, hedge.executed, hedge.status) == ("SELL", Decimal(1), "FILLED")
        journal = _journal(tmp_path)
        legouts = [e["payload"] for e in journal if e["audit_kind"] == "AUDIT_KIND_LEG_OUT"]
        assert len(legouts) == 1
        assert (legouts[0]["imbalance"], legouts[0]["action"]) == ("-1", "hedge")
        risk = [e["payload"] for e in journal if e["audit_kind"] == "AUDIT_KIND_RISK_HALT"]
        assert [r["gate"] for r in risk] == ["book_usage"]
        # Bought 1 at 100, hedged at 99.5, 0.1% fees each side.
        assert summary["realised_pnl"] == {"sess/1": "-0.6995"}
        assert any(e["audit_kind"] == "AUDIT_KIND_EXECUTION_REPORT" for e in journal)


def test_sent_leg_that_does_not_fill_is_hedged(tmp_path: Path) -> None:
    """No crash here: B's leg is sent (the book had the bid at check time) but the bid is gone when the
    order arrives, so the IOC expires unfilled and the filled leg on A is hedged."""
    with FakeBinance() as a, FakeBinance() as b:
        a.add_symbol("SOLUSDT", "SOL", "USDT", [("99.5", "5")], [("100", "5")])
        b.add_symbol("SOLUSDT", "SOL", "USDT", [("100.9", "5")], [("101.5", "5")])
        b.state.drain_before_order = True  # someone else takes the bid just before our order
        config = _config(tmp_path, a, b)
        summary = _run_to_end(config)
        assert summary["all_complete"] is True
        assert len(b.client_order_ids()) == 1 and b.state.orders[0].status == "EXPIRED"
        assert [o.side for o in a.state.orders] == ["BUY", "SELL"]
        legouts = [e["payload"] for e in _journal(tmp_path) if e["audit_kind"] == "AUDIT_KIND_LEG_OUT"]
        assert len(legouts) == 1 and legouts[0]["hedges"][0]["venue"] == "A"
