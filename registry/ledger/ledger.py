"""The ledger service: append off the hot path, signed checkpoints, queries, proofs and exports.

Typical use by the federation::

    ledger = Ledger.open("sqlite:///var/ledger.sqlite", log_key)   # log_key: NoteSigner (origin = its name)
    ledger.append(ir_pb2.AUDIT_KIND_JOIN, payload_bytes, agent_signer)   # enqueues, returns a Future[int]
    indices = ledger.flush()                                             # durable once this returns

``append`` only validates and enqueues; a background writer thread sequences entries (index, previous hash,
monotonic timestamp), has each actor sign its entry, and commits batches together with the tree nodes they
complete and a checkpoint signed by the log key, all in one transaction. A future resolves only after its
batch is committed, so an acknowledged entry is durable.

One process writes a given ledger at a time (a second writer's commits fail cleanly on the primary keys);
any number of processes may read it.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidSignature

from registry.ledger.did_key import DidKeyError, public_bytes_from_did, public_key_from_did
from registry.ledger.entry import (
    GENESIS_PREVIOUS_HASH,
    MAX_ACTOR_BYTES,
    MAX_INDEX,
    MAX_PAYLOAD_BYTES,
    Ed25519Signer,
    EntryError,
    EntrySigner,
    LedgerEntry,
    parse_kind,
    payload_hash,
)
from registry.ledger.export import ExportFormat, ExportHeader, write_export
from registry.ledger.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_ranges,
    hash_ranges,
    inclusion_ranges,
    verify_consistency,
    verify_inclusion,
)
from registry.ledger.signed_note import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint
from registry.ledger.store import EntryRow, LedgerStore, StoredCheckpoint, StoreError

DEFAULT_DB_PATH = Path("var") / "ledger.sqlite"
DEFAULT_MAX_BATCH = 2000
MAX_TRACKED = 100_000
SIGNER_PROBE_DOMAIN = b"arbsphere/ledger/signer-probe/v1\n"


class LedgerError(RuntimeError):
    """A ledger operation cannot be served (closed, read-only, out-of-range request, key mismatch)."""


class LedgerTampered(LedgerError):
    """A stored row no longer matches its own hashes or signature (changed outside the ledger)."""


def checked_entry(row: EntryRow) -> LedgerEntry:
    """The row's entry after recomputing what it commits to: payload hash, signature, leaf hash."""
    entry = row.entry()
    problems = []
    if payload_hash(entry.payload) != entry.payload_hash:
        problems.append("the payload does not match its payload_hash")
    if not entry.signature_valid():
        problems.append("the signature does not verify for its actor")
    if entry.entry_hash() != row.leaf_hash:
        problems.append("the entry does not hash to its stored leaf hash")
    if problems:
        raise LedgerTampered(f"entry {row.index} was changed outside the ledger: {'; '.join(problems)}")
    return entry


class LedgerNotFound(LedgerError):
    """The requested entry or checkpoint does not exist."""


@dataclass(frozen=True)
class InclusionProof:
    """Leaf ``index`` with ``leaf_hash`` is in the tree of the first ``size`` entries."""

    index: int
    size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]

    def verify(self, root: bytes) -> None:
        verify_inclusion(self.index, self.size, self.leaf_hash, self.path, root)


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``size1`` entries is a prefix of the tree of ``size2`` entries."""

    size1: int
    size2: int
    path: tuple[bytes, ...]

    def verify(self, root1: bytes, root2: bytes) -> None:
        verify_consistency(self.size1, self.size2, root1, root2, self.path)


@dataclass(frozen=True)
class _Append:
    kind: int
    payload: bytes
    signer: EntrySigner
    future: Future[int]


@dataclass(frozen=True)
class _Barrier:
    future: Future[None]


_STOP = object()


def default_url() -> str:
    return f"sqlite:///{DEFAULT_DB_PATH}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Ledger:
    """An append-only, verifiable log on a :class:`LedgerStore` (see the module docstring)."""

    def __init__(
        self,
        store: LedgerStore,
        log_key: NoteSigner | None,
        *,
        clock_ms: Callable[[], int] = _now_ms,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch: expected >= 1, got {max_batch}")
        self.store = store
        self._log_key = log_key
        self._clock_ms = clock_ms
        self._max_batch = max_batch
        meta = store.read_meta()
        if log_key is not None:
            meta = store.init_meta({"origin": log_key.name, "log_key": log_key.verifier().to_vkey()})
            if meta["log_key"] != log_key.verifier().to_vkey():
                raise LedgerError(
                    f"log key: this ledger is signed by {meta['log_key']!r}, "
                    f"not by the given key {log_key.verifier().to_vkey()!r}"
                )
        elif not meta:
            raise LedgerError("ledger has no metadata yet: open it once with its log key to initialise it")
        self.origin: str = meta["origin"]
        self.log_verifier: NoteVerifier = NoteVerifier.parse(meta["log_key"])
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._state_lock = threading.Lock()
        self._pending: list[Future[int]] = []
        self._closed = False
        self._known_signers: dict[int, str] = {}
        self._frontier = Frontier()
        self._last_hash = GENESIS_PREVIOUS_HASH
        self._last_ts = 0
        if log_key is not None:
            self._load_state()
            if store.latest_checkpoint() is None:
                self._commit([], [], 0)

    @classmethod
    def open(
        cls,
        url: str | None = None,
        log_key: NoteSigner | None = None,
        *,
        schema: str | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> Ledger:
        """Open (creating when a log key is given) the ledger at ``url``; without a key it is read-only."""
        store = LedgerStore(url or default_url(), schema=schema, create=log_key is not None)
        try:
            return cls(store, log_key, clock_ms=clock_ms, max_batch=max_batch)
        except BaseException:
            store.close()
            raise

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- writing --------------------------------------------------------------------------------------

    def append(self, kind: int | str, payload: bytes, signer: EntrySigner) -> Future[int]:
        """Validate and enqueue one entry; the future gives its index once it is durable."""
        request = self._request(kind, payload, signer)
        with self._state_lock:
            self._pending.append(request.future)
            if len(self._pending) > MAX_TRACKED:  # a caller that never flushes must not leak memory
                self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]
        self._queue.put(request)
        return request.future

    def append_many(
        self, items: Iterable[tuple[int | str, bytes, EntrySigner]], timeout: float | None = None
    ) -> list[int]:
        """Append several entries and wait until all are durable; returns their indices in order.

        All items are validated before any is enqueued, so a bad item appends nothing.
        """
        requests = [self._request(kind, payload, signer) for kind, payload, signer in items]
        for request in requests:
            self._queue.put(request)
        return [r.future.result(timeout) for r in requests]

    def recorder(self, signer: EntrySigner, timeout: float | None = 30.0) -> LedgerRecorder:
        """A ``record(kind, payload)`` adapter that appends as ``signer`` and returns once durable."""
        return LedgerRecorder(self, signer, timeout)

    def flush(self, timeout: float | None = None) -> list[int]:
        """Wait until every entry appended so far is durable; return their indices (since the last flush).

        Raises the first append error, if any of those entries could not be written. If more than
        ``MAX_TRACKED`` appends go unflushed, indices of those already written may be left out (they are
        durable all the same, and each append's future still holds its index).
        """
        with self._state_lock:
            pending, self._pending = self._pending, []
        if self._thread is not None:
            barrier: Future[None] = Future()
            self._queue.put(_Barrier(barrier))
            barrier.result(timeout)
        return [future.result(timeout) for future in pending]

    def close(self) -> None:
        """Flush pending entries, stop the writer and release the database."""
        if self._closed:
            return
        try:
            if self._thread is not None:
                self._queue.put(_STOP)
                self._thread.join()
        finally:
            self._closed = True
            self.store.close()

    def rotate_log_key(self, successor: NoteSigner) -> None:
        """Sign checkpoints with ``successor`` from the next append on: everything appended so far is made
        durable (under the current key) first, then the stored key is swapped (compare-and-set). Record
        the rotation on the log before calling this (``arbsphere ledger rotate-key`` does)."""
        if self._log_key is None:
            raise LedgerError("ledger is open read-only: give the log key to rotate it")
        if successor.name != self._log_key.name:
            raise LedgerError(f"log key: the successor must keep the origin {self._log_key.name!r}")
        self.flush(timeout=30.0)
        with self._state_lock:
            previous = self._log_key.verifier().to_vkey()
            self.store.replace_meta("log_key", previous, successor.verifier().to_vkey())
            self._log_key = successor

    def _request(self, kind: int | str, payload: bytes, signer: EntrySigner) -> _Append:
        if self._closed:
            raise LedgerError("ledger is closed")
        if self._log_key is None:
            raise LedgerError("ledger is open read-only: give the log key to append")
        number = parse_kind(kind)
        if not isinstance(payload, bytes):
            raise EntryError(f"payload: expected bytes, got {type(payload).__name__}")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise EntryError(f"payload: {len(payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
        self._check_signer(signer)
        self._ensure_writer()
        return _Append(number, payload, signer, Future())

    def _check_signer(self, signer: EntrySigner) -> None:
        did = signer.did
        if self._known_signers.get(id(signer)) == did:
            return
        try:
            public_bytes_from_did(did)
        except DidKeyError as exc:
            raise EntryError(f"signer did: {exc}") from exc
        if not isinstance(signer, Ed25519Signer):
            # A domain-separated random challenge: it can never be mistaken for (or reused as) an entry.
            probe = SIGNER_PROBE_DOMAIN + os.urandom(32)
            try:
                public_key_from_did(did).verify(signer.sign(probe), probe)
            except (InvalidSignature, ValueError, TypeError) as exc:
                raise EntryError(f"signer: its signatures do not verify under its DID {did}") from exc
        self._known_signers[id(signer)] = did

    def _ensure_writer(self) -> None:
        with self._state_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
                self._thread.start()

    def _load_state(self) -> None:
        """Resume from the store, refusing to extend a tail that does not match its own hashes."""
        tail = self.store.tail()
        ids = Frontier.node_ids(tail.size)
        nodes = self.store.get_nodes(ids)
        missing = [n for n in ids if n not in nodes]
        if missing:
            raise StoreError(f"ledger tree is missing frontier nodes {missing[:5]} for size {tail.size}")
        frontier = Frontier(tail.size, [nodes[n] for n in ids])
        if tail.size:
            last = self.store.get(tail.size - 1)
            if last is None or last.entry().entry_hash() != last.leaf_hash:
                raise StoreError(
                    f"ledger entry {tail.size - 1}: stored hash does not match the entry; not appending"
                )
        latest = self.store.latest_checkpoint()
        if latest is not None and latest.size == tail.size and latest.root_hash != frontier.root():
            raise StoreError(
                f"ledger tree at size {tail.size} does not match its latest checkpoint's root; not appending"
            )
        self._frontier = frontier
        self._last_hash = tail.last_hash if tail.last_hash is not None else GENESIS_PREVIOUS_HASH
        self._last_ts = tail.last_timestamp_ms

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[_Append] = []
            barriers: list[_Barrier] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Barrier):
                    barriers.append(item)
                elif isinstance(item, _Append):
                    batch.append(item)
                if stop or len(batch) >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self._write(batch)
                except BaseException as exc:  # never leave a caller waiting on a future forever
                    for request in batch:
                        if not request.future.done():
                            request.future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
            for barrier in barriers:
                barrier.future.set_result(None)

    def _write(self, batch: Sequence[_Append]) -> None:
        """Sequence, sign and commit one batch; on failure fail its futures and reload from the store."""
        start = self._frontier.size
        frontier = self._frontier.copy()
        last_hash, last_ts = self._last_hash, self._last_ts
        rows: list[EntryRow] = []
        nodes: list[tuple[tuple[int, int], bytes]] = []
        accepted: list[_Append] = []
        for request in batch:
            if not request.future.set_running_or_notify_cancel():
                continue
            try:
                ts = max(self._clock_ms(), last_ts)
                entry = LedgerEntry.create(
                    index=frontier.size,
                    kind=request.kind,
                    timestamp_ms=ts,
                    payload=request.payload,
                    previous_hash=last_hash,
                    signer=request.signer,
                )
            except Exception as exc:  # a failing signer must not take the batch down
                request.future.set_exception(exc)
                continue
            leaf = entry.entry_hash()
            nodes.extend(frontier.append(leaf))
            rows.append(EntryRow(*_entry_fields(entry), leaf))
            accepted.append(request)
            last_hash, last_ts = leaf, ts
        if not rows:
            return
        try:
            self._commit(rows, nodes, start, frontier)
        except Exception as exc:
            for request in accepted:
                request.future.set_exception(exc)
            try:
                self._load_state()
            except Exception as reload_exc:  # keep serving; the next batch will retry the reload path
                exc.add_note(f"reloading ledger state also failed: {reload_exc!r}")
            return
        self._frontier, self._last_hash, self._last_ts = frontier, last_hash, last_ts
        for offset, request in enumerate(accepted):
            request.future.set_result(start + offset)

    def _commit(
        self,
        rows: Sequence[EntryRow],
        nodes: Sequence[tuple[tuple[int, int], bytes]],
        start: int,
        frontier: Frontier | None = None,
    ) -> None:
        assert self._log_key is not None
        tree = frontier if frontier is not None else self._frontier
        body = Checkpoint(self.origin, tree.size, tree.root())
        note = sign_checkpoint(body, self._log_key)
        stored = StoredCheckpoint(tree.size, body.root_hash, note, self._clock_ms())
        self.store.commit_batch(start, rows, nodes, stored)

    # --- reading --------------------------------------------------------------------------------------

    def size(self) -> int:
        """Number of durable entries."""
        return self.store.size()

    def checkpoint(self) -> StoredCheckpoint:
        """The latest signed checkpoint (covers every durable entry)."""
        latest = self.store.latest_checkpoint()
        if latest is None:
            raise LedgerNotFound("ledger has no checkpoint yet")
        return latest

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        _check_index("tree_size", size)
        return self.store.checkpoint_at(size)

    def get(self, index: int) -> LedgerEntry:
        """Entry ``index``, checked: a row changed behind the ledger's back is refused, never served."""
        return checked_entry(self.get_row(index))

    def get_row(self, index: int) -> EntryRow:
        _check_index("index", index)
        row = self.store.get(index)
        if row is None:
            raise LedgerNotFound(f"index: no entry {index} (ledger size is {self.size()})")
        return row

    def query(
        self,
        *,
        actor: str | None = None,
        kind: int | str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        after_index: int | None = None,
        limit: int = 1000,
    ) -> list[LedgerEntry]:
        """Entries matching all given filters, time range ``[since_ms, until_ms)``, in index order; each
        checked like ``get`` (a row changed behind the ledger's back raises ``LedgerTampered``)."""
        if not 1 <= limit <= 100_000:
            raise LedgerError(f"limit: expected 1..100000, got {limit}")
        for name, value in (("since_ms", since_ms), ("until_ms", until_ms), ("after_index", after_index)):
            if value is not None:
                _check_index(name, value)
        if actor is not None and len(actor.encode("utf-8", "replace")) > MAX_ACTOR_BYTES:
            raise LedgerError(f"actor: expected a did:key of at most {MAX_ACTOR_BYTES} bytes")
        number = None if kind is None else parse_kind(kind)
        rows = self.store.query(
            actor=actor,
            kind=number,
            since_ms=since_ms,
            until_ms=until_ms,
            after_index=after_index,
            limit=limit,
        )
        return [checked_entry(row) for row in rows]

    def _resolve_size(self, size: int | None) -> int:
        if size is None:
            return self.checkpoint().size
        _check_index("size", size)
        durable = self.size()
        if size > durable:
            raise LedgerError(f"size: {size} is beyond the ledger's {durable} durable entries")
        return size

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """Proof that entry ``index`` is in the tree of the first ``size`` entries (default: checkpoint)."""
        _check_index("index", index)
        tree_size = self._resolve_size(size)
        if index >= tree_size:
            raise LedgerError(f"index: {index} is not below the tree size {tree_size}")
        checked_entry(self.get_row(index))  # the proof is of the entry as it is now, or of nothing
        hashes = hash_ranges(self.store, [(index, index + 1), *inclusion_ranges(index, tree_size)])
        return InclusionProof(index, tree_size, hashes[0], tuple(hashes[1:]))

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        """Proof that the ``size1`` tree is a prefix of the ``size2`` tree (default: latest checkpoint)."""
        _check_index("size1", size1)
        tree_size = self._resolve_size(size2)
        if not 0 < size1 <= tree_size:
            raise LedgerError(f"size1: expected 0 < size1 <= size2 ({tree_size}), got {size1}")
        path = hash_ranges(self.store, consistency_ranges(size1, tree_size)) if size1 < tree_size else []
        return ConsistencyProof(size1, tree_size, tuple(path))

    def root(self, size: int) -> bytes:
        """The tree root over the first ``size`` entries (recomputed from stored nodes)."""
        tree_size = self._resolve_size(size)
        return EMPTY_ROOT if tree_size == 0 else hash_ranges(self.store, [(0, tree_size)])[0]

    def export(self, out: IO[str], fmt: ExportFormat = "jsonl") -> StoredCheckpoint:
        """Write the latest checkpoint and every entry it covers; returns that checkpoint."""
        checkpoint = self.checkpoint()
        header = ExportHeader(self.origin, checkpoint.note, self.log_verifier.to_vkey(), checkpoint.size)
        write_export(out, header, self.store.scan(0, checkpoint.size), fmt)
        return checkpoint


class LedgerRecorder:
    """Records entries for one actor, each durable before ``record`` returns.

    Matches one-method sinks such as the contracts registry's ``VerdictSink.record(kind, payload)``; kinds
    may be ``"registry_verdict"``, ``"REGISTRY_VERDICT"`` or ``"AUDIT_KIND_REGISTRY_VERDICT"``.
    """

    def __init__(self, ledger: Ledger, signer: EntrySigner, timeout: float | None = 30.0) -> None:
        self.ledger = ledger
        self.signer = signer
        self.timeout = timeout

    def record(self, kind: str | int, payload: bytes) -> None:
        self.ledger.append_many([(kind, payload, self.signer)], self.timeout)


def _check_index(name: str, value: object) -> None:
    # Bounded above too: indices, sizes and times are signed 64-bit in every store (SQLite, PostgreSQL).
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INDEX:
        raise LedgerError(f"{name}: expected an integer in [0, {MAX_INDEX}], got {value!r}")


def _entry_fields(entry: LedgerEntry) -> tuple[int, int, int, str, bytes, bytes, bytes, bytes]:
    return (
        entry.index,
        entry.kind,
        entry.timestamp_ms,
        entry.actor_did,
        entry.payload,
        entry.payload_hash,
        entry.previous_hash,
        entry.signature,
    )
