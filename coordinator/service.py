"""The running coordinator, composed: mTLS server -> hub -> session loop -> ledger, crash-only.

``CoordinatorService`` is what ``arbsphere coordinator serve`` starts (the CLI only parses arguments and
calls it). A session that cannot finish (a member killed mid-session, a malformed key, too few members left
to mask, an agent away longer than the join timeout, any error of the session itself) ends as a recorded
outcome, never as a process exit: ``session_abandoned`` (RISK_HALT) on the ledger with its reason, a
``SessionEnd`` to its members, and the loop goes on to the next session once a quorum is connected.
Abandoned sessions do not count towards ``sessions``; with ``sessions == 0`` the service runs until
stopped, waiting for a quorum whenever agents come and go.

Write-ahead: the session driver makes each plan durable on the ledger (``plan_intent``) before PlanCommit
goes out; at start the service reads the ledger back, so its plan sequence continues above every sequence
ever committed (a full restart never reuses a (venue, sequence)) and execution reports of plans committed
before a restart are still matched and recorded.

Members that stay silent (no session key in time) or send a malformed one are evicted: their stream is
ended and the rest of the region carries on; an honest agent simply reconnects and joins a later session.

Events for the operator go to ``emit`` as JSON-ready dicts (the CLI prints them as JSON lines).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from coordinator.admission import AdapterGate
from coordinator.agent_records import AgentRecords
from coordinator.audit import LedgerAudit
from coordinator.engine.strategy import SessionError
from coordinator.grpc_server import (
    FIRST_MESSAGE_TIMEOUT_S,
    MAX_CONCURRENT_RPCS,
    MAX_PLANS_KEPT,
    MAX_STREAMS_PER_IDENTITY,
    CommittedPlan,
    Connection,
    ExecutionReports,
    GrpcLink,
    Hub,
    RunningServer,
    last_sequence,
    serve,
    venues_of,
)
from coordinator.session import RoundTiming, SessionDriver, SessionResult
from energibridge.errors import EnergiBridgeError
from energibridge.protocol.messages import RoundSummary
from energibridge.protocol.venue import VenueInfo
from energibridge.secagg import SecAggError
from energibridge.version import CURRENT
from registry.events.logs import bind
from registry.ledger import Ed25519Signer, Ledger, NoteSigner
from registry.pki.renewal import CertificateSource, renewal_record
from registry.pki.store import write_secret_file

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, object]], None]
QUORUM = 2
"""Secure aggregation needs at least two members: the smallest region that can run a session."""
MAX_REASON_CHARS = 300
MAX_BACKOFF_S = 5.0
QUARANTINE_BASE_S = 5.0
QUARANTINE_MAX_S = 300.0
"""A member evicted for silence sits out sessions for 5 s, doubling per repeat, at most 5 min."""


def _redacted(url: str) -> str:
    """A database URL as it may be printed: any password replaced."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def _bound(result: SessionResult) -> dict[str, float]:
    """The certified upper bound on the session's optimal profit: the continuous plan's profit plus the
    last round's certified gap (absent when the session did not converge: there is no certificate)."""
    if not result.converged or not result.summaries:
        return {}
    return {"bound": round(result.continuous_profit + max(result.summaries[-1].gap, 0.0), 6)}


def load_or_create_log_key(path: Path, name: str) -> NoteSigner:
    """The ledger's signing key: loaded from ``path``, or generated from the OS CSPRNG and saved 0600."""
    if path.exists():
        return NoteSigner.parse(path.read_text())
    signer = NoteSigner.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_secret_file(path, signer.to_skey().encode())
    return signer


def entry_key_path(log_key_file: Path) -> Path:
    """Where the coordinator's entry-signing identity lives: beside the ledger's log key."""
    return log_key_file.with_name(log_key_file.stem + ".identity" + (log_key_file.suffix or ".key"))


def load_or_create_entry_signer(path: Path) -> Ed25519Signer:
    """The coordinator's identity on the ledger (the DID its entries are signed by): a 32-byte seed kept
    0600 at ``path``, so a restarted coordinator signs as the same identity (one ledger used to show a
    fresh identity per start)."""
    if path.exists():
        return Ed25519Signer.from_seed(path.read_bytes())
    signer = Ed25519Signer.generate()
    seed = signer.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_secret_file(path, seed)
    return signer


@dataclass(frozen=True)
class CoordinatorSettings:
    """Everything ``coordinator serve`` is told; defaults are the CLI's."""

    cert_dir: Path
    region: str
    host: str = "127.0.0.1"
    port: int = 0
    port_file: Path | None = None
    expect: int = 2
    sessions: int = 1
    interval: float = 0.5
    join_timeout: float = 60.0
    strategy: str = "price"
    round_timeout: float = 2.0
    reply_timeout: float = 5.0
    ledger_url: str = "sqlite:///var/ledger.sqlite"
    log_key_file: Path = Path("var/ledger-log.key")
    progress: bool = True
    report_timeout: float = 2.0
    trusted_issuers: tuple[str, ...] = ()
    latency_floor_ms: int = 250
    latency_ceiling_ms: int = 60_000
    first_message_timeout: float = FIRST_MESSAGE_TIMEOUT_S
    max_streams_per_identity: int = MAX_STREAMS_PER_IDENTITY
    max_concurrent_rpcs: int = MAX_CONCURRENT_RPCS
    ca_url: str | None = None
    """The region's CA service (``arbsphere pki serve``): the server certificate is renewed from it at two
    thirds of its ttl and written back to ``cert_dir``; None: ``cert_dir`` is re-read (``--ca-url``)."""
    registry_url: str | None = None
    """Adapter registry consulted at every join (``--registry``); None: no check."""

    def check(self) -> None:
        """Refuse settings that cannot run, naming the flag."""
        if not 0 < self.latency_floor_ms <= self.latency_ceiling_ms:
            raise ValueError(
                f"--latency-floor-ms/--latency-ceiling-ms: expected 0 < floor <= ceiling, got "
                f"{self.latency_floor_ms} and {self.latency_ceiling_ms}"
            )
        for name in ("join_timeout", "round_timeout", "reply_timeout", "first_message_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')}: expected > 0, got {getattr(self, name)}")
        if self.sessions < 0 or self.expect < 0:
            raise ValueError("--sessions and --expect must be >= 0")
        if self.max_streams_per_identity < 1 or self.max_concurrent_rpcs < 1:
            raise ValueError("--max-streams-per-identity and --max-concurrent-rpcs must be >= 1")


@dataclass
class Recovered:
    """What the ledger says this region already committed (read back at start)."""

    sequence: int = 0
    plans: dict[tuple[str, int], CommittedPlan] = field(default_factory=dict)
    reported: set[tuple[str, int]] = field(default_factory=set)


def _payloads(ledger: Ledger, kind: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    after: int | None = None
    while True:
        entries = ledger.query(kind=kind, after_index=after, limit=10_000)
        for entry in entries:
            try:
                body = json.loads(entry.payload)
            except ValueError:
                continue
            if isinstance(body, dict):
                out.append(body)
        if len(entries) < 10_000:
            return out
        after = entries[-1].index


def recover(ledger: Ledger, *, keep: int = MAX_PLANS_KEPT) -> Recovered:
    """The highest plan sequence on the ledger and the recent committed plans, for a restarted coordinator."""
    state = Recovered()
    intents: list[tuple[str, int, list[str]]] = []
    digests: dict[tuple[str, int], bytes] = {}
    for body in _payloads(ledger, "PLAN_COMMITTED"):
        sequence = body.get("sequence")
        if not isinstance(sequence, int):
            continue
        state.sequence = max(state.sequence, sequence)
        if body.get("event") == "plan_intent":
            members = body.get("members")
            session = body.get("session")
            if isinstance(members, list) and isinstance(session, str):
                intents.append((session, sequence, [str(m) for m in members]))
        elif body.get("event") == "plan_committed":
            try:
                digests[(str(body["subject"]), sequence)] = bytes.fromhex(str(body["plan_digest"]))
            except (KeyError, ValueError):
                continue
    for session, sequence, members in intents[-keep:]:
        for venue in members:
            state.plans[(venue, sequence)] = CommittedPlan(session, digests.get((venue, sequence)))
    for body in _payloads(ledger, "EXECUTION_REPORT"):
        if isinstance(body.get("sequence"), int):
            key = (str(body.get("subject")), int(body["sequence"]))  # type: ignore[call-overload]
            if key in state.plans:
                state.reported.add(key)
    return state


class CoordinatorService:
    """One region's coordinator process: serve, run sessions, record everything, never exit on a session."""

    def __init__(self, settings: CoordinatorSettings, emit: Emit) -> None:
        settings.check()
        self.settings = settings
        self.emit = emit
        self.stopping = False
        self.completed = 0
        self.abandoned = 0
        self._members: dict[str, Connection] = {}
        """Connections last recorded as joined (JOIN/LEAVE entries are written at session boundaries)."""
        self._leave_reasons: dict[str, str] = {}
        self._certificates: CertificateSource | None = None
        self._audit: LedgerAudit | None = None
        self._leg_outs_seen = 0
        self._strikes: dict[str, int] = {}
        self._quarantine: dict[str, float] = {}

    # -- composition -------------------------------------------------------------------------------

    def run(self) -> int:
        s = self.settings
        if s.ledger_url.startswith("sqlite:///"):
            Path(s.ledger_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._certificates = CertificateSource(
            s.cert_dir,
            ca_url=s.ca_url,
            on_failure=lambda reason, retry_s: self.emit(
                {"event": "certificate_renewal_failed", "reason": reason, "retry_in_s": round(retry_s, 1)}
            ),
        )
        bundle = self._certificates.get()
        ledger = Ledger.open(
            s.ledger_url, load_or_create_log_key(s.log_key_file, f"arbsphere.{s.region}.log")
        )
        gate: AdapterGate | None = None
        try:
            audit = self._audit = LedgerAudit(
                ledger, load_or_create_entry_signer(entry_key_path(s.log_key_file))
            )
            recovered = recover(ledger)
            bounds = (s.latency_floor_ms, s.latency_ceiling_ms)
            gate = AdapterGate(s.registry_url, audit) if s.registry_url is not None else None
            server = serve(
                bundle,
                region=s.region,
                host=s.host,
                port=s.port,
                trusted_issuers=s.trusted_issuers,
                maximum_concurrent_rpcs=s.max_concurrent_rpcs,
                max_streams_per_identity=s.max_streams_per_identity,
                first_message_timeout_s=s.first_message_timeout,
                latency_bounds_ms=bounds,
                admission=gate.admit if gate is not None else None,
            )
        except BaseException:
            if gate is not None:
                gate.close()
            ledger.close()
            raise
        rotating = threading.Event()
        threading.Thread(
            target=self._rotate_certificates,
            args=(server, rotating),
            name="certificate-rotation",
            daemon=True,
        ).start()
        try:
            if s.port_file is not None:
                s.port_file.write_text(str(server.port))
            self.emit(
                {
                    "event": "listening",
                    "host": s.host,
                    "port": server.port,
                    "region": s.region,
                    "bounds": dict(bounds_of(s)),
                    "ir_version": str(CURRENT),
                    "registry": (
                        {"url": _redacted(gate.url), "adapters": gate.registered}
                        if gate is not None
                        else "off: agents' adapters are not checked at join"
                    ),
                }
            )
            if recovered.sequence:
                self.emit(
                    {"event": "recovered", "sequence": recovered.sequence, "plans": len(recovered.plans)}
                )
            self._serve(server, ledger, audit, recovered)
            self._records.drain()
            audit.flush()
            self.emit({"event": "checkpoint", "note": ledger.checkpoint().note})
        finally:
            rotating.set()
            server.stop()
            if gate is not None:
                gate.close()
            ledger.close()
        return 0

    def _serve(self, server: RunningServer, ledger: Ledger, audit: LedgerAudit, recovered: Recovered) -> None:
        s = self.settings
        hub = server.hub
        link = GrpcLink(hub, round_timeout_s=s.round_timeout, reply_timeout_s=s.reply_timeout)
        driver = SessionDriver(
            link,
            {},
            strategy=s.strategy,
            audit=audit,
            on_round=self._on_round,
            latency_bounds_ms=(s.latency_floor_ms, s.latency_ceiling_ms),
        )
        driver.sequence = recovered.sequence
        reports = ExecutionReports(hub, audit)
        self._records = AgentRecords(hub, audit)
        reports.committed.update(recovered.plans)
        reports.recorded.update(recovered.reported)
        self._wait(server, max(s.expect, QUORUM), s.join_timeout)
        attempt = 0
        failures = 0
        while not self.stopping and (s.sessions == 0 or self.completed < s.sessions):
            self._rotate_certificate(server)
            self._record_membership(server, audit)
            if len(hub.connected()) < QUORUM and not self._wait(server, QUORUM, s.join_timeout):
                continue
            attempt += 1
            session_id = f"{s.region}-{int(time.time() * 1000)}-{attempt}"
            bind(session=session_id)  # every log line of this session carries its id
            driver.venues = self._members_now(hub)
            driver.sequence = max(driver.sequence, last_sequence(hub))
            reports.drain()  # reports that came in between sessions are matched and recorded first
            self._records.drain()
            self._leg_outs_seen = reports.leg_outs
            try:
                result = driver.run(session_id)
            except Exception as exc:
                self._abandon(server, driver, audit, session_id, exc)
                failures += 1
            else:
                self._finish(server, ledger, audit, reports, result)
                self._answered(result)
                failures = 0
            self._evict_silent(server, link, link.dropped())
            if s.sessions == 0 or self.completed < s.sessions:
                self._pause(reports, min(s.interval * (2**failures), max(s.interval, MAX_BACKOFF_S)))

    def _pause(self, reports: ExecutionReports, seconds: float) -> None:
        """Wait between sessions, recording reports as they come; a LEG_OUT ends the wait at once, so the
        hedge session that takes the residual over starts right away instead of after the interval."""
        deadline = time.monotonic() + seconds
        while not self.stopping:
            if reports.leg_outs != self._leg_outs_seen:
                new = reports.leg_outs - self._leg_outs_seen
                self.emit({"event": "leg_out", "reports": new, "next": "hedge session"})
                return
            if time.monotonic() >= deadline:
                return
            reports.drain(min(0.05, max(deadline - time.monotonic(), 0.0)))
            self._records.drain()
            time.sleep(0.01)

    # -- one session -------------------------------------------------------------------------------

    def _on_round(self, summary: RoundSummary, timing: RoundTiming) -> None:
        """Per round, what an operator can act on: the imbalance in lots and the certified gap. An
        unbalanced iterate's "profit" swings by millions while a small plan converges, so it is shown
        only once the round is balanced and certified (the committed plan's profit is in ``session``)."""
        if self.settings.progress:
            event: dict[str, object] = {
                "event": "round",
                "round": summary.round_id,
                "responders": summary.responders,
                "imbalance_lots": round(summary.max_imbalance_lots, 6),
                "gap": round(summary.gap, 6),
                "gather_ms": round(timing.gather_s * 1e3, 3),
                "merge_ms": round(timing.merge_s * 1e3, 4),
            }
            if summary.converged:
                event["profit"] = round(summary.profit, 6)
            self.emit(event)

    def _finish(
        self,
        server: RunningServer,
        ledger: Ledger,
        audit: LedgerAudit,
        reports: ExecutionReports,
        result: SessionResult,
    ) -> None:
        reports.expect(result.session_id, result.acks)
        pending = [(a.venue_id, a.sequence) for a in result.acks]
        recorded = reports.drain(self.settings.report_timeout, until=pending)
        self._records.drain()
        flushed = time.perf_counter()
        audit.flush()
        append_ms = (time.perf_counter() - flushed) * 1e3
        checkpoint = ledger.checkpoint()
        self.completed += 1
        self.emit(
            {
                "event": "session",
                "session": result.session_id,
                "strategy": result.strategy,
                "rounds": result.rounds,
                "converged": result.converged,
                "profit": result.profit,
                "elapsed_ms": round(result.elapsed_s * 1e3, 2),
                "participants": list(result.participants),
                "dropped": list(result.dropped),
                "sequence": result.sequence,
                "committed": [a.venue_id for a in result.acks],
                "hedge": list(result.hedging),
                "execution_reports": recorded,
                "ledger_size": checkpoint.size,
                "ledger_root": checkpoint.root_hash.hex(),
                "ledger_append_ms": round(append_ms, 3),
                **_bound(result),
            }
        )

    def _abandon(
        self,
        server: RunningServer,
        driver: SessionDriver,
        audit: LedgerAudit,
        session_id: str,
        exc: Exception,
    ) -> None:
        """Record a session that could not finish and tell its members; the process carries on."""
        self.abandoned += 1
        reason = f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]
        log.warning("session %s abandoned: %s", session_id, reason, exc_info=not _expected(exc))
        members = sorted(driver.venues)
        driver.warm = None
        try:
            driver.link.finish(session_id, members, f"abandoned: {reason}")
        except Exception:
            log.exception("could not end session %s at its members", session_id)
        try:
            audit.record(
                "session_abandoned",
                session_id,
                {"session": session_id, "reason": reason, "members": members, "sequence": driver.sequence},
            )
            audit.flush()
        except Exception:
            log.exception("could not record the abandoned session %s", session_id)
        self.emit(
            {
                "event": "abandoned",
                "session": session_id,
                "reason": reason,
                "members": members,
                "connected": sorted(server.hub.connected()),
            }
        )

    def _evict_silent(self, server: RunningServer, link: GrpcLink, dropped: tuple[str, ...]) -> None:
        """End the streams of members that stayed silent (no key, or dropped for missed deadlines) or
        sent a malformed key: a member that joins and then says nothing costs one session, not every one."""
        evictions = {v: "silent: missed the round deadlines" for v in dropped}
        evictions.update({v: "silent: no session key in time" for v in link.silent})
        evictions.update({v: f"refused: {why}"[:MAX_REASON_CHARS] for v, why in link.refused.items()})
        now = time.monotonic()
        for venue, reason in sorted(evictions.items()):
            # A member that comes back and goes silent again sits out sessions for a while, doubling
            # each time (up to QUARANTINE_MAX_S): reconnecting cannot make it cost every session.
            strikes = self._strikes.get(venue, 0) + 1
            self._strikes[venue] = strikes
            wait = min(QUARANTINE_BASE_S * 2 ** (strikes - 1), QUARANTINE_MAX_S)
            self._quarantine[venue] = now + wait
            if server.hub.evict(venue, reason):
                self._leave_reasons[venue] = f"evicted: {reason}"
                self.emit({"event": "evicted", "venue": venue, "reason": reason, "sits_out_s": wait})

    def _members_now(self, hub: Hub) -> dict[str, VenueInfo]:
        """The connected members this session invites: quarantined ones sit out while enough remain."""
        now = time.monotonic()
        connected = dict(venues_of(hub))
        invited = {v: i for v, i in connected.items() if self._quarantine.get(v, 0.0) <= now}
        return invited if len(invited) >= QUORUM else connected

    def _answered(self, result: SessionResult) -> None:
        """Members that answered a whole session are in good standing again."""
        for venue in result.participants:
            self._strikes.pop(venue, None)
            self._quarantine.pop(venue, None)

    # -- membership, quorum, certificates -----------------------------------------------------------

    def _wait(self, server: RunningServer, count: int, timeout_s: float) -> bool:
        try:
            server.hub.wait_for(count, timeout_s)
            return True
        except TimeoutError:
            connected = sorted(server.hub.connected())
            if len(connected) >= QUORUM:
                return True
            self.emit({"event": "waiting", "connected": connected, "quorum": QUORUM})
            return False

    def _record_membership(self, server: RunningServer, audit: LedgerAudit) -> None:
        """JOIN for every stream that joined since the last session, LEAVE for every one that is gone."""
        current = server.hub.connected()
        for venue, connection in sorted(current.items()):
            if self._members.get(venue) is not connection:
                audit.record(
                    "join",
                    venue,
                    {
                        "region": self.settings.region,
                        "agent_did": connection.agent_did,
                        "credential_id": connection.credential_id,
                        "ir_version": str(connection.ir_version),
                        "adapter": connection.adapter,
                        "adapter_version": connection.adapter_version,
                        "certificate": connection.certificate,
                    },
                )
        for venue in sorted(set(self._members) - set(current)):
            reason = self._leave_reasons.pop(venue, "disconnected")
            audit.record("leave", venue, {"region": self.settings.region, "reason": reason})
        self._members = dict(current)

    def _rotate_certificates(self, server: RunningServer, stop: threading.Event) -> None:
        """Until ``stop``: rotate the server certificate as soon as a renewal is in (checked every second),
        whatever the sessions are doing."""
        while not stop.wait(1.0):
            try:
                self._rotate_certificate(server)
            except Exception:  # the rotation thread must outlive any one failure
                log.exception("certificate rotation failed")

    def _rotate_certificate(self, server: RunningServer) -> None:
        """Serve a renewed certificate (from the CA service, or replaced in ``cert_dir`` by the operator)
        to every handshake from now on (``grpc.dynamic_ssl_server_credentials``): established streams keep
        their TLS session, so no session is dropped."""
        source = self._certificates
        if source is None or not source.refresh():
            return
        bundle = source.current
        server.credentials.rotate(bundle)
        self.emit({"event": "certificate_rotated", **renewal_record(bundle, source)})
        audit = self._audit
        if audit is not None:  # the coordinator's own renewal: the ledger names each certificate it served
            audit.record(
                "certificate_issued",
                bundle.spiffe_id.uri,
                {"region": self.settings.region, "from": "ca" if source.ca_target else "cert_dir",
                 **bundle.issuance_record()},
            )  # fmt: skip


def _expected(exc: Exception) -> bool:
    """Failures a hostile or departed agent can cause by design (logged without a traceback)."""
    return isinstance(exc, SessionError | SecAggError | EnergiBridgeError | TimeoutError)


def bounds_of(settings: CoordinatorSettings) -> Mapping[str, object]:
    """The bounds in force (printed at start so an operator sees what one agent can and cannot do)."""
    return {
        "latency_floor_ms": settings.latency_floor_ms,
        "latency_ceiling_ms": settings.latency_ceiling_ms,
        "first_message_timeout_s": settings.first_message_timeout,
        "max_streams_per_identity": settings.max_streams_per_identity,
        "max_concurrent_rpcs": settings.max_concurrent_rpcs,
    }
