"""gRPC adapter of the edge agent: one mTLS stream to the coordinator, reconnecting with backoff.

Messages are dispatched to the pure ``EdgeAgent``; only masked contributions, residual accept/refuse
answers and plan acknowledgements (state hash and digest, never the legs) go back. Python gRPC cannot
swap a live channel's certificate, so once the current one is two-thirds through its ttl the runner asks its
certificate source for a renewal (``registry.pki.renewal.CertificateSource`` fetches it from the region's
CA service) while the session goes on, and switches to a fresh channel with the new certificate between
sessions. It reconnects only for a certificate it has not used yet: a source that has nothing new (a
``--cert-dir`` that nobody refreshes) is asked once a second at most and costs no reconnect.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import grpc
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.agent import CommittedPlan, EdgeAgent
from agents.participant import ParticipantError
from agents.plan_state import PlanStateStore
from agents.runtime import ExecutionStatus, PlanOutcome
from energibridge.errors import EnergiBridgeError, IncompatibleVersion
from energibridge.protocol import wire
from energibridge.protocol.contribution import FloatArray, Layout
from energibridge.protocol.rounding import Assignment
from energibridge.protocol.venue import VenueInfo
from energibridge.secagg import KeyAgreementError, SecAggError
from energibridge.secagg.keys import announcement_payload
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import coordinator_pb2_grpc as cpb_grpc
from energibridge.version import CURRENT, IrVersion, negotiate
from registry.identity.did_key import did_key_from_public_key
from registry.pki.agent_records import sign_record
from registry.pki.announcements import (
    IdentityCache,
    SignedKey,
    ack_message,
    bind_identity,
    identity_public_bytes,
    report_message,
    unsigned_report,
    verify_directory,
)
from registry.pki.certificates import CertificateBundle
from registry.pki.diagnose import diagnose_handshake
from registry.pki.errors import CertificateExpired
from registry.pki.grpc_tls import secure_channel

log = logging.getLogger(__name__)

CLIENT_OPTIONS: list[tuple[str, object]] = [
    ("grpc.max_receive_message_length", 4 << 20),
    ("grpc.max_send_message_length", 4 << 20),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.enable_retries", 0),
]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter (seconds)."""

    initial: float = 0.1
    maximum: float = 5.0
    multiplier: float = 2.0

    def delays(self, rng: random.Random) -> Iterator[float]:
        current = self.initial
        while True:
            yield rng.uniform(0, current)
            current = min(self.maximum, current * self.multiplier)


@dataclass
class AgentStats:
    sessions: int = 0
    rounds: int = 0
    connects: int = 0
    refused: list[str] = field(default_factory=list)
    plans: list[CommittedPlan] = field(default_factory=list)
    reports: int = 0


_STATUSES = {
    ExecutionStatus.FILLED: cpb.EXECUTION_STATUS_FILLED,
    ExecutionStatus.PARTIAL: cpb.EXECUTION_STATUS_PARTIAL,
    ExecutionStatus.HEDGED: cpb.EXECUTION_STATUS_HEDGED,
    ExecutionStatus.LEG_OUT: cpb.EXECUTION_STATUS_LEG_OUT,
    ExecutionStatus.REFUSED: cpb.EXECUTION_STATUS_REFUSED,
}


def execution_report(outcome: PlanOutcome) -> cpb.ExecutionReport:
    """The ledger-bound summary of a plan's execution: no leg, price or size leaves the agent."""
    return cpb.ExecutionReport(
        session_id=outcome.session_id,
        venue_id=outcome.venue_id,
        sequence=outcome.sequence,
        plan_digest=outcome.plan_digest,
        status=_STATUSES[outcome.status],
        fill_count=outcome.fill_count,
        pnl_vs_plan_quote=format(outcome.pnl_vs_plan, "f"),
        legs=outcome.legs,
        legs_short=outcome.legs_short,
        risk_gates=list(outcome.risk_gates),
        completed_unix_ms=outcome.completed_ms,
    )


ACK_HANDOVER_S = 0.05
"""How long a commit waits for its acknowledgement to be taken by gRPC before the plan executes."""
MAX_HANDSHAKE_FAILURES = 5
"""Consecutive TLS handshake failures after which the agent stops and says why."""
RENEWAL_POLL_S = 1.0
"""While a renewal is due and none has arrived, the certificate source is asked at most this often."""
IDLE_SWITCH_S = 2.0
"""A renewed certificate is switched to after a session's end; a stream without sessions for this long
is switched at once (the certificate must not expire on a quiet region)."""

Events = Callable[[dict[str, object]], None]


class CoordinatorTrustError(RuntimeError):
    """The coordinator cannot be trusted or reached over mutual TLS (foreign CA, expired certificate)."""


class JoinRefused(RuntimeError):
    """The coordinator refused this agent's join for a reason retrying cannot fix (e.g. its adapter is not
    registered or does not speak the region's IR): the message carries the coordinator's explanation."""


RECORDS_SINCE = IrVersion(major=1, minor=2, patch=0)
"""The IR version that added AgentRecord: below it, records stay on the agent's own event log."""
MAX_PENDING_RECORDS = 1000


def _is_tls_failure(detail: str) -> bool:
    text = detail.lower()
    return "handshake" in text or "certificate" in text or "ssl" in text


class AgentRunner:
    """Keeps one agent connected to its coordinator and answers its sessions."""

    def __init__(
        self,
        agent: EdgeAgent,
        target: str,
        certificates: Callable[[], CertificateBundle],
        reference_prices: Callable[[], dict[str, float]],
        *,
        server_name: str = "localhost",
        on_plan: Callable[[CommittedPlan], object] | None = None,
        before_session: Callable[[int], None] | None = None,
        before_close: Callable[[], None] | None = None,
        credential: Callable[[], str] | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        plan_store: PlanStateStore | None = None,
        identity: Ed25519PrivateKey | None = None,
        events: Events | None = None,
        adapter: tuple[str, str] = ("", ""),
    ) -> None:
        self.agent = agent
        self.adapter = adapter
        """(name, version) of the venue adapter, named at join for the coordinator's registry check."""
        self.ir_version: IrVersion | None = None
        """The IR version negotiated on the current stream (from the coordinator's Welcome; None: not told,
        i.e. a coordinator older than IR 1.2, which takes no AgentRecord)."""
        self._records: list[tuple[int, bytes]] = []
        self.identity = identity if identity is not None else Ed25519PrivateKey.generate()
        """The agent's Ed25519 identity key: it signs every session key (``registry.pki.announcements``);
        its binding to the SPIFFE identity is signed by the current certificate's key."""
        self._binding: tuple[CertificateBundle, bytes, bytes] | None = None
        self._session_key = b""
        self._authenticated = ""
        """The session whose key directory verified: masks are derived for no other."""
        self._identities = IdentityCache()
        self.target = target
        self.certificates = certificates
        self.reference_prices = reference_prices
        self.server_name = server_name
        self.on_plan = on_plan
        self.before_session = before_session
        self.before_close = before_close
        """Called after the last session, before the stream closes (e.g. wait for open executions)."""
        self.credential = credential
        self.plan_store = plan_store
        """Persists the delta-sync state and the last sequence seen (restored by the caller beforehand)."""
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.stats = AgentStats()
        self.stop = threading.Event()
        self.events: Events = events or (lambda event: None)
        """Operator events (``connected``, ``handshake_failed``): JSON-ready, no key material."""
        self._bundle: CertificateBundle | None = None
        """The certificate of the current (or last) connection."""
        self._next: CertificateBundle | None = None
        """A renewed certificate, used for the next connection (switched to between sessions)."""
        self._next_poll = 0.0
        self._poll_error = ""
        self._reason = "start"
        self._assets: tuple[str, ...] = ()
        self._session = ""
        self._last_vector: FloatArray | None = None
        self._renew = False
        self._in_session = False
        self._send_lock = threading.Lock()
        self._outbox: queue.Queue[cpb.AgentMessage | None] | None = None
        self._unsent: list[cpb.AgentMessage] = []
        self.round_deadline_ms = 0
        """The deadline (unix ms) of the round being answered, from its TimeRounds."""
        self._awaited: cpb.AgentMessage | None = None
        self._handed_over = threading.Event()

    def send_report(self, report: cpb.ExecutionReport) -> None:
        """Queue an execution report for the coordinator (thread-safe). Sent on the live stream, or right
        after the next Hello when none is up; a report in flight when a stream breaks is not resent."""
        message = cpb.AgentMessage(execution_report=self._signed_report(report))
        with self._send_lock:
            self.stats.reports += 1
            if self._outbox is None:
                self._unsent.append(message)
            else:
                self._outbox.put(message)

    def send_record(self, kind: int, body: bytes) -> None:
        """Queue an agent-signed ledger record (privacy spend, control action; thread-safe). Sent once
        the stream has negotiated IR >= 1.2; held (at most ``MAX_PENDING_RECORDS``) until then."""
        with self._send_lock:
            self._records.append((kind, body))
            if len(self._records) > MAX_PENDING_RECORDS:
                del self._records[0]
                log.warning("%s: dropped the oldest unsent ledger record", self.agent.venue_id)
        self._flush_records()

    def _flush_records(self) -> None:
        version = self.ir_version
        if version is None or version < RECORDS_SINCE:
            return
        with self._send_lock:
            if self._outbox is None or not self._records:
                return
            pending, self._records = self._records, []
            outbox = self._outbox
        certificate, binding = self._bound()
        for kind, body in pending:
            record = sign_record(
                self.agent.venue_id,
                kind,
                body,
                identity=self.identity,
                certificate=certificate,
                binding=binding,
            )
            outbox.put(cpb.AgentMessage(record=record))

    def _on_welcome(self, welcome: cpb.Welcome) -> None:
        """The coordinator's negotiated IR version: checked (same major, not above ours), then used."""
        told = IrVersion(
            major=welcome.ir_version.major, minor=welcome.ir_version.minor, patch=welcome.ir_version.patch
        )
        try:
            agreed = negotiate(CURRENT, told)
        except IncompatibleVersion as exc:
            raise ValueError(f"Welcome.ir_version: {exc}") from None
        if agreed != told:
            raise ValueError(f"Welcome.ir_version: {told} is above this agent's IR {CURRENT}")
        self.ir_version = agreed
        self._flush_records()

    def _signed_report(self, report: cpb.ExecutionReport) -> cpb.ExecutionReport:
        """The report signed by the identity key, with the proof binding that key to this venue's SVID
        (a restarted coordinator can check it without having seen a session key of ours)."""
        message = report_message(unsigned_report(report))
        certificate, binding = self._bound()
        signed = cpb.ExecutionReport()
        signed.CopyFrom(report)
        signed.signature = self.identity.sign(message)
        signed.identity_key = identity_public_bytes(self.identity)
        signed.certificate = certificate
        signed.identity_binding = binding
        return signed

    @property
    def last_sequence(self) -> int:
        """The highest plan sequence this agent has applied or acknowledged, across restarts."""
        seen = self.plan_store.last_seen if self.plan_store is not None else 0
        return max(self.agent.plan_state.sequence, seen)

    def info(self) -> VenueInfo:
        return VenueInfo(
            venue_id=self.agent.venue_id,
            lot_sizes=self.agent.lot_sizes(),
            reference_prices=self.reference_prices(),
            latency_budget_ms=self.agent.config.latency_budget_ms,
        )

    def run(self, *, max_sessions: int | None = None) -> AgentStats:
        """Connect, serve sessions, reconnect on failure until ``stop`` is set or enough sessions ran."""
        delays = self.backoff.delays(random.Random())  # noqa: S311 (jitter, not a secret)
        handshakes_failed = 0
        cause = ""
        while not self.stop.is_set():
            if max_sessions is not None and self.stats.sessions >= max_sessions:
                break
            try:
                self._stream(max_sessions)
                delays = self.backoff.delays(random.Random())  # noqa: S311 (jitter, not a secret)
                handshakes_failed = 0
                if self._renew:
                    continue
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                    log.error("coordinator refused %s: %s", self.agent.venue_id, exc)
                    raise
                if code == grpc.StatusCode.FAILED_PRECONDITION:
                    detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                    raise JoinRefused(
                        f"{self.agent.venue_id}: the coordinator refused the join: {detail}"
                    ) from exc
                detail = str(exc.details()) if isinstance(exc, grpc.Call) else str(exc)
                if _is_tls_failure(detail):
                    # Not a network blip: the coordinator's certificate is not from our CA, or ours (or
                    # its) has expired. Say which, back off, and stop after a few tries.
                    handshakes_failed += 1
                    if handshakes_failed in (1, MAX_HANDSHAKE_FAILURES):  # not one probe per retry
                        cause = self._diagnose()
                    log.warning(
                        "%s: TLS handshake with %s failed (%d in a row): %s (%s)",
                        self.agent.venue_id,
                        self.target,
                        handshakes_failed,
                        cause,
                        detail,
                    )
                    self.events(
                        {
                            "event": "handshake_failed",
                            "venue": self.agent.venue_id,
                            "failures": handshakes_failed,
                            "cause": cause,
                        }
                    )
                    if handshakes_failed >= MAX_HANDSHAKE_FAILURES:
                        raise CoordinatorTrustError(
                            f"{self.agent.venue_id}: {handshakes_failed} TLS handshakes with {self.target} "
                            f"failed: {cause}. Check that the coordinator's certificate is issued by the "
                            f"CA in --cert-dir and that both certificates are valid now ({detail})"
                        ) from exc
                else:
                    handshakes_failed = 0
                    log.info("%s: stream ended (%s); reconnecting", self.agent.venue_id, code)
                self._reason = "reconnect"
            if max_sessions is not None and self.stats.sessions >= max_sessions:
                break
            self.stop.wait(next(delays))
        return self.stats

    def _diagnose(self) -> str:
        """Why the last handshake failed (``registry.pki.diagnose``: our certificate, then the coordinator's,
        read with a plain TLS handshake)."""
        bundle = self._bundle
        if bundle is None:
            return "no certificate was presented"
        try:
            return diagnose_handshake(
                self.target,
                bundle,
                server_name=self.server_name,
                now=self.clock(),
                peer="the coordinator",
            )
        except Exception as exc:  # a diagnosis must never hide the failure it explains
            return f"no diagnosis ({type(exc).__name__}: {exc})"

    def _connect_bundle(self) -> CertificateBundle:
        """The certificate for a new connection: a renewal already fetched, else the source's current one
        (renewed first if due). Raises ``CertificateExpired`` (with the source's reason) rather than
        presenting an expired certificate that the coordinator would refuse in a loop."""
        bundle, self._next = self._next, None
        if bundle is None:
            bundle = self._bundle
            if bundle is None or bundle.renewal_due(self.clock()):
                bundle = self.certificates()
        if bundle.is_expired(self.clock()):
            raise CertificateExpired(
                f"{self.agent.venue_id}: the certificate source returned a certificate of "
                f"{bundle.spiffe_id.uri} that expired at {bundle.not_after.isoformat()}"
            )
        self._bundle = bundle
        return bundle

    def _current_bundle(self) -> CertificateBundle:
        """The current connection's certificate (no renewal: callers run on the stream's thread or the
        runtime's, which must not wait for the CA)."""
        bundle = self._bundle
        return bundle if bundle is not None else self._connect_bundle()

    def _poll_renewal(self, current: CertificateBundle) -> None:
        """While ``current`` is due for renewal, ask the source (at most every ``RENEWAL_POLL_S``) and keep
        a certificate it has not presented yet for the next connection."""
        if self._next is not None or not current.renewal_due(self.clock()):
            return
        if time.monotonic() < self._next_poll:
            return
        self._next_poll = time.monotonic() + RENEWAL_POLL_S
        try:
            latest = self.certificates()
        except Exception as exc:  # the current connection stays up; the next connect says why
            if not self._poll_error:  # once per run of failures (the source logs each attempt)
                log.warning("%s: no renewed certificate: %s", self.agent.venue_id, exc)
            self._poll_error = str(exc)
            return
        self._poll_error = ""
        if latest.fingerprint_sha256 != current.fingerprint_sha256 and not latest.is_expired(self.clock()):
            self._next = latest

    def _stream(self, max_sessions: int | None) -> None:
        self._renew = False
        bundle = self._connect_bundle()
        outbox: queue.Queue[cpb.AgentMessage | None] = queue.Queue()
        self.ir_version = None
        hello = wire.hello_message(
            self.info(),
            agent_did=did_key_from_public_key(self.identity.public_key()),
            last_sequence=self.last_sequence,
            credential=self.credential() if self.credential is not None else "",
            adapter=self.adapter[0],
            adapter_version=self.adapter[1],
        )
        outbox.put(cpb.AgentMessage(hello=hello))
        with self._send_lock:
            for unsent in self._unsent:
                outbox.put(unsent)
            self._unsent = []
            self._outbox = outbox
        graceful = False

        def requests() -> Iterator[cpb.AgentMessage]:
            while True:
                message = outbox.get()
                if message is None:
                    return
                yield message
                if message is self._awaited:
                    # gRPC asks for the next message once it has taken this one: it is on its way.
                    self._handed_over.set()

        with secure_channel(
            self.target, bundle, server_name=self.server_name, options=CLIENT_OPTIONS
        ) as channel:
            stub = cpb_grpc.CoordinatorStub(channel)
            responses = stub.RoundStream(requests())
            self.stats.connects += 1
            self.events(
                {
                    "event": "connected",
                    "venue": self.agent.venue_id,
                    "connects": self.stats.connects,
                    "reason": self._reason,
                    "certificate_serial": f"{bundle.serial_number:x}",
                    "certificate_not_after": bundle.not_after.isoformat(),
                }
            )
            self._reason = "reconnect"
            done = threading.Event()

            last_message = [time.monotonic()]

            def watchdog() -> None:
                # Fetch a renewal while sessions go on. The switch to it happens right after a session's
                # end (below); only a stream idle for IDLE_SWITCH_S (no sessions) is switched from here.
                while not done.wait(0.25):
                    if not self.stop.is_set():
                        self._poll_renewal(bundle)
                    idle = time.monotonic() - last_message[0] > IDLE_SWITCH_S
                    if self.stop.is_set() or (not self._in_session and idle and self._next is not None):
                        self._renew = not self.stop.is_set()
                        if self._renew:
                            self._reason = "renewal"
                        responses.cancel()  # type: ignore[no-untyped-call]
                        return

            threading.Thread(target=watchdog, daemon=True).start()
            switching = False
            try:
                for message in responses:
                    last_message[0] = time.monotonic()
                    reply = self._handle(message)
                    if reply is not None:
                        outbox.put(reply)
                    if message.WhichOneof("body") == "end":
                        if max_sessions is not None and self.stats.sessions >= max_sessions:
                            graceful = True
                            break
                        if self._next is not None:
                            # Between sessions (the coordinator pauses before the next one): hand over
                            # what is queued, half-close, reconnect with the renewed certificate.
                            self._renew = switching = True
                            self._reason = "renewal"
                            break
                    if self.stop.is_set():
                        break
            except grpc.RpcError:
                if not (self._renew or self.stop.is_set()):
                    raise
            finally:
                done.set()
                if graceful or switching:
                    self._close_gracefully(outbox, responses, settle=graceful)
                with self._send_lock:
                    self._outbox = None
                outbox.put(None)
                responses.cancel()  # type: ignore[no-untyped-call]

    def _close_gracefully(
        self,
        outbox: queue.Queue[cpb.AgentMessage | None],
        responses: grpc.CallIterator[cpb.CoordinatorMessage],
        *,
        settle: bool = True,
    ) -> None:
        """Last session done (``settle``: let pending work report first) or a switch to a renewed
        certificate: half-close, and let the server end the stream, so every queued message (execution
        reports) reaches the coordinator before the channel closes; later ones wait for the next stream."""
        if settle and self.before_close is not None:
            try:
                self.before_close()
            except Exception:
                log.exception("%s: before_close failed", self.agent.venue_id)
        with self._send_lock:
            self._outbox = None
        outbox.put(None)
        timer = threading.Timer(2.0, responses.cancel)
        timer.start()
        try:
            for _ in responses:
                pass
        except grpc.RpcError:
            pass
        finally:
            timer.cancel()

    # -- dispatch ------------------------------------------------------------------------------------

    def _handle(self, message: cpb.CoordinatorMessage) -> cpb.AgentMessage | None:
        body = message.WhichOneof("body")
        try:
            if body == "welcome":
                self._on_welcome(message.welcome)
                return None
            if body == "session_start":
                return self._on_start(message.session_start)
            if body == "keys":
                self._on_keys(message.keys)
                return None
            if body == "round_open":
                return self._on_round(message.round_open)
            if body == "remask":
                return self._on_remask(message.remask)
            if body == "adjust":
                return self._on_adjust(message.adjust)
            if body == "plan_commit":
                return self._on_commit(message.plan_commit)
            if body == "end":
                self._in_session = False
                self.stats.sessions += 1
                log.info(
                    "%s: session %s ended: %s",
                    self.agent.venue_id,
                    message.end.session_id,
                    message.end.reason,
                )
                return None
            if body == "error":
                self.stats.refused.append(message.error.message)
                log.warning(
                    "%s: coordinator refused a message: %s", self.agent.venue_id, message.error.message
                )
                return None
        except (ParticipantError, SecAggError, EnergiBridgeError, ValueError) as exc:
            log.warning("%s: refusing %s: %s", self.agent.venue_id, body, exc)
            self.stats.refused.append(str(exc))
            return cpb.AgentMessage(error=cpb.ErrorReply(code="REFUSED", message=str(exc), field=body or ""))
        return None

    def _on_start(self, start: cpb.SessionStart) -> cpb.AgentMessage:
        if self.agent.venue_id not in start.members:
            raise ValueError(f"session {start.session_id!r} does not list this venue")
        self._session = start.session_id
        self._in_session = True
        self._assets = tuple(start.assets)
        if start.cold:
            self.agent.forget_warm_start()
        if self.before_session is not None:
            self.before_session(self.stats.sessions)
        key = self.agent.start_session(start.session_id, self._assets, secure=True)
        assert key is not None
        self._session_key = key
        self._authenticated = ""
        certificate, binding = self._bound()
        current = self.reference_prices()
        return cpb.AgentMessage(
            session_key=cpb.SessionKey(
                session_id=start.session_id,
                x25519_public_key=key,
                reference_prices=[current.get(a, 0.0) for a in self._assets],
                hedge=self.agent.bringing_targets,
                signature=self.identity.sign(
                    announcement_payload(start.session_id, self.agent.venue_id, key)
                ),
                identity_key=identity_public_bytes(self.identity),
                certificate=certificate,
                identity_binding=binding,
            )
        )

    def _bound(self) -> tuple[bytes, bytes]:
        """The current certificate (DER) and its key's signature binding the identity key to it."""
        bundle = self._current_bundle()
        if self._binding is None or self._binding[0] is not bundle:
            self._binding = (bundle, *bind_identity(bundle, self.identity))
        return self._binding[1], self._binding[2]

    def _on_keys(self, keys: cpb.KeyDirectory) -> None:
        """Verify every entry of the directory before deriving a single mask; refuse the session if any
        entry is not what its venue announced, or if ours is not our own key (a coordinator that
        substituted, forged or replayed a key learns nothing: no masked vector is sent)."""
        if keys.session_id != self._session:
            raise ValueError(f"KeyDirectory for session {keys.session_id!r}, current is {self._session!r}")
        columns = (
            keys.x25519_public_keys,
            keys.signatures,
            keys.identity_keys,
            keys.certificates,
            keys.identity_bindings,
        )
        if any(len(column) != len(keys.venue_ids) for column in columns):
            raise KeyAgreementError("KeyDirectory: the columns are not aligned with venue_ids")
        entries = [
            SignedKey(venue, bytes(key), bytes(sig), bytes(identity), bytes(cert), bytes(binding))
            for venue, key, sig, identity, cert, binding in zip(keys.venue_ids, *columns, strict=True)
        ]
        bundle = self._current_bundle()
        directory = verify_directory(
            keys.session_id,
            entries,
            ca_pem=bundle.ca_pem,
            region=bundle.spiffe_id.region,
            now=self.clock(),
            cache=self._identities,
        )
        if directory.get(self.agent.venue_id) != self._session_key:
            raise KeyAgreementError(
                f"KeyDirectory: this venue's entry is missing or not the key it announced for "
                f"{keys.session_id!r}"
            )
        self.agent.set_peers(directory)
        self._authenticated = keys.session_id

    def _masked(
        self, secagg_round: int, mask_set: list[str], vector: FloatArray, round_id: int
    ) -> cpb.AgentMessage:
        if self._authenticated != self._session:
            raise KeyAgreementError(
                f"session {self._session!r}: no verified key directory, so nothing is masked or sent"
            )
        words = self.agent.mask(secagg_round, mask_set, vector)
        return cpb.AgentMessage(
            contribution=cpb.MaskedContribution(
                session_id=self._session, round_id=round_id, masked=words, secagg_round_id=secagg_round
            )
        )

    def _on_round(self, open_: cpb.RoundOpen) -> cpb.AgentMessage:
        if open_.signals.session_id != self._session:
            raise ValueError(f"round for session {open_.signals.session_id!r}, current is {self._session!r}")
        # TimeRounds: the round's deadline (unix ms, 0 from a coordinator that does not send one); an
        # answer past it is still sent (it may be accepted as a straggler) but the agent says so.
        self.round_deadline_ms = int(open_.round.deadline_unix_ms)
        if open_.phase == cpb.ROUND_PHASE_ROUNDING:
            rounded = self.agent.round_plan()
            vector = np.zeros(Layout(len(self._assets)).size)
            vector[: len(rounded)] = rounded
        elif open_.phase == cpb.ROUND_PHASE_ITERATE:
            vector = self.agent.answer_round(wire.broadcast_from(open_, self._assets))
            self.stats.rounds += 1
        else:
            raise ValueError(f"RoundOpen.phase: unknown phase {open_.phase}")
        self._last_vector = vector
        if self.round_deadline_ms and time.time() * 1000 > self.round_deadline_ms:
            log.warning(
                "%s: round %s answered after its deadline", self.agent.venue_id, open_.signals.round_id
            )
        return self._masked(open_.secagg_round_id, list(open_.mask_set), vector, open_.signals.round_id)

    def _on_remask(self, remask: cpb.Remask) -> cpb.AgentMessage:
        if remask.session_id != self._session or self._last_vector is None:
            raise ValueError("Remask for a session or round this agent did not answer")
        return self._masked(remask.secagg_round_id, list(remask.mask_set), self._last_vector, remask.round_id)

    def _on_adjust(self, adjust: cpb.Adjust) -> cpb.AgentMessage:
        if adjust.abandon:
            self.agent.abandon_asset(adjust.asset)
            return cpb.AgentMessage(
                adjust_reply=cpb.AdjustReply(session_id=self._session, asset=adjust.asset)
            )
        try:
            amount = Decimal(adjust.amount)
        except InvalidOperation:
            raise ValueError(f"Adjust.amount: expected a decimal, got {adjust.amount!r}") from None
        if not amount.is_finite():
            raise ValueError(f"Adjust.amount: must be finite, got {adjust.amount!r}")
        ok, cost = self.agent.consider(Assignment(self.agent.venue_id, adjust.asset, amount))
        return cpb.AgentMessage(
            adjust_reply=cpb.AdjustReply(
                session_id=self._session, asset=adjust.asset, accepted=ok, cost_delta=cost
            )
        )

    def _on_commit(self, commit: cpb.PlanCommit) -> cpb.AgentMessage | None:
        if commit.sequence <= self.last_sequence:
            # Already seen (a coordinator restarted and resent, or reused a sequence): never commit a plan
            # twice, never accept an older one.
            return cpb.AgentMessage(
                ack=cpb.PlanAck(
                    session_id=commit.session_id,
                    venue_id=self.agent.venue_id,
                    sequence=commit.sequence,
                    empty=True,
                )
            )
        plan = self.agent.commit(
            commit.session_id, commit.sequence, int(commit.now_unix_ms) or int(time.time() * 1000)
        )
        if self.plan_store is not None:
            # Write-ahead: durable before any order of the plan leaves and before the acknowledgement.
            self.plan_store.save(self.agent.plan_state, commit.sequence)
        if plan is None:
            return cpb.AgentMessage(
                ack=cpb.PlanAck(
                    session_id=commit.session_id,
                    venue_id=self.agent.venue_id,
                    sequence=commit.sequence,
                    empty=True,
                )
            )
        self.stats.plans.append(plan)
        signature = self.identity.sign(
            ack_message(
                commit.session_id,
                self.agent.venue_id,
                plan.delta.sequence,
                plan.state_commitment,
                plan.plan_commitment,
            )
        )
        ack = cpb.AgentMessage(
            ack=cpb.PlanAck(
                session_id=commit.session_id,
                venue_id=self.agent.venue_id,
                sequence=plan.delta.sequence,
                state_hash=plan.state_commitment,
                plan_digest=plan.plan_commitment,
                signature=signature,
            )
        )
        if self.on_plan is None:
            return ack
        # The plan is durable (saved above), so the acknowledgement leaves first and execution follows:
        # the coordinator's commit then waits one round trip, not for the orders (measured: 30-60 ms).
        with self._send_lock:
            outbox = self._outbox
        if outbox is not None:
            # Wait (briefly) until gRPC has taken it: execution is CPU-bound Python and would otherwise
            # hold the interpreter while the acknowledgement waits in the queue.
            self._awaited = ack
            self._handed_over.clear()
            outbox.put(ack)
            self._handed_over.wait(ACK_HANDOVER_S)
            self._awaited = None
        try:
            self.on_plan(plan)
        except Exception:  # execution trouble must not keep the commit from being acknowledged
            log.exception("%s: on_plan failed for plan %s", self.agent.venue_id, plan.delta.sequence)
        return ack if outbox is None else None
