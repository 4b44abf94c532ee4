"""The governance ledger: an RFC 9162 transparency log of signed, hash-chained entries.

Public API (see each module for the details):

- :class:`Ledger` (``ledger.py``): ``Ledger.open(url, log_key)``, ``append(kind, payload, signer)``,
  ``flush()``, ``checkpoint()``, ``get``, ``query``, ``inclusion_proof``, ``consistency_proof``, ``export``.
- :func:`verify_export` (``verify.py``): offline verification of an export against the log's public key.
- :class:`NoteSigner` / :class:`NoteVerifier` / :class:`Checkpoint` (``signed_note.py``): C2SP signed notes.
- :class:`Ed25519Signer` / :class:`LedgerEntry` (``entry.py``): who signs entries and what they sign.
- ``merkle.py``: RFC 9162 hashing and proofs, pure.
- ``service.py``: the read-only ``LedgerAuditor`` gRPC service over mTLS and its client (import it directly;
  it pulls in grpc and the PKI).
"""

from registry.ledger.entry import Ed25519Signer, EntryError, EntrySigner, LedgerEntry, kind_name, parse_kind
from registry.ledger.ledger import (
    ConsistencyProof,
    InclusionProof,
    Ledger,
    LedgerError,
    LedgerNotFound,
    LedgerRecorder,
)
from registry.ledger.signed_note import Checkpoint, NoteError, NoteSigner, NoteVerifier
from registry.ledger.verify import Problem, VerificationReport, verify_export

__all__ = [
    "Checkpoint",
    "ConsistencyProof",
    "Ed25519Signer",
    "EntryError",
    "EntrySigner",
    "InclusionProof",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "LedgerNotFound",
    "LedgerRecorder",
    "NoteError",
    "NoteSigner",
    "NoteVerifier",
    "Problem",
    "VerificationReport",
    "kind_name",
    "parse_kind",
    "verify_export",
]
