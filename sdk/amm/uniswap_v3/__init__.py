"""Exact Uniswap v3 (concentrated liquidity) math and an in-memory pool simulator.

Modules mirror the v3-core libraries: :mod:`.tick_math`, :mod:`.sqrt_price_math`, :mod:`.swap_math`,
:mod:`.tick_bitmap`, :mod:`.pool`; ``mul_div`` comes from :mod:`sdk.amm.full_math`. Everything is integer math
on Python ints with uint/int width checks at the boundary, so results equal the contract's bit for bit.
"""

from sdk.amm.full_math import div_rounding_up, mul_div, mul_div_rounding_up
from sdk.amm.uniswap_v3.pool import Pool, SwapResult, TickInfo, max_liquidity_per_tick
from sdk.amm.uniswap_v3.sqrt_price_math import (
    Q96,
    get_amount0_delta,
    get_amount0_delta_signed,
    get_amount1_delta,
    get_amount1_delta_signed,
    get_next_sqrt_price_from_amount0_rounding_up,
    get_next_sqrt_price_from_amount1_rounding_down,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
)
from sdk.amm.uniswap_v3.swap_math import SwapStep, compute_swap_step
from sdk.amm.uniswap_v3.tick_bitmap import TickBitmap
from sdk.amm.uniswap_v3.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)

Q128 = 1 << 128

__all__ = [
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "Q96",
    "Q128",
    "Pool",
    "SwapResult",
    "SwapStep",
    "TickBitmap",
    "TickInfo",
    "compute_swap_step",
    "div_rounding_up",
    "get_amount0_delta",
    "get_amount0_delta_signed",
    "get_amount1_delta",
    "get_amount1_delta_signed",
    "get_next_sqrt_price_from_amount0_rounding_up",
    "get_next_sqrt_price_from_amount1_rounding_down",
    "get_next_sqrt_price_from_input",
    "get_next_sqrt_price_from_output",
    "get_sqrt_ratio_at_tick",
    "get_tick_at_sqrt_ratio",
    "max_liquidity_per_tick",
    "mul_div",
    "mul_div_rounding_up",
]
