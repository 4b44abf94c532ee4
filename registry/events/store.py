"""The event store: the log projected into SQL tables, written by a durable consumer, rebuilt by replay.

Tables (SQLAlchemy; SQLite by default, any SQLAlchemy URL works):

- ``ev_events``: every record (sequence, time, source, kind, the event as canonical JSON);
- ``ev_plans``, ``ev_executions``, ``ev_fills``: an agent's committed plans, their outcomes and fills;
- ``ev_sessions``: a coordinator's completed and abandoned sessions;
- ``ev_position``: the last sequence applied.

Each record is applied in one transaction together with ``ev_position``, and only if it comes after the
position: a consumer re-delivered records it had not acknowledged (at-least-once) writes each exactly once,
and a store built live by ``StoreWriter`` is row for row the store ``replay`` rebuilds from the same log.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from registry.events.log import Consumer, EventLog, Record

metadata = sa.MetaData()
DEC = sa.String(64)

events = sa.Table(
    "ev_events",
    metadata,
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts_ns", sa.BigInteger, nullable=False),
    sa.Column("source", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
)
plans = sa.Table(
    "ev_plans",
    metadata,
    sa.Column("venue", sa.String(128), primary_key=True),
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("session", sa.String(256), nullable=False),
    sa.Column("state_hash", sa.String(128), nullable=False),
    sa.Column("expected_profit", DEC, nullable=False),
    sa.Column("legs", sa.Text, nullable=False),
    sa.Column("log_sequence", sa.BigInteger, nullable=False),
)
executions = sa.Table(
    "ev_executions",
    metadata,
    sa.Column("venue", sa.String(128), primary_key=True),
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("session", sa.String(256), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("predicted_pnl", DEC, nullable=False),
    sa.Column("realised_pnl", DEC, nullable=False),
    sa.Column("pnl_vs_plan", DEC, nullable=False),
    sa.Column("fees", DEC, nullable=False),
    sa.Column("risk_gates", sa.Text, nullable=False),
    sa.Column("log_sequence", sa.BigInteger, nullable=False),
)
fills = sa.Table(
    "ev_fills",
    metadata,
    sa.Column("venue", sa.String(128), primary_key=True),
    sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("client_order_id", sa.String(128), nullable=False),
    sa.Column("instrument", sa.String(128), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("price", DEC, nullable=False),
    sa.Column("size", DEC, nullable=False),
    sa.Column("fee", DEC, nullable=False),
)
sessions = sa.Table(
    "ev_sessions",
    metadata,
    sa.Column("session", sa.String(256), primary_key=True),
    sa.Column("outcome", sa.String(16), nullable=False),  # completed | abandoned
    sa.Column("strategy", sa.String(32), nullable=False),
    sa.Column("rounds", sa.Integer, nullable=False),
    sa.Column("converged", sa.Boolean, nullable=False),
    sa.Column("profit", sa.Float, nullable=False),
    sa.Column("elapsed_ms", sa.Float, nullable=False),
    sa.Column("plan_sequence", sa.BigInteger, nullable=False),
    sa.Column("members", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("log_sequence", sa.BigInteger, nullable=False),
)
position = sa.Table(
    "ev_position",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
)

TABLES = (events, plans, executions, fills, sessions, position)


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _str(event: dict[str, Any], key: str, default: str = "") -> str:
    value = event.get(key, default)
    return default if value is None else str(value)


class EventStore:
    """The projection of one log (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    @classmethod
    def open(cls, url: str) -> EventStore:
        return cls(sa.create_engine(url))

    def position(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(position.c.sequence).where(position.c.id == 1)).scalar()
        return int(value or 0)

    def apply(self, records: Iterable[Record]) -> int:
        """Apply the records after the store's position, in one transaction; the new position."""
        with self.engine.begin() as conn:
            current = conn.execute(sa.select(position.c.sequence).where(position.c.id == 1)).scalar()
            at = int(current or 0)
            for record in records:
                if record.sequence <= at:
                    continue  # re-delivered: already applied
                _project(conn, record)
                at = record.sequence
            if current is None:
                conn.execute(sa.insert(position).values(id=1, sequence=at))
            else:
                conn.execute(sa.update(position).where(position.c.id == 1).values(sequence=at))
        return at

    def reset(self) -> None:
        """Drop and re-create every table (``replay`` starts from nothing)."""
        metadata.drop_all(self.engine)
        metadata.create_all(self.engine)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self.engine.connect() as conn:
            return {
                t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0)
                for t in TABLES
            }

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table in key order (tests compare a live store with a replayed one)."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.connect() as conn:
            for table in TABLES:
                keys = list(table.primary_key.columns)
                out[table.name] = [tuple(r) for r in conn.execute(sa.select(table).order_by(*keys))]
        return out

    def close(self) -> None:
        self.engine.dispose()


def _project(conn: Connection, record: Record) -> None:
    event: dict[str, Any] = dict(record.event)
    kind = record.kind
    seq = record.sequence
    conn.execute(
        sa.insert(events).values(
            sequence=seq, ts_ns=record.time_ns, source=record.source, kind=kind, body=_json(event)
        )
    )
    if kind == "plan":
        conn.execute(
            sa.delete(plans).where(
                plans.c.venue == _str(event, "venue"), plans.c.sequence == int(event.get("sequence") or 0)
            )
        )
        conn.execute(
            sa.insert(plans).values(
                venue=_str(event, "venue"),
                sequence=int(event.get("sequence") or 0),
                session=_str(event, "session"),
                state_hash=_str(event, "state_hash"),
                expected_profit=_str(event, "expected_profit", "0"),
                legs=_json(event.get("legs") or []),
                log_sequence=seq,
            )
        )
    elif kind in ("execution", "recovered_execution"):
        venue, sequence = _str(event, "venue"), int(event.get("sequence") or 0)
        conn.execute(
            sa.delete(executions).where(executions.c.venue == venue, executions.c.sequence == sequence)
        )
        conn.execute(sa.delete(fills).where(fills.c.venue == venue, fills.c.sequence == sequence))
        conn.execute(
            sa.insert(executions).values(
                venue=venue,
                sequence=sequence,
                session=_str(event, "session"),
                status=_str(event, "status"),
                predicted_pnl=_str(event, "predicted_pnl", "0"),
                realised_pnl=_str(event, "realised_pnl", "0"),
                pnl_vs_plan=_str(event, "pnl_vs_plan", "0"),
                fees=_str(event, "fees", "0"),
                risk_gates=_json(event.get("risk_gates") or []),
                log_sequence=seq,
            )
        )
        raw_fills = event.get("fills") or []
        for n, fill in enumerate(raw_fills if isinstance(raw_fills, list) else []):
            f = dict(fill) if isinstance(fill, dict) else {}
            conn.execute(
                sa.insert(fills).values(
                    venue=venue,
                    sequence=sequence,
                    n=n,
                    client_order_id=_str(f, "client_order_id"),
                    instrument=_str(f, "instrument"),
                    side=_str(f, "side"),
                    price=_str(f, "price", "0"),
                    size=_str(f, "size", "0"),
                    fee=_str(f, "fee", "0"),
                )
            )
    elif kind in ("session", "abandoned"):
        completed = kind == "session"
        session_id = _str(event, "session")
        conn.execute(sa.delete(sessions).where(sessions.c.session == session_id))
        members = event.get("participants") if completed else event.get("members")
        detail = (
            {k: event.get(k) for k in ("committed", "dropped", "execution_reports", "ledger_size")}
            if completed
            else {"reason": event.get("reason")}
        )
        conn.execute(
            sa.insert(sessions).values(
                session=session_id,
                outcome="completed" if completed else "abandoned",
                strategy=_str(event, "strategy"),
                rounds=int(event.get("rounds") or 0),
                converged=bool(event.get("converged")),
                profit=float(event.get("profit") or 0.0),
                elapsed_ms=float(event.get("elapsed_ms") or 0.0),
                plan_sequence=int(event.get("sequence") or 0),
                members=_json(members or []),
                detail=_json(detail),
                log_sequence=seq,
            )
        )


class StoreWriter:
    """The store's consumer: fetch, apply (one transaction per batch), then acknowledge.

    Killed between apply and ack, it gets the batch again and the store's position skips what it holds;
    killed before apply, the records come again and are applied once.
    """

    def __init__(self, event_log: EventLog, store: EventStore, *, name: str = "store") -> None:
        self.log = event_log
        self.store = store
        self.consumer: Consumer = event_log.consumer(name)
        self.stop = threading.Event()

    def step(self, max_records: int = 512, timeout: float = 0.5) -> int:
        """One fetch-apply-ack; the number of records fetched."""
        records = self.consumer.fetch(max_records, timeout)
        if records:
            self.store.apply(records)
            self.consumer.ack(records[-1].sequence)
        return len(records)

    def run(self, *, follow: bool, on_batch: Callable[[int], None] | None = None) -> int:
        """Apply until caught up (``follow``: until ``stop``); the store's position."""
        while not self.stop.is_set():
            n = self.step()
            if on_batch is not None and n:
                on_batch(n)
            if not n and not follow and self.consumer.acked >= self.log.last_sequence():
                break
        return self.store.position()

    def close(self) -> None:
        self.consumer.close()


def replay(event_log: EventLog, store: EventStore, *, batch: int = 1000) -> int:
    """Rebuild ``store`` from the whole log; its position."""
    store.reset()
    chunk: list[Record] = []
    for record in event_log.read(1):
        chunk.append(record)
        if len(chunk) >= batch:
            store.apply(chunk)
            chunk = []
    if chunk:
        store.apply(chunk)
    return store.position()
