"""The real agent code (``AgentRunner``) against a coordinator that tampers with the key directory.

Three agents of one region start a session; the coordinator builds the directory from their signed session
keys. Honest, every agent accepts it and answers with a masked vector. Each attack (a substituted key, a
forged entry signed and bound with the coordinator's own certificate, one from a foreign CA, a key
replayed from another session, keys swapped between venues, the agent's own entry dropped or replaced) is
refused by every agent the attack touches: it replies REFUSED and sends no masked vector in that session,
so the coordinator learns nothing. A pure reordering of whole entries is harmless and accepted.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agents.grpc_client import AgentRunner
from arbsphere.simulation import build_region
from energibridge.secagg import generate_private_key, public_key_bytes
from energibridge.secagg.keys import announcement_payload
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import ir_pb2
from registry.pki import DevCertificateAuthority
from registry.pki.announcements import bind_identity, identity_public_bytes

REGION = "evil"
Directory = list[tuple[str, bytes, bytes, bytes, bytes, bytes]]
"""Rows of the directory: venue, x25519 key, signature, identity key, certificate, binding."""


class Region:
    def __init__(self, tmp: object) -> None:
        self.ca = DevCertificateAuthority.create(tmp / "ca", REGION)  # type: ignore[operator]
        _scenario, agents, infos = build_region(3, 7, latency_budget_ms=600_000)
        self.venues = sorted(agents)
        self.runners = {
            v: AgentRunner(
                agents[v],
                "127.0.0.1:1",
                lambda v=v: self.ca.issue_agent(v),  # type: ignore[misc]
                lambda v=v: dict(infos[v].reference_prices),  # type: ignore[misc]
            )
            for v in self.venues
        }
        self.assets = sorted({a for info in infos.values() for a in info.lot_sizes})

    def start(self, session: str) -> Directory:
        start = cpb.CoordinatorMessage(
            session_start=cpb.SessionStart(session_id=session, assets=self.assets, members=self.venues)
        )
        rows: Directory = []
        for venue in self.venues:
            reply = self.runners[venue]._handle(start)
            assert reply is not None and reply.WhichOneof("body") == "session_key", reply
            k = reply.session_key
            rows.append(
                (venue, k.x25519_public_key, k.signature, k.identity_key, k.certificate, k.identity_binding)
            )
        return rows

    def deliver(self, session: str, rows: Directory) -> dict[str, str]:
        """Send the directory and then a rounding round; what each agent did: 'masked' or its refusal."""
        directory = cpb.CoordinatorMessage(
            keys=cpb.KeyDirectory(
                session_id=session,
                venue_ids=[r[0] for r in rows],
                x25519_public_keys=[r[1] for r in rows],
                signatures=[r[2] for r in rows],
                identity_keys=[r[3] for r in rows],
                certificates=[r[4] for r in rows],
                identity_bindings=[r[5] for r in rows],
            )
        )
        round_open = cpb.CoordinatorMessage(
            round_open=cpb.RoundOpen(
                signals=ir_pb2.SharedSignals(session_id=session, round_id=1),
                mask_set=self.venues,
                phase=cpb.ROUND_PHASE_ROUNDING,
                secagg_round_id=1,
            )
        )
        outcome: dict[str, str] = {}
        for venue in self.venues:
            runner = self.runners[venue]
            refusal = runner._handle(directory)
            answer = runner._handle(round_open)
            assert answer is not None
            if answer.WhichOneof("body") == "contribution":
                outcome[venue] = "masked" if refusal is None else "masked after refusing the directory!"
            else:
                assert answer.WhichOneof("body") == "error"
                first = refusal.error.message if refusal is not None else answer.error.message
                outcome[venue] = f"refused: {first}"
        return outcome


def _coordinator_forgery(
    region: Region, session: str, venue: str
) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """An entry for ``venue`` made by the coordinator with its own certificate and identity key."""
    bundle = region.ca.issue_coordinator()
    identity = Ed25519PrivateKey.generate()
    key = public_key_bytes(generate_private_key())
    certificate, binding = bind_identity(bundle, identity)
    signature = identity.sign(announcement_payload(session, venue, key))
    return key, signature, identity_public_bytes(identity), certificate, binding


def _foreign_ca_forgery(tmp: object, session: str, venue: str) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """A perfectly formed entry for ``venue``, from a CA of the same region name the agents do not trust."""
    foreign = DevCertificateAuthority.create(tmp / "foreign", REGION)  # type: ignore[operator]
    bundle = foreign.issue_agent(venue)
    identity = Ed25519PrivateKey.generate()
    key = public_key_bytes(generate_private_key())
    certificate, binding = bind_identity(bundle, identity)
    return (
        key,
        identity.sign(announcement_payload(session, venue, key)),
        identity_public_bytes(identity),
        certificate,
        binding,
    )


Attack = Callable[[Region, str, Directory, object], Directory]


def substitute_key(region: Region, session: str, rows: Directory, tmp: object) -> Directory:
    venue, _, *proof = rows[1]
    return [rows[0], (venue, public_key_bytes(generate_private_key()), *proof), rows[2]]  # type: ignore[list-item]


def forge_with_own_certificate(region: Region, session: str, rows: Directory, tmp: object) -> Directory:
    return [rows[0], (rows[1][0], *_coordinator_forgery(region, session, rows[1][0])), rows[2]]


def forge_with_foreign_ca(region: Region, session: str, rows: Directory, tmp: object) -> Directory:
    return [rows[0], (rows[1][0], *_foreign_ca_forgery(tmp, session, rows[1][0])), rows[2]]


def replay_other_session(region: Region, session: str, rows: Directory, tmp: object) -> Directory:
    old = region.start("evil-old")
    region.start(session)  # back to the current session (new keys, as after a restart of the attack)
    return [rows[0], old[1], rows[2]]


def swap_keys(region: Region, session: str, rows: Directory, tmp: object) -> Directory:
    (a, ka, *pa), (b, kb, *pb) = rows[1], rows[2]
    return [rows[0], (a, kb, *pa), (b, ka, *pb)]  # type: ignore[list-item]


def drop_own_entry(region: Region, session: str, rows: Directory, tmp: object) -> Directory:
    return rows[1:]


@pytest.mark.parametrize(
    ("attack", "victims"),
    [
        (substitute_key, "all"),
        (forge_with_own_certificate, "all"),
        (forge_with_foreign_ca, "all"),
        (replay_other_session, "all"),
        (swap_keys, "all"),
        (drop_own_entry, "first"),
    ],
)
def test_a_tampered_directory_is_refused_and_nothing_is_masked(
    tmp_path: object, attack: Attack, victims: str
) -> None:
    region = Region(tmp_path)
    session = "evil-1"
    rows = region.start(session)
    tampered = attack(region, session, rows, tmp_path)
    outcome = region.deliver(session, tampered)
    print(f"{attack.__name__}: {outcome}")
    touched = region.venues if victims == "all" else [region.venues[0]]
    for venue in touched:
        assert outcome[venue].startswith("refused"), (attack.__name__, outcome)


def test_the_honest_directory_and_a_reordering_are_accepted(tmp_path: object) -> None:
    region = Region(tmp_path)
    assert set(region.deliver("evil-1", region.start("evil-1")).values()) == {"masked"}
    rows = region.start("evil-2")
    assert set(region.deliver("evil-2", rows[::-1]).values()) == {"masked"}
