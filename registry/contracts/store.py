"""Registry storage on SQLAlchemy 2: SQLite by default, PostgreSQL in deployments, same code.

Three tables: ``contract_lines`` (one row per adapter line, locked while a registration is checked so two
concurrent registrations of one line cannot both pass against a stale view), ``contract_adapters`` (one
immutable row per registered version) and ``contract_verdicts`` (every verdict with its canonical bytes and
whether the ledger has acknowledged it: an outbox, so a ledger outage never loses a verdict).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from registry.contracts.manifest import AdapterManifest
from registry.contracts.verdict import Verdict

_Id = BigInteger().with_variant(Integer(), "sqlite")


class _Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "pk": "pk_%(table_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ix": "ix_%(table_name)s_%(column_0_name)s",
        }
    )


class LineRow(_Base):
    __tablename__ = "contract_lines"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    major: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class AdapterRow(_Base):
    __tablename__ = "contract_adapters"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    major: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[str] = mapped_column(String(128))
    manifest_json: Mapped[str] = mapped_column(Text)  # canonical JSON without the descriptor set
    descriptor_set: Mapped[bytes] = mapped_column(LargeBinary)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    verdict_sha256: Mapped[str] = mapped_column(String(64))
    registered_at_ms: Mapped[int] = mapped_column(BigInteger)


class VerdictRow(_Base):
    __tablename__ = "contract_verdicts"
    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(128))
    accepted: Mapped[bool] = mapped_column(Boolean)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    recorded_at_ms: Mapped[int] = mapped_column(BigInteger)
    on_ledger: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


@dataclass(frozen=True)
class RegisteredAdapter:
    manifest: AdapterManifest
    registered_at_ms: int
    manifest_sha256: str
    verdict_sha256: str


@dataclass(frozen=True)
class StoredVerdict:
    id: int
    verdict: Verdict
    payload: bytes
    recorded_at_ms: int
    on_ledger: bool


def _manifest_from_row(row: AdapterRow) -> AdapterManifest:
    return AdapterManifest.load(json.loads(row.manifest_json), descriptor_set=row.descriptor_set)


def _stored_verdict(row: VerdictRow) -> StoredVerdict:
    return StoredVerdict(
        id=row.id,
        verdict=Verdict.model_validate_json(row.payload),
        payload=row.payload,
        recorded_at_ms=row.recorded_at_ms,
        on_ledger=row.on_ledger,
    )


class LineTransaction:
    """One locked adapter line inside an open transaction."""

    def __init__(self, session: Session, name: str, major: int) -> None:
        self._session = session
        self.name = name
        self.major = major

    def members(self) -> list[AdapterManifest]:
        rows = self._session.scalars(
            select(AdapterRow).where(AdapterRow.name == self.name, AdapterRow.major == self.major)
        )
        return [_manifest_from_row(row) for row in rows]

    def add_verdict(self, verdict: Verdict, recorded_at_ms: int) -> None:
        payload = verdict.canonical_json()
        self._session.add(
            VerdictRow(
                name=verdict.adapter,
                version=verdict.version,
                accepted=verdict.accepted,
                payload=payload,
                payload_sha256=verdict.sha256(),
                recorded_at_ms=recorded_at_ms,
                on_ledger=False,
            )
        )

    def add_adapter(self, manifest: AdapterManifest, verdict: Verdict, registered_at_ms: int) -> None:
        if manifest.line != f"{self.name}@{self.major}":
            raise ValueError(
                f"manifest {manifest.line} does not belong to the locked line {self.name}@{self.major}"
            )
        document = manifest.to_json_dict()
        del document["descriptor_set"]
        self._session.add(
            AdapterRow(
                name=manifest.name,
                major=manifest.version.major,
                version=str(manifest.version),
                manifest_json=json.dumps(document, sort_keys=True, separators=(",", ":")),
                descriptor_set=manifest.descriptor_set,
                manifest_sha256=manifest.sha256(),
                verdict_sha256=verdict.sha256(),
                registered_at_ms=registered_at_ms,
            )
        )


class ContractStore:
    """Persistence of adapters and verdicts. ``schema`` places the tables in a PostgreSQL schema."""

    def __init__(self, engine: Engine, *, schema: str | None = None) -> None:
        self._engine = engine.execution_options(schema_translate_map={None: schema}) if schema else engine

    @classmethod
    def open(cls, url: str, *, schema: str | None = None, create: bool = True) -> ContractStore:
        """Connect to ``url`` (``sqlite:///registry.db``); create missing tables unless ``create=False``."""
        store = cls(create_engine(url), schema=schema)
        if create:
            store.create_tables()
        return store

    def create_tables(self) -> None:
        _Base.metadata.create_all(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def line(self, name: str, major: int) -> Iterator[LineTransaction]:
        """A transaction holding the lock on one adapter line; commits on success, rolls back on error."""
        with Session(self._engine) as session, session.begin():
            self._lock_line(session, name, major)
            yield LineTransaction(session, name, major)

    def _lock_line(self, session: Session, name: str, major: int) -> None:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            session.execute(pg_insert(LineRow).values(name=name, major=major).on_conflict_do_nothing())
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            # The write takes SQLite's database write lock, serialising registrations across connections.
            session.execute(sqlite_insert(LineRow).values(name=name, major=major).on_conflict_do_nothing())
        elif session.get(LineRow, (name, major)) is None:
            session.add(LineRow(name=name, major=major))
            session.flush()
        session.execute(select(LineRow).where(LineRow.name == name, LineRow.major == major).with_for_update())

    def members(self, name: str, major: int) -> list[AdapterManifest]:
        """The line's registered versions, read without locking (for dry runs)."""
        with Session(self._engine) as session:
            return LineTransaction(session, name, major).members()

    def adapters(self, name: str | None = None) -> list[RegisteredAdapter]:
        """Registered versions, by name then semver precedence."""
        with Session(self._engine) as session:
            query = select(AdapterRow)
            if name is not None:
                query = query.where(AdapterRow.name == name)
            found = [
                RegisteredAdapter(
                    manifest=_manifest_from_row(row),
                    registered_at_ms=row.registered_at_ms,
                    manifest_sha256=row.manifest_sha256,
                    verdict_sha256=row.verdict_sha256,
                )
                for row in session.scalars(query)
            ]
        return sorted(found, key=lambda r: (r.manifest.name, r.manifest.version.sort_key()))

    def verdicts(self, name: str | None = None) -> list[StoredVerdict]:
        """Every stored verdict, oldest first."""
        with Session(self._engine) as session:
            query = select(VerdictRow).order_by(VerdictRow.id)
            if name is not None:
                query = query.where(VerdictRow.name == name)
            return [_stored_verdict(row) for row in session.scalars(query)]

    def pending_verdicts(self) -> list[StoredVerdict]:
        """Verdicts the ledger has not acknowledged yet, oldest first."""
        with Session(self._engine) as session:
            query = select(VerdictRow).where(VerdictRow.on_ledger.is_(False)).order_by(VerdictRow.id)
            return [_stored_verdict(row) for row in session.scalars(query)]

    def mark_on_ledger(self, verdict_id: int) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(update(VerdictRow).where(VerdictRow.id == verdict_id).values(on_ledger=True))
