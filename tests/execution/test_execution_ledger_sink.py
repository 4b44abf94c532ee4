"""Events reach the real governance ledger with their AuditLog kind and canonical payload."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from agents.execution.events import HedgeOrderSpec, LegOutEvent
from agents.execution.ledger_sink import LedgerSink, canonical_payload
from agents.execution.plan import plan_from_model, plan_from_proto
from agents.risk.events import Gate, RiskEvent
from energibridge.convert import from_proto
from energibridge.models.plan import PlanDelta
from energibridge.v1 import ir_pb2
from registry.ledger import Ed25519Signer, Ledger, NoteSigner
from sdk.adapters.execution import Side


def test_events_are_appended_to_the_ledger(tmp_path: Path) -> None:
    hedge = HedgeOrderSpec(
        "s/1", "k", "C", "SOL-USD", "SOL", Side.SELL, Decimal("1.5"), Decimal("99.31"), 600
    )
    legout = LegOutEvent("s/1", "SOL", Decimal("-1.5"), ("b",), "hedge", (hedge,), Decimal(0), 100)
    risk = RiskEvent(Gate.STALENESS, "refuse", "book is 11000 ms old", 101, {"plan_id": "s/2"})
    with Ledger.open(
        f"sqlite:///{tmp_path / 'ledger.sqlite'}", NoteSigner.generate("test.arbsphere/log")
    ) as ledger:
        sink = LedgerSink(ledger, Ed25519Signer.generate())
        sink.record(legout)
        sink.record(risk)
        ledger.flush()
        first, second = ledger.get(0), ledger.get(1)
    assert (first.kind, second.kind) == (ir_pb2.AUDIT_KIND_LEG_OUT, ir_pb2.AUDIT_KIND_RISK_HALT)
    assert first.payload == canonical_payload(legout)
    assert json.loads(first.payload)["hedges"][0]["limit_price"] == "99.31"
    assert json.loads(second.payload)["gate"] == "staleness"


def test_plan_from_pydantic_model_matches_proto() -> None:
    delta = ir_pb2.PlanDelta(
        session_id="s", venue_id="v", sequence=3, previous_sequence=2, expected_profit_quote="1"
    )
    delta.ir_version.major = 1
    delta.legs.add(
        instrument="SOL-USD",
        asset="SOL",
        side=ir_pb2.SIDE_SELL,
        size="2",
        limit_price="99.5",
        deadline_unix_ms=10,
        idempotency_key="s/3/v/0",
    )
    model = from_proto(PlanDelta, delta)
    assert plan_from_model(model) == plan_from_proto(delta)
