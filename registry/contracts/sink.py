"""Where verdicts go: the governance ledger, behind a one-method protocol.

The registry calls ``record(VERDICT_KIND, canonical_json_bytes)`` once per verdict, in registration order.
The ledger (``registry.ledger``) implements it for deployments; tests use ``InMemoryVerdictSink``; the CLI
uses ``JsonLinesVerdictSink`` until the ledger is wired in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class VerdictSink(Protocol):
    def record(self, kind: str, payload: bytes) -> None:
        """Durably record one entry; raise if it could not be recorded (the registry retries later)."""


class InMemoryVerdictSink:
    """Keeps every recorded entry in order; optionally fails, to test the retry path."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, bytes]] = []
        self.fail_with: Exception | None = None

    def record(self, kind: str, payload: bytes) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.entries.append((kind, bytes(payload)))


class JsonLinesVerdictSink:
    """Appends ``{"kind": ..., "payload": <verdict>}`` lines to a file, fsynced: an interim local log."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def record(self, kind: str, payload: bytes) -> None:
        line = json.dumps(
            {"kind": kind, "payload": json.loads(payload)}, sort_keys=True, separators=(",", ":")
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
