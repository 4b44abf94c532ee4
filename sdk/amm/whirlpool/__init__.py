"""Exact Orca Whirlpool (Solana) math: Q64.64 tick math, swap steps, tick arrays and the swap loop.

Whirlpool is concentrated liquidity like Uniswap v3 but not configurable into it: Q64.64 sqrt prices, its
own tick-to-price constants and limits, 88-tick arrays, fee rates in hundredths of a bip and a protocol fee
taken out of the fee. Results equal the program's integer for integer, errors included (checked on the
program's 2880 splash-pool swap cases in ``../shared/data/amm/orca_whirlpools``). Entry point: :func:`swap`.
"""

from sdk.amm.whirlpool.errors import ERROR_NUMBERS, WhirlpoolError
from sdk.amm.whirlpool.swap import (
    NO_EXPLICIT_SQRT_PRICE_LIMIT,
    SwapResult,
    WhirlpoolState,
    sequence_sqrt_price_limit,
    swap,
)
from sdk.amm.whirlpool.swap_math import (
    FEE_RATE_DENOMINATOR,
    PROTOCOL_FEE_RATE_DENOMINATOR,
    SwapStep,
    compute_swap_step,
)
from sdk.amm.whirlpool.tick_array import (
    TICK_ARRAY_SIZE,
    Tick,
    TickArray,
    select_swap_arrays,
    start_tick_index_for,
    swap_tick_array_starts,
)
from sdk.amm.whirlpool.tick_math import (
    MAX_SQRT_PRICE_X64,
    MAX_TICK_INDEX,
    MIN_SQRT_PRICE_X64,
    MIN_TICK_INDEX,
    sqrt_price_from_tick_index,
    tick_index_from_sqrt_price,
)

__all__ = [
    "ERROR_NUMBERS",
    "FEE_RATE_DENOMINATOR",
    "MAX_SQRT_PRICE_X64",
    "MAX_TICK_INDEX",
    "MIN_SQRT_PRICE_X64",
    "MIN_TICK_INDEX",
    "NO_EXPLICIT_SQRT_PRICE_LIMIT",
    "PROTOCOL_FEE_RATE_DENOMINATOR",
    "TICK_ARRAY_SIZE",
    "SwapResult",
    "SwapStep",
    "Tick",
    "TickArray",
    "WhirlpoolError",
    "WhirlpoolState",
    "compute_swap_step",
    "select_swap_arrays",
    "sequence_sqrt_price_limit",
    "sqrt_price_from_tick_index",
    "start_tick_index_for",
    "swap",
    "swap_tick_array_starts",
    "tick_index_from_sqrt_price",
]
