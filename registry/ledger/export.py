"""The export format an auditor downloads and verifies offline.

JSON lines (streamable, the default): a header object, then one object per entry in index order. The single
JSON document form holds the same header fields plus ``"entries": [...]``. Bytes are standard base64, kinds
are AuditKind short names (``"JOIN"``). Every stored byte is exported, including each entry's stored leaf
hash, so tampering with any of them shows up in :mod:`registry.ledger.verify`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Literal

from registry.ledger.entry import (
    MAX_ACTOR_BYTES,
    MAX_INDEX,
    MAX_TIMESTAMP_MS,
    EntryError,
    kind_name,
    parse_kind,
)
from registry.ledger.store import EntryRow

EXPORT_FORMAT = "arbsphere.ledger.export/v1"
HEADER_KEYS = frozenset({"format", "origin", "size", "log_key", "checkpoint"})
ENTRY_KEYS = frozenset(
    {"index", "kind", "timestamp_unix_ms", "actor_did", "payload"}
    | {"payload_hash", "previous_hash", "signature", "leaf_hash"}
)
"""The only fields an export writes: anything else was added after the log signed it."""
MAX_HEADER_TEXT = 64 << 10
"""Longest origin, checkpoint note or key text in a header (a note is a few hundred bytes)."""
ExportFormat = Literal["jsonl", "json"]


class ExportFormatError(ValueError):
    """An export document is malformed; the message names the line or field."""


@dataclass(frozen=True)
class ExportHeader:
    """What precedes the entries: the log's origin and the signed checkpoint they must reproduce."""

    origin: str
    checkpoint: str
    log_key: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "format": EXPORT_FORMAT,
            "origin": self.origin,
            "size": self.size,
            "log_key": self.log_key,
            "checkpoint": self.checkpoint,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExportHeader:
        unknown = set(data) - HEADER_KEYS
        if unknown:
            raise ExportFormatError(f"header: unknown fields {sorted(str(k)[:40] for k in unknown)[:5]}")
        if data.get("format") != EXPORT_FORMAT:
            raise ExportFormatError(
                f"header format: expected {EXPORT_FORMAT!r}, got {_shown(data.get('format'))}"
            )
        origin, checkpoint, log_key, size = (data.get(k) for k in ("origin", "checkpoint", "log_key", "size"))
        if not isinstance(origin, str) or not isinstance(checkpoint, str) or not isinstance(log_key, str):
            raise ExportFormatError("header: expected string fields 'origin', 'checkpoint' and 'log_key'")
        for name, text in (("origin", origin), ("checkpoint", checkpoint), ("log_key", log_key)):
            _require_text(f"header {name}", text, MAX_HEADER_TEXT)
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_INDEX:
            raise ExportFormatError(
                f"header size: expected an integer in [0, {MAX_INDEX}], got {_shown(size)}"
            )
        return cls(origin, checkpoint, log_key, size)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def row_to_json(row: EntryRow) -> dict[str, Any]:
    """An exported entry; the kind stays numeric if the stored value is not a known AuditKind."""
    try:
        kind: str | int = kind_name(row.kind)
    except EntryError:
        kind = row.kind
    return {
        "index": row.index,
        "kind": kind,
        "timestamp_unix_ms": row.timestamp_ms,
        "actor_did": row.actor_did,
        "payload": _b64(row.payload),
        "payload_hash": _b64(row.payload_hash),
        "previous_hash": _b64(row.previous_hash),
        "signature": _b64(row.signature),
        "leaf_hash": _b64(row.leaf_hash),
    }


def _field_b64(data: Mapping[str, Any], name: str) -> bytes:
    value = data.get(name)
    if not isinstance(value, str):
        raise ExportFormatError(f"{name}: expected a base64 string, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: characters outside ASCII
        raise ExportFormatError(f"{name}: not valid base64 ({exc})") from exc


def _field_int(data: Mapping[str, Any], name: str, upper: int) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
        raise ExportFormatError(f"{name}: expected an integer in [0, {upper}], got {_shown(value)}")
    return value


def _shown(value: object) -> str:
    """A short rendering of a hostile value that cannot itself fail (``repr`` of a 5,000-digit integer
    raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<integer of {value.bit_length()} bits>"
    if isinstance(value, str | list | dict) and len(value) > 60:
        return f"<{type(value).__name__} of length {len(value)}>"
    return repr(value)


def _require_text(name: str, text: str, limit: int) -> None:
    """Text the verifier will encode (signing bytes, notes): bounded and valid UTF-8 (JSON can spell a
    lone surrogate, which no UTF-8 encoder accepts)."""
    if len(text) > limit:
        raise ExportFormatError(f"{name}: {len(text)} characters, at most {limit}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ExportFormatError(f"{name}: not valid Unicode text (a lone surrogate)") from None


def row_from_json(data: Mapping[str, Any]) -> EntryRow:
    """Parse an exported entry without judging it (the verifier does that)."""
    if not isinstance(data, Mapping):
        raise ExportFormatError(f"entry: expected a JSON object, got {type(data).__name__}")
    unknown = set(data) - ENTRY_KEYS
    if unknown:
        raise ExportFormatError(f"entry: unknown fields {sorted(str(k)[:40] for k in unknown)[:5]}")
    raw_kind = data.get("kind")
    if not isinstance(raw_kind, str | int) or isinstance(raw_kind, bool):
        raise ExportFormatError(f"kind: expected an AuditKind name, got {_shown(raw_kind)}")
    if isinstance(raw_kind, str):
        _require_text("kind", raw_kind, 64)
    try:
        kind = parse_kind(raw_kind)
    except EntryError as exc:
        raise ExportFormatError(str(exc)) from exc
    actor = data.get("actor_did")
    if not isinstance(actor, str):
        raise ExportFormatError(f"actor_did: expected a string, got {type(actor).__name__}")
    _require_text("actor_did", actor, MAX_ACTOR_BYTES)
    return EntryRow(
        index=_field_int(data, "index", MAX_INDEX),
        kind=kind,
        timestamp_ms=_field_int(data, "timestamp_unix_ms", MAX_TIMESTAMP_MS),
        actor_did=actor,
        payload=_field_b64(data, "payload"),
        payload_hash=_field_b64(data, "payload_hash"),
        previous_hash=_field_b64(data, "previous_hash"),
        signature=_field_b64(data, "signature"),
        leaf_hash=_field_b64(data, "leaf_hash"),
    )


def iter_jsonl(header: ExportHeader, rows: Iterable[EntryRow]) -> Iterator[str]:
    """The JSON-lines export, one line (with its newline) at a time; the header comes first."""
    yield json.dumps(header.to_json(), separators=(",", ":")) + "\n"
    for row in rows:
        yield json.dumps(row_to_json(row), separators=(",", ":")) + "\n"


def write_export(
    out: IO[str], header: ExportHeader, rows: Iterable[EntryRow], fmt: ExportFormat = "jsonl"
) -> int:
    """Write an export; returns the number of entries written."""
    count = 0
    if fmt == "jsonl":
        lines = iter_jsonl(header, rows)
        out.write(next(lines))
        for line in lines:
            out.write(line)
            count += 1
        return count
    if fmt == "json":
        head = json.dumps(header.to_json(), indent=1)
        out.write(head[:-2] + ',\n "entries": [')
        for row in rows:
            out.write(
                ("\n  " if count == 0 else ",\n  ") + json.dumps(row_to_json(row), separators=(",", ":"))
            )
            count += 1
        out.write("\n ]\n}\n")
        return count
    raise ValueError(f"export format: expected 'jsonl' or 'json', got {fmt!r}")
