"""The region's ledger as the console reads it: latest checkpoint, pages of entries, inclusion proofs.

The ledger is opened read-only and lazily (the coordinator creates it when it starts serving, which may be
after the gateway is up). Answers carry what a browser needs to verify them itself: a proof comes with the
entry's leaf bytes, so the page recomputes the leaf hash and folds the path to the signed checkpoint's root
instead of trusting the gateway's word for it.
"""

from __future__ import annotations

import json
import threading

from registry.ledger import Ledger, LedgerEntry, kind_name

PAGE = 50
MAX_PAGE = 500


class LedgerUnavailable(RuntimeError):
    """The ledger cannot be read yet (not created) or any more."""


class LedgerView:
    def __init__(self, url: str) -> None:
        self.url = url
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()

    def _open(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                try:
                    self._ledger = Ledger.open(self.url)
                except Exception as exc:
                    raise LedgerUnavailable(f"ledger {self.url}: {exc}") from None
            return self._ledger

    def checkpoint(self) -> dict[str, object]:
        ledger = self._open()
        latest = ledger.checkpoint()
        return {
            "origin": ledger.origin,
            "size": latest.size,
            "root_hash": latest.root_hash.hex(),
            "note": latest.note,
            "created_ms": latest.created_ms,
            "log_key": ledger.log_verifier.to_vkey(),
        }

    def entries(self, *, after: int | None = None, limit: int = PAGE) -> dict[str, object]:
        """A page of entries after index ``after`` (default: the newest ``limit``), in index order."""
        ledger = self._open()
        limit = max(1, min(limit, MAX_PAGE))
        if after is None:
            size = ledger.size()
            after = size - limit - 1 if size > limit else None
        rows = ledger.query(after_index=after, limit=limit)
        return {"size": ledger.size(), "entries": [_entry(e) for e in rows]}

    def proof(self, index: int, size: int | None = None) -> dict[str, object]:
        """Inclusion proof of entry ``index`` in the tree of ``size`` entries (default: the checkpoint),
        with the entry's leaf bytes and the signed checkpoint of that size, when there is one."""
        ledger = self._open()
        proof = ledger.inclusion_proof(index, size)
        entry = ledger.get(index)
        stored = ledger.checkpoint_at(proof.size)
        return {
            "index": proof.index,
            "size": proof.size,
            "leaf_data": entry.leaf_data().hex(),
            "leaf_hash": proof.leaf_hash.hex(),
            "path": [h.hex() for h in proof.path],
            "checkpoint_note": stored.note if stored is not None else None,
            "entry": _entry(entry),
        }

    def close(self) -> None:
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None


def _entry(entry: LedgerEntry) -> dict[str, object]:
    try:
        payload: object = json.loads(entry.payload)
    except ValueError:
        payload = {"bytes": len(entry.payload)}
    return {
        "index": entry.index,
        "kind": kind_name(entry.kind),
        "timestamp_ms": entry.timestamp_ms,
        "actor_did": entry.actor_did,
        "payload_hash": entry.payload_hash.hex(),
        "payload": payload,
        "leaf_hash": entry.entry_hash().hex(),
    }
