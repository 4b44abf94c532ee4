"""Whirlpool tick <-> sqrt price in Q64.64, bit-exact with the program's ``tick_math``.

Whirlpool prices are ``1.0001 ** tick`` like Uniswap v3, but stored as ``sqrt_price_x64 = sqrt(price) *
2**64`` with ticks in ``[-443636, 443636]``. The program computes the sqrt price by a product of precomputed
powers ``sqrt(1.0001) ** (2**k)``: for positive ticks in Q32.96 (truncated by ``>> 96`` after each product,
then ``>> 32`` at the end), for negative ticks in Q64.64 (``>> 64`` after each product). The inverse finds
``log2`` to 14 fractional bits by repeated squaring, converts to ``log_sqrt(1.0001)`` with a fixed-point
constant and, where the error margins leave two candidate ticks, settles it by evaluating the forward map.
Both reproduce the chain's rounding exactly, which matters: a swap's end tick is part of the pool state it
leaves behind.
"""

from __future__ import annotations

from sdk.amm.errors import AmmInputError
from sdk.amm.uint import require_int, require_uint

MIN_TICK_INDEX = -443_636
MAX_TICK_INDEX = 443_636
MIN_SQRT_PRICE_X64 = 4_295_048_016
MAX_SQRT_PRICE_X64 = 79_226_673_515_401_279_992_447_579_055

_ONE_X96 = 1 << 96
_ONE_X64 = 1 << 64
# sqrt(1.0001) ** (2**k) in Q32.96, k = 0..18 (positive ticks)
_POSITIVE_FACTORS_X96 = (
    79232123823359799118286999567,
    79236085330515764027303304731,
    79244008939048815603706035061,
    79259858533276714757314932305,
    79291567232598584799939703904,
    79355022692464371645785046466,
    79482085999252804386437311141,
    79736823300114093921829183326,
    80248749790819932309965073892,
    81282483887344747381513967011,
    83390072131320151908154831281,
    87770609709833776024991924138,
    97234110755111693312479820773,
    119332217159966728226237229890,
    179736315981702064433883588727,
    407748233172238350107850275304,
    2098478828474011932436660412517,
    55581415166113811149459800483533,
    38992368544603139932233054999993551,
)
# sqrt(1.0001) ** -(2**k) in Q64.64, k = 0..18 (negative ticks)
_NEGATIVE_FACTORS_X64 = (
    18445821805675392311,
    18444899583751176498,
    18443055278223354162,
    18439367220385604838,
    18431993317065449817,
    18417254355718160513,
    18387811781193591352,
    18329067761203520168,
    18212142134806087854,
    17980523815641551639,
    17526086738831147013,
    16651378430235024244,
    15030750278693429944,
    12247334978882834399,
    8131365268884726200,
    3584323654723342297,
    696457651847595233,
    26294789957452057,
    37481735321082,
)
# log_sqrt(1.0001)(2) in Q32.32 and the error margins (Q64.64) of the 14-bit log2 estimate
_LOG_B_2_X32 = 59_543_866_431_248
_LOG2_FRACTION_BITS = 14
_MARGIN_LOWER_X64 = 184_467_440_737_095_516  # 0.01
_MARGIN_UPPER_X64 = 15_793_534_762_490_258_745  # 2**-14 / log2(b) + 0.01


def sqrt_price_from_tick_index(tick: int) -> int:
    """``sqrt(1.0001 ** tick) * 2**64`` with the program's rounding; ``tick`` in ``[-443636, 443636]``."""
    require_int("tick", tick, 32)
    if not MIN_TICK_INDEX <= tick <= MAX_TICK_INDEX:
        raise AmmInputError(f"tick must be in [{MIN_TICK_INDEX}, {MAX_TICK_INDEX}], got {tick}")
    return _sqrt_price_at(tick)


def _sqrt_price_at(tick: int) -> int:
    """The forward map without the range check (the inverse probes one tick past the edge)."""
    if tick >= 0:
        ratio = _POSITIVE_FACTORS_X96[0] if tick & 1 else _ONE_X96
        for k in range(1, 19):
            if tick & (1 << k):
                ratio = (ratio * _POSITIVE_FACTORS_X96[k]) >> 96
        return ratio >> 32
    magnitude = -tick
    ratio = _NEGATIVE_FACTORS_X64[0] if magnitude & 1 else _ONE_X64
    for k in range(1, 19):
        if magnitude & (1 << k):
            ratio = (ratio * _NEGATIVE_FACTORS_X64[k]) >> 64
    return ratio


def tick_index_from_sqrt_price(sqrt_price_x64: int) -> int:
    """The greatest tick whose sqrt price is ``<= sqrt_price_x64`` (as the program computes it).

    ``sqrt_price_x64`` must be in ``[MIN_SQRT_PRICE_X64, MAX_SQRT_PRICE_X64]``.
    """
    require_uint("sqrt_price_x64", sqrt_price_x64, 128)
    if not MIN_SQRT_PRICE_X64 <= sqrt_price_x64 <= MAX_SQRT_PRICE_X64:
        raise AmmInputError(
            f"sqrt_price_x64 must be in [{MIN_SQRT_PRICE_X64}, {MAX_SQRT_PRICE_X64}], got {sqrt_price_x64}"
        )
    msb = sqrt_price_x64.bit_length() - 1
    log2_integer_x32 = (msb - 64) << 32
    # normalise to [2**63, 2**64): a 1.63 fixed-point mantissa in [1, 2)
    r = sqrt_price_x64 >> (msb - 63) if msb >= 63 else sqrt_price_x64 << (63 - msb)
    fraction_x64 = 0
    bit = 1 << 63
    for _ in range(_LOG2_FRACTION_BITS):
        r *= r
        above_two = r >> 127
        r >>= 63 + above_two
        if above_two:
            fraction_x64 += bit
        bit >>= 1
    log2_x32 = log2_integer_x32 + (fraction_x64 >> 32)
    log_b_x64 = log2_x32 * _LOG_B_2_X32
    tick_low = (log_b_x64 - _MARGIN_LOWER_X64) >> 64
    tick_high = (log_b_x64 + _MARGIN_UPPER_X64) >> 64
    if tick_low == tick_high:
        return tick_low
    return tick_high if _sqrt_price_at(tick_high) <= sqrt_price_x64 else tick_low
