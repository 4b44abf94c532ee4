"""Signed fixed point in the ring Z/2^64: how float contributions become maskable words.

A value ``x`` is encoded as ``round(x * 2^F) mod 2^64`` (``F`` = ``frac_bits``, round half to even) and a
decoded word ``w`` is read in two's complement: ``(w - 2^64 if w >= 2^63 else w) / 2^F``.

Precision (document of record):

- resolution ``2^-F``; each encoded value is off by at most ``2^-(F+1)`` (half a unit);
- a sum of ``N`` contributions decodes within ``N * 2^-(F+1)`` of the float sum, plus the float64 rounding of
  the decoded value itself (relative ``2^-53``, only visible above ``2^(53-F)``);
- range: each contribution must satisfy ``|round(x * 2^F)| * N <= 2^63 - 1``, so that no partial or full sum
  of ``N`` contributions wraps; for the default ``F = 32`` that is ``|x| <~ 2^31 / N`` (2.1e9 for one agent,
  1.07e7 for 200). Larger values are refused, never wrapped silently.

With ``F = 32`` the resolution is 2.3e-10, far below any venue's lot size; lower ``F`` buys range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from energibridge.secagg.errors import EncodingError
from energibridge.secagg.validation import MAX_VECTOR_LENGTH, as_words, check_count

DEFAULT_FRAC_BITS = 32
MAX_FRAC_BITS = 62
_MAX_MAGNITUDE = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class FixedPointCodec:
    """Float vectors <-> uint64 words with ``frac_bits`` fractional bits (see the module docstring)."""

    frac_bits: int = DEFAULT_FRAC_BITS
    _scale: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_count(self.frac_bits, "frac_bits", 0, MAX_FRAC_BITS, EncodingError)
        object.__setattr__(self, "_scale", float(2**self.frac_bits))

    @property
    def resolution(self) -> float:
        """The value of one unit in the last place, ``2^-frac_bits``."""
        return 1.0 / self._scale

    def sum_error_bound(self, participants: int) -> float:
        """Worst-case rounding error of a decoded sum of ``participants`` encoded values."""
        return participants * self.resolution / 2.0

    def max_abs_value(self, participants: int) -> float:
        """Largest ``|x|`` one of ``participants`` contributors may encode without any sum wrapping."""
        return self._bound_units(participants) / self._scale

    def encode(
        self, vector: ArrayLike, participants: int = 1, *, field: str = "vector"
    ) -> NDArray[np.uint64]:
        """Encode a 1-D float vector for a sum over ``participants`` contributors.

        Raises ``EncodingError`` naming the first offending index and value (NaN, inf, out of range).
        """
        count = check_count(participants, "participants", 1, 1 << 32, EncodingError)
        values = _float_vector(vector, field)
        finite = np.isfinite(values)
        if not finite.all():
            index = int(np.argmin(finite))
            raise EncodingError(f"{field}[{index}] is {float(values[index])!r}; expected a finite float")
        scaled = values * self._scale  # exact: a power-of-two scaling
        bound = self._bound_units(count)
        too_big = np.abs(scaled) > bound
        if too_big.any():
            index = int(np.argmax(too_big))
            raise EncodingError(
                f"{field}[{index}] = {float(values[index])!r} is outside the fixed-point range: expected "
                f"|value| <= {bound / self._scale:.6g} for {count} participant(s) at {self.frac_bits} "
                f"fractional bits (else the sum mod 2^64 would wrap)"
            )
        return np.rint(scaled).astype(np.int64).view(np.uint64)

    def decode(
        self, words: NDArray[np.uint64] | Sequence[int], *, field: str = "words"
    ) -> NDArray[np.float64]:
        """Decode words (e.g. a sum mod 2^64) read as two's-complement signed fixed point."""
        checked = as_words(words, len(words), field, EncodingError)
        return checked.view(np.int64).astype(np.float64) / self._scale

    def _bound_units(self, participants: int) -> float:
        """``floor((2^63 - 1) / participants)`` as a float that never exceeds the integer bound."""
        exact = _MAX_MAGNITUDE // participants
        approx = float(exact)
        return approx if int(approx) <= exact else float(np.nextafter(approx, 0.0))


def _float_vector(vector: ArrayLike, field: str) -> NDArray[np.float64]:
    if isinstance(vector, str | bytes):
        raise EncodingError(f"{field}: expected a 1-D sequence of floats, got {type(vector).__name__}")
    try:
        raw = np.asarray(vector)
    except (TypeError, ValueError) as exc:
        raise EncodingError(
            f"{field}: expected a 1-D sequence of floats, got {type(vector).__name__}"
        ) from exc
    if raw.dtype.kind not in "fiu":
        raise EncodingError(
            f"{field}: expected real numbers (float or int), got elements of dtype {raw.dtype}"
        )
    values = raw.astype(np.float64)
    if values.ndim != 1:
        raise EncodingError(f"{field}: expected a 1-D vector, got shape {values.shape}")
    if not 1 <= len(values) <= MAX_VECTOR_LENGTH:
        raise EncodingError(f"{field}: expected 1..{MAX_VECTOR_LENGTH} entries, got {len(values)}")
    return values
