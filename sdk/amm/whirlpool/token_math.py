"""Token amounts between two sqrt prices and the sqrt price after an amount, as the Whirlpool program rounds.

For liquidity ``L`` between sqrt prices ``p_lo < p_hi`` (Q64.64)::

    amount_a = L * (p_hi - p_lo) * 2**64 / (p_hi * p_lo)       (token A, the base)
    amount_b = L * (p_hi - p_lo) / 2**64                        (token B, the quote)

rounded up when the pool receives the amount and down when it pays it. The program does this in fixed-width
integers and each width limit is an error it reports; the same limits are checked here in the same order so
the same error comes out:

* ``L * dp`` for token A must fit in 192 bits before the ``<< 64`` (``MultiplicationOverflow``), the
  quotient in u128 (``NumberDownCastError``) and then in u64 (``TokenMaxExceeded``);
* ``L * dp`` for token B must fit in u128 (``MultiplicationShiftRightOverflow``); rounding ``u64::MAX`` up is
  ``MultiplicationOverflow``.

The swap step first *tries* the fixed amount to the step's target: there an amount that does not fit is not an
error, it only means the target is out of reach (:class:`AmountDelta` with ``error`` set).
"""

from __future__ import annotations

from dataclasses import dataclass

from sdk.amm.whirlpool.errors import WhirlpoolError
from sdk.amm.whirlpool.tick_math import MAX_SQRT_PRICE_X64, MIN_SQRT_PRICE_X64

MAX_U64 = (1 << 64) - 1
MAX_U128 = (1 << 128) - 1
_Q64 = 64
_Q64_MASK = (1 << 64) - 1
_U192 = 1 << 192


@dataclass(frozen=True, slots=True)
class AmountDelta:
    """A u64 token amount, or the error computing it as a u64 would raise (``value`` is then ``None``)."""

    value: int | None
    error: str | None = None

    def lte(self, other: int) -> bool:
        """``value <= other``; an amount that does not fit is larger than any u64."""
        return self.value is not None and self.value <= other

    def unwrap(self, context: str) -> int:
        if self.value is None:
            assert self.error is not None
            raise WhirlpoolError(self.error, context)
        return self.value


def _ordered(p0: int, p1: int) -> tuple[int, int]:
    return (p1, p0) if p0 > p1 else (p0, p1)


def try_amount_delta_a(sqrt_price_0: int, sqrt_price_1: int, liquidity: int, round_up: bool) -> AmountDelta:
    """Token A between two sqrt prices; raises only ``MultiplicationOverflow`` (the program's hard error)."""
    lower, upper = _ordered(sqrt_price_0, sqrt_price_1)
    product = liquidity * (upper - lower)
    if product >= _U192:
        raise WhirlpoolError(
            "MultiplicationOverflow",
            f"liquidity * sqrt price difference = {product} does not fit in 192 bits (amount A)",
        )
    numerator = product << _Q64
    denominator = upper * lower
    quotient, remainder = divmod(numerator, denominator)
    if round_up and remainder:
        quotient += 1
    if quotient > MAX_U128:
        return AmountDelta(None, "NumberDownCastError")
    if quotient > MAX_U64:
        return AmountDelta(None, "TokenMaxExceeded")
    return AmountDelta(quotient)


def try_amount_delta_b(sqrt_price_0: int, sqrt_price_1: int, liquidity: int, round_up: bool) -> AmountDelta:
    """Token B between two sqrt prices; never raises, an unrepresentable amount is reported in the result."""
    lower, upper = _ordered(sqrt_price_0, sqrt_price_1)
    diff = upper - lower
    if liquidity == 0 or diff == 0:
        return AmountDelta(0)
    product = liquidity * diff
    if product > MAX_U128:
        return AmountDelta(None, "MultiplicationShiftRightOverflow")
    result = product >> _Q64
    if round_up and product & _Q64_MASK:
        if result == MAX_U64:
            return AmountDelta(None, "MultiplicationOverflow")
        result += 1
    return AmountDelta(result)


def amount_delta_a(sqrt_price_0: int, sqrt_price_1: int, liquidity: int, round_up: bool) -> int:
    """Token A between two sqrt prices as a u64, raising the program's error where it does not fit."""
    return try_amount_delta_a(sqrt_price_0, sqrt_price_1, liquidity, round_up).unwrap(
        f"amount A between sqrt prices {sqrt_price_0} and {sqrt_price_1} at liquidity {liquidity}"
    )


def amount_delta_b(sqrt_price_0: int, sqrt_price_1: int, liquidity: int, round_up: bool) -> int:
    """Token B between two sqrt prices as a u64, raising the program's error where it does not fit."""
    return try_amount_delta_b(sqrt_price_0, sqrt_price_1, liquidity, round_up).unwrap(
        f"amount B between sqrt prices {sqrt_price_0} and {sqrt_price_1} at liquidity {liquidity}"
    )


def next_sqrt_price_from_a(sqrt_price: int, liquidity: int, amount: int, amount_is_input: bool) -> int:
    """Sqrt price after adding (input) or removing (output) ``amount`` of token A; rounded up (against the
    trader: the price falls less)."""
    if amount == 0:
        return sqrt_price
    product = sqrt_price * amount
    scaled = liquidity * sqrt_price
    if scaled >= _U192:
        raise WhirlpoolError(
            "MultiplicationOverflow", f"liquidity * sqrt_price = {scaled} does not fit in 192 bits"
        )
    numerator = scaled << _Q64
    liquidity_x64 = liquidity << _Q64
    if not amount_is_input and liquidity_x64 <= product:
        raise WhirlpoolError(
            "DivideByZero",
            f"output amount {amount} of token A empties liquidity {liquidity} at sqrt price {sqrt_price}",
        )
    denominator = liquidity_x64 + product if amount_is_input else liquidity_x64 - product
    price = -(-numerator // denominator)
    if price > MAX_U128:
        raise WhirlpoolError("NumberDownCastError", f"next sqrt price {price} does not fit in u128")
    if price < MIN_SQRT_PRICE_X64:
        raise WhirlpoolError(
            "TokenMinSubceeded", f"next sqrt price {price} is below the minimum {MIN_SQRT_PRICE_X64}"
        )
    if price > MAX_SQRT_PRICE_X64:
        raise WhirlpoolError(
            "TokenMaxExceeded", f"next sqrt price {price} is above the maximum {MAX_SQRT_PRICE_X64}"
        )
    return price


def next_sqrt_price_from_b(sqrt_price: int, liquidity: int, amount: int, amount_is_input: bool) -> int:
    """Sqrt price after adding (input) or removing (output) ``amount`` of token B; the step rounds down
    for an input and up for an output (both against the trader)."""
    if liquidity == 0:
        raise WhirlpoolError("DivideByZero", f"token B amount {amount} against zero liquidity")
    delta, remainder = divmod(amount << _Q64, liquidity)
    if not amount_is_input and remainder:
        delta += 1
    result = sqrt_price + delta if amount_is_input else sqrt_price - delta
    if not 0 <= result <= MAX_U128:
        raise WhirlpoolError(
            "SqrtPriceOutOfBounds",
            f"sqrt price {sqrt_price} {'+' if amount_is_input else '-'} {delta} leaves u128",
        )
    return result


def next_sqrt_price(sqrt_price: int, liquidity: int, amount: int, amount_is_input: bool, a_to_b: bool) -> int:
    """Sqrt price after a fixed ``amount`` (token A moves it for input A->B and output B->A)."""
    if amount_is_input == a_to_b:
        return next_sqrt_price_from_a(sqrt_price, liquidity, amount, amount_is_input)
    return next_sqrt_price_from_b(sqrt_price, liquidity, amount, amount_is_input)
