"""Tick arrays: 88 ticks each, ``tick_spacing`` apart, and the program's search for the next initialized tick.

A swap is handed up to three tick arrays in the direction of travel. It walks them looking for the next
initialized tick; where an array has none, the step ends at the array's edge (or at the min/max tick when the
array is the last one the price range has), so a swap over empty arrays still takes one step per array. The
search rules, including when a tick index is "in" an array for a search to the right (shifted one spacing
left) and which array a crossing moves on to, follow the program's ``SwapTickSequence``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sdk.amm.errors import AmmInputError
from sdk.amm.whirlpool.errors import WhirlpoolError
from sdk.amm.whirlpool.tick_math import MAX_TICK_INDEX, MIN_TICK_INDEX

TICK_ARRAY_SIZE = 88
#: Tick spacings at or above this are full-range-only ("splash") pools.
FULL_RANGE_ONLY_TICK_SPACING_THRESHOLD = 32_768


@dataclass(frozen=True, slots=True)
class Tick:
    """An initialized tick's state (rewards left out: they never change swap amounts)."""

    liquidity_net: int
    liquidity_gross: int
    fee_growth_outside_a: int = 0
    fee_growth_outside_b: int = 0


@dataclass(frozen=True, slots=True)
class TickArray:
    """One tick array: its start tick and its *initialized* ticks by offset (``0 .. 87``)."""

    start_tick_index: int
    ticks: Mapping[int, Tick] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for offset in self.ticks:
            if not 0 <= offset < TICK_ARRAY_SIZE:
                raise AmmInputError(
                    f"ticks offset must be in [0, {TICK_ARRAY_SIZE}), got {offset} "
                    f"(array starting at {self.start_tick_index})"
                )

    def offset(self, tick_index: int, tick_spacing: int) -> int:
        """Floor of ``(tick_index - start) / tick_spacing`` (may be outside the array)."""
        return (tick_index - self.start_tick_index) // tick_spacing

    def in_search_range(self, tick_index: int, tick_spacing: int, shifted: bool) -> bool:
        lower = self.start_tick_index - (tick_spacing if shifted else 0)
        return lower <= tick_index < lower + TICK_ARRAY_SIZE * tick_spacing

    def is_min_tick_array(self) -> bool:
        return self.start_tick_index <= MIN_TICK_INDEX

    def is_max_tick_array(self, tick_spacing: int) -> bool:
        return self.start_tick_index + TICK_ARRAY_SIZE * tick_spacing > MAX_TICK_INDEX

    def next_initialized_tick(self, tick_index: int, tick_spacing: int, a_to_b: bool) -> int | None:
        """Next initialized tick from ``tick_index``: leftwards inclusive (a to b), rightwards exclusive."""
        if not self.in_search_range(tick_index, tick_spacing, not a_to_b):
            raise WhirlpoolError(
                "InvalidTickArraySequence",
                f"tick {tick_index} is not searchable in the array starting at {self.start_tick_index} "
                f"(spacing {tick_spacing}, {'a to b' if a_to_b else 'b to a'})",
            )
        offset = self.offset(tick_index, tick_spacing)
        if a_to_b:
            candidates = [o for o in self.ticks if o <= offset]
            found = max(candidates) if candidates else None
        else:
            candidates = [o for o in self.ticks if o > offset]
            found = min(candidates) if candidates else None
        return None if found is None else self.start_tick_index + found * tick_spacing

    def tick_at(self, tick_index: int, tick_spacing: int) -> Tick | None:
        """The initialized tick at ``tick_index``, ``None`` if uninitialized or not a usable tick here."""
        if not self.in_search_range(tick_index, tick_spacing, False):
            return None
        if not MIN_TICK_INDEX <= tick_index <= MAX_TICK_INDEX or tick_index % tick_spacing:
            return None
        return self.ticks.get(self.offset(tick_index, tick_spacing))


def start_tick_index_for(tick_index: int, tick_spacing: int) -> int:
    """Start of the tick array containing ``tick_index`` (floor to a multiple of ``88 * tick_spacing``)."""
    span = TICK_ARRAY_SIZE * tick_spacing
    return tick_index // span * span


def swap_tick_array_starts(
    tick_current_index: int, tick_spacing: int, a_to_b: bool, count: int = 3
) -> list[int]:
    """Start ticks of the ``count`` arrays a swap from ``tick_current_index`` walks, in order.

    A search to the right (b to a) treats a tick as belonging to the array one spacing to its right (the
    program's shifted search range), so the first array is the one holding ``tick + tick_spacing``; to the
    left it is the one holding the current tick.
    """
    span = TICK_ARRAY_SIZE * tick_spacing
    first = start_tick_index_for(tick_current_index + (0 if a_to_b else tick_spacing), tick_spacing)
    step = -span if a_to_b else span
    return [first + i * step for i in range(count)]


def select_swap_arrays(
    available: Iterable[TickArray], tick_current_index: int, tick_spacing: int, a_to_b: bool
) -> list[TickArray]:
    """The leading run of the (up to three) arrays a swap from ``tick_current_index`` walks, out of the
    ``available`` ones (any order; the run stops at the first missing array)."""
    by_start = {array.start_tick_index: array for array in available}
    out: list[TickArray] = []
    for start in swap_tick_array_starts(tick_current_index, tick_spacing, a_to_b):
        array = by_start.get(start)
        if array is None:
            break
        out.append(array)
    return out


def next_initialized_tick_in_sequence(
    arrays: Sequence[TickArray], tick_index: int, tick_spacing: int, a_to_b: bool, start_array: int
) -> tuple[int, int]:
    """``(array index, tick index)`` of where the next step ends, searching from ``arrays[start_array]``."""
    span = TICK_ARRAY_SIZE * tick_spacing
    search = tick_index
    index = start_array
    while True:
        if index >= len(arrays):
            raise WhirlpoolError(
                "TickArraySequenceInvalidIndex",
                f"the swap needs tick array #{index} but only {len(arrays)} were given",
            )
        array = arrays[index]
        found = array.next_initialized_tick(search, tick_spacing, a_to_b)
        if found is not None:
            return index, found
        if a_to_b and array.is_min_tick_array():
            return index, MIN_TICK_INDEX
        if not a_to_b and array.is_max_tick_array(tick_spacing):
            return index, MAX_TICK_INDEX
        if index + 1 == len(arrays):
            return index, array.start_tick_index if a_to_b else array.start_tick_index + span - 1
        search = array.start_tick_index - 1 if a_to_b else array.start_tick_index + span - 1
        index += 1
