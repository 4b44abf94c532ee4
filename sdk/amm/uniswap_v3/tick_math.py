"""Tick <-> sqrt-price conversion (Uniswap v3 ``TickMath``), exact to the last bit.

``get_sqrt_ratio_at_tick(t)`` is ``sqrt(1.0001**t) * 2**96`` as the contract computes it: a product of
precomputed Q128.128 factors ``round(2**128 / 1.0001**(2**i / 2))`` for the set bits of ``|t|``, each product
truncated to 128 fractional bits, inverted for positive ticks, then rounded *up* to Q64.96. That sequence of
roundings *is* the specification (pool state depends on it), so it is followed exactly.

``get_tick_at_sqrt_ratio(p)`` is specified as the greatest tick whose sqrt ratio is ``<= p``. The contract
reaches it through a fixed-point log2; here a float logarithm gives a guess within a tick or two and exact
integer comparisons with :func:`get_sqrt_ratio_at_tick` settle it, which yields the same answer by definition.
"""

from __future__ import annotations

import math

from sdk.amm.errors import UniswapV3Revert
from sdk.amm.uint import MAX_UINT256, require_int, require_uint

MIN_TICK = -887272
MAX_TICK = 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342

# round(2**128 / 1.0001 ** (2**i / 2)) for i = 0..19 (verified from that definition in the tests).
_BIT_FACTORS_Q128: tuple[int, ...] = (
    0xFFFCB933BD6FAD37AA2D162D1A594001,
    0xFFF97272373D413259A46990580E213A,
    0xFFF2E50F5F656932EF12357CF3C7FDCC,
    0xFFE5CACA7E10E4E61C3624EAA0941CD0,
    0xFFCB9843D60F6159C9DB58835C926644,
    0xFF973B41FA98C081472E6896DFB254C0,
    0xFF2EA16466C96A3843EC78B326B52861,
    0xFE5DEE046A99A2A811C461F1969C3053,
    0xFCBE86C7900A88AEDCFFC83B479AA3A4,
    0xF987A7253AC413176F2B074CF7815E54,
    0xF3392B0822B70005940C7A398E4B70F3,
    0xE7159475A2C29B7443B29C7FA6E889D9,
    0xD097F3BDFD2022B8845AD8F792AA5825,
    0xA9F746462D870FDF8A65DC1F90E061E5,
    0x70D869A156D2A1B890BB3DF62BAF32F7,
    0x31BE135F97D08FD981231505542FCFA6,
    0x9AA508B5B7A84E1C677DE54F3E99BC9,
    0x5D6AF8DEDB81196699C329225EE604,
    0x2216E584F5FA1EA926041BEDFE98,
    0x48A170391F7DC42444E8FA2,
)
_Q96 = 1 << 96
_LOG_SQRT_1_0001 = math.log(1.0001) / 2


def _sqrt_ratio_at_tick(tick: int) -> int:
    """Unchecked core of :func:`get_sqrt_ratio_at_tick` (``|tick| <= MAX_TICK`` assumed)."""
    abs_tick = -tick if tick < 0 else tick
    ratio = _BIT_FACTORS_Q128[0] if abs_tick & 1 else 1 << 128
    bit = 1
    for factor in _BIT_FACTORS_Q128[1:]:
        bit <<= 1
        if abs_tick & bit:
            ratio = (ratio * factor) >> 128
    if tick > 0:
        ratio = MAX_UINT256 // ratio
    return (ratio >> 32) + (1 if ratio & 0xFFFFFFFF else 0)


def get_sqrt_ratio_at_tick(tick: int) -> int:
    """``sqrt(1.0001**tick)`` as Q64.96; reverts ``'T'`` outside ``[MIN_TICK, MAX_TICK]``."""
    require_int("tick", tick, 24)
    if not MIN_TICK <= tick <= MAX_TICK:
        raise UniswapV3Revert("T", f"tick must be in [{MIN_TICK}, {MAX_TICK}], got {tick}")
    return _sqrt_ratio_at_tick(tick)


def get_tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """Greatest tick ``t`` with ``get_sqrt_ratio_at_tick(t) <= sqrt_price_x96``.

    Reverts ``'R'`` unless ``MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO`` (the price can never reach
    the ratio of ``MAX_TICK``).
    """
    require_uint("sqrt_price_x96", sqrt_price_x96, 160)
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise UniswapV3Revert(
            "R", f"sqrt_price_x96 must be in [{MIN_SQRT_RATIO}, {MAX_SQRT_RATIO}), got {sqrt_price_x96}"
        )
    # math.log is accurate to ~1e-16 relative for ints of any size: the guess is off by at most one tick.
    guess = math.floor((math.log(sqrt_price_x96) - math.log(_Q96)) / _LOG_SQRT_1_0001)
    tick = min(max(guess, MIN_TICK), MAX_TICK - 1)
    while tick > MIN_TICK and _sqrt_ratio_at_tick(tick) > sqrt_price_x96:
        tick -= 1
    while tick < MAX_TICK - 1 and _sqrt_ratio_at_tick(tick + 1) <= sqrt_price_x96:
        tick += 1
    return tick
