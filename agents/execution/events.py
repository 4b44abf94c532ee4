"""Events bound for the governance ledger, and the sink Protocol they are written to.

The ledger (``registry/ledger``) is written concurrently; execution and risk depend only on this Protocol.
An event says which AuditLog kind it belongs to and gives a JSON-ready payload (Decimals as strings, so the
ledger's canonical bytes are exact).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from sdk.adapters.execution import FillEvent, OrderEvent, Side

Payload = Mapping[str, object]


class LedgerEvent(Protocol):
    @property
    def audit_kind(self) -> str:
        """Name of the AuditKind enum value, e.g. ``"AUDIT_KIND_LEG_OUT"``."""
        ...

    def payload(self) -> Payload:
        """JSON-ready content: str, int, bool, None, lists and dicts only."""
        ...


class EventSink(Protocol):
    def record(self, event: LedgerEvent) -> None:
        """Accept one event; must not block the hot path for long (queue if it does I/O)."""
        ...


@dataclass
class InMemorySink:
    """Collects events in order (tests, simulations, and a buffer in front of the real ledger)."""

    events: list[LedgerEvent] = field(default_factory=list)

    def record(self, event: LedgerEvent) -> None:
        self.events.append(event)

    def of_kind(self, audit_kind: str) -> list[LedgerEvent]:
        return [e for e in self.events if e.audit_kind == audit_kind]


@dataclass(frozen=True, slots=True)
class HedgeOrderSpec:
    """A marketable hedge the leg-out logic decided to send for plan group ``plan_id``."""

    plan_id: str
    idempotency_key: str
    venue: str
    instrument: str
    asset: str
    side: Side
    size: Decimal
    limit_price: Decimal
    deadline_ms: int


@dataclass(frozen=True, slots=True)
class LegOutEvent:
    """A plan legged out: some legs filled (fully or partly), others did not by their deadline.

    ``imbalance`` is the signed asset quantity the plan is exposed by (positive: we are short of the plan,
    i.e. must buy to restore it); ``action`` is ``"hedge"``, ``"replan"`` or ``"hedge+replan"``.
    """

    plan_id: str
    asset: str
    imbalance: Decimal
    legged_out: tuple[str, ...]
    action: str
    hedges: tuple[HedgeOrderSpec, ...]
    unhedged: Decimal
    ts_ms: int

    @property
    def audit_kind(self) -> str:
        return "AUDIT_KIND_LEG_OUT"

    def payload(self) -> Payload:
        return {
            "plan_id": self.plan_id,
            "asset": self.asset,
            "imbalance": str(self.imbalance),
            "legged_out": list(self.legged_out),
            "action": self.action,
            "hedges": [
                {
                    "plan_id": h.plan_id,
                    "idempotency_key": h.idempotency_key,
                    "venue": h.venue,
                    "instrument": h.instrument,
                    "side": h.side.value,
                    "size": str(h.size),
                    "limit_price": str(h.limit_price),
                    "deadline_ms": h.deadline_ms,
                }
                for h in self.hedges
            ],
            "unhedged": str(self.unhedged),
            "ts_ms": self.ts_ms,
        }


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """Summary of one plan's execution for the ledger: realised vs predicted PnL and what traded."""

    plan_id: str
    venue: str
    filled: Mapping[str, Decimal]  # per client order id
    fees: Decimal
    realised_pnl: Decimal
    predicted_pnl: Decimal
    complete: bool
    ts_ms: int

    @property
    def audit_kind(self) -> str:
        return "AUDIT_KIND_EXECUTION_REPORT"

    def payload(self) -> Payload:
        return {
            "plan_id": self.plan_id,
            "venue": self.venue,
            "filled": {k: str(v) for k, v in sorted(self.filled.items())},
            "fees": str(self.fees),
            "realised_pnl": str(self.realised_pnl),
            "predicted_pnl": str(self.predicted_pnl),
            "complete": self.complete,
            "ts_ms": self.ts_ms,
        }


def order_payload(event: OrderEvent) -> Payload:
    return {
        "client_order_id": event.client_order_id,
        "venue": event.venue,
        "instrument": event.instrument,
        "status": event.status.value,
        "filled": str(event.filled),
        "remaining": str(event.remaining),
        "exchange_order_id": event.exchange_order_id,
        "reason": event.reason,
        "ts_ms": event.ts_ms,
    }


def fill_payload(event: FillEvent) -> Payload:
    return {
        "fill_id": event.fill_id,
        "client_order_id": event.client_order_id,
        "plan_id": event.plan_id,
        "venue": event.venue,
        "instrument": event.instrument,
        "asset": event.asset,
        "side": event.side.value,
        "price": str(event.price),
        "size": str(event.size),
        "fee": str(event.fee),
        "liquidity": event.liquidity.value,
        "ts_ms": event.ts_ms,
    }
