"""Price moves and token amounts inside one liquidity range (Uniswap v3 ``SqrtPriceMath``).

With liquidity ``L`` and sqrt prices ``a < b`` (Q64.96), a range holds ``L * (b - a) / (a * b)`` of token0 and
``L * (b - a)`` of token1. Every function rounds in the pool's favour exactly as the contract does: inputs
owed to the pool round up, outputs paid by it round down, and a price moved by an input never overshoots. The
uint256 overflow branches of the contract are reproduced, because they change the rounding for extreme inputs.

Bare ``require``s of the contract raise :class:`~sdk.amm.errors.UniswapV3Revert` with these reason tokens of
ours: ``ZERO_PRICE``, ``ZERO_LIQUIDITY``, ``INSUFFICIENT_RESERVES`` (an output at or beyond the range's
virtual reserve), ``PRICE_OVERFLOW`` (result beyond uint160), ``ADD_OVERFLOW``, ``INT256_OVERFLOW``.
"""

from __future__ import annotations

from sdk.amm.errors import UniswapV3Revert
from sdk.amm.full_math import div_rounding_up, mul_div, mul_div_rounding_up
from sdk.amm.uint import MAX_INT256, MAX_UINT160, MAX_UINT256, require_bool, require_int, require_uint

Q96 = 1 << 96
_RESOLUTION = 96


def _require_price_and_liquidity(sqrt_price_x96: int, liquidity: int) -> None:
    if sqrt_price_x96 == 0:
        raise UniswapV3Revert("ZERO_PRICE", "sqrt_price_x96 must be > 0")
    if liquidity == 0:
        raise UniswapV3Revert("ZERO_LIQUIDITY", "liquidity must be > 0")


def get_next_sqrt_price_from_amount0_rounding_up(
    sqrt_price_x96: int, liquidity: int, amount: int, add: bool
) -> int:
    """Price after adding (``add``) or removing ``amount`` of token0: ``L*p / (L +- a*p)``, rounded up."""
    require_uint("sqrt_price_x96", sqrt_price_x96, 160)
    require_uint("liquidity", liquidity, 128)
    require_uint("amount", amount)
    require_bool("add", add)
    if amount == 0:
        return sqrt_price_x96
    numerator1 = liquidity << _RESOLUTION
    product = amount * sqrt_price_x96
    if add:
        if product <= MAX_UINT256 and numerator1 + product <= MAX_UINT256:
            return mul_div_rounding_up(numerator1, sqrt_price_x96, numerator1 + product)
        # Overflow branch of the contract: L / (L/p + amount), which rounds differently.
        denominator = numerator1 // sqrt_price_x96 + amount
        if denominator > MAX_UINT256:
            raise UniswapV3Revert("ADD_OVERFLOW", "L/p + amount exceeds uint256")
        return div_rounding_up(numerator1, denominator)
    if product > MAX_UINT256 or numerator1 <= product:
        raise UniswapV3Revert("INSUFFICIENT_RESERVES", "token0 output reaches the range's virtual reserve")
    result = mul_div_rounding_up(numerator1, sqrt_price_x96, numerator1 - product)
    if result > MAX_UINT160:
        raise UniswapV3Revert("PRICE_OVERFLOW", "next sqrt price exceeds uint160")
    return result


def get_next_sqrt_price_from_amount1_rounding_down(
    sqrt_price_x96: int, liquidity: int, amount: int, add: bool
) -> int:
    """Price after adding (``add``) or removing ``amount`` of token1: ``p +- amount / L``, rounded down."""
    require_uint("sqrt_price_x96", sqrt_price_x96, 160)
    require_uint("liquidity", liquidity, 128)
    require_uint("amount", amount)
    require_bool("add", add)
    if liquidity == 0:
        raise UniswapV3Revert("ZERO_LIQUIDITY", "liquidity must be > 0 to move the price by a token1 amount")
    if add:
        quotient = (
            (amount << _RESOLUTION) // liquidity if amount <= MAX_UINT160 else mul_div(amount, Q96, liquidity)
        )
        result = sqrt_price_x96 + quotient
        if result > MAX_UINT256:
            raise UniswapV3Revert("ADD_OVERFLOW", "sqrt price + amount/L exceeds uint256")
        if result > MAX_UINT160:
            raise UniswapV3Revert("PRICE_OVERFLOW", "next sqrt price exceeds uint160")
        return result
    quotient = (
        div_rounding_up(amount << _RESOLUTION, liquidity)
        if amount <= MAX_UINT160
        else mul_div_rounding_up(amount, Q96, liquidity)
    )
    if sqrt_price_x96 <= quotient:
        raise UniswapV3Revert("INSUFFICIENT_RESERVES", "token1 output reaches the range's virtual reserve")
    return sqrt_price_x96 - quotient


def get_next_sqrt_price_from_input(
    sqrt_price_x96: int, liquidity: int, amount_in: int, zero_for_one: bool
) -> int:
    """Price after ``amount_in`` of the input token (token0 if ``zero_for_one``) enters; never overshoots."""
    require_uint("sqrt_price_x96", sqrt_price_x96, 160)
    require_uint("liquidity", liquidity, 128)
    require_uint("amount_in", amount_in)
    require_bool("zero_for_one", zero_for_one)
    _require_price_and_liquidity(sqrt_price_x96, liquidity)
    if zero_for_one:
        return get_next_sqrt_price_from_amount0_rounding_up(sqrt_price_x96, liquidity, amount_in, True)
    return get_next_sqrt_price_from_amount1_rounding_down(sqrt_price_x96, liquidity, amount_in, True)


def get_next_sqrt_price_from_output(
    sqrt_price_x96: int, liquidity: int, amount_out: int, zero_for_one: bool
) -> int:
    """Price after ``amount_out`` of the output token (token1 if ``zero_for_one``) leaves the pool."""
    require_uint("sqrt_price_x96", sqrt_price_x96, 160)
    require_uint("liquidity", liquidity, 128)
    require_uint("amount_out", amount_out)
    require_bool("zero_for_one", zero_for_one)
    _require_price_and_liquidity(sqrt_price_x96, liquidity)
    if zero_for_one:
        return get_next_sqrt_price_from_amount1_rounding_down(sqrt_price_x96, liquidity, amount_out, False)
    return get_next_sqrt_price_from_amount0_rounding_up(sqrt_price_x96, liquidity, amount_out, False)


def get_amount0_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """Token0 between two prices (any order): ``L * |b - a| / (a * b)``, rounded up or down."""
    require_uint("sqrt_ratio_a_x96", sqrt_ratio_a_x96, 160)
    require_uint("sqrt_ratio_b_x96", sqrt_ratio_b_x96, 160)
    require_uint("liquidity", liquidity, 128)
    require_bool("round_up", round_up)
    lower, upper = sorted((sqrt_ratio_a_x96, sqrt_ratio_b_x96))
    if lower == 0:
        raise UniswapV3Revert("ZERO_PRICE", "sqrt ratios must be > 0")
    numerator1 = liquidity << _RESOLUTION
    numerator2 = upper - lower
    if round_up:
        return div_rounding_up(mul_div_rounding_up(numerator1, numerator2, upper), lower)
    return mul_div(numerator1, numerator2, upper) // lower


def get_amount1_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """Token1 between two prices (any order): ``L * |b - a| / 2**96``, rounded up or down."""
    require_uint("sqrt_ratio_a_x96", sqrt_ratio_a_x96, 160)
    require_uint("sqrt_ratio_b_x96", sqrt_ratio_b_x96, 160)
    require_uint("liquidity", liquidity, 128)
    require_bool("round_up", round_up)
    lower, upper = sorted((sqrt_ratio_a_x96, sqrt_ratio_b_x96))
    if round_up:
        return mul_div_rounding_up(liquidity, upper - lower, Q96)
    return mul_div(liquidity, upper - lower, Q96)


def _to_int256(value: int) -> int:
    if value > MAX_INT256:
        raise UniswapV3Revert("INT256_OVERFLOW", "amount does not fit in int256")
    return value


def get_amount0_delta_signed(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity_delta: int) -> int:
    """Signed token0 for a liquidity change: adding rounds up (> 0), removing rounds down (< 0)."""
    require_int("liquidity_delta", liquidity_delta, 128)
    if liquidity_delta < 0:
        return -_to_int256(get_amount0_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, -liquidity_delta, False))
    return _to_int256(get_amount0_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, liquidity_delta, True))


def get_amount1_delta_signed(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity_delta: int) -> int:
    """Signed token1 for a liquidity change: adding rounds up (> 0), removing rounds down (< 0)."""
    require_int("liquidity_delta", liquidity_delta, 128)
    if liquidity_delta < 0:
        return -_to_int256(get_amount1_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, -liquidity_delta, False))
    return _to_int256(get_amount1_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, liquidity_delta, True))
