"""Boundary validators shared by the agent and coordinator sides (ids, round ids, mask sets, words)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from energibridge.secagg.errors import SecAggError

RING_BITS = 64
RING = 1 << RING_BITS
"""The ring is Z/2^64: uint64 arithmetic wraps exactly there."""

MAX_ID_BYTES = 256
MAX_VECTOR_LENGTH = 1 << 20
"""Far above the few hundred entries an ADMM round carries; stops a hostile length before allocation."""


def check_id(value: object, field: str, error: type[SecAggError] = SecAggError) -> str:
    """A venue or session id: a non-empty str of at most ``MAX_ID_BYTES`` UTF-8 bytes."""
    if not isinstance(value, str):
        raise error(f"{field}: expected a str id, got {type(value).__name__} {value!r}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise error(f"{field}: expected a UTF-8 encodable id, got {value!r}") from exc
    if size == 0 or size > MAX_ID_BYTES:
        raise error(f"{field}: expected 1..{MAX_ID_BYTES} UTF-8 bytes, got {size} ({value[:40]!r})")
    return value


def check_round_id(value: object, field: str, error: type[SecAggError] = SecAggError) -> int:
    """A round id: an int in [0, 2^64) (bool refused: it is an int by accident, never by intent)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise error(f"{field}: expected an int in [0, 2^64), got {type(value).__name__} {value!r}")
    number = int(value)
    if not 0 <= number < RING:
        raise error(f"{field}: expected an int in [0, 2^64), got {number}")
    return number


def check_count(
    value: object, field: str, low: int, high: int, error: type[SecAggError] = SecAggError
) -> int:
    """An int within ``[low, high]`` (lengths, participant minimums, fractional bits)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise error(f"{field}: expected an int in [{low}, {high}], got {type(value).__name__} {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise error(f"{field}: expected an int in [{low}, {high}], got {number}")
    return number


def check_venue_set(value: object, field: str, error: type[SecAggError] = SecAggError) -> tuple[str, ...]:
    """A sequence or set of unique valid venue ids, returned sorted (the protocol order)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
        raise error(f"{field}: expected a sequence of venue ids, got {type(value).__name__} {value!r:.80}")
    ids = [check_id(v, f"{field}[{n}]", error) for n, v in enumerate(value)]
    seen: set[str] = set()
    for venue in ids:
        if venue in seen:
            raise error(f"{field}: venue {venue!r} appears more than once; expected unique venue ids")
        seen.add(venue)
    return tuple(sorted(ids))


def as_words(
    value: object, length: int, field: str, error: type[SecAggError] = SecAggError
) -> NDArray[np.uint64]:
    """Masked words as a fresh uint64 array: exactly ``length`` ints, each in [0, 2^64).

    Accepts a uint64 array or a sequence of ints (a transport adapter passes ``list(message.words)``).
    """
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype != np.uint64:
            raise error(f"{field}: expected a 1-D uint64 array, got {value.ndim}-D {value.dtype}")
        if len(value) != length:
            raise error(f"{field}: expected {length} words, got {len(value)}")
        return np.array(value, dtype=np.uint64)
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise error(f"{field}: expected a sequence of {length} uint64 words, got {type(value).__name__}")
    if len(value) != length:
        raise error(f"{field}: expected {length} words, got {len(value)}")
    if all(type(word) is int for word in value):  # the common case, checked in C speed
        try:
            return np.fromiter(value, dtype=np.uint64, count=length)
        except OverflowError:
            pass  # fall through to name the offending index
    for index, word in enumerate(value):
        if isinstance(word, bool) or not isinstance(word, int | np.integer):
            raise error(f"{field}[{index}]: expected an int in [0, 2^64), got {type(word).__name__} {word!r}")
        if not 0 <= int(word) < RING:
            raise error(f"{field}[{index}]: expected an int in [0, 2^64), got {int(word)}")
    return np.array([int(word) for word in value], dtype=np.uint64)
