"""The coordinator's full transcript of a session with a dropout reveals only the sums of completed rounds.

A simulated session of five venues: key announcements relayed through the coordinator, a complete round, a
round where venue "c" crashes before answering (deadline -> retry among the survivors under a fresh round id),
and one more round among the survivors. Everything the coordinator receives is recorded; the tests then check
that no secret is in it, that no individual contribution is, and that of all 2^17 - 1 subsets of received
vectors only the three completed rounds (and their unions, i.e. sums of their sums) decode to anything.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from secagg_helpers import private_key

from coordinator.secagg import AggregateResult, Aggregator, RetryWith
from energibridge.secagg import (
    FixedPointCodec,
    KeyAnnouncement,
    MaskingClient,
    MaskingError,
    announce,
    derive_pair_seed,
    public_key_bytes,
    verify_announcements,
)
from energibridge.secagg.masks import mask_set_digest, round_key

SESSION = "region-eu/session-42"
VENUES = ("a", "b", "c", "d", "e")
M = 4


@dataclass
class Transcript:
    """Every message the coordinator receives from agents, in arrival order."""

    announcements: list[KeyAnnouncement] = field(default_factory=list)
    masked: list[tuple[int, str, tuple[int, ...]]] = field(default_factory=list)

    def as_bytes(self) -> bytes:
        parts: list[bytes] = []
        for item in self.announcements:
            parts += [item.signed_payload(), item.signature]
        for round_id, sender, words in self.masked:
            parts += [round_id.to_bytes(8, "big"), sender.encode()]
            parts += [w.to_bytes(8, "little") for w in words]
            parts += [w.to_bytes(8, "big") for w in words]
        return b"".join(parts)


@dataclass
class Session:
    transcript: Transcript
    clients: dict[str, MaskingClient]
    identities: dict[str, Ed25519PrivateKey]
    sent: list[
        tuple[int, str, tuple[float, ...], tuple[str, ...]]
    ]  # (round id, venue, plain vector, mask set)
    results: list[AggregateResult]
    mask_sets: dict[int, tuple[str, ...]]


def _vectors(round_no: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(round_no)  # test inputs only
    return {v: [float(x) for x in rng.normal(0.0, 3.0, M)] for v in VENUES}


def _run_session() -> Session:
    identities = {v: Ed25519PrivateKey.from_private_bytes(bytes([n + 1]) * 32) for n, v in enumerate(VENUES)}
    clients = {v: MaskingClient(SESSION, v, private_key(v, SESSION)) for v in VENUES}
    transcript = Transcript()
    for v in VENUES:  # each agent announces its session key through the coordinator
        transcript.announcements.append(announce(SESSION, v, private_key(v, SESSION), identities[v]))
    registry = {v: k.public_key() for v, k in identities.items()}
    for client in clients.values():  # ... and accepts the relayed directory only with valid signatures
        client.set_peers(verify_announcements(SESSION, transcript.announcements, registry))

    agg = Aggregator(VENUES, M)
    sent: list[tuple[int, str, tuple[float, ...], tuple[str, ...]]] = []
    results: list[AggregateResult] = []
    mask_sets: dict[int, tuple[str, ...]] = {}
    crashed: set[str] = set()
    now = 0.0
    for round_no, crash_now in ((1, set()), (2, {"c"}), (3, set())):
        vectors = _vectors(round_no)
        crashed |= crash_now
        while True:
            rnd = agg.open_round(deadline=now + 1.0)
            mask_sets[rnd.round_id] = rnd.mask_set
            outcome = None
            for v in rnd.mask_set:
                if v in crashed:
                    continue
                words = clients[v].mask(rnd.round_id, rnd.mask_set, vectors[v])
                transcript.masked.append((rnd.round_id, v, tuple(words)))
                sent.append((rnd.round_id, v, tuple(vectors[v]), rnd.mask_set))
                outcome = agg.submit(rnd.round_id, v, words)
            now += 1.0
            outcome = outcome or agg.poll(now)
            if isinstance(outcome, AggregateResult):
                results.append(outcome)
                break
            assert isinstance(outcome, RetryWith)
            assert outcome.dropped == ("c",)
    return Session(transcript, clients, identities, sent, results, mask_sets)


@pytest.fixture(scope="module")
def session() -> Session:
    return _run_session()


def test_the_session_went_as_scripted(session: Session) -> None:
    assert [(r.round_id, r.participants) for r in session.results] == [
        (0, VENUES),
        (2, ("a", "b", "d", "e")),
        (3, ("a", "b", "d", "e")),
    ]
    assert session.mask_sets[1] == VENUES  # the attempt c never answered
    assert len(session.transcript.masked) == 5 + 4 + 4 + 4
    for result, round_no in zip(session.results, (1, 2, 3), strict=True):
        vectors = _vectors(round_no)
        expected = [sum(vectors[v][j] for v in result.participants) for j in range(M)]
        assert result.total == pytest.approx(expected, abs=1e-8)


def test_no_secret_is_in_the_transcript(session: Session) -> None:
    """No private key, shared secret, pair seed or round key (c's included) ever reaches the coordinator."""
    blob = session.transcript.as_bytes()
    secrets: dict[str, bytes] = {}
    for v in VENUES:
        raw = private_key(v, SESSION).private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        secrets[f"x25519 private key of {v}"] = raw
        identity = session.identities[v].private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        secrets[f"identity key of {v}"] = identity
    for low, high in itertools.combinations(VENUES, 2):
        key_low, key_high = private_key(low, SESSION), private_key(high, SESSION)
        secrets[f"shared secret {low}-{high}"] = key_low.exchange(key_high.public_key())
        seed = derive_pair_seed(SESSION, low, key_low, high, public_key_bytes(key_high))
        secrets[f"pair seed {low}-{high}"] = seed
        for round_id, mask_set in session.mask_sets.items():
            digest = mask_set_digest(SESSION, round_id, mask_set)
            secrets[f"round key {low}-{high} round {round_id}"] = round_key(seed, round_id, digest)
    assert len(secrets) == 10 + 10 * (2 + 4)
    leaked = [name for name, secret in secrets.items() if secret in blob]
    assert leaked == []


def test_no_individual_contribution_is_in_the_transcript(session: Session) -> None:
    codec = FixedPointCodec()
    received_words = {w for _, _, words in session.transcript.masked for w in words}
    for round_no in (1, 2, 3):
        for v, vector in _vectors(round_no).items():
            plain = codec.encode(vector, 5).tolist()
            assert not received_words.intersection(plain), f"a plain word of {v} in round {round_no}"


def test_only_complete_rounds_decode_among_all_subsets_of_received_vectors(session: Session) -> None:
    """Of all 2^17 - 1 subsets of the masked vectors the coordinator holds, only the completed rounds and
    their unions decode to the true sum of their members; every other subset decodes to masked noise,
    nowhere near any single venue's vector (the incomplete attempt that c never answered included)."""
    masked = session.transcript.masked
    k = len(masked)
    words = np.array([w for _, _, w in masked], dtype=np.uint64)  # k x M
    plain = np.array([vector for _, _, vector, _ in session.sent])  # k x M, aligned with `masked`
    subsets = ((np.arange(1, 2**k)[:, None] >> np.arange(k)[None, :]) & 1).astype(np.uint64)
    ring_sums = np.zeros((len(subsets), M), dtype=np.uint64)
    for i in range(k):  # uint64 additions wrap mod 2^64
        ring_sums += subsets[:, i : i + 1] * words[i]
    decoded = ring_sums.view(np.int64).astype(np.float64) / 2.0**32
    true_sums = subsets.astype(np.float64) @ plain

    meaningful = np.all(np.abs(decoded - true_sums) < 1e-6, axis=1)
    rounds = []  # bit masks of the completed rounds' vectors
    for result in session.results:
        rounds.append(sum(1 << n for n, (round_id, _, _) in enumerate(masked) if round_id == result.round_id))
    unions = {
        sum(chosen) for size in range(1, len(rounds) + 1) for chosen in itertools.combinations(rounds, size)
    }  # the rounds' bit masks are disjoint, so a sum is their union
    assert {row + 1 for row in np.flatnonzero(meaningful).tolist()} == unions

    singles = np.array([vector for r in (1, 2, 3) for vector in _vectors(r).values()])
    others = np.ones(len(subsets), dtype=bool)
    others[[u - 1 for u in sorted(unions)]] = False
    distance = np.abs(decoded[others][:, None, :] - singles[None, :, :]).max(axis=2)  # subsets x vectors
    assert distance.min() > 1e3  # masked garbage: nowhere near any venue's vector


def test_survivors_rekeyed_without_the_dropped_venue(session: Session) -> None:
    for v in ("a", "b", "d", "e"):
        client = session.clients[v]
        assert client.excluded == {"c"}
        assert "c" not in client.peers  # c's pair seed is gone from the survivor's memory
        with pytest.raises(MaskingError, match="'c' was left out of an earlier round"):
            client.mask(10, VENUES, [0.0] * M)


def test_threat_model_a_lying_coordinator_learns_one_round_of_the_victim_and_loses_it() -> None:
    """Documents the limit stated in ``energibridge.secagg``: a coordinator that receives every vector but
    claims 'e' missed the deadline gets the survivors' re-run, and the difference of the two sums is e's
    vector of that round. It cannot repeat this on e: every survivor refuses to mask with e again."""
    clients = {v: MaskingClient(SESSION, v, private_key(v, SESSION)) for v in VENUES}
    directory = {v: c.public_key for v, c in clients.items()}
    for client in clients.values():
        client.set_peers(directory)
    vectors = _vectors(7)
    codec = FixedPointCodec()
    everyone = [np.array(clients[v].mask(0, VENUES, vectors[v]), dtype=np.uint64) for v in VENUES]
    survivors = ("a", "b", "c", "d")
    rerun = [np.array(clients[v].mask(1, survivors, vectors[v]), dtype=np.uint64) for v in survivors]
    leaked = codec.decode(sum(everyone, np.zeros(M, np.uint64)) - sum(rerun, np.zeros(M, np.uint64)))
    assert leaked.tolist() == pytest.approx(vectors["e"], abs=1e-8)
    for v in survivors:
        with pytest.raises(MaskingError, match="'e' was left out"):
            clients[v].mask(2, VENUES, vectors[v])
