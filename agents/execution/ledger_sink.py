"""Adapter from execution and risk events to the governance ledger (``registry.ledger.Ledger``).

The ledger appends asynchronously (a writer thread, futures), so recording stays off the hot path. The
payload is canonical JSON (sorted keys, no spaces, UTF-8): the same event always hashes the same.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from agents.execution.events import LedgerEvent


class AppendLog(Protocol):
    """What we need of ``registry.ledger.Ledger``."""

    def append(self, kind: str, payload: bytes, signer: Any, /) -> object: ...


def canonical_payload(event: LedgerEvent) -> bytes:
    return json.dumps(event.payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class LedgerSink:
    """An ``EventSink`` appending each event as an AuditLog entry of its kind, signed by ``signer``."""

    def __init__(self, ledger: AppendLog, signer: Any) -> None:
        self.ledger = ledger
        self.signer = signer

    def record(self, event: LedgerEvent) -> None:
        self.ledger.append(event.audit_kind, canonical_payload(event), self.signer)
