"""Governance ledger: append throughput, proof generation at 10^6 entries, offline verification.

- Append throughput on SQLite and PostgreSQL: the batched background writer (``append`` enqueues, ``flush``
  waits for durability) against the naive baseline of one transaction per append (each append waited for).
  Every entry is really signed (Ed25519) and hash-chained; appends are durable (SQLite WAL, synchronous=FULL).
  Also the hot-path cost: the latency of one ``append`` call (validate + enqueue).
- Proof generation at 10^6 entries (SQLite; PostgreSQL at 10^5 to keep the run short): inclusion and
  consistency proofs from the stored perfect-subtree hashes, against the baseline of rehashing all leaves.
  The 10^6-entry tree is bulk-loaded through ``LedgerStore.commit_batch`` with pre-hashed leaves whose entry
  signatures are placeholders (proofs never read signatures; signing 10^6 entries would dominate the run).
- Offline verification of a real export (every signature checked) at 10^5 entries, extrapolated linearly to
  10^6; set ``ARBSPHERE_BENCH_LEDGER_FULL=1`` to measure 10^6 directly (about 2 minutes more).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from bench.common import percentile, print_table, write_results
from registry.ledger import Ed25519Signer, Ledger, NoteSigner, verify_export
from registry.ledger.entry import GENESIS_PREVIOUS_HASH, signing_bytes
from registry.ledger.merkle import Frontier, MemoryTree, hash_leaf, inclusion_proof
from registry.ledger.signed_note import Checkpoint, sign_checkpoint
from registry.ledger.store import EntryRow, LedgerStore, StoredCheckpoint

POSTGRES_URL = os.environ.get("ARBSPHERE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BATCHED_APPENDS = 20_000
NAIVE_APPENDS = 400
PROOF_TREE_SQLITE = 1_000_000
PROOF_TREE_POSTGRES = 100_000
PROOF_SAMPLES = 1_000
VERIFY_ENTRIES = 100_000
VERIFY_WORKERS = 2
PAYLOAD = b"plan committed: state hash " + bytes(32)
KIND = 6  # AUDIT_KIND_PLAN_COMMITTED


def _postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1.0):
            return True
    except OSError:
        return False


@contextmanager
def _postgres_schema() -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


def _append_throughput(open_ledger: Callable[[], Ledger]) -> dict[str, float]:
    """Batched entries/s with per-call enqueue latency, and the one-transaction-per-append baseline."""
    signers = [Ed25519Signer.from_seed(bytes([i]) * 32) for i in range(1, 5)]
    with open_ledger() as ledger:
        ledger.append_many([("JOIN", b"warm-up", s) for s in signers])
        enqueue_us: list[float] = []
        started = time.perf_counter()
        for i in range(BATCHED_APPENDS):
            t0 = time.perf_counter()
            ledger.append(KIND, PAYLOAD, signers[i % 4])
            enqueue_us.append((time.perf_counter() - t0) * 1e6)
        ledger.flush()
        batched = BATCHED_APPENDS / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(NAIVE_APPENDS):
            ledger.append(KIND, PAYLOAD, signers[i % 4]).result()
        naive = NAIVE_APPENDS / (time.perf_counter() - started)
    return {
        "batched_entries_per_s": batched,
        "naive_entries_per_s": naive,
        "enqueue_p50_us": percentile(enqueue_us, 50),
        "enqueue_p99_us": percentile(enqueue_us, 99),
    }


def _bulk_load(url: str, schema: str | None, size: int, key: NoteSigner) -> float:
    """Create a ledger of ``size`` pre-hashed entries (placeholder signatures); returns seconds taken."""
    Ledger.open(url, key, schema=schema).close()  # metadata + empty checkpoint
    store = LedgerStore(url, schema=schema)
    actor = Ed25519Signer.from_seed(b"\x01" * 32).did
    digest = hashlib.sha256(PAYLOAD).digest()
    signature = bytes(64)
    frontier = Frontier()
    previous = GENESIS_PREVIOUS_HASH
    started = time.perf_counter()
    chunk = 50_000
    for start in range(0, size, chunk):
        rows: list[EntryRow] = []
        nodes: list[tuple[tuple[int, int], bytes]] = []
        for index in range(start, min(size, start + chunk)):
            data = signing_bytes(
                index=index,
                kind=KIND,
                timestamp_ms=1_700_000_000_000 + index,
                actor_did=actor,
                payload_digest=digest,
                previous_hash=previous,
            )
            leaf = hash_leaf(data + signature)
            nodes.extend(frontier.append(leaf))
            rows.append(
                EntryRow(
                    index, KIND, 1_700_000_000_000 + index, actor, PAYLOAD, digest, previous, signature, leaf
                )
            )
            previous = leaf
        store.commit_batch(start, rows, nodes, None)
    note = sign_checkpoint(Checkpoint(key.name, size, frontier.root()), key)
    store.commit_batch(size, [], [], StoredCheckpoint(size, frontier.root(), note, 0))
    store.close()
    return time.perf_counter() - started


def _proof_latencies(url: str, schema: str | None, size: int) -> dict[str, float]:
    rng = random.Random(7)  # benchmark inputs only
    with Ledger.open(url, None, schema=schema) as ledger:
        root = ledger.root(size)
        for _ in range(20):  # warm the connection pool and statement caches
            ledger.inclusion_proof(rng.randrange(size), size)
        inclusion_ms: list[float] = []
        for _ in range(PROOF_SAMPLES):
            index = rng.randrange(size)
            t0 = time.perf_counter()
            proof = ledger.inclusion_proof(index, size)
            inclusion_ms.append((time.perf_counter() - t0) * 1e3)
            if len(inclusion_ms) <= 50:
                proof.verify(root)
        consistency_ms: list[float] = []
        for _ in range(PROOF_SAMPLES):
            size1 = rng.randrange(1, size)
            t0 = time.perf_counter()
            ledger.consistency_proof(size1, size)
            consistency_ms.append((time.perf_counter() - t0) * 1e3)
        # the baseline: no stored nodes, so read every leaf hash and rehash the tree for one proof
        t0 = time.perf_counter()
        leaves = [row.leaf_hash for row in ledger.store.scan(0, size, chunk=50_000)]
        tree = MemoryTree(leaves)
        inclusion_proof(tree, size // 3, size)
        rehash_ms = (time.perf_counter() - t0) * 1e3
    return {
        "inclusion_p50_ms": percentile(inclusion_ms, 50),
        "inclusion_p99_ms": percentile(inclusion_ms, 99),
        "consistency_p50_ms": percentile(consistency_ms, 50),
        "consistency_p99_ms": percentile(consistency_ms, 99),
        "rehash_baseline_ms": rehash_ms,
    }


def _verify_export(directory: Path, entries: int) -> dict[str, float]:
    """Build a real, fully signed ledger of ``entries``, export it, verify it offline."""
    key = NoteSigner.generate("arbsphere.bench/verify")
    url = f"sqlite:///{directory / f'verify-{entries}.sqlite'}"
    signers = [Ed25519Signer.from_seed(bytes([i]) * 32) for i in range(1, 9)]
    with Ledger.open(url, key) as ledger:
        for start in range(0, entries, 10_000):
            for i in range(start, min(entries, start + 10_000)):
                ledger.append(KIND, PAYLOAD + i.to_bytes(8, "big"), signers[i % 8])
            ledger.flush()
        export = io.StringIO()
        t0 = time.perf_counter()
        ledger.export(export)
        export_s = time.perf_counter() - t0
    text = export.getvalue()
    timings = {}
    for workers in (1, VERIFY_WORKERS):
        t0 = time.perf_counter()
        report = verify_export(io.StringIO(text), key.verifier(), workers=workers)
        timings[workers] = time.perf_counter() - t0
        if not report.ok or report.entries_checked != entries:
            raise RuntimeError(f"benchmark export did not verify: {report.problems[:3]}")
    return {
        "export_s": export_s,
        "export_mb": len(text) / 1e6,
        "verify_s": timings[1],
        "verify_parallel_s": timings[VERIFY_WORKERS],
    }


def main() -> dict[str, object]:
    metrics: dict[str, object] = {}
    pg = _postgres_up()
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        directory = Path(tmp)

        key = NoteSigner.generate("arbsphere.bench/append")
        appends = {
            "sqlite": _append_throughput(lambda: Ledger.open(f"sqlite:///{directory / 'append.db'}", key))
        }
        if pg:
            with _postgres_schema() as schema:
                appends["postgresql"] = _append_throughput(
                    lambda: Ledger.open(POSTGRES_URL, key, schema=schema)
                )
        append_rows: list[list[object]] = []
        for backend, result in appends.items():
            append_rows.append([backend, *result.values()])
            for name, value in result.items():
                metrics[f"{backend}_append_{name}"] = value
            ratio = result["batched_entries_per_s"] / result["naive_entries_per_s"]
            metrics[f"{backend}_append_batched_over_naive_ratio"] = ratio
        print_table(
            "append: batched writer vs one transaction per append (signed, chained, durable)",
            ["backend", "batched entries/s", "naive entries/s", "enqueue p50 us", "enqueue p99 us"],
            append_rows,
        )

        proof_rows: list[list[object]] = []
        log_key = NoteSigner.generate("arbsphere.bench/proofs")
        url = f"sqlite:///{directory / 'proofs.sqlite'}"
        build_s = _bulk_load(url, None, PROOF_TREE_SQLITE, log_key)
        metrics["sqlite_build_1e6_prehashed_s"] = build_s
        latencies = _proof_latencies(url, None, PROOF_TREE_SQLITE)
        proof_rows.append(["sqlite", PROOF_TREE_SQLITE, *latencies.values()])
        for name, value in latencies.items():
            metrics[f"sqlite_{name}_at_1e6"] = value
        Path(directory / "proofs.sqlite").unlink()
        if pg:
            with _postgres_schema() as schema:
                metrics["postgresql_build_1e5_prehashed_s"] = _bulk_load(
                    POSTGRES_URL, schema, PROOF_TREE_POSTGRES, log_key
                )
                latencies = _proof_latencies(POSTGRES_URL, schema, PROOF_TREE_POSTGRES)
            proof_rows.append(["postgresql", PROOF_TREE_POSTGRES, *latencies.values()])
            for name, value in latencies.items():
                metrics[f"postgresql_{name}_at_1e5"] = value
        print_table(
            "proofs from stored perfect subtrees vs rehashing every leaf (ms)",
            ["backend", "entries", "incl p50", "incl p99", "cons p50", "cons p99", "rehash baseline"],
            proof_rows,
        )

        full = os.environ.get("ARBSPHERE_BENCH_LEDGER_FULL", "") == "1"
        entries = 1_000_000 if full else VERIFY_ENTRIES
        result = _verify_export(directory, entries)
        scale = 1_000_000 / entries
        suffix = "" if full else "_extrapolated"
        metrics[f"export_{entries}_s"] = result["export_s"]
        metrics[f"export_{entries}_mb"] = result["export_mb"]
        verify_rows: list[list[object]] = []
        for label, key_name in (
            ("1 process", "verify_s"),
            (f"{VERIFY_WORKERS} workers", "verify_parallel_s"),
        ):
            seconds = result[key_name]
            tag = "" if key_name == "verify_s" else f"_{VERIFY_WORKERS}workers"
            metrics[f"verify_export_{entries}{tag}_s"] = seconds
            metrics[f"verify_export{tag}_per_entry_us"] = seconds / entries * 1e6
            metrics[f"verify_export_1e6{tag}{suffix}_s"] = seconds * scale
            verify_rows.append([label, entries, seconds, seconds / entries * 1e6, seconds * scale])
        print(f"export of {entries} entries: {result['export_s']:.2f} s, {result['export_mb']:.1f} MB")
        print_table(
            "offline verification of a signed export (every leaf, root, chain, signature, checkpoint)",
            [
                "signature checks",
                "entries",
                "verify s",
                "us/entry",
                "10^6 estimate s" if not full else "10^6 s",
            ],
            verify_rows,
        )
    write_results("ledger", metrics)
    return metrics


if __name__ == "__main__":
    main()
