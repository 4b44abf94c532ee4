"""One Whirlpool swap step: from the current sqrt price towards a target at constant liquidity.

The *fixed* side is the amount the trader specified (input for exact-in, output for exact-out), the
*unfixed* side the one the pool computes. For an exact input the fee is taken off first
(``amount * (1e6 - fee_rate) / 1e6``, fee rate in hundredths of a bip); if the remaining amount reaches the
target the step ends there and the fee is ``ceil(amount_in * fee_rate / (1e6 - fee_rate))``, otherwise the
whole rest of the input is spent and the fee is what is left over. An exact output is capped at what
remains to be paid out. This is the program's
``compute_swap``, including which amounts it recomputes and where an amount that does not fit is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdk.amm.whirlpool.errors import WhirlpoolError
from sdk.amm.whirlpool.token_math import (
    MAX_U64,
    AmountDelta,
    amount_delta_a,
    amount_delta_b,
    next_sqrt_price,
    try_amount_delta_a,
    try_amount_delta_b,
)

#: Fee rates are in hundredths of a basis point: 3000 = 0.3 %.
FEE_RATE_DENOMINATOR = 1_000_000
#: Protocol fee rates are in basis points of the fee: 2500 = 25 % of the fee.
PROTOCOL_FEE_RATE_DENOMINATOR = 10_000
MAX_FEE_RATE = 30_000
MAX_PROTOCOL_FEE_RATE = 2_500


@dataclass(frozen=True, slots=True)
class SwapStep:
    """Amounts of one step: ``amount_in`` excludes the fee, which is ``fee_amount`` (in the input token)."""

    amount_in: int
    amount_out: int
    next_sqrt_price: int
    fee_amount: int


def _try_fixed(current: int, target: int, liquidity: int, is_input: bool, a_to_b: bool) -> AmountDelta:
    if a_to_b == is_input:
        return try_amount_delta_a(current, target, liquidity, is_input)
    return try_amount_delta_b(current, target, liquidity, is_input)


def _fixed(current: int, target: int, liquidity: int, is_input: bool, a_to_b: bool) -> int:
    if a_to_b == is_input:
        return amount_delta_a(current, target, liquidity, is_input)
    return amount_delta_b(current, target, liquidity, is_input)


def _unfixed(current: int, target: int, liquidity: int, is_input: bool, a_to_b: bool) -> int:
    if a_to_b == is_input:
        return amount_delta_b(current, target, liquidity, not is_input)
    return amount_delta_a(current, target, liquidity, not is_input)


def _to_u64(value: int, what: str) -> int:
    if value > MAX_U64:
        raise WhirlpoolError("NumberCastError", f"{what} = {value} does not fit in u64")
    return value


def compute_swap_step(
    amount_remaining: int,
    fee_rate: int,
    liquidity: int,
    sqrt_price_current: int,
    sqrt_price_target: int,
    *,
    amount_specified_is_input: bool,
    a_to_b: bool,
) -> SwapStep:
    """One step of the swap loop (arguments are trusted u64/u16/u128 values; :func:`swap` checks them)."""
    is_input = amount_specified_is_input
    initial_fixed = _try_fixed(sqrt_price_current, sqrt_price_target, liquidity, is_input, a_to_b)
    amount_calc = amount_remaining
    if is_input:
        amount_calc = amount_remaining * (FEE_RATE_DENOMINATOR - fee_rate) // FEE_RATE_DENOMINATOR
    if initial_fixed.lte(amount_calc):
        next_price = sqrt_price_target
    else:
        next_price = next_sqrt_price(sqrt_price_current, liquidity, amount_calc, is_input, a_to_b)
    is_max_swap = next_price == sqrt_price_target
    unfixed = _unfixed(sqrt_price_current, next_price, liquidity, is_input, a_to_b)
    if not is_max_swap or initial_fixed.value is None:
        fixed = _fixed(sqrt_price_current, next_price, liquidity, is_input, a_to_b)
    else:
        fixed = initial_fixed.value
    amount_in, amount_out = (fixed, unfixed) if is_input else (unfixed, fixed)
    if not is_input and amount_out > amount_remaining:
        amount_out = amount_remaining
    if is_input and not is_max_swap:
        fee_amount = amount_remaining - amount_in
    else:
        denominator = FEE_RATE_DENOMINATOR - fee_rate
        fee_amount = _to_u64(-(-amount_in * fee_rate // denominator), "fee amount")
    return SwapStep(amount_in, amount_out, next_price, fee_amount)
