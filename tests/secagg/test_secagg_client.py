"""Agent-side refusals: every request that would let the coordinator learn more than a sum is refused."""

from __future__ import annotations

import pytest
from secagg_helpers import make_clients, private_key, ring_sum

from energibridge.secagg import (
    EncodingError,
    FixedPointCodec,
    KeyAgreementError,
    MaskingClient,
    MaskingError,
    public_key_bytes,
)

VENUES = ("a", "b", "c", "d")


@pytest.fixture
def clients() -> dict[str, MaskingClient]:
    return make_clients(VENUES)


def test_masks_cancel_over_the_full_set(clients: dict[str, MaskingClient]) -> None:
    vectors = {"a": [1.0, -2.0], "b": [0.5, 0.25], "c": [-3.0, 8.0], "d": [0.0, 1e-9]}
    masked = [clients[v].mask(11, VENUES, vectors[v]) for v in VENUES]
    total = FixedPointCodec().decode(ring_sum(masked, 2))
    assert total.tolist() == pytest.approx([-1.5, 6.25 + 1e-9], abs=4 * 2.0**-33)
    for v, words in zip(VENUES, masked, strict=True):
        assert words != FixedPointCodec().encode(vectors[v], 4).tolist()
        assert all(type(w) is int and 0 <= w < 2**64 for w in words)


def test_a_mask_set_of_one_is_refused_by_default(clients: dict[str, MaskingClient]) -> None:
    with pytest.raises(MaskingError, match=r"mask_set: 1 member\(s\) \('a',\); expected at least 2"):
        clients["a"].mask(0, ["a"], [1.0])


def test_a_mask_set_of_one_must_be_allowed_explicitly() -> None:
    solo = MaskingClient("s", "a", private_key("a"), min_mask_set=1)
    # the documented consequence: the coordinator receives the plain encoding
    assert solo.mask(0, ["a"], [1.5]) == FixedPointCodec().encode([1.5]).tolist()


def test_a_mask_set_must_contain_self(clients: dict[str, MaskingClient]) -> None:
    with pytest.raises(MaskingError, match="expected it to contain our own venue 'a'"):
        clients["a"].mask(0, ["b", "c"], [1.0])


@pytest.mark.parametrize(
    ("mask_set", "expected"),
    [
        ("ab", "expected a sequence of venue ids, got str"),
        (["a", "b", "a"], "venue 'a' appears more than once"),
        (["a", ""], r"mask_set\[1\]: expected 1..256 UTF-8 bytes"),
        (["a", 3], r"mask_set\[1\]: expected a str id, got int"),
        (["a", "zz"], "'zz' is not a known peer"),
    ],
)
def test_malformed_mask_sets_are_refused(
    clients: dict[str, MaskingClient], mask_set: object, expected: str
) -> None:
    with pytest.raises(MaskingError, match=expected):
        clients["a"].mask(0, mask_set, [1.0])  # type: ignore[arg-type]


@pytest.mark.parametrize("round_id", [-1, 2**64, True, 1.0, "1", None])
def test_round_ids_are_validated(clients: dict[str, MaskingClient], round_id: object) -> None:
    with pytest.raises(MaskingError, match=r"round_id: expected an int in \[0, 2\^64\)"):
        clients["a"].mask(round_id, VENUES, [1.0])  # type: ignore[arg-type]


def test_largest_round_id_is_usable(clients: dict[str, MaskingClient]) -> None:
    assert len(clients["a"].mask(2**64 - 1, VENUES, [1.0])) == 1


def test_stale_round_ids_are_refused(clients: dict[str, MaskingClient]) -> None:
    clients["a"].mask(5, VENUES, [1.0])
    with pytest.raises(MaskingError, match="round_id: 4 is stale; expected more than 5"):
        clients["a"].mask(4, VENUES, [1.0])


def test_an_identical_repeat_gets_the_identical_reply(clients: dict[str, MaskingClient]) -> None:
    first = clients["a"].mask(5, VENUES, [1.0, 2.0])
    assert clients["a"].mask(5, list(reversed(VENUES)), [1.0, 2.0]) == first


def test_a_second_vector_under_the_same_round_id_is_refused(clients: dict[str, MaskingClient]) -> None:
    """Same masks over two inputs would hand over their difference: refuse."""
    clients["a"].mask(5, VENUES, [1.0, 2.0])
    with pytest.raises(MaskingError, match="already masked with a different vector"):
        clients["a"].mask(5, VENUES, [1.0, 2.5])


def test_a_second_mask_set_under_the_same_round_id_is_refused(clients: dict[str, MaskingClient]) -> None:
    clients["a"].mask(5, VENUES, [1.0])
    with pytest.raises(MaskingError, match="already masked with a different mask set"):
        clients["a"].mask(5, ["a", "b", "c"], [1.0])


def test_mask_sets_never_grow_back(clients: dict[str, MaskingClient]) -> None:
    """A venue left out once (a dropout) is never masked with again, so no seed of a live pair is reused."""
    client = clients["a"]
    client.mask(1, ["a", "b", "c"], [1.0])
    assert client.excluded == {"d"}
    assert client.peers == ("b", "c")  # d's seed is discarded
    with pytest.raises(MaskingError, match="'d' was left out of an earlier round"):
        client.mask(2, VENUES, [1.0])
    client.mask(2, ["a", "c"], [1.0])
    assert client.excluded == {"b", "d"}


def test_a_refused_request_changes_no_state(clients: dict[str, MaskingClient]) -> None:
    client = clients["a"]
    with pytest.raises(MaskingError):
        client.mask(3, ["a"], [1.0])
    with pytest.raises(EncodingError):
        client.mask(3, ["a", "b"], [float("nan")])
    assert client.excluded == frozenset()
    client.mask(3, VENUES, [1.0])  # round 3 still free


def test_range_is_checked_against_the_mask_set_size(clients: dict[str, MaskingClient]) -> None:
    limit_for_two = FixedPointCodec().max_abs_value(2)
    with pytest.raises(EncodingError, match=r"vector\[0\].*for 4 participant\(s\)"):
        clients["a"].mask(1, VENUES, [limit_for_two])
    clients["a"].mask(2, ["a", "b"], [limit_for_two])


def test_set_peers_refuses_changed_keys_and_substituted_self(clients: dict[str, MaskingClient]) -> None:
    client = clients["a"]
    client.set_peers({"b": public_key_bytes(private_key("b"))})  # unchanged: fine
    with pytest.raises(KeyAgreementError, match=r"directory\['b'\]: the key changed mid-session"):
        client.set_peers({"b": public_key_bytes(private_key("mallory"))})
    with pytest.raises(
        KeyAgreementError, match=r"directory\['a'\]: our own entry carries a key that is not ours"
    ):
        client.set_peers({"a": public_key_bytes(private_key("mallory"))})


def test_set_peers_is_atomic_and_refuses_shared_keys() -> None:
    client = MaskingClient("session-1", "a", private_key("a"))
    shared = public_key_bytes(private_key("b"))
    with pytest.raises(
        KeyAgreementError, match=r"directory\['c'\]: the same public key is announced for 'b'"
    ):
        client.set_peers({"b": shared, "c": shared})
    assert client.peers == ()
    with pytest.raises(KeyAgreementError, match="announced for 'a'"):
        client.set_peers({"b": client.public_key})
    with pytest.raises(KeyAgreementError, match="X25519 refused it"):
        client.set_peers({"b": shared, "z": bytes(32)})
    assert client.peers == ()


def test_no_peer_joins_after_masking_began(clients: dict[str, MaskingClient]) -> None:
    clients["a"].mask(0, ["a", "b", "c"], [1.0])
    with pytest.raises(KeyAgreementError, match=r"directory\['e'\]: a new peer cannot join"):
        clients["a"].set_peers({"e": public_key_bytes(private_key("e"))})
    with pytest.raises(KeyAgreementError, match=r"directory\['d'\]: this venue was dropped"):
        clients["a"].set_peers({"d": public_key_bytes(private_key("d"))})


@pytest.mark.parametrize(
    ("kwargs", "error", "expected"),
    [
        ({"session_id": ""}, MaskingError, "session_id: expected 1..256 UTF-8 bytes"),
        ({"venue_id": 7}, MaskingError, "venue_id: expected a str id, got int"),
        (
            {"private_key": b"\x00" * 32},
            KeyAgreementError,
            "private_key: expected an X25519PrivateKey, got bytes",
        ),
        ({"min_mask_set": 0}, MaskingError, r"min_mask_set: expected an int in \[1, "),
    ],
)
def test_constructor_validates(kwargs: dict[str, object], error: type[Exception], expected: str) -> None:
    args: dict[str, object] = {"session_id": "s", "venue_id": "a", "private_key": private_key("a")}
    args.update(kwargs)
    with pytest.raises(error, match=expected):
        MaskingClient(**args)  # type: ignore[arg-type]


def test_directory_must_be_a_mapping(clients: dict[str, MaskingClient]) -> None:
    with pytest.raises(KeyAgreementError, match="directory: expected a mapping"):
        clients["a"].set_peers([("b", b"")])  # type: ignore[arg-type]
