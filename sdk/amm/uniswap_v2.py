"""Exact Uniswap v2 constant-product math (``UniswapV2Library``, ``UniswapV2Pair.swap``, arbitrage sizing).

Integer-for-integer the same results and the same reverts as the Solidity contracts, so a plan sized with
these functions executes on chain without a ``UniswapV2: K`` surprise:

* :func:`get_amount_out` / :func:`get_amount_in` / :func:`quote` and the multi-hop
  :func:`get_amounts_out` / :func:`get_amounts_in` (``UniswapV2Library``);
* :func:`pair_swap` - the pair's own acceptance test (output caps, inferred inputs, the fee-adjusted ``K``
  invariant, uint112 reserves), which is what actually decides whether a swap succeeds;
* :func:`compute_profit_maximizing_trade` / :func:`get_reserves_after_arbitrage` /
  :func:`arbitrage_to_true_price` (``UniswapV2LiquidityMathLibrary``): the closed-form trade that moves the
  pool to an external "true" price ``true_price_a : true_price_b``, the ratio of amounts of A and B of equal
  value (``1 : 90`` means one A is worth 90 B; the pool is at the true price when ``R_a : R_b`` equals it).

The fee is configurable in pips (hundredths of a basis point, ``3000`` = 0.3%, the v2 default). The fraction
``(1e6 - fee_pips) / 1e6`` is reduced first, so the default uses exactly the contract's ``997 / 1000`` and
every intermediate (hence every SafeMath overflow revert) is identical to the deployed code.

Conventions: amounts and reserves are raw token units (wei) as Python ``int``; negative or non-integer inputs
are refused with :class:`~sdk.amm.errors.AmmInputError`; conditions the contract reverts on raise
:class:`~sdk.amm.errors.UniswapV2Revert` whose ``revert_string`` is the contract's (e.g.
``"UniswapV2Library: INSUFFICIENT_LIQUIDITY"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sdk.amm.errors import AmmInputError, UniswapV2Revert
from sdk.amm.full_math import mul_div
from sdk.amm.uint import MAX_UINT112, MAX_UINT256, require_uint

FEE_DENOMINATOR_PIPS = 1_000_000
DEFAULT_FEE_PIPS = 3000

_LIB = "UniswapV2Library"
_PAIR = "UniswapV2"
_ARB = "UniswapV2ArbitrageLibrary"


def _revert(prefix: str, reason: str, detail: str) -> UniswapV2Revert:
    return UniswapV2Revert(reason, detail, revert_string=f"{prefix}: {reason}")


def _fee_fraction(fee_pips: int) -> tuple[int, int]:
    """``(gamma_num, gamma_den)``: the share of the input that counts after the fee, in lowest terms."""
    if not isinstance(fee_pips, int) or isinstance(fee_pips, bool):
        raise AmmInputError(
            f"fee_pips must be an int in [0, 1_000_000), got {type(fee_pips).__name__} {fee_pips!r}"
        )
    if not 0 <= fee_pips < FEE_DENOMINATOR_PIPS:
        raise AmmInputError(f"fee_pips must be in [0, 1_000_000) (3000 = 0.3%), got {fee_pips!r}")
    num = FEE_DENOMINATOR_PIPS - fee_pips
    g = math.gcd(num, FEE_DENOMINATOR_PIPS)
    return num // g, FEE_DENOMINATOR_PIPS // g


def _mul(a: int, b: int) -> int:
    """SafeMath ``mul``: reverts ``ds-math-mul-overflow`` past uint256."""
    product = a * b
    if product > MAX_UINT256:
        raise UniswapV2Revert(
            "MUL_OVERFLOW", "intermediate product exceeds uint256", revert_string="ds-math-mul-overflow"
        )
    return product


def _add(a: int, b: int) -> int:
    """SafeMath ``add``: reverts ``ds-math-add-overflow`` past uint256."""
    total = a + b
    if total > MAX_UINT256:
        raise UniswapV2Revert(
            "ADD_OVERFLOW", "intermediate sum exceeds uint256", revert_string="ds-math-add-overflow"
        )
    return total


def get_amount_out(
    amount_in: int, reserve_in: int, reserve_out: int, fee_pips: int = DEFAULT_FEE_PIPS
) -> int:
    """Maximum output for an exact input: ``floor(a*g*R_out / (R_in + a*g))``, ``g`` the post-fee share.

    Reverts ``INSUFFICIENT_INPUT_AMOUNT`` for a zero input, ``INSUFFICIENT_LIQUIDITY`` for an empty reserve.
    """
    require_uint("amount_in", amount_in)
    require_uint("reserve_in", reserve_in)
    require_uint("reserve_out", reserve_out)
    num, den = _fee_fraction(fee_pips)
    if amount_in == 0:
        raise _revert(_LIB, "INSUFFICIENT_INPUT_AMOUNT", "amount_in must be > 0")
    if reserve_in == 0 or reserve_out == 0:
        raise _revert(
            _LIB, "INSUFFICIENT_LIQUIDITY", f"reserves must be > 0, got ({reserve_in}, {reserve_out})"
        )
    amount_in_with_fee = _mul(amount_in, num)
    numerator = _mul(amount_in_with_fee, reserve_out)
    denominator = _add(_mul(reserve_in, den), amount_in_with_fee)
    return numerator // denominator


def get_amount_in(
    amount_out: int, reserve_in: int, reserve_out: int, fee_pips: int = DEFAULT_FEE_PIPS
) -> int:
    """Input the library asks for an exact output: ``floor(R_in*b / ((R_out - b)*g)) + 1``.

    Reverts ``INSUFFICIENT_OUTPUT_AMOUNT`` for a zero output and ``INSUFFICIENT_LIQUIDITY`` for an empty
    reserve or an output the pool cannot pay (``b >= R_out``; on chain that is a SafeMath underflow or a
    division by zero, reported in ``revert_string``).
    """
    require_uint("amount_out", amount_out)
    require_uint("reserve_in", reserve_in)
    require_uint("reserve_out", reserve_out)
    num, den = _fee_fraction(fee_pips)
    if amount_out == 0:
        raise _revert(_LIB, "INSUFFICIENT_OUTPUT_AMOUNT", "amount_out must be > 0")
    if reserve_in == 0 or reserve_out == 0:
        raise _revert(
            _LIB, "INSUFFICIENT_LIQUIDITY", f"reserves must be > 0, got ({reserve_in}, {reserve_out})"
        )
    numerator = _mul(_mul(reserve_in, amount_out), den)
    if amount_out > reserve_out:
        raise UniswapV2Revert(
            "INSUFFICIENT_LIQUIDITY",
            f"amount_out {amount_out} exceeds reserve_out {reserve_out}",
            revert_string="ds-math-sub-underflow",
        )
    if amount_out == reserve_out:
        raise UniswapV2Revert(
            "INSUFFICIENT_LIQUIDITY",
            f"amount_out equals reserve_out {reserve_out}: the pool cannot pay out its whole reserve",
            revert_string="division by zero",
        )
    denominator = _mul(reserve_out - amount_out, num)
    return _add(numerator // denominator, 1)


def quote(amount_a: int, reserve_a: int, reserve_b: int) -> int:
    """Equivalent amount of B at the pool's current ratio, no fee: ``floor(a * R_b / R_a)``."""
    require_uint("amount_a", amount_a)
    require_uint("reserve_a", reserve_a)
    require_uint("reserve_b", reserve_b)
    if amount_a == 0:
        raise _revert(_LIB, "INSUFFICIENT_AMOUNT", "amount_a must be > 0")
    if reserve_a == 0 or reserve_b == 0:
        raise _revert(_LIB, "INSUFFICIENT_LIQUIDITY", f"reserves must be > 0, got ({reserve_a}, {reserve_b})")
    return _mul(amount_a, reserve_b) // reserve_a


def get_amounts_out(
    amount_in: int, hops: Sequence[tuple[int, int]], fee_pips: int = DEFAULT_FEE_PIPS
) -> tuple[int, ...]:
    """Router ``getAmountsOut``: amounts along a path, ``hops[i] = (reserve_in, reserve_out)`` of pair ``i``.

    Returns ``len(hops) + 1`` amounts, the first being ``amount_in``. An empty path reverts ``INVALID_PATH``.
    """
    if len(hops) == 0:
        raise _revert(_LIB, "INVALID_PATH", "a path needs at least one pair")
    amounts = [require_uint("amount_in", amount_in)]
    for reserve_in, reserve_out in hops:
        amounts.append(get_amount_out(amounts[-1], reserve_in, reserve_out, fee_pips))
    return tuple(amounts)


def get_amounts_in(
    amount_out: int, hops: Sequence[tuple[int, int]], fee_pips: int = DEFAULT_FEE_PIPS
) -> tuple[int, ...]:
    """Router ``getAmountsIn``: inputs along a path for an exact final output (same ``hops`` layout)."""
    if len(hops) == 0:
        raise _revert(_LIB, "INVALID_PATH", "a path needs at least one pair")
    amounts = [require_uint("amount_out", amount_out)]
    for reserve_in, reserve_out in reversed(hops):
        amounts.append(get_amount_in(amounts[-1], reserve_in, reserve_out, fee_pips))
    return tuple(reversed(amounts))


def pair_swap(
    reserve0: int,
    reserve1: int,
    *,
    amount0_out: int,
    amount1_out: int,
    amount0_paid: int,
    amount1_paid: int,
    fee_pips: int = DEFAULT_FEE_PIPS,
) -> tuple[int, int]:
    """``UniswapV2Pair.swap`` acceptance test; returns the reserves after a successful swap.

    ``amount*_paid`` are the tokens transferred to the pair for this swap (before the call or in the
    flash-swap callback); the pair infers its inputs from its balances exactly as on chain, so paying and
    taking out the same token (a flash swap) is covered. Checks, in the contract's order:
    ``INSUFFICIENT_OUTPUT_AMOUNT``, ``INSUFFICIENT_LIQUIDITY`` (an output must be strictly below its reserve),
    ``INSUFFICIENT_INPUT_AMOUNT``, ``K`` (the fee-adjusted product must not decrease), ``OVERFLOW`` (uint112).
    """
    require_uint("reserve0", reserve0, 112)
    require_uint("reserve1", reserve1, 112)
    require_uint("amount0_out", amount0_out)
    require_uint("amount1_out", amount1_out)
    require_uint("amount0_paid", amount0_paid)
    require_uint("amount1_paid", amount1_paid)
    num, den = _fee_fraction(fee_pips)
    if amount0_out == 0 and amount1_out == 0:
        raise _revert(_PAIR, "INSUFFICIENT_OUTPUT_AMOUNT", "at least one output must be > 0")
    if not (amount0_out < reserve0 and amount1_out < reserve1):
        raise _revert(
            _PAIR,
            "INSUFFICIENT_LIQUIDITY",
            f"outputs ({amount0_out}, {amount1_out}) must be below reserves ({reserve0}, {reserve1})",
        )
    balance0 = reserve0 - amount0_out + amount0_paid
    balance1 = reserve1 - amount1_out + amount1_paid
    if balance0 > MAX_UINT256 or balance1 > MAX_UINT256:
        raise AmmInputError("amount0_paid/amount1_paid push a token balance past uint256")
    # The pair infers its input as ``balance - (reserve - out)``, which is exactly what was paid in.
    amount0_in, amount1_in = amount0_paid, amount1_paid
    if amount0_in == 0 and amount1_in == 0:
        raise _revert(_PAIR, "INSUFFICIENT_INPUT_AMOUNT", "nothing was paid into the pair")
    fee_share = den - num
    balance0_adjusted = _mul(balance0, den) - _mul(amount0_in, fee_share)
    balance1_adjusted = _mul(balance1, den) - _mul(amount1_in, fee_share)
    if _mul(balance0_adjusted, balance1_adjusted) < _mul(_mul(reserve0, reserve1), den * den):
        raise _revert(_PAIR, "K", "the fee-adjusted constant product would decrease")
    if balance0 > MAX_UINT112 or balance1 > MAX_UINT112:
        raise _revert(_PAIR, "OVERFLOW", "a reserve would exceed uint112")
    return balance0, balance1


@dataclass(frozen=True, slots=True)
class ProfitMaximizingTrade:
    """Direction and size of the arbitrage: sell ``amount_in`` of A for B if ``a_to_b``, else of B for A."""

    a_to_b: bool
    amount_in: int


@dataclass(frozen=True, slots=True)
class V2Arbitrage:
    """The arbitrage trade against a pair and the pair's reserves after it (``amount_in == 0``: no trade)."""

    a_to_b: bool
    amount_in: int
    amount_out: int
    reserve_a_after: int
    reserve_b_after: int


def _check_arbitrage_inputs(true_price_a: int, true_price_b: int, reserve_a: int, reserve_b: int) -> None:
    require_uint("true_price_a", true_price_a)
    require_uint("true_price_b", true_price_b)
    require_uint("reserve_a", reserve_a)
    require_uint("reserve_b", reserve_b)
    if true_price_a == 0 or true_price_b == 0:
        raise _revert("ExampleSwapToPrice", "ZERO_PRICE", "true prices are a ratio, both must be > 0")
    if reserve_a == 0 or reserve_b == 0:
        raise _revert(_ARB, "ZERO_PAIR_RESERVES", f"reserves must be > 0, got ({reserve_a}, {reserve_b})")


def compute_profit_maximizing_trade(
    true_price_a: int,
    true_price_b: int,
    reserve_a: int,
    reserve_b: int,
    fee_pips: int = DEFAULT_FEE_PIPS,
) -> ProfitMaximizingTrade:
    """Closed-form profit-maximizing trade toward the true price ``true_price_a : true_price_b``.

    Trading ``x`` of A in leaves the pool with marginal (fee-inclusive) price equal to the true price when
    ``R_a + g*x = sqrt(k * p_a / (p_b * g))`` for ``k = R_a*R_b``, hence
    ``x = isqrt(mulDiv(k/g, p_a, p_b)) - R_a/g`` with the same floors as the library (``Babylonian.sqrt`` is
    the floor square root, which :func:`math.isqrt` computes exactly). ``a_to_b`` is decided as on chain by
    ``mulDiv(R_a, p_b, R_b) < p_a``; a pool already inside its no-trade band returns ``(False, 0)``.
    """
    _check_arbitrage_inputs(true_price_a, true_price_b, reserve_a, reserve_b)
    num, den = _fee_fraction(fee_pips)
    a_to_b = mul_div(reserve_a, true_price_b, reserve_b) < true_price_a
    invariant = _mul(reserve_a, reserve_b)
    price_in, price_out = (true_price_a, true_price_b) if a_to_b else (true_price_b, true_price_a)
    left_side = math.isqrt(mul_div(_mul(invariant, den), price_in, _mul(price_out, num)))
    right_side = _mul(reserve_a if a_to_b else reserve_b, den) // num
    if left_side < right_side:
        return ProfitMaximizingTrade(a_to_b=False, amount_in=0)
    return ProfitMaximizingTrade(a_to_b=a_to_b, amount_in=left_side - right_side)


def arbitrage_to_true_price(
    true_price_a: int,
    true_price_b: int,
    reserve_a: int,
    reserve_b: int,
    fee_pips: int = DEFAULT_FEE_PIPS,
) -> V2Arbitrage:
    """The profit-maximizing trade, its exact output (:func:`get_amount_out`) and the reserves after it."""
    trade = compute_profit_maximizing_trade(true_price_a, true_price_b, reserve_a, reserve_b, fee_pips)
    if trade.amount_in == 0:
        return V2Arbitrage(trade.a_to_b, 0, 0, reserve_a, reserve_b)
    if trade.a_to_b:
        out = get_amount_out(trade.amount_in, reserve_a, reserve_b, fee_pips)
        return V2Arbitrage(True, trade.amount_in, out, reserve_a + trade.amount_in, reserve_b - out)
    out = get_amount_out(trade.amount_in, reserve_b, reserve_a, fee_pips)
    return V2Arbitrage(False, trade.amount_in, out, reserve_a - out, reserve_b + trade.amount_in)


def get_reserves_after_arbitrage(
    true_price_a: int,
    true_price_b: int,
    reserve_a: int,
    reserve_b: int,
    fee_pips: int = DEFAULT_FEE_PIPS,
) -> tuple[int, int]:
    """``UniswapV2LiquidityMathLibrary.getReservesAfterArbitrage`` on given reserves: ``(R_a, R_b)`` after."""
    result = arbitrage_to_true_price(true_price_a, true_price_b, reserve_a, reserve_b, fee_pips)
    return result.reserve_a_after, result.reserve_b_after
