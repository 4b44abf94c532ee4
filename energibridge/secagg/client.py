"""Agent side: ``MaskingClient`` turns a float vector into a masked word vector for one aggregation round.

The client enforces, on its own, every rule whose breach would let the coordinator learn more than a sum:

- a mask set must contain this venue and at least ``min_mask_set`` members (default 2: a set of one would hand
  the coordinator the plain vector);
- round ids strictly increase; asking again for the same round id is answered only with the identical reply
  (same mask set, same encoded vector: a transport retransmission); anything else is refused, because two
  different vectors under the same masks would reveal their difference;
- mask sets never grow: every round's set must be a subset of the previous one, so a venue the coordinator
  once left out (a dropout) is never masked with again and no peer can rejoin a running session (re-keying
  the survivors means exactly this; their pair seeds are unaffected and each round's masks are fresh);
- peer keys are fixed once set: a changed key for a known venue, or a new venue after the first round,
  is refused.

The pair seeds of excluded peers are discarded. Nothing the client returns ever contains a seed or a key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from numpy.typing import ArrayLike

from energibridge.secagg.errors import KeyAgreementError, MaskingError
from energibridge.secagg.fixedpoint import FixedPointCodec
from energibridge.secagg.keys import derive_pair_seed, load_public_key, public_key_bytes
from energibridge.secagg.masks import apply_pair_masks, mask_set_digest
from energibridge.secagg.validation import check_count, check_id, check_round_id, check_venue_set


@dataclass(frozen=True, slots=True)
class _LastReply:
    round_id: int
    mask_set: tuple[str, ...]
    encoded: bytes
    masked: tuple[int, ...]


class MaskingClient:
    """One agent's masking state for one session (one X25519 key pair per session).

    Parameters
    ----------
    session_id, venue_id:
        Ids bound into every derived key; the venue id orders the pairs (code point order).
    private_key:
        This session's X25519 private key (``keys.generate_private_key()``).
    codec:
        Fixed-point encoding shared by the whole session (default: 32 fractional bits).
    min_mask_set:
        Smallest mask set the agent accepts (default 2). ``1`` must be asked for explicitly and means the
        coordinator sees this agent's plain encoding whenever it sends a set of one.
    """

    def __init__(
        self,
        session_id: str,
        venue_id: str,
        private_key: X25519PrivateKey,
        *,
        codec: FixedPointCodec | None = None,
        min_mask_set: int = 2,
    ) -> None:
        self._session_id = check_id(session_id, "session_id", MaskingError)
        self._venue_id = check_id(venue_id, "venue_id", MaskingError)
        if not isinstance(private_key, X25519PrivateKey):
            raise KeyAgreementError(
                f"private_key: expected an X25519PrivateKey, got {type(private_key).__name__}"
            )
        self._private_key = private_key
        self._public_key = public_key_bytes(private_key)
        self._codec = codec if codec is not None else FixedPointCodec()
        self._min_mask_set = check_count(min_mask_set, "min_mask_set", 1, 1 << 32, MaskingError)
        self._peer_keys: dict[str, bytes] = {}
        self._seeds: dict[str, bytes] = {}
        self._excluded: set[str] = set()
        self._last: _LastReply | None = None

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def venue_id(self) -> str:
        return self._venue_id

    @property
    def public_key(self) -> bytes:
        """This session's 32-byte X25519 public key (what ``keys.announce`` signs)."""
        return self._public_key

    @property
    def codec(self) -> FixedPointCodec:
        return self._codec

    @property
    def peers(self) -> tuple[str, ...]:
        """Peers this agent can still mask with, sorted."""
        return tuple(sorted(self._seeds))

    @property
    def excluded(self) -> frozenset[str]:
        """Peers left out of a mask set once; they are never masked with again in this session."""
        return frozenset(self._excluded)

    def set_peers(self, directory: Mapping[str, X25519PublicKey | bytes]) -> None:
        """Derive the pair seeds for ``{venue: public key}`` (our own entry, if present, must be our key).

        Idempotent for unchanged entries; atomic (a refused directory changes nothing). Refuses a changed key
        for a known venue, a key shared by two venues, an excluded venue, and new venues once masking began.
        """
        if not isinstance(directory, Mapping):
            raise KeyAgreementError(
                f"directory: expected a mapping venue -> public key, got {type(directory).__name__}"
            )
        owners = {key: venue for venue, key in self._peer_keys.items()}
        owners[self._public_key] = self._venue_id
        new_keys: dict[str, bytes] = {}
        for venue, value in directory.items():
            check_id(venue, "directory key", KeyAgreementError)
            raw = public_key_bytes(load_public_key(value, f"directory[{venue!r}]"))
            if venue == self._venue_id:
                if raw != self._public_key:
                    raise KeyAgreementError(
                        f"directory[{venue!r}]: our own entry carries a key that is not ours (substituted?)"
                    )
                continue
            if venue in self._excluded:
                raise KeyAgreementError(
                    f"directory[{venue!r}]: this venue was dropped from the session; it cannot rejoin"
                )
            known = self._peer_keys.get(venue)
            if known is not None:
                if known != raw:
                    raise KeyAgreementError(
                        f"directory[{venue!r}]: the key changed mid-session; expected the key set before"
                    )
                continue
            if self._last is not None:
                raise KeyAgreementError(
                    f"directory[{venue!r}]: a new peer cannot join after masking began; start a new session"
                )
            if raw in owners or raw in new_keys.values():
                holder = owners.get(raw) or next(v for v, k in new_keys.items() if k == raw)
                raise KeyAgreementError(
                    f"directory[{venue!r}]: the same public key is announced for {holder!r}"
                )
            new_keys[venue] = raw
        new_seeds = {
            venue: derive_pair_seed(self._session_id, self._venue_id, self._private_key, venue, raw)
            for venue, raw in new_keys.items()
        }
        self._peer_keys.update(new_keys)
        self._seeds.update(new_seeds)

    def mask(self, round_id: int, mask_set: Sequence[str], vector: ArrayLike) -> list[int]:
        """Encode ``vector`` for a sum over ``mask_set`` and mask it for round ``round_id``.

        Returns ``len(vector)`` ints in [0, 2^64). Raises ``MaskingError`` (unsafe or inconsistent request) or
        ``EncodingError`` (NaN, inf, value out of range for ``len(mask_set)`` participants).
        """
        number = check_round_id(round_id, "round_id", MaskingError)
        members = check_venue_set(mask_set, "mask_set", MaskingError)
        encoded = self._codec.encode(vector, len(members))
        encoded_bytes = encoded.tobytes()
        last = self._last
        if last is not None and number <= last.round_id:
            if number < last.round_id:
                raise MaskingError(
                    f"round_id: {number} is stale; expected more than {last.round_id}, the last round masked"
                )
            if members != last.mask_set or encoded_bytes != last.encoded:
                what = "mask set" if members != last.mask_set else "vector"
                raise MaskingError(
                    f"round_id: {number} was already masked with a different {what}; masking twice under one "
                    f"round id would reveal the difference of the two inputs"
                )
            return list(last.masked)
        self._check_members(members)
        masked = apply_pair_masks(
            encoded,
            self._venue_id,
            members,
            self._seeds,
            set_digest=mask_set_digest(self._session_id, number, members),
            round_id=number,
        )
        reply = tuple(masked.tolist())
        self._last = _LastReply(number, members, encoded_bytes, reply)
        left_out = set(self._seeds) - set(members)
        self._excluded |= left_out
        for venue in left_out:
            del self._seeds[venue]
        return list(reply)

    def _check_members(self, members: tuple[str, ...]) -> None:
        if self._venue_id not in members:
            raise MaskingError(
                f"mask_set: expected it to contain our own venue {self._venue_id!r}, got {members}"
            )
        if len(members) < self._min_mask_set:
            raise MaskingError(
                f"mask_set: {len(members)} member(s) {members}; expected at least {self._min_mask_set} "
                f"(min_mask_set): a set of one hands the coordinator the plain vector"
            )
        for venue in members:
            if venue == self._venue_id or venue in self._seeds:
                continue
            if venue in self._excluded:
                raise MaskingError(
                    f"mask_set: {venue!r} was left out of an earlier round of this session (sets never grow)"
                )
            raise MaskingError(f"mask_set: {venue!r} is not a known peer; expected venues from set_peers()")
