"""One step of a v3 swap inside a single liquidity range (Uniswap v3 ``SwapMath.computeSwapStep``).

The pool's swap loop calls this once per range (or word of the tick bitmap); the amounts it returns are what
the trader pays and receives, so they must match the contract exactly, including the fee taken from an exact
input that does not reach the target (the whole remainder becomes fee) and the cap on an exact output.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdk.amm.errors import AmmInputError
from sdk.amm.full_math import mul_div, mul_div_rounding_up
from sdk.amm.uint import require_int, require_uint
from sdk.amm.uniswap_v3.sqrt_price_math import (
    get_amount0_delta,
    get_amount1_delta,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
)

FEE_DENOMINATOR_PIPS = 1_000_000


@dataclass(frozen=True, slots=True)
class SwapStep:
    """Result of one step: the price reached and the amounts in (fee excluded), out and fee (all uint256)."""

    sqrt_ratio_next_x96: int
    amount_in: int
    amount_out: int
    fee_amount: int


def require_fee_pips(fee_pips: int) -> int:
    """Fee in hundredths of a bip (uint24, ``3000`` = 0.3%); must be below 100%."""
    require_uint("fee_pips", fee_pips, 24)
    if fee_pips >= FEE_DENOMINATOR_PIPS:
        raise AmmInputError(f"fee_pips must be < 1_000_000 (100%), got {fee_pips}")
    return fee_pips


def compute_swap_step(
    sqrt_ratio_current_x96: int,
    sqrt_ratio_target_x96: int,
    liquidity: int,
    amount_remaining: int,
    fee_pips: int,
) -> SwapStep:
    """Swap within one range toward ``sqrt_ratio_target_x96``.

    The direction follows from the prices (token0 in when the target is not above the current price);
    ``amount_remaining > 0`` is an exact input (fee included), ``< 0`` an exact output.
    """
    require_uint("sqrt_ratio_current_x96", sqrt_ratio_current_x96, 160)
    require_uint("sqrt_ratio_target_x96", sqrt_ratio_target_x96, 160)
    require_uint("liquidity", liquidity, 128)
    require_int("amount_remaining", amount_remaining, 256)
    require_fee_pips(fee_pips)
    current, target = sqrt_ratio_current_x96, sqrt_ratio_target_x96
    zero_for_one = current >= target
    exact_in = amount_remaining >= 0

    amount_in = amount_out = 0
    if exact_in:
        remaining_less_fee = mul_div(amount_remaining, FEE_DENOMINATOR_PIPS - fee_pips, FEE_DENOMINATOR_PIPS)
        amount_in = (
            get_amount0_delta(target, current, liquidity, True)
            if zero_for_one
            else get_amount1_delta(current, target, liquidity, True)
        )
        if remaining_less_fee >= amount_in:
            next_price = target
        else:
            next_price = get_next_sqrt_price_from_input(current, liquidity, remaining_less_fee, zero_for_one)
    else:
        amount_out = (
            get_amount1_delta(target, current, liquidity, False)
            if zero_for_one
            else get_amount0_delta(current, target, liquidity, False)
        )
        if -amount_remaining >= amount_out:
            next_price = target
        else:
            next_price = get_next_sqrt_price_from_output(current, liquidity, -amount_remaining, zero_for_one)

    reached_target = next_price == target
    if zero_for_one:
        if not (reached_target and exact_in):
            amount_in = get_amount0_delta(next_price, current, liquidity, True)
        if not (reached_target and not exact_in):
            amount_out = get_amount1_delta(next_price, current, liquidity, False)
    else:
        if not (reached_target and exact_in):
            amount_in = get_amount1_delta(current, next_price, liquidity, True)
        if not (reached_target and not exact_in):
            amount_out = get_amount0_delta(current, next_price, liquidity, False)

    if not exact_in and amount_out > -amount_remaining:
        amount_out = -amount_remaining

    if exact_in and next_price != target:
        fee_amount = amount_remaining - amount_in
    else:
        fee_amount = mul_div_rounding_up(amount_in, fee_pips, FEE_DENOMINATOR_PIPS - fee_pips)
    return SwapStep(next_price, amount_in, amount_out, fee_amount)
