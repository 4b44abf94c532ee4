"""Initialized ticks with the v3 tick-bitmap search semantics, stored as a sorted list.

The pool never looks further than one 256-bit word of its bitmap per swap step: when no initialized tick lies
in the current word, the step stops at the word boundary (an *uninitialized* tick). Those extra stops change
where amounts are rounded, so exact reproduction of pool results needs the same boundaries. A sorted list of
compressed ticks answers the same question with a binary search.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

from sdk.amm.errors import AmmInputError

_WORD_BITS = 256


class TickBitmap:
    """Set of initialized ticks (multiples of ``tick_spacing``) with ``nextInitializedTickWithinOneWord``."""

    __slots__ = ("_compressed", "_spacing")

    def __init__(self, tick_spacing: int) -> None:
        if not isinstance(tick_spacing, int) or isinstance(tick_spacing, bool) or tick_spacing <= 0:
            raise AmmInputError(f"tick_spacing must be a positive int, got {tick_spacing!r}")
        self._spacing = tick_spacing
        self._compressed: list[int] = []

    def __len__(self) -> int:
        return len(self._compressed)

    def copy(self) -> TickBitmap:
        """An independent copy (for what-if simulations)."""
        clone = TickBitmap(self._spacing)
        clone._compressed = list(self._compressed)
        return clone

    def _compress(self, tick: int) -> int:
        if tick % self._spacing:
            raise AmmInputError(f"tick {tick} is not a multiple of tick_spacing {self._spacing}")
        return tick // self._spacing

    def is_initialized(self, tick: int) -> bool:
        """Whether ``tick`` (a multiple of the spacing) is initialized."""
        compressed = self._compress(tick)
        i = bisect_left(self._compressed, compressed)
        return i < len(self._compressed) and self._compressed[i] == compressed

    def flip_tick(self, tick: int) -> None:
        """Initialize ``tick`` if it is not, un-initialize it if it is (``TickBitmap.flipTick``)."""
        compressed = self._compress(tick)
        i = bisect_left(self._compressed, compressed)
        if i < len(self._compressed) and self._compressed[i] == compressed:
            del self._compressed[i]
        else:
            insort(self._compressed, compressed)

    def initialized_ticks(self) -> tuple[int, ...]:
        """All initialized ticks, ascending."""
        return tuple(c * self._spacing for c in self._compressed)

    def next_initialized_tick_within_one_word(self, tick: int, lte: bool) -> tuple[int, bool]:
        """Next initialized tick at or left of ``tick`` (``lte``) or strictly right of it, within one word.

        Returns ``(next_tick, initialized)``; when the word holds no initialized tick, ``next_tick`` is the
        word's edge and ``initialized`` is ``False``, exactly as the contract does.
        """
        compressed = tick // self._spacing  # floor, as the contract's "round towards negative infinity"
        if lte:
            word_start = compressed - compressed % _WORD_BITS
            i = bisect_right(self._compressed, compressed)
            if i > 0 and self._compressed[i - 1] >= word_start:
                return self._compressed[i - 1] * self._spacing, True
            return word_start * self._spacing, False
        start = compressed + 1
        word_end = start - start % _WORD_BITS + _WORD_BITS - 1
        i = bisect_left(self._compressed, start)
        if i < len(self._compressed) and self._compressed[i] <= word_end:
            return self._compressed[i] * self._spacing, True
        return word_end * self._spacing, False
