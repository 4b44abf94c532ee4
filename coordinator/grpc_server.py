"""gRPC adapter of the coordinator: mutual TLS only, one bidirectional stream per agent.

The servicer authenticates each stream by the SPIFFE identity in the agent's client certificate and
checks it against the venue the agent claims. The ``GrpcLink`` turns the session driver's requests into
stream messages and gathers the answers with deadlines; secure aggregation runs here exactly as in the
in-process link. No plaintext port is ever opened.

Resources are bounded per stream and per identity, so one admitted agent (or one stolen certificate) cannot
exhaust the server: a stream must send its Hello within ``first_message_timeout_s``; each identity may hold
at most ``max_streams_per_identity`` streams (the rest are refused with RESOURCE_EXHAUSTED); the server
admits at most ``maximum_concurrent_rpcs`` streams in all. Two streams of one identity: **the newest
replaces the older** (the older stream is ended), so an agent restarting after a crash is never locked out
by its own half-dead stream; a twin that keeps reconnecting only ever displaces its own venue.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import NamedTuple

import grpc
import numpy as np

from coordinator.engine.strategy import SessionError
from coordinator.secagg import AggregateResult, Aggregator, RetryWith
from coordinator.session import AuditSink, CommitAck, Gathered
from energibridge.errors import EnergiBridgeError, IrValidationError
from energibridge.protocol import wire
from energibridge.protocol.contribution import CODEC, Layout
from energibridge.protocol.messages import RoundBroadcast
from energibridge.protocol.rounding import Assignment
from energibridge.protocol.venue import VenueInfo
from energibridge.secagg import KeyAgreementError, SecAggError
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import coordinator_pb2_grpc as cpb_grpc
from energibridge.v1 import ir_pb2
from energibridge.version import CURRENT, SESSION_LAYOUT_SINCE, IrVersion
from registry.contracts.admission import AdmissionVerdict
from registry.identity import IdentityError, check_join
from registry.identity.did_key import did_key_from_public_key, public_key_from_did_key
from registry.pki.announcements import (
    IdentityCache,
    SignedKey,
    ack_message,
    report_message,
    unsigned_report,
    verify_directory,
    verify_signature,
)
from registry.pki.certificates import CertificateBundle
from registry.pki.errors import PeerIdentityError
from registry.pki.grpc_tls import RotatingServerCredentials, authorize_peer, peer_certificate_record
from registry.pki.spiffe import SpiffeId, WorkloadRole

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 << 20
FIRST_MESSAGE_TIMEOUT_S = 10.0
MAX_STREAMS_PER_IDENTITY = 4
MAX_CONCURRENT_RPCS = 256
SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
]


MAX_REFUSALS_KEPT = 1000
MAX_DID_CHARS = 128
MAX_RECORDS_PENDING = 10_000
"""Agent records waiting to be checked (the service drains them every few tens of ms between sessions)."""
RECORDS_SINCE = IrVersion(major=1, minor=2, patch=0)
"""The IR version that added Hello.adapter, Welcome and AgentRecord."""
MAX_ERROR_TEXT = 512


@dataclass
class Connection:
    venue_id: str
    info: VenueInfo
    last_sequence: int
    agent_did: str = ""
    credential_id: str = ""
    ir_version: IrVersion = CURRENT
    """The IR version negotiated with this agent at join (told to it in Welcome, used by both sides)."""
    adapter: str = ""
    adapter_version: str = ""
    certificate: dict[str, str] = field(default_factory=dict)
    """Facts of the certificate this stream authenticated with (recorded on its JOIN)."""
    outbox: queue.Queue[cpb.CoordinatorMessage | None] = field(default_factory=queue.Queue)
    alive: bool = True


class Hub:
    """Connected agents and the one inbox their messages arrive on (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.connections: dict[str, Connection] = {}
        self.inbox: queue.Queue[tuple[str, cpb.AgentMessage]] = queue.Queue()
        self.reports: queue.Queue[tuple[str, cpb.ExecutionReport]] = queue.Queue()
        """Execution reports arrive at any time, so they bypass the session inbox (``ExecutionReports``)."""
        self.records: queue.Queue[tuple[str, cpb.AgentRecord]] = queue.Queue(maxsize=MAX_RECORDS_PENDING)
        """Agent-signed records (privacy spends, control actions) likewise (``coordinator.agent_records``)."""
        self.refused: deque[str] = deque(maxlen=MAX_REFUSALS_KEPT)
        """The latest refusals (bounded: a hostile agent can send refusable messages forever)."""
        self.trust: tuple[bytes, str] | None = None
        """(region CA PEM, region): what signed session keys are checked against (set by ``serve``)."""
        self.identities = IdentityCache()
        """Agents' identity proofs already verified (session keys and execution reports share it)."""

    def verify_member(
        self, venue: str, identity_key: bytes, certificate: bytes, binding: bytes, *, where: str
    ) -> None:
        """Check a member's identity proof: ``identity_key`` is bound to ``venue`` by an SVID of this
        region and, once the member joined with a did:key (its Hello, or the credential that names it), is
        that key. Raises ``KeyAgreementError`` naming ``where``; a no-op without a region CA (tests)."""
        if self.trust is None:
            return
        ca_pem, region = self.trust
        self.identities.verify(
            venue,
            bytes(identity_key),
            bytes(certificate),
            bytes(binding),
            ca_pem=ca_pem,
            region=region,
            now=datetime.now(UTC),
            where=where,
        )
        self.check_joined(venue, identity_key, where=where)

    def check_joined(self, venue: str, identity_key: bytes, *, where: str) -> None:
        """Once ``venue`` joined with a did:key, ``identity_key`` must be that key."""
        joined = self.connected().get(venue)
        if joined is not None and joined.agent_did:
            signer = did_key_from_public_key(bytes(identity_key))
            if signer != joined.agent_did:
                raise KeyAgreementError(
                    f"{where}.identity_key: {signer:.80} is not the identity {venue} joined with"
                )

    def register(self, connection: Connection) -> None:
        """Admit ``connection``; an older stream of the same identity is ended (newest wins)."""
        with self._lock:
            old = self.connections.get(connection.venue_id)
            if old is not None:
                old.alive = False
                old.outbox.put(None)
            self.connections[connection.venue_id] = connection
            self._lock.notify_all()

    def is_current(self, connection: Connection) -> bool:
        with self._lock:
            return self.connections.get(connection.venue_id) is connection

    def evict(self, venue_id: str, reason: str) -> bool:
        """End ``venue_id``'s stream (it may reconnect and join a later session); False if not connected."""
        with self._lock:
            connection = self.connections.pop(venue_id, None)
            if connection is None:
                return False
            connection.alive = False
            connection.outbox.put(
                cpb.CoordinatorMessage(error=cpb.ErrorReply(code="EVICTED", message=reason))
            )
            connection.outbox.put(None)
            self._lock.notify_all()
        log.warning("evicted %s: %s", venue_id, reason)
        return True

    def refuse_leftovers(self) -> int:
        """Refuse every message still queued from an earlier session (it can only be stale now), so a
        new session starts from an empty inbox and the senders learn why they were not heard."""
        count = 0
        while True:
            try:
                venue, message = self.inbox.get_nowait()
            except queue.Empty:
                return count
            count += 1
            body = message.WhichOneof("body")
            if body != "error":
                self.error(venue, "STALE", f"{body} message from an earlier session", body or "")

    def disconnect(self, connection: Connection) -> None:
        with self._lock:
            connection.alive = False
            if self.connections.get(connection.venue_id) is connection:
                del self.connections[connection.venue_id]
            self._lock.notify_all()

    def connected(self) -> dict[str, Connection]:
        with self._lock:
            return dict(self.connections)

    def wait_for(self, count: int, timeout_s: float) -> dict[str, Connection]:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while len(self.connections) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(self.connections)} of {count} agents joined within {timeout_s} s"
                    )
                self._lock.wait(remaining)
            return dict(self.connections)

    def send(self, venue_id: str, message: cpb.CoordinatorMessage) -> bool:
        connection = self.connected().get(venue_id)
        if connection is None or not connection.alive:
            return False
        connection.outbox.put(message)
        return True

    def error(self, venue_id: str, code: str, message: str, field_name: str = "") -> None:
        message = message[:MAX_ERROR_TEXT]
        log.warning("refused message from %s: %s: %s", venue_id, code, message)
        self.refused.append(f"{venue_id}: {code}: {message}")
        self.send(
            venue_id,
            cpb.CoordinatorMessage(error=cpb.ErrorReply(code=code, message=message, field=field_name)),
        )


class CoordinatorServicer(cpb_grpc.CoordinatorServicer):
    def __init__(
        self,
        hub: Hub,
        region: str,
        trusted_issuers: Collection[str] = (),
        *,
        first_message_timeout_s: float = FIRST_MESSAGE_TIMEOUT_S,
        max_streams_per_identity: int = MAX_STREAMS_PER_IDENTITY,
        latency_bounds_ms: tuple[int, int] | None = None,
        admission: Callable[[str, str, str], AdmissionVerdict] | None = None,
    ) -> None:
        self.hub = hub
        self.admission = admission
        """The registry's join-time adapter check (``coordinator.admission.AdapterGate.admit``); None: off."""
        self.region = region
        self.trusted_issuers = tuple(trusted_issuers)
        """Registry DIDs whose credentials admit an agent; empty means certificates alone decide."""
        self.first_message_timeout_s = first_message_timeout_s
        self.max_streams_per_identity = max_streams_per_identity
        self.latency_bounds_ms = latency_bounds_ms
        """Operator floor and ceiling for the latency budget an agent declares (None: taken as declared)."""
        self._streams: dict[str, int] = {}
        self._streams_lock = threading.Lock()
        self.refused_streams = 0

    def _admit(self, name: str) -> bool:
        with self._streams_lock:
            count = self._streams.get(name, 0)
            if count >= self.max_streams_per_identity:
                self.refused_streams += 1
                return False
            self._streams[name] = count + 1
            return True

    def _release(self, name: str) -> None:
        with self._streams_lock:
            count = self._streams.get(name, 0) - 1
            if count > 0:
                self._streams[name] = count
            else:
                self._streams.pop(name, None)

    def streams(self) -> dict[str, int]:
        with self._streams_lock:
            return dict(self._streams)

    def _first_message(
        self, request_iterator: Iterator[cpb.AgentMessage], context: grpc.ServicerContext
    ) -> cpb.AgentMessage | None:
        """The stream's first message, or abort with DEADLINE_EXCEEDED: a silent stream holds a worker."""
        box: queue.Queue[cpb.AgentMessage | None] = queue.Queue(maxsize=1)

        def pull() -> None:
            try:
                box.put(next(request_iterator))
            except (StopIteration, grpc.RpcError, ValueError):
                box.put(None)

        threading.Thread(target=pull, daemon=True, name="first-message").start()
        try:
            return box.get(timeout=self.first_message_timeout_s)
        except queue.Empty:
            context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no Hello within {self.first_message_timeout_s:g} s of opening the stream",
            )
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    def _clamped(self, info: VenueInfo) -> VenueInfo:
        if self.latency_bounds_ms is None:
            return info
        floor, ceiling = self.latency_bounds_ms
        budget = min(max(info.latency_budget_ms, floor), ceiling)
        return info if budget == info.latency_budget_ms else replace(info, latency_budget_ms=budget)

    def RoundStream(  # noqa: N802 (gRPC method name)
        self, request_iterator: Iterator[cpb.AgentMessage], context: grpc.ServicerContext
    ) -> Iterator[cpb.CoordinatorMessage]:
        try:
            identity = authorize_peer(context.auth_context(), region=self.region, roles={WorkloadRole.AGENT})
        except PeerIdentityError as exc:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        name = identity.name or ""
        if not self._admit(name):
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{identity.uri} already holds {self.max_streams_per_identity} streams",
            )
        try:
            yield from self._serve_stream(identity, request_iterator, context)
        finally:
            self._release(name)

    def _serve_stream(
        self,
        identity: SpiffeId,
        request_iterator: Iterator[cpb.AgentMessage],
        context: grpc.ServicerContext,
    ) -> Iterator[cpb.CoordinatorMessage]:
        first = self._first_message(request_iterator, context)
        if first is None:
            return
        if first.WhichOneof("body") != "hello":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message on the stream must be Hello")
        try:
            info, agreed = wire.venue_info(first.hello)
        except EnergiBridgeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if agreed < SESSION_LAYOUT_SINCE:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Hello.ir_version: {agreed} predates the IR {SESSION_LAYOUT_SINCE} session contribution "
                "(rounded plan, probe demands and slopes in every answer); upgrade the agent",
            )
        if info.venue_id != identity.name:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Hello.venue_id {info.venue_id!r} does not match the certificate identity {identity.uri}",
            )
        hello = first.hello
        connection = Connection(
            info.venue_id,
            self._clamped(info),
            int(hello.last_sequence),
            ir_version=agreed,
            adapter=hello.adapter[:128],
            adapter_version=hello.adapter_version[:64],
            certificate=peer_certificate_record(context.auth_context()),
        )
        if self.trusted_issuers:
            try:
                verified = check_join(
                    first.hello.credential,
                    trusted_issuers=self.trusted_issuers,
                    peer=identity,
                    now=datetime.now(UTC),
                    venue=info.venue_id,
                )
            except IdentityError as exc:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, f"Hello.credential: {exc}")
            if hello.agent_did and hello.agent_did != verified.claims.subject_did:
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"Hello.credential: issued to {verified.claims.subject_did!r}, but the agent's identity "
                    f"is {hello.agent_did!r:.120}",
                )
            connection.agent_did = verified.claims.subject_did
            connection.credential_id = verified.parsed.credential_id
        if self.admission is not None:
            try:
                verdict = self.admission(info.venue_id, hello.adapter, hello.adapter_version)
            except Exception as exc:  # the registry database is down: the agent may retry
                log.exception("registry check of %s failed", info.venue_id)
                context.abort(grpc.StatusCode.UNAVAILABLE, f"registry: the adapter check failed ({exc})")
            if not verdict.accepted:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, verdict.render())
        if not connection.agent_did and hello.agent_did:
            try:  # recorded on JOIN, and what its records must be signed by
                if len(hello.agent_did) > MAX_DID_CHARS:  # before any base58 work on it
                    raise IdentityError(
                        f"Hello.agent_did: expected a did:key of at most {MAX_DID_CHARS} chars"
                    )
                public_key_from_did_key(hello.agent_did, field="Hello.agent_did")
            except IdentityError as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            connection.agent_did = hello.agent_did
        major, minor, patch = agreed.major, agreed.minor, agreed.patch
        connection.outbox.put(
            cpb.CoordinatorMessage(
                welcome=cpb.Welcome(
                    ir_version=ir_pb2.IrVersion(major=major, minor=minor, patch=patch), region=self.region
                )
            )
        )
        self.hub.register(connection)
        log.info("agent %s joined", info.venue_id)
        reader = threading.Thread(target=self._read, args=(connection, request_iterator), daemon=True)
        reader.start()
        try:
            while context.is_active():
                try:
                    message = connection.outbox.get(timeout=0.5)
                except queue.Empty:
                    if not connection.alive:
                        break
                    continue
                if message is None:
                    break
                yield message
        finally:
            self.hub.disconnect(connection)

    def _read(self, connection: Connection, request_iterator: Iterator[cpb.AgentMessage]) -> None:
        try:
            for message in request_iterator:
                if not connection.alive:
                    break  # replaced or evicted: a stream that is not current delivers nothing
                body = message.WhichOneof("body")
                if body == "execution_report":
                    self.hub.reports.put((connection.venue_id, message.execution_report))
                elif body == "record":
                    if connection.ir_version < RECORDS_SINCE:
                        self.hub.error(
                            connection.venue_id,
                            "REFUSED",
                            f"AgentRecord needs IR {RECORDS_SINCE}; this stream negotiated "
                            f"{connection.ir_version}",
                            "record",
                        )
                    else:
                        try:
                            self.hub.records.put_nowait((connection.venue_id, message.record))
                        except queue.Full:
                            self.hub.error(connection.venue_id, "BUSY", "too many records pending", "record")
                else:
                    self.hub.inbox.put((connection.venue_id, message))
        except (grpc.RpcError, ValueError):
            pass
        finally:
            self.hub.disconnect(connection)
            connection.outbox.put(None)


class SessionAbandoned(SessionError):
    """Secure aggregation cannot go on (too few members left to mask safely): the session ends here."""


class GrpcLink:
    """``AgentLink`` over the hub: the session driver's requests as stream messages, with deadlines.

    Every reply is checked (``wire``) before it reaches the session: a member whose session key is
    malformed is left out of the key directory, a member that stays silent is listed in ``silent`` (the
    service evicts it), and a round that cannot be completed raises ``SessionAbandoned``."""

    def __init__(self, hub: Hub, *, round_timeout_s: float = 2.0, reply_timeout_s: float = 5.0) -> None:
        self.hub = hub
        self.round_timeout_s = round_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self._aggregator: Aggregator | None = None
        self._assets: tuple[str, ...] = ()
        self._session = ""
        self._length = 0
        self.silent: set[str] = set()
        self.hedging: frozenset[str] = frozenset()
        """Members whose session key says they bring a residual as a target (a hedge session)."""
        self._identities: dict[str, bytes] = {}
        self.joined: tuple[str, ...] = ()
        """The members of the current session's key directory (the ones that take part)."""
        """This session's members' identity keys, from their verified session keys."""
        """Members of the current session that never answered its start (no session key in time)."""
        self.refused: dict[str, str] = {}
        """Members of the current session left out for a malformed message, with the reason."""
        self.missed: dict[str, None] = {}

    def dropped(self) -> tuple[str, ...]:
        """Members of the current session that missed a round's deadline (secure aggregation went on
        without them), in the order they were dropped."""
        return tuple(self.missed)

    # -- helpers -----------------------------------------------------------------------------------

    def _next(self, deadline: float) -> tuple[str, cpb.AgentMessage] | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            return self.hub.inbox.get(timeout=remaining)
        except queue.Empty:
            return None

    def _collect(self, kind: str, venues: Sequence[str], timeout_s: float) -> dict[str, cpb.AgentMessage]:
        wanted = set(venues)
        got: dict[str, cpb.AgentMessage] = {}
        deadline = time.monotonic() + timeout_s
        while wanted - set(got):
            if not (wanted - set(got)) & set(self.hub.connected()):
                break
            item = self._next(deadline)
            if item is None:
                break
            venue, message = item
            if message.WhichOneof("body") == kind and venue in wanted:
                got[venue] = message
            else:
                self._unexpected(venue, message)
        return got

    def _unexpected(self, venue: str, message: cpb.AgentMessage) -> None:
        body = message.WhichOneof("body")
        if body == "error":
            log.warning("agent %s reported: %s", venue, message.error.message)
        else:
            self.hub.error(venue, "UNEXPECTED", f"unexpected {body} message at this point of the session")

    # -- AgentLink -----------------------------------------------------------------------------------

    def start(
        self, session_id: str, assets: Sequence[str], members: Sequence[str], *, cold: bool = False
    ) -> Mapping[str, Mapping[str, float]]:
        self._session = session_id
        self._assets = tuple(assets)
        self._length = Layout(len(assets)).size
        self._aggregator = None
        self.silent = set()
        self.hedging = frozenset()
        self.refused = {}
        self.missed = {}
        self.hub.refuse_leftovers()
        start = cpb.CoordinatorMessage(
            session_start=cpb.SessionStart(
                session_id=session_id, assets=list(assets), members=list(members), cold=cold
            )
        )
        keys: dict[str, bytes] = {}
        proofs: dict[str, SignedKey] = {}
        hedging: set[str] = set()
        mids: dict[str, dict[str, float]] = {}
        sent_to: dict[str, Connection] = {}
        deadline = time.monotonic() + self.reply_timeout_s
        gone_since: float | None = None
        while set(members) - set(keys) - set(self.refused) and time.monotonic() < deadline:
            if not (set(members) - set(keys) - set(self.refused)) & set(self.hub.connected()):
                # Everyone still missing is gone. An agent renewing its certificate between sessions is
                # back within a moment on a new stream: wait that moment, then stop waiting.
                gone_since = gone_since if gone_since is not None else time.monotonic()
                if time.monotonic() - gone_since > RECONNECT_GRACE_S:
                    break
            else:
                gone_since = None
            # (Re)send to members whose current connection has not had it: an agent that renewed its
            # certificate between sessions is back on a new connection and must not be left out.
            for venue, connection in self.hub.connected().items():
                if venue in members and venue not in keys and sent_to.get(venue) is not connection:
                    connection.outbox.put(start)
                    sent_to[venue] = connection
            item = self._next(min(deadline, time.monotonic() + 0.1))
            if item is None:
                continue
            venue, message = item
            if message.WhichOneof("body") == "session_key" and message.session_key.session_id == session_id:
                if venue not in members or venue in keys or venue in self.refused:
                    self.hub.error(venue, "UNEXPECTED", f"no session key expected for {session_id!r}")
                    continue
                try:
                    key = wire.x25519_key(
                        message.session_key.x25519_public_key, "SessionKey.x25519_public_key"
                    )
                    reported = wire.session_mids(list(message.session_key.reference_prices), assets)
                    proof = self._authenticated(session_id, venue, message.session_key)
                except (EnergiBridgeError, KeyAgreementError) as exc:
                    # One member's bad key must not reach the directory: every peer would fail on it.
                    self.refused[venue] = str(exc)
                    self.hub.error(venue, "REFUSED", str(exc), "session_key")
                    continue
                keys[venue] = key
                proofs[venue] = proof
                if message.session_key.hedge:
                    hedging.add(venue)
                if reported:
                    mids[venue] = reported
            else:
                self._unexpected(venue, message)
        self.silent = set(members) - set(keys) - set(self.refused)
        directory = {v: keys[v] for v in sorted(keys) if v in members}
        self.hedging = frozenset(hedging & set(directory))
        self._identities = {v: proofs[v].identity_key for v in directory}
        self.joined = tuple(directory)
        left_out = sorted(set(members) - set(directory))
        if left_out:
            self.finish(session_id, left_out, "left out: no valid session key in time")
        if len(directory) < 2:
            raise SessionAbandoned(
                f"session {session_id}: only {sorted(directory)} of {sorted(members)} sent a valid "
                "session key"
            )
        announcement = cpb.CoordinatorMessage(
            keys=cpb.KeyDirectory(
                session_id=session_id,
                venue_ids=list(directory),
                x25519_public_keys=list(directory.values()),
                signatures=[proofs[v].signature for v in directory],
                identity_keys=[proofs[v].identity_key for v in directory],
                certificates=[proofs[v].certificate for v in directory],
                identity_bindings=[proofs[v].binding for v in directory],
            )
        )
        for venue in directory:
            self.hub.send(venue, announcement)
        self._aggregator = Aggregator(sorted(directory), self._length, codec=CODEC)
        return mids

    def _authenticated(self, session_id: str, venue: str, key: cpb.SessionKey) -> SignedKey:
        """The member's signed session key, checked as every agent will check it (so one member's bad
        proof is refused here instead of making every peer refuse the session)."""
        proof = SignedKey(
            venue_id=venue,
            public_key=bytes(key.x25519_public_key),
            signature=bytes(key.signature),
            identity_key=bytes(key.identity_key),
            certificate=bytes(key.certificate),
            binding=bytes(key.identity_binding),
        )
        if self.hub.trust is not None:
            ca_pem, region = self.hub.trust
            now = datetime.now(UTC)
            verify_directory(
                session_id, [proof], ca_pem=ca_pem, region=region, now=now, cache=self.hub.identities
            )
            # and it is the identity this member joined with, not merely one the region CA bound to it
            self.hub.check_joined(venue, proof.identity_key, where="SessionKey")
        return proof

    def _aggregate(
        self,
        open_message: Callable[[int, Sequence[str], tuple[int, int]], cpb.CoordinatorMessage],
        round_id: int,
    ) -> Gathered:
        aggregator = self._aggregator
        if aggregator is None:
            raise RuntimeError("no session started")
        first = True
        while True:
            deadline = time.monotonic() + self.round_timeout_s
            current = aggregator.open_round(deadline=deadline)
            opened_ms = int(time.time() * 1000)
            timing = (opened_ms, opened_ms + int(self.round_timeout_s * 1000))
            if first:
                opening = open_message(current.round_id, current.mask_set, timing)
            for venue in current.mask_set:
                if first:
                    self.hub.send(venue, opening)
                else:
                    self.hub.send(
                        venue,
                        cpb.CoordinatorMessage(
                            remask=cpb.Remask(
                                session_id=self._session,
                                round_id=round_id,
                                secagg_round_id=current.round_id,
                                mask_set=list(current.mask_set),
                            )
                        ),
                    )
            first = False
            outcome = None
            while outcome is None:
                live = set(self.hub.connected())
                if not (set(current.missing) & live):
                    outcome = aggregator.poll(now=deadline)
                    break
                item = self._next(deadline)
                if item is None:
                    outcome = aggregator.poll(now=deadline)
                    break
                venue, message = item
                if message.WhichOneof("body") != "contribution":
                    self._unexpected(venue, message)
                    continue
                contribution = message.contribution
                if contribution.session_id != self._session:
                    self.hub.error(
                        venue, "WRONG_SESSION", f"contribution for {contribution.session_id[:80]!r}"
                    )
                    continue
                try:
                    words = wire.words_from(contribution, self._length)
                    outcome = aggregator.submit(contribution.secagg_round_id, venue, words)
                except (SecAggError, EnergiBridgeError) as exc:
                    self.hub.error(venue, "REFUSED", str(exc))
            if isinstance(outcome, AggregateResult):
                return Gathered(total=np.array(outcome.total), responders=frozenset(outcome.participants))
            if outcome is None:
                raise SessionAbandoned(f"session {self._session} round {round_id}: no outcome")
            self.missed.update(dict.fromkeys(outcome.dropped))
            if not isinstance(outcome, RetryWith):
                raise SessionAbandoned(
                    f"session {self._session} round {round_id}: secure aggregation abandoned: "
                    f"{outcome.reason}; missing {list(outcome.dropped)}"
                )
            log.warning(
                "round %s: %s missed the deadline; re-aggregating among %d",
                round_id,
                list(outcome.dropped),
                len(outcome.survivors),
            )

    def gather(self, broadcast: RoundBroadcast, members: Sequence[str]) -> Gathered:
        def open_message(
            secagg_round: int, mask_set: Sequence[str], timing: tuple[int, int]
        ) -> cpb.CoordinatorMessage:
            return cpb.CoordinatorMessage(
                round_open=wire.round_open(
                    broadcast, self._assets, secagg_round_id=secagg_round, mask_set=mask_set, timing=timing
                )
            )

        return self._aggregate(open_message, broadcast.round_id)

    def gather_rounding(self, session_id: str, members: Sequence[str]) -> Gathered:
        def open_message(
            secagg_round: int, mask_set: Sequence[str], timing: tuple[int, int]
        ) -> cpb.CoordinatorMessage:
            return cpb.CoordinatorMessage(
                round_open=wire.rounding_open(
                    session_id,
                    0,
                    self._assets,
                    secagg_round_id=secagg_round,
                    mask_set=mask_set,
                    timing=timing,
                )
            )

        gathered = self._aggregate(open_message, 0)
        n = len(self._assets)
        return Gathered(
            total=np.append(gathered.total[:n], gathered.total[n]), responders=gathered.responders
        )

    def propose(self, assignment: Assignment) -> tuple[bool, float]:
        return self.propose_many([assignment])[0]

    def propose_many(self, assignments: Sequence[Assignment]) -> list[tuple[bool, float]]:
        """Send every proposal at once and collect the replies (one round trip for the wave)."""
        wanted: set[tuple[str, str]] = set()
        for assignment in assignments:
            key = (assignment.venue_id, assignment.asset)
            if key in wanted:
                raise ValueError(f"propose_many: two proposals for {key} in one wave")
            proposal = cpb.CoordinatorMessage(
                adjust=cpb.Adjust(
                    session_id=self._session, asset=assignment.asset, amount=format(assignment.amount, "f")
                )
            )
            if self.hub.send(assignment.venue_id, proposal):
                wanted.add(key)
        replies: dict[tuple[str, str], cpb.AdjustReply] = {}
        deadline = time.monotonic() + self.reply_timeout_s
        while wanted - set(replies):
            if not {v for v, _ in wanted - set(replies)} & set(self.hub.connected()):
                break
            item = self._next(deadline)
            if item is None:
                break
            venue, message = item
            if message.WhichOneof("body") != "adjust_reply":
                self._unexpected(venue, message)
                continue
            key = (venue, message.adjust_reply.asset)
            if key in wanted and key not in replies:
                replies[key] = message.adjust_reply
            else:
                self.hub.error(
                    venue, "UNEXPECTED", "no adjustment of that asset was proposed", "adjust_reply"
                )
        return [self._adjusted(replies.get((a.venue_id, a.asset)), a.venue_id) for a in assignments]

    def _adjusted(self, reply: cpb.AdjustReply | None, venue: str) -> tuple[bool, float]:
        if reply is None or not reply.accepted:
            return False, 0.0
        try:
            cost = wire.bounded_float(
                reply.cost_delta, "AdjustReply.cost_delta", -wire.COST_BOUND, wire.COST_BOUND
            )
        except EnergiBridgeError as exc:
            self.hub.error(venue, "REFUSED", str(exc), "adjust_reply")
            return False, 0.0
        return True, cost

    def abandon(self, venue_id: str, asset: str) -> None:
        self.hub.send(
            venue_id,
            cpb.CoordinatorMessage(
                adjust=cpb.Adjust(session_id=self._session, asset=asset, amount="0", abandon=True)
            ),
        )

    def commit(self, session_id: str, sequence: int, members: Sequence[str]) -> list[CommitAck]:
        now_ms = int(time.time() * 1000)
        for venue in members:
            self.hub.send(
                venue,
                cpb.CoordinatorMessage(
                    plan_commit=cpb.PlanCommit(session_id=session_id, sequence=sequence, now_unix_ms=now_ms)
                ),
            )
        replies = self._collect("ack", members, self.reply_timeout_s)
        acks = []
        for venue, message in sorted(replies.items()):
            ack = message.ack
            if ack.empty or ack.sequence != sequence or ack.session_id != session_id:
                continue
            if len(ack.state_hash) != 32 or len(ack.plan_digest) != 32:
                self.hub.error(
                    venue, "REFUSED", "PlanAck: state_hash and plan_digest must be 32 bytes", "ack"
                )
                continue
            identity = self._identities.get(venue, b"")
            if self.hub.trust is not None and not (
                identity
                and verify_signature(
                    identity,
                    ack.signature,
                    ack_message(session_id, venue, sequence, ack.state_hash, ack.plan_digest),
                )
            ):
                self.hub.error(venue, "REFUSED", "PlanAck.signature: not this venue's identity key", "ack")
                continue
            acks.append(
                CommitAck(
                    venue,
                    int(ack.sequence),
                    bytes(ack.state_hash),
                    bytes(ack.plan_digest),
                    identity_key=identity,
                    signature=bytes(ack.signature),
                )
            )
        return acks

    def finish(self, session_id: str, members: Sequence[str], reason: str) -> None:
        for venue in members:
            self.hub.send(
                venue, cpb.CoordinatorMessage(end=cpb.SessionEnd(session_id=session_id, reason=reason))
            )
        if self._aggregator is not None and reason != "committed":
            leaving = [v for v in members if v in self._aggregator.members]
            if leaving:
                self._aggregator.drop(leaving)


_STATUS_NAMES = {
    cpb.EXECUTION_STATUS_FILLED: "FILLED",
    cpb.EXECUTION_STATUS_PARTIAL: "PARTIAL",
    cpb.EXECUTION_STATUS_HEDGED: "HEDGED",
    cpb.EXECUTION_STATUS_LEG_OUT: "LEG_OUT",
    cpb.EXECUTION_STATUS_REFUSED: "REFUSED",
}
MAX_REPORT_TEXT = 256
MAX_REPORT_COUNT = 1_000_000
MAX_UNIX_MS = 1 << 53
MAX_PLANS_KEPT = 10_000
RECONNECT_GRACE_S = 1.0
"""How long a session start waits for members that all dropped their streams (a renewal) to return."""


def _report_text(value: str, field_name: str, *, limit: int = MAX_REPORT_TEXT) -> str:
    if not value or len(value) > limit or not value.isprintable():
        raise IrValidationError(field_name, f"expected 1..{limit} printable characters, got {value!r:.80}")
    return value


def report_payload(venue_id: str, report: cpb.ExecutionReport) -> dict[str, object]:
    """Validate an agent's ExecutionReport; returns its ledger payload (errors name the field).

    Every number is bounded before it is used: ``pnl_vs_plan_quote`` by length, digits, exponent and range
    (``wire.PNL_BOUNDS``) before it is formatted, so a 9-character ``1e999999999`` is refused in
    microseconds instead of becoming a billion-character string."""
    where = "ExecutionReport"
    if report.venue_id != venue_id:
        raise IrValidationError(
            f"{where}.venue_id", f"expected {venue_id!r} (the stream's identity), got {report.venue_id!r:.80}"
        )
    session = _report_text(report.session_id, f"{where}.session_id")
    if not 1 <= report.sequence <= wire.MAX_SEQUENCE:
        raise IrValidationError(
            f"{where}.sequence", f"expected 1..{wire.MAX_SEQUENCE}, got {report.sequence}"
        )
    if len(report.plan_digest) != 32:
        raise IrValidationError(f"{where}.plan_digest", f"expected 32 bytes, got {len(report.plan_digest)}")
    status = _STATUS_NAMES.get(report.status)
    if status is None:
        raise IrValidationError(
            f"{where}.status", f"expected one of {sorted(_STATUS_NAMES.values())}, got {report.status}"
        )
    pnl = wire.bounded_decimal(report.pnl_vs_plan_quote, f"{where}.pnl_vs_plan_quote", wire.PNL_BOUNDS)
    for name in ("fill_count", "legs", "legs_short"):
        if getattr(report, name) > MAX_REPORT_COUNT:
            raise IrValidationError(
                f"{where}.{name}", f"expected <= {MAX_REPORT_COUNT}, got {getattr(report, name)}"
            )
    if report.legs < 1 or report.legs_short > report.legs:
        raise IrValidationError(
            f"{where}.legs_short",
            f"expected legs >= 1 and legs_short <= legs, got {report.legs_short} of {report.legs}",
        )
    if len(report.risk_gates) > 32:
        raise IrValidationError(
            f"{where}.risk_gates", f"expected at most 32 gates, got {len(report.risk_gates)}"
        )
    gates = [_report_text(g, f"{where}.risk_gates[{i}]", limit=64) for i, g in enumerate(report.risk_gates)]
    if not 0 <= report.completed_unix_ms <= MAX_UNIX_MS:
        raise IrValidationError(
            f"{where}.completed_unix_ms", f"expected 0..{MAX_UNIX_MS}, got {report.completed_unix_ms}"
        )
    return {
        "session": session,
        "sequence": int(report.sequence),
        "plan_digest": bytes(report.plan_digest).hex(),
        "status": status,
        "fill_count": int(report.fill_count),
        "pnl_vs_plan_quote": format(pnl, "f"),
        "legs": int(report.legs),
        "legs_short": int(report.legs_short),
        "risk_gates": gates,
        "completed_unix_ms": int(report.completed_unix_ms),
    }


class CommittedPlan(NamedTuple):
    """What the coordinator knows of one venue's committed plan: its session and, once acknowledged,
    its digest (None: committed before a restart and never acknowledged, so the first report names it)."""

    session_id: str
    plan_digest: bytes | None


class ExecutionReports:
    """Agents' execution reports onto the audit sink: matched to a plan this coordinator committed *before
    anything else is read from them*, validated, recorded once each (EXECUTION_REPORT, plus LEG_OUT when a
    residual was left unhedged). A malformed or unmatched report is refused back to its agent and the
    coordinator carries on. Memory is bounded: only the last ``keep`` plans are remembered."""

    def __init__(self, hub: Hub, audit: AuditSink, *, keep: int = MAX_PLANS_KEPT) -> None:
        self.hub = hub
        self.audit = audit
        self.keep = keep
        self.committed: dict[tuple[str, int], CommittedPlan] = {}
        self.recorded: set[tuple[str, int]] = set()
        self.refused = 0
        self.leg_outs = 0
        """LEG_OUT reports recorded so far (the service starts a hedge session at once on a new one)."""

    def expect(self, session_id: str, acks: Sequence[CommitAck]) -> None:
        for ack in acks:
            self.committed[(ack.venue_id, ack.sequence)] = CommittedPlan(session_id, ack.plan_digest)
        self._prune()

    def expect_unacknowledged(self, session_id: str, sequence: int, venues: Collection[str]) -> None:
        """Plans whose commit went out but whose acknowledgement never came back (a restart in between)."""
        for venue in venues:
            self.committed.setdefault((venue, sequence), CommittedPlan(session_id, None))
        self._prune()

    def _prune(self) -> None:
        if len(self.committed) <= self.keep:
            return
        for key in sorted(self.committed, key=lambda k: k[1])[: len(self.committed) - self.keep]:
            del self.committed[key]
            self.recorded.discard(key)

    def outstanding(self) -> set[tuple[str, int]]:
        """Committed plans of still-connected agents without a report yet."""
        live = set(self.hub.connected())
        return {key for key in self.committed if key not in self.recorded and key[0] in live}

    def drain(self, timeout_s: float = 0.0, *, until: Collection[tuple[str, int]] | None = None) -> int:
        """Record every report that arrived; wait up to ``timeout_s`` for the outstanding ones (of
        ``until``, when given: the plans of the session just committed)."""
        deadline = time.monotonic() + timeout_s
        count = 0

        def waiting() -> bool:
            pending = self.outstanding()
            return bool(pending if until is None else pending & set(until))

        while True:
            try:
                remaining = deadline - time.monotonic()
                if remaining > 0 and waiting():
                    venue, report = self.hub.reports.get(timeout=min(remaining, 0.05))
                else:
                    venue, report = self.hub.reports.get_nowait()
            except queue.Empty:
                if time.monotonic() >= deadline or not waiting():
                    return count
                continue
            count += self._record(venue, report)

    def _record(self, venue: str, report: cpb.ExecutionReport) -> int:
        key = (venue, int(report.sequence))
        try:
            # Matched first: a report for no plan of ours is refused before any of its fields is parsed.
            expected = self.committed.get(key)
            if (
                expected is None
                or expected.session_id != report.session_id
                or (expected.plan_digest is not None and expected.plan_digest != bytes(report.plan_digest))
            ):
                raise IrValidationError(
                    "ExecutionReport.plan_digest",
                    f"no plan {report.sequence} of session {report.session_id!r:.80} with this digest was "
                    f"committed for {venue}",
                )
            payload = report_payload(venue, report)
            payload.update(self._signed_by(venue, report))
        except (EnergiBridgeError, KeyAgreementError) as exc:
            self.refused += 1
            self.hub.error(venue, "REFUSED", str(exc), "execution_report")
            return 0
        if key in self.recorded:
            return 0
        self.recorded.add(key)
        self.audit.record("execution_report", venue, payload)
        if payload["status"] == "LEG_OUT":
            self.audit.record("leg_out", venue, payload)
            self.leg_outs += 1
        return 1

    def _signed_by(self, venue: str, report: cpb.ExecutionReport) -> dict[str, object]:
        """Check the report's signature and identity proof; the fields an auditor re-checks on the ledger."""
        if self.hub.trust is None:
            return {}
        self.hub.verify_member(
            venue,
            report.identity_key,
            report.certificate,
            report.identity_binding,
            where="ExecutionReport",
        )
        signed = unsigned_report(report)
        if not verify_signature(report.identity_key, report.signature, report_message(signed)):
            raise KeyAgreementError("ExecutionReport.signature: not by the identity key it carries")
        return {
            "agent_identity_key": bytes(report.identity_key).hex(),
            "agent_signature": bytes(report.signature).hex(),
            "agent_signed": base64.b64encode(signed).decode(),
        }


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    hub: Hub
    credentials: RotatingServerCredentials
    servicer: CoordinatorServicer

    def stop(self, grace: float = 1.0) -> None:
        self.server.stop(grace).wait()


def serve(
    bundle: CertificateBundle,
    *,
    region: str,
    host: str = "127.0.0.1",
    port: int = 0,
    trusted_issuers: Collection[str] = (),
    maximum_concurrent_rpcs: int = MAX_CONCURRENT_RPCS,
    max_streams_per_identity: int = MAX_STREAMS_PER_IDENTITY,
    first_message_timeout_s: float = FIRST_MESSAGE_TIMEOUT_S,
    latency_bounds_ms: tuple[int, int] | None = None,
    admission: Callable[[str, str, str], AdmissionVerdict] | None = None,
) -> RunningServer:
    """Start the coordinator's mTLS gRPC server (there is no plaintext variant).

    Each stream holds one worker for its life, so the pool is sized to ``maximum_concurrent_rpcs`` (plus
    headroom) and gRPC refuses streams beyond it with RESOURCE_EXHAUSTED instead of queueing them."""
    hub = Hub()
    hub.trust = (bundle.ca_pem, region)
    credentials = RotatingServerCredentials(bundle)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=maximum_concurrent_rpcs + 8),
        options=SERVER_OPTIONS,
        maximum_concurrent_rpcs=maximum_concurrent_rpcs,
    )
    servicer = CoordinatorServicer(
        hub,
        region,
        trusted_issuers,
        first_message_timeout_s=first_message_timeout_s,
        max_streams_per_identity=max_streams_per_identity,
        latency_bounds_ms=latency_bounds_ms,
        admission=admission,
    )
    cpb_grpc.add_CoordinatorServicer_to_server(servicer, server)
    bound = server.add_secure_port(f"{host}:{port}", credentials.credentials)
    if bound == 0:
        raise OSError(f"could not bind {host}:{port}")
    server.start()
    return RunningServer(server=server, port=bound, hub=hub, credentials=credentials, servicer=servicer)


def venues_of(hub: Hub) -> Mapping[str, VenueInfo]:
    return {v: c.info for v, c in hub.connected().items()}


def last_sequence(hub: Hub) -> int:
    return max((c.last_sequence for c in hub.connected().values()), default=0)
