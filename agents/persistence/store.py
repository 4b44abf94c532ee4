"""ExecutionStore: idempotent writes of orders, fills and their effect on positions, inventory and plan PnL.

Writes are idempotent (a fill id seen twice is ignored, an order re-recorded keeps its first intent), so a
restarted agent replaying venue reports never double-counts. Each fill updates its position (average-cost
accounting from ``agents.execution.accounting``), the venue's inventory of the asset and of the quote, and its
plan's realised PnL, in one transaction.

It also keeps each executed plan (what it predicted, whether its outcome was reported) and the residuals
the agent could not trade (leg-outs, refusals, orders lost with a process): the durable queue a hedge
session takes them from. SQLite files run in WAL mode with ``synchronous=NORMAL``: a committed transaction
survives the process being killed (SIGKILL) at once; after an OS crash or power loss the last ones may be
lost (``synchronous="FULL"`` closes that, at about 0.5 ms more per commit measured here).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from agents.execution.accounting import Position, apply_fill
from agents.persistence import schema as t
from sdk.adapters.execution import FillEvent, Liquidity, OrderEvent, OrderRequest, Side, parse_decimal

SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


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


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """One venue's executed plan as the store keeps it (written before its orders are sent)."""

    plan_id: str
    session_id: str
    sequence: int
    venue: str
    plan_digest: bytes
    predicted_cash: Decimal
    predicted_profit: Decimal
    marks: Mapping[str, Decimal] = field(default_factory=dict)
    """asset -> the price its trade is valued at (the plan's marginal price on this venue)."""
    planned: Mapping[str, Decimal] = field(default_factory=dict)
    """asset -> signed planned quantity."""
    status: str = "open"
    realised_profit: Decimal = Decimal(0)
    reported: bool = False


@dataclass(frozen=True, slots=True)
class Residual:
    """What a venue still owes the region for one asset of a plan: ``side`` ``size`` to trade elsewhere.

    ``reason``: ``replan`` (the leg-out monitor asked for a re-plan), ``leg_out`` (the plan ended short),
    ``refused`` (a gate refused the legs the other venues traded), ``lost`` (orders that ended with a
    killed process). ``state``: ``open`` until a hedge session ``taken`` it, ``closed`` once flat.
    """

    plan_id: str
    asset: str
    venue: str
    side: Side
    size: Decimal
    reason: str
    ts_ms: int
    exclude_venues: tuple[str, ...] = ()
    state: str = "open"


class ExecutionStore:
    """Orders, fills, positions, inventory and plan PnL on one SQLAlchemy engine (optionally one schema)."""

    def __init__(self, engine: Engine, *, schema: str | None = None) -> None:
        self.engine = engine.execution_options(schema_translate_map={None: schema}) if schema else engine
        self._local = threading.local()
        self._sql = _Statements(self.engine.dialect.name)

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
    def sqlite(path: str | Path | None = None, *, synchronous: str = "NORMAL") -> ExecutionStore:
        """SQLite file at ``path`` (WAL, ``synchronous`` as given: see the module docstring), or a private
        in-memory database shared by every thread."""
        if synchronous not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {SQLITE_SYNCHRONOUS}, got {synchronous!r}")
        if path is None:
            engine = sa.create_engine(
                "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
            )
        else:
            engine = sa.create_engine(f"sqlite:///{Path(path)}", connect_args={"timeout": 30})

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: object, _record: object) -> None:
                cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(f"PRAGMA synchronous={synchronous}")
                cursor.close()

        store = ExecutionStore(engine)
        store.create_schema()
        return store

    def create_schema(self) -> None:
        t.metadata.create_all(self.engine)

    # -- writes --------------------------------------------------------------------------------------
    def record_order(self, order: OrderRequest, ts_ms: int) -> None:
        """The intent to send ``order`` (status ``pending``); a second call for the same id is ignored."""
        with self._begin() as conn:
            self._sql.insert_if_new(
                conn,
                t.orders,
                "client_order_id",
                {
                    "client_order_id": order.client_order_id,
                    "idempotency_key": order.idempotency_key,
                    "plan_id": order.plan_id,
                    "venue": order.venue,
                    "instrument": order.instrument,
                    "asset": order.asset,
                    "side": order.side.value,
                    "size": str(order.size),
                    "limit_price": str(order.limit_price),
                    "deadline_ms": order.deadline_ms,
                    "time_in_force": order.time_in_force.value,
                    "status": "pending",
                    "filled": "0",
                    "exchange_order_id": "",
                    "reason": "",
                    "created_ms": ts_ms,
                    "updated_ms": ts_ms,
                },
            )

    def record_order_event(self, event: OrderEvent) -> None:
        """Latest status of an order we recorded; events for unknown orders are ignored."""
        values: dict[str, object] = {
            "k_client_order_id": event.client_order_id,
            "v_status": event.status.value,
            "v_filled": str(event.filled),
            "v_reason": event.reason,
            "v_updated_ms": event.ts_ms,
        }
        statement = self._sql.order_status
        if event.exchange_order_id:
            values["v_exchange_order_id"] = event.exchange_order_id
            statement = self._sql.order_status_exchange
        with self._begin() as conn:
            conn.execute(statement, values)

    def record_prediction(self, plan_id: str, predicted: Decimal, ts_ms: int) -> None:
        value = parse_decimal("predicted", predicted)
        with self._begin() as conn:
            row = conn.execute(self._sql.plan_pnl, {"k_plan_id": plan_id}).first()
            if row is None:
                conn.execute(
                    t.plan_pnl.insert(),
                    {
                        "plan_id": plan_id,
                        "predicted": str(value),
                        "realised": "0",
                        "fees": "0",
                        "fills": 0,
                        "updated_ms": ts_ms,
                    },
                )
            else:
                conn.execute(
                    self._sql.plan_pnl_prediction,
                    {"k_plan_id": plan_id, "v_predicted": str(value), "v_updated_ms": ts_ms},
                )

    def set_inventory(self, venue: str, asset: str, amount: Decimal, ts_ms: int) -> None:
        """Overwrite a balance (from the venue's balance report at start-up or reconciliation)."""
        value = parse_decimal("amount", amount)
        with self._begin() as conn:
            self._put_inventory(conn, venue, asset, value, ts_ms)

    def record_fill(self, fill: FillEvent) -> bool:
        """Book a fill; returns False when this fill id was already recorded (nothing changes)."""
        with self._begin() as conn:
            new = self._sql.insert_if_new(
                conn,
                t.fills,
                "fill_id",
                {
                    "fill_id": fill.fill_id,
                    "client_order_id": fill.client_order_id,
                    "plan_id": fill.plan_id,
                    "venue": fill.venue,
                    "instrument": fill.instrument,
                    "asset": fill.asset,
                    "quote": fill.quote,
                    "side": fill.side.value,
                    "price": str(fill.price),
                    "size": str(fill.size),
                    "fee": str(fill.fee),
                    "liquidity": fill.liquidity.value,
                    "ts_ms": fill.ts_ms,
                },
            )
            if not new:
                return False
            self._apply_position(conn, fill)
            self._add_inventory(conn, fill.venue, fill.asset, fill.signed_size, fill.ts_ms)
            self._add_inventory(conn, fill.venue, fill.quote, fill.cash_flow, fill.ts_ms)
            self._apply_plan(conn, fill)
            return True

    def _apply_position(self, conn: Connection, fill: FillEvent) -> None:
        key = {"k_venue": fill.venue, "k_asset": fill.asset}
        row = conn.execute(self._sql.position, key).first()
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
            conn.execute(t.positions.insert(), {"venue": fill.venue, "asset": fill.asset, **values})
        else:
            conn.execute(self._sql.position_update, {**key, **_prefixed("v_", values)})

    def _add_inventory(self, conn: Connection, venue: str, asset: str, delta: Decimal, ts_ms: int) -> None:
        row = conn.execute(self._sql.inventory, {"k_venue": venue, "k_asset": asset}).first()
        current = Decimal(0) if row is None else Decimal(row.amount)
        self._put_inventory(conn, venue, asset, current + delta, ts_ms)

    def _put_inventory(self, conn: Connection, venue: str, asset: str, amount: Decimal, ts_ms: int) -> None:
        updated = conn.execute(
            self._sql.inventory_update,
            {"k_venue": venue, "k_asset": asset, "v_amount": str(amount), "v_updated_ms": ts_ms},
        )
        if updated.rowcount == 0:
            conn.execute(
                t.inventory.insert(),
                {"venue": venue, "asset": asset, "amount": str(amount), "updated_ms": ts_ms},
            )

    def _apply_plan(self, conn: Connection, fill: FillEvent) -> None:
        row = conn.execute(self._sql.plan_pnl, {"k_plan_id": fill.plan_id}).first()
        if row is None:
            conn.execute(
                t.plan_pnl.insert(),
                {
                    "plan_id": fill.plan_id,
                    "predicted": "0",
                    "realised": str(fill.cash_flow),
                    "fees": str(fill.fee),
                    "fills": 1,
                    "updated_ms": fill.ts_ms,
                },
            )
            return
        conn.execute(
            self._sql.plan_pnl_fill,
            {
                "k_plan_id": fill.plan_id,
                "v_realised": str(Decimal(row.realised) + fill.cash_flow),
                "v_fees": str(Decimal(row.fees) + fill.fee),
                "v_fills": row.fills + 1,
                "v_updated_ms": fill.ts_ms,
            },
        )

    # -- plans and residuals -------------------------------------------------------------------------
    def record_plan(self, plan: PlanRecord, ts_ms: int) -> None:
        """An executed plan's prediction (before its orders are sent); a second call is ignored."""
        with self._begin() as conn:
            self._sql.insert_if_new(
                conn,
                t.plans,
                "plan_id",
                {
                    "plan_id": plan.plan_id,
                    "session_id": plan.session_id,
                    "sequence": plan.sequence,
                    "venue": plan.venue,
                    "plan_digest": plan.plan_digest.hex(),
                    "predicted_cash": str(plan.predicted_cash),
                    "predicted_profit": str(plan.predicted_profit),
                    "marks": _decimal_json(plan.marks),
                    "planned": _decimal_json(plan.planned),
                    "status": plan.status,
                    "realised_profit": str(plan.realised_profit),
                    "reported": plan.reported,
                    "created_ms": ts_ms,
                    "updated_ms": ts_ms,
                },
            )

    def finish_plan(self, plan_id: str, status: str, realised_profit: Decimal, ts_ms: int) -> None:
        """The plan's outcome is final and is being reported."""
        value = parse_decimal("realised_profit", realised_profit)
        with self._begin() as conn:
            conn.execute(
                self._sql.plan_finish,
                {
                    "k_plan_id": plan_id,
                    "v_status": status,
                    "v_realised_profit": str(value),
                    "v_reported": True,
                    "v_updated_ms": ts_ms,
                },
            )

    def record_residual(self, residual: Residual) -> None:
        """Open (or update, while still open) the residual of ``(plan_id, asset)``."""
        values: dict[str, object] = {
            "venue": residual.venue,
            "side": residual.side.value,
            "size": str(parse_decimal("size", residual.size, non_negative=True)),
            "exclude_venues": ",".join(residual.exclude_venues),
            "reason": residual.reason,
            "state": residual.state,
            "ts_ms": residual.ts_ms,
            "updated_ms": residual.ts_ms,
        }
        key = {"k_plan_id": residual.plan_id, "k_asset": residual.asset}
        with self._begin() as conn:
            row = conn.execute(self._sql.residual_state, key).first()
            if row is None:
                conn.execute(
                    t.residuals.insert(), {"plan_id": residual.plan_id, "asset": residual.asset, **values}
                )
            elif row.state == "open":
                conn.execute(self._sql.residual_update, {**key, **_prefixed("v_", values)})

    def set_residual_state(self, plan_id: str, asset: str, state: str, ts_ms: int) -> None:
        """A hedge session took (``taken``) or flattened (``closed``) a residual."""
        if state not in ("open", "taken", "closed"):
            raise ValueError(f"state must be open, taken or closed, got {state!r}")
        with self._begin() as conn:
            conn.execute(
                self._sql.residual_set_state,
                {"k_plan_id": plan_id, "k_asset": asset, "v_state": state, "v_updated_ms": ts_ms},
            )

    def settle_order(self, client_order_id: str, status: str, reason: str, ts_ms: int) -> None:
        """Close an order whose venue can no longer report (a paper book that ended with its process)."""
        with self._begin() as conn:
            conn.execute(
                self._sql.order_settle,
                {
                    "k_client_order_id": client_order_id,
                    "v_status": status,
                    "v_reason": reason,
                    "v_updated_ms": ts_ms,
                },
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

    def plans(self, *, venue: str | None = None, unreported_only: bool = False) -> list[PlanRecord]:
        query = sa.select(t.plans).order_by(t.plans.c.created_ms, t.plans.c.sequence)
        if venue is not None:
            query = query.where(t.plans.c.venue == venue)
        if unreported_only:
            query = query.where(t.plans.c.reported.is_(False))
        with self.engine.connect() as conn:
            return [
                PlanRecord(
                    plan_id=r.plan_id,
                    session_id=r.session_id,
                    sequence=r.sequence,
                    venue=r.venue,
                    plan_digest=bytes.fromhex(r.plan_digest),
                    predicted_cash=Decimal(r.predicted_cash),
                    predicted_profit=Decimal(r.predicted_profit),
                    marks=_decimals(r.marks),
                    planned=_decimals(r.planned),
                    status=r.status,
                    realised_profit=Decimal(r.realised_profit),
                    reported=bool(r.reported),
                )
                for r in conn.execute(query)
            ]

    def residuals(self, *, state: str | None = "open") -> list[Residual]:
        """Residuals in ``state`` (all with ``None``), oldest first: what a hedge session picks up."""
        query = sa.select(t.residuals).order_by(
            t.residuals.c.ts_ms, t.residuals.c.plan_id, t.residuals.c.asset
        )
        if state is not None:
            query = query.where(t.residuals.c.state == state)
        with self.engine.connect() as conn:
            return [
                Residual(
                    plan_id=r.plan_id,
                    asset=r.asset,
                    venue=r.venue,
                    side=Side(r.side),
                    size=Decimal(r.size),
                    reason=r.reason,
                    ts_ms=r.ts_ms,
                    exclude_venues=tuple(v for v in r.exclude_venues.split(",") if v),
                    state=r.state,
                )
                for r in conn.execute(query)
            ]


def _decimal_json(values: Mapping[str, Decimal]) -> str:
    return json.dumps({k: str(v) for k, v in sorted(values.items())}, separators=(",", ":"))


def _decimals(text: str) -> dict[str, Decimal]:
    return {str(k): Decimal(str(v)) for k, v in json.loads(text).items()}


def _update(table: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> sa.Update:
    """``UPDATE table SET columns WHERE keys``, parameters named ``k_<key>`` and ``v_<column>``."""
    where = sa.and_(*(table.c[k] == sa.bindparam(f"k_{k}") for k in keys))
    return table.update().where(where).values({c: sa.bindparam(f"v_{c}") for c in columns})


def _select(table: sa.Table, keys: tuple[str, ...], *columns: str) -> sa.Select[Any]:
    where = sa.and_(*(table.c[k] == sa.bindparam(f"k_{k}") for k in keys))
    return sa.select(*(table.c[c] for c in columns) if columns else (table,)).where(where)


class _Statements:
    """The store's write statements, built once per dialect: building a statement per call cost five
    times its execution (0.31 vs 0.07 ms measured), and these run on the agent's durability path."""

    def __init__(self, dialect: str) -> None:
        self.upserts = dialect in ("sqlite", "postgresql")
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        self.insert_new: dict[str, sa.Insert] = {}
        for table, key in (
            (t.orders, "client_order_id"),
            (t.fills, "fill_id"),
            (t.plans, "plan_id"),
        ):
            if self.upserts:  # RETURNING tells whether the row was new (rowcount is -1 on psycopg)
                self.insert_new[table.name] = (
                    insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
                )
            else:
                self.insert_new[table.name] = table.insert()
        self.exists = {
            t.orders.name: _select(t.orders, ("client_order_id",), "client_order_id"),
            t.fills.name: _select(t.fills, ("fill_id",), "fill_id"),
            t.plans.name: _select(t.plans, ("plan_id",), "plan_id"),
        }
        status = ("status", "filled", "reason", "updated_ms")
        self.order_status = _update(t.orders, ("client_order_id",), status)
        self.order_status_exchange = _update(t.orders, ("client_order_id",), (*status, "exchange_order_id"))
        self.order_settle = _update(t.orders, ("client_order_id",), ("status", "reason", "updated_ms"))
        self.position = _select(t.positions, ("venue", "asset"))
        self.position_update = _update(
            t.positions, ("venue", "asset"), ("quantity", "cost", "realised", "updated_ms")
        )
        self.inventory = _select(t.inventory, ("venue", "asset"), "amount")
        self.inventory_update = _update(t.inventory, ("venue", "asset"), ("amount", "updated_ms"))
        self.plan_pnl = _select(t.plan_pnl, ("plan_id",))
        self.plan_pnl_fill = _update(t.plan_pnl, ("plan_id",), ("realised", "fees", "fills", "updated_ms"))
        self.plan_pnl_prediction = _update(t.plan_pnl, ("plan_id",), ("predicted", "updated_ms"))
        self.plan_finish = _update(
            t.plans, ("plan_id",), ("status", "realised_profit", "reported", "updated_ms")
        )
        self.residual_state = _select(t.residuals, ("plan_id", "asset"), "state")
        residual_columns = (
            "venue",
            "side",
            "size",
            "exclude_venues",
            "reason",
            "state",
            "ts_ms",
            "updated_ms",
        )
        self.residual_update = _update(t.residuals, ("plan_id", "asset"), residual_columns)
        self.residual_set_state = _update(t.residuals, ("plan_id", "asset"), ("state", "updated_ms"))

    def insert_if_new(
        self, conn: Connection, table: sa.Table, key: str, values: Mapping[str, object]
    ) -> bool:
        """Insert a row unless its key exists; True when inserted (one statement where the dialect can)."""
        exists = self.exists[table.name]
        if not self.upserts and conn.execute(exists, {f"k_{key}": values[key]}).first() is not None:
            return False
        result = conn.execute(self.insert_new[table.name], dict(values))
        if self.upserts:
            return result.first() is not None
        return True


def _prefixed(prefix: str, values: Mapping[str, object]) -> dict[str, object]:
    return {f"{prefix}{k}": v for k, v in values.items()}
