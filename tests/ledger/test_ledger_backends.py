"""One behavioural suite for the ledger, run against SQLite and against the real PostgreSQL.

``LedgerSuite`` holds every test; each backend subclass only says how to reach its database (Flower's
``linkstate_test.py`` pattern).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import FakeClock
from ledger_reference import ReferenceTree

from energibridge.v1 import ir_pb2
from registry.ledger import (
    Ed25519Signer,
    EntryError,
    Ledger,
    LedgerEntry,
    LedgerError,
    NoteSigner,
    verify_export,
)
from registry.ledger.entry import GENESIS_PREVIOUS_HASH
from registry.ledger.merkle import MemoryTree, ProofError
from registry.ledger.signed_note import open_checkpoint
from registry.ledger.store import StoreError

REPO_ROOT = Path(__file__).resolve().parents[2]
CRASH_CHILD = Path(__file__).resolve().parent / "ledger_crash_child.py"

OpenLedger = Callable[..., Ledger]


class LedgerSuite:
    """Backend-independent behaviour. Subclasses provide the ``backend`` fixture: ``(url, schema)``."""

    @pytest.fixture
    def backend(self) -> tuple[str, str | None]:
        raise NotImplementedError

    @pytest.fixture
    def open_ledger(self, backend: tuple[str, str | None], log_key: NoteSigner, clock: FakeClock) -> Any:
        url, schema = backend
        opened: list[Ledger] = []

        def factory(key: NoteSigner | None = log_key, **kwargs: Any) -> Ledger:
            kwargs.setdefault("clock_ms", clock)
            ledger = Ledger.open(url, key, schema=schema, **kwargs)
            opened.append(ledger)
            return ledger

        yield factory
        for ledger in opened:
            ledger.close()

    # --- tampering --------------------------------------------------------------------------------------

    def test_a_row_changed_behind_the_ledger_is_refused(
        self, open_ledger: OpenLedger, signers: list[Ed25519Signer], backend: tuple[str, str | None]
    ) -> None:
        """One payload byte changed in the database: ``get`` and ``inclusion_proof`` refuse that entry
        (they used to serve it and prove it "verified"); the others are still served."""
        import sqlalchemy as sa

        from registry.ledger.ledger import LedgerTampered

        ledger = open_ledger()
        for i in range(3):
            ledger.append("EXECUTION_REPORT", f'{{"pnl": "{i}"}}'.encode(), signers[0])
        ledger.flush()
        ledger.checkpoint()
        url, schema = backend
        table = f'"{schema}".ledger_entries' if schema else "ledger_entries"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {table} SET payload = :p WHERE idx = 1"), {"p": b'{"pnl": "9"}'})
        engine.dispose()
        with pytest.raises(LedgerTampered, match="entry 1 was changed outside the ledger: the payload"):
            ledger.get(1)
        with pytest.raises(LedgerTampered, match="entry 1"):
            ledger.inclusion_proof(1)
        assert ledger.get(0).payload == b'{"pnl": "0"}' and ledger.get(2).payload == b'{"pnl": "2"}'

    # --- appending --------------------------------------------------------------------------------------

    def test_append_flush_get(self, open_ledger: OpenLedger, signers: list[Ed25519Signer]) -> None:
        ledger = open_ledger()
        futures = [ledger.append("JOIN", f"join {i}".encode(), signers[i % 2]) for i in range(5)]
        assert ledger.flush() == [0, 1, 2, 3, 4]
        assert [f.result() for f in futures] == [0, 1, 2, 3, 4]
        assert ledger.flush() == []
        previous = GENESIS_PREVIOUS_HASH
        for i in range(5):
            entry = ledger.get(i)
            assert entry.payload == f"join {i}".encode()
            assert entry.kind == ir_pb2.AUDIT_KIND_JOIN
            assert entry.actor_did == signers[i % 2].did
            assert entry.previous_hash == previous
            assert entry.signature_valid()
            assert LedgerEntry.from_proto(entry.to_proto()) == entry
            previous = entry.entry_hash()

    def test_checkpoint_is_signed_and_covers_every_durable_entry(
        self, open_ledger: OpenLedger, log_key: NoteSigner, signers: list[Ed25519Signer]
    ) -> None:
        ledger = open_ledger()
        empty = open_checkpoint(ledger.checkpoint().note, log_key.verifier())
        assert (empty.origin, empty.size) == (log_key.name, 0)
        ledger.append_many([("PLAN_COMMITTED", b"plan %d" % i, signers[0]) for i in range(7)])
        checkpoint = open_checkpoint(ledger.checkpoint().note, log_key.verifier())
        leaves = [ledger.get(i).entry_hash() for i in range(7)]
        assert checkpoint.size == 7 == ledger.size()
        assert checkpoint.root_hash == MemoryTree(leaves).root() == ledger.root(7)

    def test_inclusion_proofs_verify_for_every_index_and_stored_size(
        self, open_ledger: OpenLedger, log_key: NoteSigner, signers: list[Ed25519Signer]
    ) -> None:
        ledger = open_ledger(max_batch=7)
        ledger.append_many([("EXECUTION_REPORT", b"r%d" % i, signers[i % 3]) for i in range(23)])
        for size in (1, 5, 16, 23):
            root = ledger.root(size)
            for index in range(size):
                proof = ledger.inclusion_proof(index, size)
                assert proof.leaf_hash == ledger.get(index).entry_hash()
                proof.verify(root)
        latest = open_checkpoint(ledger.checkpoint().note, log_key.verifier())
        ledger.inclusion_proof(22).verify(latest.root_hash)
        with pytest.raises(ProofError):
            ledger.inclusion_proof(3, 23).verify(ledger.root(22))

    def test_consistency_proofs_between_every_pair_of_checkpoints(
        self, open_ledger: OpenLedger, log_key: NoteSigner, signers: list[Ed25519Signer]
    ) -> None:
        ledger = open_ledger()
        sizes = []
        for batch in (1, 2, 5, 8, 1, 13):
            ledger.append_many([("PRIVACY_SPEND", b"spend", signers[0])] * batch)
            sizes.append(ledger.size())
        notes = {size: ledger.checkpoint_at(size) for size in sizes}
        assert all(note is not None for note in notes.values())
        roots = {s: open_checkpoint(n.note, log_key.verifier()).root_hash for s, n in notes.items() if n}
        for size1 in sizes:
            for size2 in sizes:
                if size1 <= size2:
                    ledger.consistency_proof(size1, size2).verify(roots[size1], roots[size2])
        reference = ReferenceTree([ledger.get(i).leaf_data() for i in range(sizes[-1])])
        assert list(ledger.consistency_proof(3, 16).path) == reference.consistency(3, 16)

    def test_query_filters(
        self, open_ledger: OpenLedger, signers: list[Ed25519Signer], clock: FakeClock
    ) -> None:
        ledger = open_ledger()
        start = clock.now
        for i in range(12):
            clock.now = start + 1000 * i
            kind = "JOIN" if i % 3 == 0 else "RISK_HALT"
            ledger.append(kind, b"q%d" % i, signers[i % 2])
            ledger.flush()
        assert [e.index for e in ledger.query(kind="JOIN")] == [0, 3, 6, 9]
        assert [e.index for e in ledger.query(actor=signers[1].did)] == [1, 3, 5, 7, 9, 11]
        assert [e.index for e in ledger.query(since_ms=start + 4000, until_ms=start + 7000)] == [4, 5, 6]
        assert [e.index for e in ledger.query(kind="risk_halt", actor=signers[0].did, limit=2)] == [2, 4]
        assert [e.index for e in ledger.query(after_index=9)] == [10, 11]
        assert ledger.query(actor="did:key:z6MkNobody") == []

    def test_timestamps_never_go_backwards(
        self, open_ledger: OpenLedger, signers: list[Ed25519Signer], clock: FakeClock
    ) -> None:
        ledger = open_ledger()
        ledger.append_many([("CONFIG_CHANGE", b"a", signers[0])])
        clock.now -= 60_000  # the wall clock steps back
        ledger.append_many([("CONFIG_CHANGE", b"b", signers[0])])
        assert ledger.get(1).timestamp_ms == ledger.get(0).timestamp_ms

    def test_reopen_continues_the_chain_and_tree(
        self, open_ledger: OpenLedger, log_key: NoteSigner, signers: list[Ed25519Signer]
    ) -> None:
        first = open_ledger()
        first.append_many([("JOIN", b"before %d" % i, signers[0]) for i in range(5)])
        first.close()
        second = open_ledger()
        assert second.append_many([("LEAVE", b"after", signers[1])]) == [5]
        assert second.get(5).previous_hash == second.get(4).entry_hash()
        out = io.StringIO()
        second.export(out)
        report = verify_export(io.StringIO(out.getvalue()), log_key.verifier())
        assert report.ok, report.problems
        assert report.entries_checked == 6

    def test_read_only_and_wrong_key(self, open_ledger: OpenLedger, signers: list[Ed25519Signer]) -> None:
        open_ledger().append_many([("JOIN", b"x", signers[0])])
        reader = open_ledger(None)
        assert reader.get(0).payload == b"x"
        with pytest.raises(LedgerError, match="read-only"):
            reader.append("JOIN", b"y", signers[0])
        with pytest.raises(LedgerError, match="signed by"):
            open_ledger(NoteSigner.generate("arbsphere.test/ledger"))

    def test_invalid_appends_are_refused_at_the_boundary(
        self, open_ledger: OpenLedger, signers: list[Ed25519Signer]
    ) -> None:
        ledger = open_ledger()
        with pytest.raises(EntryError, match="unknown kind"):
            ledger.append("NOT_A_KIND", b"x", signers[0])
        with pytest.raises(EntryError, match="UNSPECIFIED"):
            ledger.append(0, b"x", signers[0])
        with pytest.raises(EntryError, match="AuditKind"):
            ledger.append(99, b"x", signers[0])
        with pytest.raises(EntryError, match="expected bytes"):
            ledger.append("JOIN", "text", signers[0])  # type: ignore[arg-type]
        with pytest.raises(EntryError, match="exceeds"):
            ledger.append("JOIN", bytes(1 << 21), signers[0])

        class BadDid:
            did = "did:web:example.com"

            def sign(self, message: bytes) -> bytes:
                return bytes(64)

        class WrongKey:
            did = signers[0].did

            def sign(self, message: bytes) -> bytes:
                return signers[1].sign(message)

        with pytest.raises(EntryError, match="signer did"):
            ledger.append("JOIN", b"x", BadDid())
        with pytest.raises(EntryError, match="do not verify"):
            ledger.append("JOIN", b"x", WrongKey())
        assert ledger.flush() == []
        assert ledger.size() == 0

    def test_a_failing_signer_fails_only_its_own_entry(
        self, open_ledger: OpenLedger, signers: list[Ed25519Signer]
    ) -> None:
        ledger = open_ledger()

        class Flaky:
            did = signers[2].did
            calls = 0

            def sign(self, message: bytes) -> bytes:
                Flaky.calls += 1
                if Flaky.calls > 1:  # the first call is the ledger's probe at append time
                    raise RuntimeError("HSM unavailable")
                return signers[2].sign(message)

        ok1 = ledger.append("JOIN", b"a", signers[0])
        bad = ledger.append("JOIN", b"b", Flaky())
        ok2 = ledger.append("JOIN", b"c", signers[1])
        with pytest.raises(RuntimeError, match="HSM"):
            ledger.flush()
        assert (ok1.result(), ok2.result()) == (0, 1)
        assert isinstance(bad.exception(), RuntimeError)
        assert ledger.get(1).payload == b"c"

    def test_proof_requests_out_of_range(self, open_ledger: OpenLedger, signers: list[Ed25519Signer]) -> None:
        ledger = open_ledger()
        ledger.append_many([("JOIN", b"x", signers[0])] * 3)
        with pytest.raises(LedgerError, match="not below"):
            ledger.inclusion_proof(3)
        with pytest.raises(LedgerError, match="beyond"):
            ledger.inclusion_proof(0, 4)
        with pytest.raises(LedgerError, match="size1"):
            ledger.consistency_proof(0, 3)
        with pytest.raises(LedgerError, match="no entry 7"):
            ledger.get(7)
        with pytest.raises(LedgerError, match="expected an integer"):
            ledger.get(-1)

    def test_concurrent_threads_append(self, open_ledger: OpenLedger, signers: list[Ed25519Signer]) -> None:
        ledger = open_ledger(max_batch=16)
        results: list[Future[int]] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            for i in range(40):
                future = ledger.append("EXECUTION_REPORT", b"t%d-%d" % (n, i), signers[n % 3])
                with lock:
                    results.append(future)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ledger.flush()
        assert sorted(f.result() for f in results) == list(range(160))

    def test_second_writer_is_refused_then_recovers(
        self, open_ledger: OpenLedger, signers: list[Ed25519Signer]
    ) -> None:
        first, second = open_ledger(), open_ledger()
        first.append_many([("JOIN", b"first", signers[0])])
        with pytest.raises(StoreError, match="concurrent writer"):
            second.append_many([("JOIN", b"second", signers[1])])
        assert second.append_many([("JOIN", b"second again", signers[1])]) == [1]
        assert second.get(1).previous_hash == second.get(0).entry_hash()

    def test_recorder_records_durably_for_one_actor(
        self, open_ledger: OpenLedger, signers: list[Ed25519Signer]
    ) -> None:
        ledger = open_ledger()
        recorder = ledger.recorder(signers[1])
        recorder.record("registry_verdict", b'{"verdict":"compatible"}')
        recorder.record("AUDIT_KIND_CONFIG_CHANGE", b"{}")
        assert ledger.size() == 2
        assert [e.kind for e in ledger.query(actor=signers[1].did)] == [
            ir_pb2.AUDIT_KIND_REGISTRY_VERDICT,
            ir_pb2.AUDIT_KIND_CONFIG_CHANGE,
        ]
        with pytest.raises(EntryError, match="unknown kind"):
            recorder.record("verdict", b"{}")

    def test_unflushed_appends_do_not_accumulate(
        self, open_ledger: OpenLedger, signers: list[Ed25519Signer], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from registry.ledger import ledger as ledger_module

        monkeypatch.setattr(ledger_module, "MAX_TRACKED", 10)
        ledger = open_ledger()
        for i in range(40):
            ledger.append("LEG_OUT", b"%d" % i, signers[0]).result()
        indices = ledger.flush()
        assert 1 <= len(indices) <= 11  # earlier ones were durable and already collected
        assert indices == list(range(40 - len(indices), 40))

    # --- export and tampering ---------------------------------------------------------------------------

    @pytest.mark.parametrize("fmt", ["jsonl", "json"])
    def test_export_verifies_offline(
        self, open_ledger: OpenLedger, log_key: NoteSigner, signers: list[Ed25519Signer], fmt: str
    ) -> None:
        ledger = open_ledger(max_batch=4)
        ledger.append_many([(k, b"e%d" % i, signers[i % 3]) for i, k in enumerate(("JOIN", "LEG_OUT") * 9)])
        out = io.StringIO()
        ledger.export(out, fmt)  # type: ignore[arg-type]
        report = verify_export(io.StringIO(out.getvalue()), log_key.verifier())
        assert report.ok, report.problems
        assert (report.size, report.entries_checked) == (18, 18)

    @pytest.mark.parametrize(
        ("column", "expected_field"),
        [
            ("payload", "payload"),
            ("payload_hash", "payload"),
            ("previous_hash", "previous_hash"),
            ("signature", "signature"),
            ("leaf_hash", "leaf_hash"),
            ("actor", "signature"),
            ("ts_ms", "signature"),
            ("kind", "signature"),
        ],
    )
    def test_tampering_with_a_stored_entry_is_detected(
        self,
        open_ledger: OpenLedger,
        log_key: NoteSigner,
        signers: list[Ed25519Signer],
        column: str,
        expected_field: str,
    ) -> None:
        ledger = open_ledger()
        ledger.append_many([("PLAN_COMMITTED", b"state hash %d" % i, signers[i % 2]) for i in range(6)])
        store = ledger.store
        table = store.entries
        with store.engine.begin() as conn:
            value = conn.execute(sa.select(table.c[column]).where(table.c.idx == 3)).scalar_one()
            if isinstance(value, bytes):
                tampered: object = value[:-1] + bytes([value[-1] ^ 1])
            elif column == "actor":
                tampered = signers[2].did
            elif column == "kind":
                tampered = ir_pb2.AUDIT_KIND_RISK_HALT
            else:
                tampered = value + 1
            conn.execute(sa.update(table).where(table.c.idx == 3).values({column: tampered}))
        out = io.StringIO()
        ledger.export(out)
        report = verify_export(io.StringIO(out.getvalue()), log_key.verifier())
        assert not report.ok
        assert any(p.index == 3 and p.field == expected_field for p in report.problems), report.problems

    def test_tampering_with_the_stored_checkpoint_is_detected(
        self, open_ledger: OpenLedger, log_key: NoteSigner, signers: list[Ed25519Signer]
    ) -> None:
        ledger = open_ledger()
        ledger.append_many([("JOIN", b"x%d" % i, signers[0]) for i in range(3)])
        store = ledger.store
        note = ledger.checkpoint().note
        lines = note.split("\n")
        lines[1] = "2"  # claim a smaller tree
        with store.engine.begin() as conn:
            conn.execute(
                sa.update(store.checkpoints)
                .where(store.checkpoints.c.size == 3)
                .values(note="\n".join(lines))
            )
        out = io.StringIO()
        ledger.export(out)
        report = verify_export(io.StringIO(out.getvalue()), log_key.verifier())
        assert any(p.field == "checkpoint" and "not signed" in p.message for p in report.problems)

    def test_tampered_tree_node_breaks_proofs(
        self, open_ledger: OpenLedger, log_key: NoteSigner, signers: list[Ed25519Signer]
    ) -> None:
        ledger = open_ledger()
        ledger.append_many([("JOIN", b"x%d" % i, signers[0]) for i in range(8)])
        root = open_checkpoint(ledger.checkpoint().note, log_key.verifier()).root_hash
        store = ledger.store
        with store.engine.begin() as conn:
            conn.execute(
                sa.update(store.nodes).where(store.nodes.c.node_id == 1 * 64 + 1).values(hash=bytes(32))
            )
        with pytest.raises(ProofError):
            ledger.inclusion_proof(0).verify(root)

    def test_writer_refuses_to_extend_a_corrupted_tail(
        self, open_ledger: OpenLedger, signers: list[Ed25519Signer]
    ) -> None:
        ledger = open_ledger()
        ledger.append_many([("JOIN", b"x%d" % i, signers[0]) for i in range(4)])
        store = ledger.store
        with store.engine.begin() as conn:
            conn.execute(
                sa.update(store.nodes).where(store.nodes.c.node_id == 0 * 64 + 2).values(hash=bytes(32))
            )
        with pytest.raises(StoreError, match="does not match its latest checkpoint"):
            open_ledger()
        with store.engine.begin() as conn:
            conn.execute(
                sa.update(store.entries).where(store.entries.c.idx == 3).values(payload_hash=bytes(32))
            )
        with pytest.raises(StoreError, match="entry 3: stored hash does not match"):
            open_ledger()
        assert open_ledger(None).size() == 4  # readers still get in, to audit it

    # --- durability -------------------------------------------------------------------------------------

    def test_sigkill_mid_batch_loses_no_acknowledged_entry(
        self, backend: tuple[str, str | None], log_key: NoteSigner, tmp_path: Path
    ) -> None:
        url, schema = backend
        key_file = tmp_path / "log.key"
        key_file.write_text(log_key.to_skey())
        acked = -1
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        for round_number in range(2):
            child = subprocess.Popen(
                [sys.executable, str(CRASH_CHILD), url, schema or "", str(key_file)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            assert child.stdout is not None
            target = acked + 150 + 37 * round_number
            try:
                for line in child.stdout:
                    if line.startswith("acked "):
                        acked = max(acked, int(line.split()[1]))
                        if acked >= target:
                            break
                else:
                    pytest.fail(f"child exited early: {child.stderr.read() if child.stderr else ''}")
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait()
            assert child.returncode == -signal.SIGKILL
            with Ledger.open(url, log_key, schema=schema) as ledger:
                size = ledger.size()
                assert size > acked, f"acknowledged entry {acked} lost (size {size})"
                assert [e.payload for e in ledger.query(after_index=acked - 5, limit=5)] == [
                    b"report %d" % i for i in range(acked - 4, acked + 1)
                ]
                out = io.StringIO()
                ledger.export(out)
                report = verify_export(io.StringIO(out.getvalue()), log_key.verifier())
                assert report.ok, report.problems[:5]
                assert report.size == size
                assert ledger.consistency_proof(acked + 1).path is not None


class TestSqliteLedger(LedgerSuite):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> tuple[str, str | None]:
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}", None

    def test_sqlite_is_in_wal_mode_with_full_sync(self, open_ledger: OpenLedger) -> None:
        ledger = open_ledger()
        with ledger.store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL

    def test_in_memory_sqlite_works_across_threads(
        self, log_key: NoteSigner, signers: list[Ed25519Signer]
    ) -> None:
        with Ledger.open("sqlite://", log_key) as ledger:
            ledger.append("JOIN", b"m", signers[0])
            assert ledger.flush() == [0]
            ledger.inclusion_proof(0).verify(ledger.root(1))


@pytest.mark.postgres
class TestPostgresLedger(LedgerSuite):
    @pytest.fixture
    def backend(self, postgres_url: str, postgres_schema: str) -> tuple[str, str | None]:
        return postgres_url, postgres_schema


def test_export_json_is_one_document(
    tmp_path: Path, log_key: NoteSigner, signers: list[Ed25519Signer]
) -> None:
    with Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}", log_key) as ledger:
        ledger.append_many([("JOIN", b"a", signers[0])])
        out = io.StringIO()
        ledger.export(out, "json")
    document = json.loads(out.getvalue())
    assert document["size"] == 1 and len(document["entries"]) == 1
    assert document["entries"][0]["kind"] == "JOIN"
