"""Paper execution on a Solana pool: fills at the pool's exact math within a slippage cap, fees priced in.

No transaction is built or signed (live execution waits for a signer design). A paper fill takes the pool
state the plan was priced on, the state at fill time, and fills at the fill-time exact amounts provided they
are within ``slippage_bps`` of the planned quote, otherwise it is refused, as the program would refuse a
swap whose ``other_amount_threshold`` is not met. The transaction's cost is the network's: a 5000-lamport
base fee per signature plus the priority fee, ``compute_units * price`` micro-lamports, with the price taken
as a percentile of recent prioritisation fees (``getRecentPrioritizationFees``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sdk.amm.whirlpool import (
    TickArray,
    WhirlpoolError,
    WhirlpoolState,
    select_swap_arrays,
    sequence_sqrt_price_limit,
    swap,
)

LAMPORTS_PER_SIGNATURE = 5_000
DEFAULT_COMPUTE_UNITS = 200_000


class PaperFillRefused(ValueError):
    """The fill-time amounts miss the slippage cap (or the pool cannot fill the size)."""


def priority_fee_price(recent_micro_lamports: Sequence[int], percentile: float = 75.0) -> int:
    """Nearest-rank ``percentile`` of recent prioritisation fees (micro-lamports per compute unit)."""
    if not recent_micro_lamports:
        return 0
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {percentile!r}")
    ordered = sorted(recent_micro_lamports)
    rank = max(0, math.ceil(percentile / 100.0 * len(ordered)) - 1)
    return ordered[rank]


def network_fee_lamports(
    *, priority_price_micro_lamports: int, compute_units: int = DEFAULT_COMPUTE_UNITS, signatures: int = 1
) -> int:
    """Base fee plus priority fee, in lamports (the priority part rounded up, as the runtime does)."""
    priority = -(-compute_units * priority_price_micro_lamports // 1_000_000)
    return LAMPORTS_PER_SIGNATURE * signatures + priority


@dataclass(frozen=True, slots=True)
class PaperFill:
    """A simulated swap: raw amounts in and out, the threshold it had to meet, and the network fee."""

    a_to_b: bool
    amount_in: int
    amount_out: int
    threshold: int
    network_fee_lamports: int


def paper_swap(
    planned: WhirlpoolState,
    current: WhirlpoolState,
    tick_arrays: Sequence[TickArray],
    amount_in: int,
    *,
    a_to_b: bool,
    slippage_bps: int,
    network_fee: int,
) -> PaperFill:
    """Fill an exact-input swap at ``current`` if it pays at least the ``planned`` quote less the slippage.

    ``tick_arrays`` are the loaded arrays (any order); each state walks the ones its swap would be given.
    """
    if not 0 <= slippage_bps <= 10_000:
        raise ValueError(f"slippage_bps must be in [0, 10000], got {slippage_bps!r}")
    results = []
    for state in (planned, current):
        arrays = select_swap_arrays(tick_arrays, state.tick_current_index, state.tick_spacing, a_to_b)
        if not arrays:
            raise PaperFillRefused(f"no tick array loaded for tick {state.tick_current_index}")
        limit = sequence_sqrt_price_limit(arrays, state.tick_spacing, a_to_b)
        try:
            result = swap(
                state,
                arrays,
                amount_in,
                sqrt_price_limit=limit,
                amount_specified_is_input=True,
                a_to_b=a_to_b,
            )
        except WhirlpoolError as err:
            raise PaperFillRefused(f"the pool cannot fill {amount_in}: {err}") from err
        results.append(result)
    quote, fill = results
    planned_out = quote.amount_b if a_to_b else quote.amount_a
    spent = fill.amount_a if a_to_b else fill.amount_b
    out = fill.amount_b if a_to_b else fill.amount_a
    threshold = planned_out * (10_000 - slippage_bps) // 10_000
    if spent != amount_in:
        raise PaperFillRefused(f"only {spent} of {amount_in} could be filled within the tick arrays")
    if out < threshold:
        raise PaperFillRefused(
            f"fill-time output {out} is below the threshold {threshold} "
            f"(planned {planned_out}, slippage cap {slippage_bps} bps)"
        )
    return PaperFill(a_to_b, amount_in, out, threshold, network_fee)
