"""Offline verification of a ledger export: no database, no trust in the operator.

Given an export and the log's public key (obtained out of band), recompute everything:

- the checkpoint note's signature (log key) and its body (origin, size, root);
- per entry: its position, known kind, non-decreasing time, ``payload_hash == SHA-256(payload)``, the hash
  chain (``previous_hash`` is the previous entry's hash, zeros for the first), the stored leaf hash against
  the recomputed one, and the actor's Ed25519 signature under its did:key;
- the Merkle root over the recomputed leaves against the checkpoint, and optionally against earlier
  checkpoints the auditor kept (the log must not have rewritten what they covered).

Every finding names the entry index and the field, so a flipped byte is located, not just detected.
Whatever the export holds (bytes that are not UTF-8, lines nested past the decoder's depth, numbers of
thousands of digits, wrong types), the result is a report with problems, never an exception.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from registry.ledger.did_key import DidKeyError, public_key_from_did
from registry.ledger.entry import GENESIS_PREVIOUS_HASH, EntryError, kind_name
from registry.ledger.export import ExportFormatError, ExportHeader, row_from_json
from registry.ledger.merkle import HASH_SIZE, Frontier, hash_leaf
from registry.ledger.signed_note import Checkpoint, NoteError, NoteVerifier, open_checkpoint, parse_note
from registry.ledger.store import EntryRow

DEFAULT_MAX_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    """One finding: where (entry index, or None for the export as a whole), which field, and what."""

    index: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = "export" if self.index is None else f"entry {self.index}"
        return f"{where}: {self.field}: {self.message}"


@dataclass
class VerificationReport:
    origin: str = ""
    size: int = 0
    root_hash: bytes = b""
    entries_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    problems_dropped: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and self.problems_dropped == 0


class _Collector:
    def __init__(self, report: VerificationReport, limit: int) -> None:
        self.report = report
        self.limit = limit

    def add(self, index: int | None, name: str, message: str) -> None:
        if len(self.report.problems) < self.limit:
            self.report.problems.append(Problem(index, name, message))
        else:
            self.report.problems_dropped += 1


def _loads(text: str, where: str) -> Any:
    """One JSON value, or ``ExportFormatError`` naming ``where``: undecodable bytes (read as surrogates),
    syntax errors, nesting past the decoder's depth (``RecursionError``) and integers beyond 4,300 digits
    (``ValueError``) all end here, so no line can stop the verification."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ExportFormatError(f"{where}: not UTF-8 text") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise ExportFormatError(f"{where}: not JSON ({exc.msg})") from None
    except RecursionError:
        raise ExportFormatError(f"{where}: nested too deeply to be an export line") from None
    except ValueError as exc:
        raise ExportFormatError(f"{where}: not readable JSON ({str(exc)[:80]})") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: with a repeated key, parsers disagree on which value counts,
    so two auditors could verify different exports from the same bytes."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise ExportFormatError(f"key {repeated[:40]!r} appears twice in one object")
    return document


def _read_export(stream: IO[str]) -> tuple[dict[str, Any], Iterator[tuple[int, Any]]]:
    """The header object and ``(line number, entry object)`` pairs for either export form."""
    first = stream.readline()
    try:
        head = _loads(first, "line 1")
    except ExportFormatError:
        head = None
    if isinstance(head, dict) and "entries" not in head and first.strip().endswith("}"):

        def lines() -> Iterator[tuple[int, Any]]:
            for number, line in enumerate(stream, start=2):
                if not line.strip():
                    continue
                try:
                    yield number, _loads(line, f"line {number}")
                except ExportFormatError as exc:
                    yield number, exc

        return head, lines()
    document = _loads(first + stream.read(), "export")
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise ExportFormatError("export: expected a header line or a JSON object with an 'entries' list")
    entries = document.pop("entries")
    return document, ((number, item) for number, item in enumerate(entries))


def verify_export(
    source: str | Path | IO[str],
    log_key: NoteVerifier,
    *,
    trusted_checkpoints: Sequence[str] = (),
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    workers: int = 1,
) -> VerificationReport:
    """Verify an export (path or open text stream) against the log's key; see the module docstring.

    ``workers > 1`` checks the Ed25519 signatures (most of the time) in that many processes.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
        raise ValueError(f"workers: expected an integer in [1, 256], got {workers!r}")
    if isinstance(source, str | Path):
        # Undecodable bytes become surrogates here and a format problem of their line in ``_loads``.
        with Path(source).open(encoding="utf-8", errors="surrogateescape") as stream:
            return verify_export(
                stream,
                log_key,
                trusted_checkpoints=trusted_checkpoints,
                max_problems=max_problems,
                workers=workers,
            )
    report = VerificationReport()
    problems = _Collector(report, max_problems)
    if workers == 1:
        _verify_stream(source, log_key, trusted_checkpoints, problems, None)
        return report
    with ProcessPoolExecutor(max_workers=workers) as pool:
        _verify_stream(source, log_key, trusted_checkpoints, problems, pool)
    report.problems.sort(key=lambda p: (p.index is None, p.index or 0))
    return report


def _verify_stream(
    source: IO[str],
    log_key: NoteVerifier,
    trusted_checkpoints: Sequence[str],
    problems: _Collector,
    pool: ProcessPoolExecutor | None,
) -> None:
    report = problems.report
    try:
        head, entries = _read_export(source)
        header = ExportHeader.from_json(head)
    except ExportFormatError as exc:
        problems.add(None, "format", str(exc))
        return
    if header.log_key != log_key.to_vkey():
        problems.add(
            None, "log_key", f"the export names {header.log_key[:120]!r}, not the key you verify with"
        )
    checkpoint = _check_checkpoint(header, log_key, problems)
    if checkpoint is None:
        return
    report.origin, report.size, report.root_hash = checkpoint.origin, checkpoint.size, checkpoint.root_hash
    earlier = _trusted(trusted_checkpoints, log_key, checkpoint, problems)
    frontier = Frontier()
    checker = _EntryChecker(problems, pool)
    for position, (line, item) in enumerate(entries):
        if position == checkpoint.size:
            problems.add(
                position, "index", f"the export has entries beyond the checkpoint size {checkpoint.size}"
            )
            break
        try:
            if isinstance(item, Exception):
                raise item
            row = row_from_json(item)
        except ExportFormatError as exc:
            problems.add(position, "format", f"(entry at line/position {line}) {exc}")
            frontier.append(hashlib.sha256(b"unparseable").digest())
            checker.skip(position)
            continue
        leaf = checker.check(position, row)
        frontier.append(leaf)
        report.entries_checked += 1
        for trusted in earlier.get(frontier.size, ()):
            if frontier.root() != trusted.root_hash:
                problems.add(
                    None,
                    "trusted checkpoint",
                    f"the first {trusted.size} entries do not reproduce the root of a checkpoint you trusted",
                )
    if frontier.size < checkpoint.size:
        problems.add(
            None, "size", f"checkpoint covers {checkpoint.size} entries, the export has {frontier.size}"
        )
    elif frontier.root() != checkpoint.root_hash:
        computed, expected = frontier.root().hex(), checkpoint.root_hash.hex()
        problems.add(None, "root", f"the entries hash to root {computed}, the checkpoint says {expected}")
    checker.finish()


def _check_checkpoint(header: ExportHeader, log_key: NoteVerifier, problems: _Collector) -> Checkpoint | None:
    try:
        checkpoint = open_checkpoint(header.checkpoint, log_key)
    except NoteError as exc:
        problems.add(None, "checkpoint", f"not signed by the log key {log_key.to_vkey()}: {exc}")
        try:
            checkpoint = Checkpoint.parse(parse_note(header.checkpoint)[0])
        except NoteError as parse_exc:
            problems.add(None, "checkpoint", f"unreadable: {parse_exc}")
            return None
    if checkpoint.origin != header.origin:
        problems.add(
            None, "origin", f"header says {header.origin!r}, the checkpoint says {checkpoint.origin!r}"
        )
    if checkpoint.size != header.size:
        problems.add(None, "size", f"header says {header.size}, the checkpoint says {checkpoint.size}")
    return checkpoint


def _trusted(
    notes: Sequence[str], log_key: NoteVerifier, latest: Checkpoint, problems: _Collector
) -> dict[int, list[Checkpoint]]:
    earlier: dict[int, list[Checkpoint]] = {}
    for number, note in enumerate(notes):
        try:
            trusted = open_checkpoint(note, log_key)
        except NoteError as exc:
            problems.add(None, "trusted checkpoint", f"#{number} does not verify: {exc}")
            continue
        if trusted.origin != latest.origin:
            problems.add(None, "trusted checkpoint", f"#{number} is for origin {trusted.origin!r}")
        elif trusted.size > latest.size:
            problems.add(
                None, "trusted checkpoint", f"#{number} (size {trusted.size}) is newer than the export"
            )
        elif trusted.size == 0:
            continue
        else:
            earlier.setdefault(trusted.size, []).append(trusted)
    return earlier


_SignatureJob = tuple[int, bytes, bytes, bytes]  # position, raw public key, signature, signing bytes
SIGNATURE_CHUNK = 4096
MAX_CHUNKS_IN_FLIGHT = 16


def _bad_signatures(jobs: Sequence[_SignatureJob]) -> list[int]:
    """Positions whose signature does not verify (runs in a worker process)."""
    keys: dict[bytes, Ed25519PublicKey] = {}
    bad = []
    for position, raw_key, signature, message in jobs:
        key = keys.get(raw_key)
        if key is None:
            key = keys[raw_key] = Ed25519PublicKey.from_public_bytes(raw_key)
        try:
            key.verify(signature, message)
        except InvalidSignature:
            bad.append(position)
    return bad


class _EntryChecker:
    """Per-entry checks with the chain state they need; returns the recomputed leaf hash.

    With a process pool, signature checks are batched to it and their findings added by :meth:`finish`.
    """

    def __init__(self, problems: _Collector, pool: ProcessPoolExecutor | None = None) -> None:
        self.problems = problems
        self.pool = pool
        self.previous_hash: bytes | None = GENESIS_PREVIOUS_HASH
        self.previous_ts = 0
        self.keys: dict[str, Ed25519PublicKey | None] = {}
        self.raw_keys: dict[str, bytes] = {}
        self.jobs: list[_SignatureJob] = []
        self.submitted: list[tuple[Future[list[int]], dict[int, str]]] = []
        self.actors: dict[int, str] = {}

    def _submit(self) -> None:
        if self.pool is not None and self.jobs:
            self.submitted.append((self.pool.submit(_bad_signatures, self.jobs), self.actors))
            self.jobs, self.actors = [], {}

    def finish(self) -> None:
        """Collect the findings of signature checks still running in the pool."""
        self._submit()
        for future, actors in self.submitted:
            for position in future.result():
                self.problems.add(
                    position, "signature", f"does not verify under the actor's key {actors[position]}"
                )
        self.submitted = []

    def skip(self, position: int) -> None:
        self.previous_hash = None  # the chain cannot be checked across an unreadable entry

    def _key(self, did: str) -> Ed25519PublicKey | None:
        if did not in self.keys:
            try:
                self.keys[did] = public_key_from_did(did)
            except (DidKeyError, ValueError):
                self.keys[did] = None
        return self.keys[did]

    def check(self, position: int, row: EntryRow) -> bytes:
        add = self.problems.add
        if row.index != position:
            add(position, "index", f"expected {position}, found {row.index}")
        try:
            kind_name(row.kind)
        except EntryError as exc:
            add(position, "kind", str(exc))
        if row.timestamp_ms < self.previous_ts:
            add(position, "timestamp_unix_ms", f"{row.timestamp_ms} is earlier than the previous entry's")
        self.previous_ts = max(self.previous_ts, row.timestamp_ms)
        for name in ("payload_hash", "previous_hash", "leaf_hash"):
            value: bytes = getattr(row, name)
            if len(value) != HASH_SIZE:
                add(position, name, f"expected {HASH_SIZE} bytes, found {len(value)}")
        if hashlib.sha256(row.payload).digest() != row.payload_hash:
            add(position, "payload", "SHA-256 of the payload does not match payload_hash")
        if self.previous_hash is not None and row.previous_hash != self.previous_hash:
            add(
                position, "previous_hash", "does not match the hash of the previous entry (hash chain broken)"
            )
        try:
            entry = row.entry()
            leaf_data = entry.leaf_data()
        except EntryError as exc:
            add(position, "entry", f"malformed: {exc}")
            leaf_data = repr(row).encode()
            entry = None
        leaf = hash_leaf(leaf_data)
        if row.leaf_hash != leaf:
            add(position, "leaf_hash", "stored leaf hash does not match the hash recomputed from the entry")
        if entry is not None:
            key = self._key(entry.actor_did)
            if key is None:
                add(position, "actor_did", f"not an Ed25519 did:key: {entry.actor_did[:60]!r}")
            elif self.pool is not None:
                raw = self.raw_keys.get(entry.actor_did)
                if raw is None:
                    raw = self.raw_keys[entry.actor_did] = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
                self.jobs.append((position, raw, entry.signature, leaf_data[: -len(entry.signature)]))
                self.actors[position] = entry.actor_did
                if len(self.jobs) >= SIGNATURE_CHUNK:
                    self._submit()
            else:
                try:
                    key.verify(entry.signature, leaf_data[: -len(entry.signature)])
                except InvalidSignature:
                    add(position, "signature", f"does not verify under the actor's key {entry.actor_did}")
        self.previous_hash = leaf
        return leaf
