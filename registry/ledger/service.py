"""The read-only ``LedgerAuditor`` gRPC service over mutual TLS, and its client.

Every call first authorises the peer's SPIFFE ID from its client certificate (``registry.pki``): by default
only ``spiffe://<region>/auditor/<name>`` may read. The service has no write method. Its answers need no
trust: checkpoints are signed notes, proofs verify against them, exports verify offline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from concurrent import futures
from pathlib import Path
from typing import TypeVar

import grpc

from energibridge.v1 import ir_pb2, ledger_pb2, ledger_pb2_grpc
from registry.ledger.entry import EntryError, LedgerEntry
from registry.ledger.export import ExportHeader, iter_jsonl
from registry.ledger.ledger import (
    ConsistencyProof,
    InclusionProof,
    Ledger,
    LedgerError,
    LedgerNotFound,
    LedgerTampered,
)
from registry.ledger.merkle import ProofError
from registry.ledger.store import StoredCheckpoint
from registry.pki.grpc_tls import require_peer
from registry.pki.spiffe import WorkloadRole

log = logging.getLogger(__name__)

EXPORT_CHUNK_BYTES = 256 * 1024
DEFAULT_QUERY_LIMIT = 1000
DEFAULT_READER_ROLES = frozenset({WorkloadRole.AUDITOR})

_T = TypeVar("_T")


class LedgerAuditorServicer(ledger_pb2_grpc.LedgerAuditorServicer):
    """Serves one :class:`Ledger` (opened read-only or by the writer process) to authorised readers."""

    def __init__(
        self, ledger: Ledger, *, region: str, roles: Collection[WorkloadRole] = DEFAULT_READER_ROLES
    ) -> None:
        self.ledger = ledger
        self.region = region
        self.roles = frozenset(roles)

    def _call(self, context: grpc.ServicerContext, work: Callable[[], _T]) -> _T:
        require_peer(context, region=self.region, roles=self.roles)
        try:
            return work()
        except LedgerNotFound as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            raise  # unreachable: abort raises
        except LedgerTampered as exc:
            context.abort(grpc.StatusCode.DATA_LOSS, str(exc))
            raise  # unreachable: abort raises
        except (LedgerError, EntryError, ProofError, ValueError, ArithmeticError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # unreachable: abort raises
        except Exception:  # never UNKNOWN with a stack trace's text: say it is ours, log the detail
            log.exception("LedgerAuditor: unexpected error")
            context.abort(grpc.StatusCode.INTERNAL, "the ledger could not answer; see the service log")
            raise  # unreachable: abort raises

    def _checkpoint_message(self, stored: StoredCheckpoint) -> ledger_pb2.SignedCheckpoint:
        return ledger_pb2.SignedCheckpoint(
            note=stored.note,
            origin=self.ledger.origin,
            tree_size=stored.size,
            root_hash=stored.root_hash,
            log_key=self.ledger.log_verifier.to_vkey(),
        )

    def GetCheckpoint(  # noqa: N802 (gRPC method name)
        self, request: ledger_pb2.GetCheckpointRequest, context: grpc.ServicerContext
    ) -> ledger_pb2.SignedCheckpoint:
        def work() -> ledger_pb2.SignedCheckpoint:
            if not request.HasField("tree_size"):
                return self._checkpoint_message(self.ledger.checkpoint())
            stored = self.ledger.checkpoint_at(request.tree_size)
            if stored is None:
                raise LedgerNotFound(f"tree_size: the log signed no checkpoint at size {request.tree_size}")
            return self._checkpoint_message(stored)

        return self._call(context, work)

    def GetEntry(  # noqa: N802 (gRPC method name)
        self, request: ledger_pb2.GetEntryRequest, context: grpc.ServicerContext
    ) -> ir_pb2.AuditLogEntry:
        return self._call(context, lambda: self.ledger.get(request.index).to_proto())

    def QueryEntries(  # noqa: N802 (gRPC method name)
        self, request: ledger_pb2.QueryEntriesRequest, context: grpc.ServicerContext
    ) -> Iterator[ir_pb2.AuditLogEntry]:
        def work() -> list[LedgerEntry]:
            return self.ledger.query(
                actor=request.actor_did or None,
                kind=int(request.kind) or None,
                since_ms=request.since_unix_ms if request.HasField("since_unix_ms") else None,
                until_ms=request.until_unix_ms if request.HasField("until_unix_ms") else None,
                after_index=request.after_index if request.HasField("after_index") else None,
                limit=request.limit or DEFAULT_QUERY_LIMIT,
            )

        for entry in self._call(context, work):
            yield entry.to_proto()

    def ProveInclusion(  # noqa: N802 (gRPC method name)
        self, request: ledger_pb2.ProveInclusionRequest, context: grpc.ServicerContext
    ) -> ledger_pb2.InclusionProof:
        def work() -> ledger_pb2.InclusionProof:
            size = request.tree_size if request.HasField("tree_size") else None
            proof = self.ledger.inclusion_proof(request.index, size)
            return ledger_pb2.InclusionProof(
                index=proof.index, tree_size=proof.size, leaf_hash=proof.leaf_hash, path=list(proof.path)
            )

        return self._call(context, work)

    def ProveConsistency(  # noqa: N802 (gRPC method name)
        self, request: ledger_pb2.ProveConsistencyRequest, context: grpc.ServicerContext
    ) -> ledger_pb2.ConsistencyProof:
        def work() -> ledger_pb2.ConsistencyProof:
            size2 = request.size2 if request.HasField("size2") else None
            proof = self.ledger.consistency_proof(request.size1, size2)
            return ledger_pb2.ConsistencyProof(size1=proof.size1, size2=proof.size2, path=list(proof.path))

        return self._call(context, work)

    def Export(  # noqa: N802 (gRPC method name)
        self, request: ledger_pb2.ExportRequest, context: grpc.ServicerContext
    ) -> Iterator[ledger_pb2.ExportChunk]:
        def work() -> Iterator[str]:
            stored = self.ledger.checkpoint()
            header = ExportHeader(
                self.ledger.origin, stored.note, self.ledger.log_verifier.to_vkey(), stored.size
            )
            return iter_jsonl(header, self.ledger.store.scan(0, stored.size))

        buffer: list[bytes] = []
        pending = 0
        for line in self._call(context, work):
            data = line.encode("utf-8")
            buffer.append(data)
            pending += len(data)
            if pending >= EXPORT_CHUNK_BYTES:
                yield ledger_pb2.ExportChunk(data=b"".join(buffer))
                buffer, pending = [], 0
        if buffer:
            yield ledger_pb2.ExportChunk(data=b"".join(buffer))


def serve(
    ledger: Ledger,
    address: str,
    credentials: grpc.ServerCredentials,
    *,
    region: str,
    roles: Collection[WorkloadRole] = DEFAULT_READER_ROLES,
    max_workers: int = 4,
) -> tuple[grpc.Server, int]:
    """Start the auditor service on ``address`` with mTLS ``credentials``; returns the server and its port.

    There is deliberately no insecure variant. Stop it with ``server.stop(grace)``.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ledger-audit")
    )
    ledger_pb2_grpc.add_LedgerAuditorServicer_to_server(
        LedgerAuditorServicer(ledger, region=region, roles=roles), server
    )
    port = server.add_secure_port(address, credentials)
    if port == 0:
        raise LedgerError(f"address: could not bind the auditor service to {address!r}")
    server.start()
    return server, port


class LedgerAuditorClient:
    """Typed calls to a ``LedgerAuditor`` server over an (mTLS) channel; gRPC errors propagate."""

    def __init__(self, channel: grpc.Channel, *, timeout: float = 30.0) -> None:
        self._stub = ledger_pb2_grpc.LedgerAuditorStub(channel)
        self._timeout = timeout

    def checkpoint(self, tree_size: int | None = None) -> str:
        """The signed checkpoint note; verify it with ``signed_note.open_checkpoint`` before trusting it."""
        request = ledger_pb2.GetCheckpointRequest()
        if tree_size is not None:
            request.tree_size = tree_size
        return self._stub.GetCheckpoint(request, timeout=self._timeout).note

    def get(self, index: int) -> LedgerEntry:
        return LedgerEntry.from_proto(
            self._stub.GetEntry(ledger_pb2.GetEntryRequest(index=index), timeout=self._timeout)
        )

    def query(
        self,
        *,
        actor: str | None = None,
        kind: int | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        after_index: int | None = None,
        limit: int = 0,
    ) -> list[LedgerEntry]:
        request = ledger_pb2.QueryEntriesRequest(actor_did=actor or "", limit=limit)
        if kind is not None:
            request.kind = ir_pb2.AuditKind.ValueType(kind)
        if since_ms is not None:
            request.since_unix_ms = since_ms
        if until_ms is not None:
            request.until_unix_ms = until_ms
        if after_index is not None:
            request.after_index = after_index
        return [LedgerEntry.from_proto(m) for m in self._stub.QueryEntries(request, timeout=self._timeout)]

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> InclusionProof:
        request = ledger_pb2.ProveInclusionRequest(index=index)
        if tree_size is not None:
            request.tree_size = tree_size
        reply = self._stub.ProveInclusion(request, timeout=self._timeout)
        return InclusionProof(reply.index, reply.tree_size, reply.leaf_hash, tuple(reply.path))

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        request = ledger_pb2.ProveConsistencyRequest(size1=size1)
        if size2 is not None:
            request.size2 = size2
        reply = self._stub.ProveConsistency(request, timeout=self._timeout)
        return ConsistencyProof(reply.size1, reply.size2, tuple(reply.path))

    def download_export(self, path: Path, *, timeout: float | None = None) -> int:
        """Stream the JSON-lines export into ``path``; returns its size in bytes. Verify it offline."""
        written = 0
        with Path(path).open("wb") as handle:
            for chunk in self._stub.Export(ledger_pb2.ExportRequest(), timeout=timeout):
                handle.write(chunk.data)
                written += len(chunk.data)
        return written
