"""Reader for cryptofeed's raw-data recordings (one record per line).

    <ws_url> <-> <ts>            connection opened
    <ws_url> <- <ts>: <json>     message sent by the client (subscriptions)
    <ts>: <json>                 message received from the venue
    <http_url> -> <ts>: <body>   REST response
    configuration: <json>        the subscription the recorder used (first file only)

A line that fits none of these shapes is returned as ``LineKind.CORRUPT`` with the reason, never raised: the
replay turns it into a ``FeedError`` and a resync, and goes on.
"""

from __future__ import annotations

import enum
import heapq
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


class LineKind(enum.Enum):
    CONNECT = "connect"
    SENT = "sent"
    RECEIVED = "received"
    REST = "rest"
    CONFIGURATION = "configuration"
    CORRUPT = "corrupt"


@dataclass(frozen=True, slots=True)
class RecordedLine:
    kind: LineKind
    ts: float
    payload: str
    """The JSON text (received, sent, rest, configuration) or the reason (corrupt)."""
    url: str | None
    source: str
    """``file:line`` for error messages."""


def _ts(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_line(text: str, source: str, last_ts: float = 0.0) -> RecordedLine | None:
    """Parse one line; ``None`` for blank lines. Corrupt lines carry ``last_ts`` so they keep their place."""
    line = text.rstrip("\r\n")
    if not line.strip():
        return None
    if line.startswith("configuration: "):
        return RecordedLine(LineKind.CONFIGURATION, last_ts, line[len("configuration: ") :], None, source)
    head, sep, body = line.partition(": ")
    if " <-> " in head and not sep:
        url, _, ts_text = line.partition(" <-> ")
        ts = _ts(ts_text)
        if ts is not None:
            return RecordedLine(LineKind.CONNECT, ts, "", url, source)
    elif sep:
        for marker, kind in ((" -> ", LineKind.REST), (" <- ", LineKind.SENT)):
            if marker in head:
                url, _, ts_text = head.rpartition(marker)
                ts = _ts(ts_text)
                if ts is not None:
                    return RecordedLine(kind, ts, body, url, source)
                break
        else:
            ts = _ts(head)
            if ts is not None:
                return RecordedLine(LineKind.RECEIVED, ts, body, None, source)
    return RecordedLine(LineKind.CORRUPT, last_ts, f"unrecognised record line {line[:80]!r}", None, source)


def read_file(path: Path) -> Iterator[RecordedLine]:
    """Every record of one file, in file order."""
    last_ts = 0.0
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            record = parse_line(text, f"{path.name}:{number}", last_ts)
            if record is not None:
                last_ts = record.ts
                yield record


def merge(paths: Iterable[Path]) -> Iterator[RecordedLine]:
    """Records of several files merged by timestamp (stable per file), as they happened."""
    return heapq.merge(*(read_file(p) for p in paths), key=lambda r: r.ts)


def configuration(path: Path) -> dict[str, list[str]]:
    """The recorder's subscription (``{"l2_book": ["BTC-USD", ...], ...}``) from a recording's ``.0`` file."""
    for record in read_file(path):
        if record.kind is LineKind.CONFIGURATION:
            data = json.loads(record.payload)
            if not isinstance(data, dict):
                raise ValueError(f"{record.source}: configuration must be a JSON object, got {type(data)}")
            return {str(k): [str(s) for s in v] for k, v in data.items()}
    raise ValueError(f"{path}: no 'configuration:' line")


def rest_bodies(path: Path) -> list[tuple[str, str]]:
    """``(url, body)`` of every REST response in one file, in order."""
    return [(r.url or "", r.payload) for r in read_file(path) if r.kind is LineKind.REST]


@dataclass(frozen=True)
class Recording:
    """The files of one venue's recording: metadata (``<VENUE>.0``), websocket and REST captures."""

    venue_file: Path
    ws_files: tuple[Path, ...]
    http_files: tuple[Path, ...]

    @classmethod
    def find(cls, directory: Path, prefix: str) -> Recording:
        """Files named ``<prefix>.0``, ``<prefix>.ws.*``, ``<prefix>.http.*`` in ``directory``."""
        venue_file = directory / f"{prefix}.0"
        if not venue_file.is_file():
            raise FileNotFoundError(f"recording metadata {venue_file} not found")
        ws = tuple(sorted(directory.glob(f"{prefix}.ws.*")))
        http = tuple(sorted(directory.glob(f"{prefix}.http.*")))
        return cls(venue_file, ws, http)
