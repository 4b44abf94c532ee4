"""A durable outbox: the intent to send an order is committed *before* the order leaves the process.

After a crash, every record that is not known to be finished is reconciled with the venue by client order
id before anything is sent again, so a restart never sends an order twice: either the venue has it (adopt its
state) or it never arrived (send it, same id, if its deadline allows).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from sdk.adapters.execution import OrderRequest, Side, TimeInForce

_metadata = sa.MetaData()
_outbox = sa.Table(
    "exec_outbox",
    _metadata,
    sa.Column("client_order_id", sa.String(128), primary_key=True),
    sa.Column("idempotency_key", sa.String(256), nullable=False),
    sa.Column("plan_id", sa.String(256), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("venue", sa.String(128), nullable=False),
    sa.Column("instrument", sa.String(128), nullable=False),
    sa.Column("asset", sa.String(64), nullable=False),
    sa.Column("quote", sa.String(64), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("size", sa.String(64), nullable=False),
    sa.Column("limit_price", sa.String(64), nullable=False),
    sa.Column("deadline_ms", sa.BigInteger, nullable=False),
    sa.Column("time_in_force", sa.String(8), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("exchange_order_id", sa.String(128), nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # committed intent; the send may or may not have reached the venue
    SENT = "sent"  # the venue acknowledged it
    DONE = "done"  # terminal at the venue
    NOT_SENT = "not_sent"  # reconciled: never reached the venue and its deadline passed


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    order: OrderRequest
    role: str  # "leg" or "hedge"
    state: OutboxState
    exchange_order_id: str


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        _metadata.create_all(engine)

    @staticmethod
    def sqlite(path: str | Path | None = None) -> Outbox:
        if path is None:
            return Outbox(
                sa.create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
            )
        return Outbox(sa.create_engine(f"sqlite:///{Path(path)}"))

    def get(self, client_order_id: str) -> OutboxRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_outbox).where(_outbox.c.client_order_id == client_order_id)).first()
        return None if row is None else _record(row)

    def claim(self, order: OrderRequest, role: str, now_ms: int) -> OutboxRecord:
        """Commit the intent to send ``order`` (state PENDING); returns the existing record if any."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(_outbox).where(_outbox.c.client_order_id == order.client_order_id)
            ).first()
            if row is not None:
                return _record(row)
            conn.execute(
                _outbox.insert().values(
                    client_order_id=order.client_order_id,
                    idempotency_key=order.idempotency_key,
                    plan_id=order.plan_id,
                    role=role,
                    venue=order.venue,
                    instrument=order.instrument,
                    asset=order.asset,
                    quote=order.quote,
                    side=order.side.value,
                    size=str(order.size),
                    limit_price=str(order.limit_price),
                    deadline_ms=order.deadline_ms,
                    time_in_force=order.time_in_force.value,
                    state=OutboxState.PENDING.value,
                    exchange_order_id="",
                    updated_ms=now_ms,
                )
            )
        return OutboxRecord(order, role, OutboxState.PENDING, "")

    def mark(
        self, client_order_id: str, state: OutboxState, now_ms: int, exchange_order_id: str = ""
    ) -> None:
        values: dict[str, object] = {"state": state.value, "updated_ms": now_ms}
        if exchange_order_id:
            values["exchange_order_id"] = exchange_order_id
        with self.engine.begin() as conn:
            conn.execute(
                _outbox.update().where(_outbox.c.client_order_id == client_order_id).values(**values)
            )

    def records(self, *, venue: str | None = None, unfinished_only: bool = False) -> list[OutboxRecord]:
        query = sa.select(_outbox).order_by(_outbox.c.updated_ms, _outbox.c.client_order_id)
        if venue is not None:
            query = query.where(_outbox.c.venue == venue)
        if unfinished_only:
            query = query.where(_outbox.c.state.in_([OutboxState.PENDING.value, OutboxState.SENT.value]))
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]


def _record(row: sa.Row[object]) -> OutboxRecord:
    m = row._mapping
    order = OrderRequest(
        client_order_id=str(m["client_order_id"]),
        idempotency_key=str(m["idempotency_key"]),
        plan_id=str(m["plan_id"]),
        venue=str(m["venue"]),
        instrument=str(m["instrument"]),
        asset=str(m["asset"]),
        side=Side(str(m["side"])),
        size=Decimal(str(m["size"])),
        limit_price=Decimal(str(m["limit_price"])),
        deadline_ms=int(str(m["deadline_ms"])),
        time_in_force=TimeInForce(str(m["time_in_force"])),
        quote=str(m["quote"]),
    )
    return OutboxRecord(order, str(m["role"]), OutboxState(str(m["state"])), str(m["exchange_order_id"]))
