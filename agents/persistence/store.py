"""ExecutionStore: idempotent writes of orders, fills and their effect on positions, inventory and plan PnL.

Writes are idempotent (a fill id seen twice is ignored, an order re-recorded keeps its first intent), so a
restarted agent replaying venue reports never double-counts. Each fill updates its position (average-cost
accounting from ``agents.execution.accounting``), the venue's inventory of the asset and of the quote, and its
plan's realised PnL, in one transaction.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from agents.execution.accounting import Position, apply_fill
from agents.execution.model import FillEvent, Liquidity, OrderEvent, OrderRequest, Side, parse_decimal
from agents.persistence import schema as t


@dataclass(frozen=True, slots=True)
class PositionRow:
    venue: str
    asset: str
    quantity: Decimal
    cost: Decimal
    realised: Decimal


@dataclass(frozen=True, slots=True)
class PlanPnl:
    plan_id: str
    predicted: Decimal
    realised: Decimal
    fees: Decimal
    fills: int

    @property
    def error(self) -> Decimal:
        return self.realised - self.predicted


@dataclass(frozen=True, slots=True)
class OrderRow:
    client_order_id: str
    plan_id: str
    venue: str
    instrument: str
    side: Side
    size: Decimal
    limit_price: Decimal
    status: str
    filled: Decimal
    exchange_order_id: str


class ExecutionStore:
    """Orders, fills, positions, inventory and plan PnL on one SQLAlchemy engine (optionally one schema)."""

    def __init__(self, engine: Engine, *, schema: str | None = None) -> None:
        self.engine = engine.execution_options(schema_translate_map={None: schema}) if schema else engine
        self._local = threading.local()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Run every write made by this thread inside the block in one transaction (all or nothing)."""
        with self.engine.begin() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self.engine.begin() as fresh:
            yield fresh

    @staticmethod
    def sqlite(path: str | Path | None = None) -> ExecutionStore:
        """SQLite file at ``path``, or a private in-memory database shared by every thread."""
        if path is None:
            engine = sa.create_engine(
                "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
            )
        else:
            engine = sa.create_engine(f"sqlite:///{Path(path)}")
        store = ExecutionStore(engine)
        store.create_schema()
        return store

    def create_schema(self) -> None:
        t.metadata.create_all(self.engine)

    # -- writes --------------------------------------------------------------------------------------
    def record_order(self, order: OrderRequest, ts_ms: int) -> None:
        """The intent to send ``order`` (status ``pending``); a second call for the same id is ignored."""
        with self._begin() as conn:
            exists = conn.execute(
                sa.select(t.orders.c.client_order_id).where(
                    t.orders.c.client_order_id == order.client_order_id
                )
            ).first()
            if exists is not None:
                return
            conn.execute(
                t.orders.insert().values(
                    client_order_id=order.client_order_id,
                    idempotency_key=order.idempotency_key,
                    plan_id=order.plan_id,
                    venue=order.venue,
                    instrument=order.instrument,
                    asset=order.asset,
                    side=order.side.value,
                    size=str(order.size),
                    limit_price=str(order.limit_price),
                    deadline_ms=order.deadline_ms,
                    time_in_force=order.time_in_force.value,
                    status="pending",
                    filled="0",
                    exchange_order_id="",
                    reason="",
                    created_ms=ts_ms,
                    updated_ms=ts_ms,
                )
            )

    def record_order_event(self, event: OrderEvent) -> None:
        """Latest status of an order we recorded; events for unknown orders are ignored."""
        with self._begin() as conn:
            values: dict[str, object] = {
                "status": event.status.value,
                "filled": str(event.filled),
                "reason": event.reason,
                "updated_ms": event.ts_ms,
            }
            if event.exchange_order_id:
                values["exchange_order_id"] = event.exchange_order_id
            conn.execute(
                t.orders.update().where(t.orders.c.client_order_id == event.client_order_id).values(**values)
            )

    def record_prediction(self, plan_id: str, predicted: Decimal, ts_ms: int) -> None:
        value = parse_decimal("predicted", predicted)
        with self._begin() as conn:
            row = conn.execute(sa.select(t.plan_pnl).where(t.plan_pnl.c.plan_id == plan_id)).first()
            if row is None:
                conn.execute(
                    t.plan_pnl.insert().values(
                        plan_id=plan_id,
                        predicted=str(value),
                        realised="0",
                        fees="0",
                        fills=0,
                        updated_ms=ts_ms,
                    )
                )
            else:
                conn.execute(
                    t.plan_pnl.update()
                    .where(t.plan_pnl.c.plan_id == plan_id)
                    .values(predicted=str(value), updated_ms=ts_ms)
                )

    def set_inventory(self, venue: str, asset: str, amount: Decimal, ts_ms: int) -> None:
        """Overwrite a balance (from the venue's balance report at start-up or reconciliation)."""
        value = parse_decimal("amount", amount)
        with self._begin() as conn:
            self._put_inventory(conn, venue, asset, value, ts_ms)

    def record_fill(self, fill: FillEvent) -> bool:
        """Book a fill; returns False when this fill id was already recorded (nothing changes)."""
        with self._begin() as conn:
            seen = conn.execute(sa.select(t.fills.c.fill_id).where(t.fills.c.fill_id == fill.fill_id)).first()
            if seen is not None:
                return False
            conn.execute(
                t.fills.insert().values(
                    fill_id=fill.fill_id,
                    client_order_id=fill.client_order_id,
                    plan_id=fill.plan_id,
                    venue=fill.venue,
                    instrument=fill.instrument,
                    asset=fill.asset,
                    quote=fill.quote,
                    side=fill.side.value,
                    price=str(fill.price),
                    size=str(fill.size),
                    fee=str(fill.fee),
                    liquidity=fill.liquidity.value,
                    ts_ms=fill.ts_ms,
                )
            )
            self._apply_position(conn, fill)
            self._add_inventory(conn, fill.venue, fill.asset, fill.signed_size, fill.ts_ms)
            self._add_inventory(conn, fill.venue, fill.quote, fill.cash_flow, fill.ts_ms)
            self._apply_plan(conn, fill)
            return True

    def _apply_position(self, conn: Connection, fill: FillEvent) -> None:
        key = (t.positions.c.venue == fill.venue) & (t.positions.c.asset == fill.asset)
        row = conn.execute(sa.select(t.positions).where(key)).first()
        position = Position() if row is None else Position(Decimal(row.quantity), Decimal(row.cost))
        realised_before = Decimal(0) if row is None else Decimal(row.realised)
        realised = realised_before + apply_fill(position, fill.signed_size, fill.price, fill.fee)
        values = {
            "quantity": str(position.quantity),
            "cost": str(position.cost),
            "realised": str(realised),
            "updated_ms": fill.ts_ms,
        }
        if row is None:
            conn.execute(t.positions.insert().values(venue=fill.venue, asset=fill.asset, **values))
        else:
            conn.execute(t.positions.update().where(key).values(**values))

    def _add_inventory(self, conn: Connection, venue: str, asset: str, delta: Decimal, ts_ms: int) -> None:
        key = (t.inventory.c.venue == venue) & (t.inventory.c.asset == asset)
        row = conn.execute(sa.select(t.inventory.c.amount).where(key)).first()
        current = Decimal(0) if row is None else Decimal(row.amount)
        self._put_inventory(conn, venue, asset, current + delta, ts_ms)

    @staticmethod
    def _put_inventory(conn: Connection, venue: str, asset: str, amount: Decimal, ts_ms: int) -> None:
        key = (t.inventory.c.venue == venue) & (t.inventory.c.asset == asset)
        updated = conn.execute(t.inventory.update().where(key).values(amount=str(amount), updated_ms=ts_ms))
        if updated.rowcount == 0:
            conn.execute(
                t.inventory.insert().values(venue=venue, asset=asset, amount=str(amount), updated_ms=ts_ms)
            )

    def _apply_plan(self, conn: Connection, fill: FillEvent) -> None:
        key = t.plan_pnl.c.plan_id == fill.plan_id
        row = conn.execute(sa.select(t.plan_pnl).where(key)).first()
        if row is None:
            conn.execute(
                t.plan_pnl.insert().values(
                    plan_id=fill.plan_id,
                    predicted="0",
                    realised=str(fill.cash_flow),
                    fees=str(fill.fee),
                    fills=1,
                    updated_ms=fill.ts_ms,
                )
            )
            return
        conn.execute(
            t.plan_pnl.update()
            .where(key)
            .values(
                realised=str(Decimal(row.realised) + fill.cash_flow),
                fees=str(Decimal(row.fees) + fill.fee),
                fills=row.fills + 1,
                updated_ms=fill.ts_ms,
            )
        )

    # -- reads ---------------------------------------------------------------------------------------
    def orders(self, plan_id: str | None = None) -> list[OrderRow]:
        query = sa.select(t.orders).order_by(t.orders.c.created_ms, t.orders.c.client_order_id)
        if plan_id is not None:
            query = query.where(t.orders.c.plan_id == plan_id)
        with self.engine.connect() as conn:
            return [
                OrderRow(
                    r.client_order_id,
                    r.plan_id,
                    r.venue,
                    r.instrument,
                    Side(r.side),
                    Decimal(r.size),
                    Decimal(r.limit_price),
                    r.status,
                    Decimal(r.filled),
                    r.exchange_order_id,
                )
                for r in conn.execute(query)
            ]

    def fills(self, plan_id: str | None = None) -> list[FillEvent]:
        query = sa.select(t.fills).order_by(t.fills.c.ts_ms, t.fills.c.fill_id)
        if plan_id is not None:
            query = query.where(t.fills.c.plan_id == plan_id)
        with self.engine.connect() as conn:
            return [
                FillEvent(
                    fill_id=r.fill_id,
                    client_order_id=r.client_order_id,
                    plan_id=r.plan_id,
                    venue=r.venue,
                    instrument=r.instrument,
                    asset=r.asset,
                    side=Side(r.side),
                    price=Decimal(r.price),
                    size=Decimal(r.size),
                    fee=Decimal(r.fee),
                    liquidity=Liquidity(r.liquidity),
                    ts_ms=r.ts_ms,
                    quote=r.quote,
                )
                for r in conn.execute(query)
            ]

    def positions(self) -> list[PositionRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.positions).order_by(t.positions.c.venue, t.positions.c.asset))
            return [
                PositionRow(r.venue, r.asset, Decimal(r.quantity), Decimal(r.cost), Decimal(r.realised))
                for r in rows
            ]

    def inventory(self) -> dict[tuple[str, str], Decimal]:
        with self.engine.connect() as conn:
            return {(r.venue, r.asset): Decimal(r.amount) for r in conn.execute(sa.select(t.inventory))}

    def plan_pnl(self, plan_id: str) -> PlanPnl | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(t.plan_pnl).where(t.plan_pnl.c.plan_id == plan_id)).first()
        if r is None:
            return None
        return PlanPnl(r.plan_id, Decimal(r.predicted), Decimal(r.realised), Decimal(r.fees), r.fills)
