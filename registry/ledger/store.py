"""SQLAlchemy storage of the ledger: entries, perfect-subtree hashes and signed checkpoints.

SQLite (embedded, the default) and PostgreSQL (deployments) run the same SQLAlchemy Core statements. Each
batch of entries is written with the tree nodes it completes and the checkpoint that covers it in **one**
transaction, so a crash leaves either the whole batch or none of it, and the tree always matches the entries.

SQLite runs in WAL mode with ``synchronous=FULL``: a commit is fsynced before it returns, so an acknowledged
entry survives power loss, not just a process crash (``NORMAL`` in WAL mode may lose the last commits on power
loss). Batching amortises that fsync over many entries, which is why the stricter mode costs little.

Node ids pack ``(level, index)`` as ``index * 64 + level`` (levels >= 1; level 0 is the entry's leaf hash).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from registry.ledger.entry import LedgerEntry
from registry.ledger.merkle import NodeId

SCHEMA_VERSION = "1"
_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY = SQLite rowid


class _Bytes(sa.types.TypeDecorator[bytes]):
    """BLOB/BYTEA passed to the driver as plain ``bytes`` (sqlite3 and psycopg take them as they are).

    Skipping SQLAlchemy's per-value ``Binary()`` wrapping saves ~10 us per row on the append path.
    """

    impl = sa.LargeBinary
    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> None:
        return None


_SELECT_CHUNK = 500


class StoreError(RuntimeError):
    """The database is unusable as a ledger (wrong schema version, concurrent writer, missing rows)."""


@dataclass(frozen=True, slots=True)
class EntryRow:
    """An entry exactly as stored (no validation), plus the stored leaf hash; what exports are made of."""

    index: int
    kind: int
    timestamp_ms: int
    actor_did: str
    payload: bytes
    payload_hash: bytes
    previous_hash: bytes
    signature: bytes
    leaf_hash: bytes

    def entry(self) -> LedgerEntry:
        return LedgerEntry(
            self.index,
            self.kind,
            self.timestamp_ms,
            self.actor_did,
            self.payload,
            self.payload_hash,
            self.previous_hash,
            self.signature,
        )


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root_hash: bytes
    note: str
    created_ms: int


@dataclass(frozen=True)
class Tail:
    """What a writer needs to continue the log: its size and the last entry's hash and time."""

    size: int
    last_hash: bytes | None
    last_timestamp_ms: int


def node_key(node: NodeId) -> int:
    level, index = node
    return index * 64 + level


def _tables(schema: str | None) -> tuple[sa.MetaData, sa.Table, sa.Table, sa.Table, sa.Table]:
    md = sa.MetaData(schema=schema)
    entries = sa.Table(
        "ledger_entries",
        md,
        sa.Column("idx", _BIGINT, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("payload", _Bytes, nullable=False),
        sa.Column("payload_hash", _Bytes(32), nullable=False),
        sa.Column("previous_hash", _Bytes(32), nullable=False),
        sa.Column("signature", _Bytes(64), nullable=False),
        sa.Column("leaf_hash", _Bytes(32), nullable=False),
        sa.Index("ix_ledger_entries_actor_ts", "actor", "ts_ms"),
        sa.Index("ix_ledger_entries_kind_ts", "kind", "ts_ms"),
        sa.Index("ix_ledger_entries_ts", "ts_ms"),
    )
    nodes = sa.Table(
        "ledger_nodes",
        md,
        sa.Column("node_id", _BIGINT, primary_key=True, autoincrement=False),
        sa.Column("hash", _Bytes(32), nullable=False),
    )
    checkpoints = sa.Table(
        "ledger_checkpoints",
        md,
        sa.Column("size", _BIGINT, primary_key=True, autoincrement=False),
        sa.Column("root_hash", _Bytes(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    meta = sa.Table(
        "ledger_meta",
        md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    return md, entries, nodes, checkpoints, meta


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


def _make_engine(url: str, create: bool) -> tuple[Engine, bool]:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(
            f"database url: expected a SQLAlchemy URL such as sqlite:///path, got {url!r}"
        ) from exc
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping: it would add a round trip to every proof; a dropped connection fails one call and
        # SQLAlchemy then invalidates the pool, so the next call reconnects.
        return sa.create_engine(url), False
    memory = parsed.database in (None, "", ":memory:")
    if memory:
        engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        path = Path(parsed.database or "")
        if not create and not path.is_file():
            raise StoreError(f"no ledger database at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine, memory


class LedgerStore:
    """Thin persistence adapter: no hashing or signing, only rows in and rows out."""

    def __init__(self, url: str, *, schema: str | None = None, create: bool = True) -> None:
        self.url = url
        self.engine, memory = _make_engine(url, create)
        # Reads need no transaction (committed rows never change): autocommit saves BEGIN/ROLLBACK trips.
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # One in-memory SQLite connection is shared by every thread, so serialise access to it.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if memory else contextlib.nullcontext()
        )
        self._md, self.entries, self.nodes, self.checkpoints, self.meta = _tables(schema)
        if create:
            with self._lock:
                self._md.create_all(self.engine)
        elif not sa.inspect(self.engine).has_table("ledger_entries", schema=schema):
            self.engine.dispose()
            raise StoreError(
                f"no ledger tables at {sa.engine.make_url(url).render_as_string(hide_password=True)}"
            )

    def close(self) -> None:
        self.engine.dispose()

    # --- metadata -------------------------------------------------------------------------------------

    def read_meta(self) -> dict[str, str]:
        with self._lock, self._reader.connect() as conn:
            return {row.key: row.value for row in conn.execute(sa.select(self.meta))}

    def init_meta(self, values: dict[str, str]) -> dict[str, str]:
        """Write ``values`` if the ledger has no metadata yet; return what is stored either way."""
        with self._lock:
            current = self.read_meta()
            if not current:
                with contextlib.suppress(sa.exc.IntegrityError), self.engine.begin() as conn:
                    rows = [
                        {"key": k, "value": v}
                        for k, v in {"schema_version": SCHEMA_VERSION, **values}.items()
                    ]
                    conn.execute(sa.insert(self.meta), rows)
                current = self.read_meta()
        if current.get("schema_version") != SCHEMA_VERSION:
            raise StoreError(
                f"ledger schema_version: expected {SCHEMA_VERSION}, found {current.get('schema_version')!r}"
            )
        return current

    def replace_meta(self, key: str, expected: str, value: str) -> None:
        """Compare-and-set one metadata value (a log key rotation): refused unless it still holds
        ``expected``, so two rotations racing cannot both win."""
        with self._lock, self.engine.begin() as conn:
            result = conn.execute(
                sa.update(self.meta)
                .where(self.meta.c.key == key, self.meta.c.value == expected)
                .values(value=value)
            )
            if result.rowcount != 1:
                raise StoreError(f"ledger {key}: expected {expected!r} before replacing it; it changed")

    # --- writing --------------------------------------------------------------------------------------

    def commit_batch(
        self,
        expected_size: int,
        rows: Sequence[EntryRow],
        nodes: Sequence[tuple[NodeId, bytes]],
        checkpoint: StoredCheckpoint | None,
    ) -> None:
        """Append ``rows`` (indices ``expected_size...``), their new nodes and a checkpoint atomically.

        Raises :class:`StoreError` if another writer appended in the meantime (nothing is written then).
        """
        if rows and rows[0].index != expected_size:
            raise ValueError(f"commit_batch: first index {rows[0].index} != expected size {expected_size}")
        with self._lock:
            try:
                with self.engine.begin() as conn:
                    if rows:
                        conn.execute(sa.insert(self.entries), [_row_params(r) for r in rows])
                    if nodes:
                        conn.execute(
                            sa.insert(self.nodes), [{"node_id": node_key(n), "hash": h} for n, h in nodes]
                        )
                    if checkpoint is not None:
                        conn.execute(
                            sa.insert(self.checkpoints),
                            {
                                "size": checkpoint.size,
                                "root_hash": checkpoint.root_hash,
                                "note": checkpoint.note,
                                "created_ms": checkpoint.created_ms,
                            },
                        )
                    actual = self._size(conn)
                    if actual != expected_size + len(rows):
                        expected = expected_size + len(rows)
                        raise StoreError(f"concurrent writer: ledger size is {actual}, expected {expected}")
            except sa.exc.IntegrityError as exc:
                raise StoreError(
                    f"concurrent writer: indices from {expected_size} are already taken ({exc.orig!r})"
                ) from exc

    # --- reading --------------------------------------------------------------------------------------

    def _size(self, conn: Connection) -> int:
        top = conn.execute(sa.select(sa.func.max(self.entries.c.idx))).scalar()
        return 0 if top is None else int(top) + 1

    def size(self) -> int:
        with self._lock, self._reader.connect() as conn:
            return self._size(conn)

    def tail(self) -> Tail:
        with self._lock, self._reader.connect() as conn:
            size = self._size(conn)
            if size == 0:
                return Tail(0, None, 0)
            row = conn.execute(
                sa.select(self.entries.c.leaf_hash, self.entries.c.ts_ms).where(
                    self.entries.c.idx == size - 1
                )
            ).one()
            return Tail(size, bytes(row.leaf_hash), int(row.ts_ms))

    def get(self, index: int) -> EntryRow | None:
        with self._lock, self._reader.connect() as conn:
            row = conn.execute(sa.select(self.entries).where(self.entries.c.idx == index)).first()
            return None if row is None else _to_row(row)

    def scan(self, start: int, stop: int, chunk: int = 5000) -> Iterator[EntryRow]:
        """Entries ``[start, stop)`` in index order, fetched in chunks (for exports of any size)."""
        position = start
        while position < stop:
            end = min(stop, position + chunk)
            with self._lock, self._reader.connect() as conn:
                result = conn.execute(
                    sa.select(self.entries)
                    .where(self.entries.c.idx >= position, self.entries.c.idx < end)
                    .order_by(self.entries.c.idx)
                )
                rows = [_to_row(r) for r in result]
            if len(rows) != end - position:
                raise StoreError(f"entries [{position}, {end}) are incomplete: found {len(rows)} rows")
            yield from rows
            position = end

    def query(
        self,
        *,
        actor: str | None = None,
        kind: int | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        after_index: int | None = None,
        limit: int = 1000,
    ) -> list[EntryRow]:
        """Entries matching every given filter (time range ``[since, until)``), in index order."""
        stmt = sa.select(self.entries).order_by(self.entries.c.idx).limit(limit)
        if actor is not None:
            stmt = stmt.where(self.entries.c.actor == actor)
        if kind is not None:
            stmt = stmt.where(self.entries.c.kind == kind)
        if since_ms is not None:
            stmt = stmt.where(self.entries.c.ts_ms >= since_ms)
        if until_ms is not None:
            stmt = stmt.where(self.entries.c.ts_ms < until_ms)
        if after_index is not None:
            stmt = stmt.where(self.entries.c.idx > after_index)
        with self._lock, self._reader.connect() as conn:
            return [_to_row(r) for r in conn.execute(stmt)]

    def get_nodes(self, ids: Collection[NodeId]) -> dict[NodeId, bytes]:
        """Perfect-subtree hashes: level 0 from the entries' leaf hashes, higher levels from the nodes.

        One round trip (``UNION ALL``) for a proof's worth of nodes; larger requests go in chunks.
        """
        leaves = sorted(index for level, index in ids if level == 0)
        inner = {node_key(n): n for n in ids if n[0] > 0}
        keys = sorted(inner)
        found: dict[NodeId, bytes] = {}
        with self._lock, self._reader.connect() as conn:
            for i in range(0, max(len(leaves), len(keys)), _SELECT_CHUNK):
                leaf_part, key_part = leaves[i : i + _SELECT_CHUNK], keys[i : i + _SELECT_CHUNK]
                parts = []
                if leaf_part:
                    parts.append(
                        sa.select(
                            self.entries.c.idx.label("k"),
                            sa.literal(0).label("inner"),
                            self.entries.c.leaf_hash,
                        ).where(self.entries.c.idx.in_(leaf_part))
                    )
                if key_part:
                    parts.append(
                        sa.select(
                            self.nodes.c.node_id.label("k"), sa.literal(1).label("inner"), self.nodes.c.hash
                        ).where(self.nodes.c.node_id.in_(key_part))
                    )
                stmt = parts[0] if len(parts) == 1 else sa.union_all(*parts)
                for key, is_inner, node_hash in conn.execute(stmt):
                    found[inner[int(key)] if is_inner else (0, int(key))] = bytes(node_hash)
        return found

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        stmt = sa.select(self.checkpoints).order_by(self.checkpoints.c.size.desc()).limit(1)
        with self._lock, self._reader.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _to_checkpoint(row)

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        stmt = sa.select(self.checkpoints).where(self.checkpoints.c.size == size)
        with self._lock, self._reader.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _to_checkpoint(row)


def _row_params(row: EntryRow) -> dict[str, object]:
    return {
        "idx": row.index,
        "kind": row.kind,
        "ts_ms": row.timestamp_ms,
        "actor": row.actor_did,
        "payload": row.payload,
        "payload_hash": row.payload_hash,
        "previous_hash": row.previous_hash,
        "signature": row.signature,
        "leaf_hash": row.leaf_hash,
    }


def _to_row(row: sa.Row[Any]) -> EntryRow:
    return EntryRow(
        int(row.idx),
        int(row.kind),
        int(row.ts_ms),
        str(row.actor),
        bytes(row.payload),
        bytes(row.payload_hash),
        bytes(row.previous_hash),
        bytes(row.signature),
        bytes(row.leaf_hash),
    )


def _to_checkpoint(row: sa.Row[Any]) -> StoredCheckpoint:
    return StoredCheckpoint(int(row.size), bytes(row.root_hash), str(row.note), int(row.created_ms))
