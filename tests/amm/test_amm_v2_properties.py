"""Uniswap v2 invariants (hypothesis) and refusal of bad input."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.amm.errors import AmmInputError, UniswapV2Revert
from sdk.amm.uint import MAX_UINT112
from sdk.amm.uniswap_v2 import (
    arbitrage_to_true_price,
    compute_profit_maximizing_trade,
    get_amount_in,
    get_amount_out,
    get_amounts_in,
    get_amounts_out,
    pair_swap,
    quote,
)

reserves = st.integers(min_value=1_000, max_value=MAX_UINT112 // 4)
amounts = st.integers(min_value=1, max_value=10**30)
fees = st.sampled_from([0, 100, 500, 3000, 10_000, 250_000])


@settings(max_examples=300, deadline=None)
@given(amount_in=amounts, reserve_in=reserves, reserve_out=reserves, fee=fees)
def test_amount_out_is_the_exact_maximum_and_k_never_decreases(
    amount_in: int, reserve_in: int, reserve_out: int, fee: int
) -> None:
    out = get_amount_out(amount_in, reserve_in, reserve_out, fee)
    assert 0 <= out < reserve_out
    if out == 0:
        return
    new0, new1 = pair_swap(
        reserve_in,
        reserve_out,
        amount0_out=0,
        amount1_out=out,
        amount0_paid=amount_in,
        amount1_paid=0,
        fee_pips=fee,
    )
    assert new0 * new1 >= reserve_in * reserve_out  # k never decreases
    if out + 1 < reserve_out:
        with pytest.raises(UniswapV2Revert, match="K"):
            pair_swap(
                reserve_in,
                reserve_out,
                amount0_out=0,
                amount1_out=out + 1,
                amount0_paid=amount_in,
                amount1_paid=0,
                fee_pips=fee,
            )


@settings(max_examples=300, deadline=None)
@given(amount_in=amounts, reserve_in=reserves, reserve_out=reserves, fee=fees)
def test_round_trip_bounds(amount_in: int, reserve_in: int, reserve_out: int, fee: int) -> None:
    out = get_amount_out(amount_in, reserve_in, reserve_out, fee)
    if out == 0:
        return
    # The library's getAmountIn is the minimal sufficient input, or one more when the division is exact.
    needed = get_amount_in(out, reserve_in, reserve_out, fee)
    assert needed <= amount_in + 1
    assert get_amount_out(needed, reserve_in, reserve_out, fee) >= out


@settings(max_examples=300, deadline=None)
@given(amount_out=amounts, reserve_in=reserves, reserve_out=reserves, fee=fees)
def test_amount_in_is_sufficient_and_nearly_minimal(
    amount_out: int, reserve_in: int, reserve_out: int, fee: int
) -> None:
    if amount_out >= reserve_out:
        with pytest.raises(UniswapV2Revert) as err:
            get_amount_in(amount_out, reserve_in, reserve_out, fee)
        assert err.value.reason == "INSUFFICIENT_LIQUIDITY"
        return
    needed = get_amount_in(amount_out, reserve_in, reserve_out, fee)
    assert get_amount_out(needed, reserve_in, reserve_out, fee) >= amount_out
    if needed > 2:
        assert get_amount_out(needed - 2, reserve_in, reserve_out, fee) < amount_out


def test_default_fee_matches_the_contract_fraction() -> None:
    # 997/1000 in the contract == (1e6 - 3000)/1e6 here, bit for bit, including the rounding.
    for amount_in, r_in, r_out in [(1, 1, 1), (10**18, 5 * 10**18, 10**19), (12345, 678, 91011)]:
        expected = amount_in * 997 * r_out // (r_in * 1000 + amount_in * 997)
        assert get_amount_out(amount_in, r_in, r_out) == expected


@settings(max_examples=200, deadline=None)
@given(
    reserve_a=st.integers(min_value=10**15, max_value=10**30),
    reserve_b=st.integers(min_value=10**15, max_value=10**30),
    price_a=st.integers(min_value=1, max_value=10**9),
    price_b=st.integers(min_value=1, max_value=10**9),
)
def test_arbitrage_trade_is_profit_maximizing(
    reserve_a: int, reserve_b: int, price_a: int, price_b: int
) -> None:
    # price_a : price_b are amounts of equal value, so one A is worth price_b and one B is worth price_a.
    value_a, value_b = price_b, price_a
    result = arbitrage_to_true_price(price_a, price_b, reserve_a, reserve_b)

    def profit(a_to_b: bool, amount_in: int) -> int:
        """Value gained by the arbitrageur at the true prices."""
        if amount_in == 0:
            return 0
        if a_to_b:
            return get_amount_out(amount_in, reserve_a, reserve_b) * value_b - amount_in * value_a
        return get_amount_out(amount_in, reserve_b, reserve_a) * value_a - amount_in * value_b

    rounding = 4 * max(value_a, value_b)  # a few token units of integer rounding
    best = profit(result.a_to_b, result.amount_in)
    assert best >= -rounding
    # Profit is concave in the input; the closed form sits at its maximum up to integer rounding, and no
    # trade in the opposite direction does better.
    for factor in (Fraction(99, 100), Fraction(101, 100), Fraction(1, 2), Fraction(3, 2)):
        assert profit(result.a_to_b, int(result.amount_in * factor)) <= best + rounding
    probe = min(reserve_a, reserve_b) // 10**4
    assert profit(not result.a_to_b, probe) <= best + rounding
    if result.amount_in == 0:
        assert profit(True, probe) <= rounding
        assert profit(False, probe) <= rounding
        return
    # After the trade the pool price sits at the true price up to the fee (the no-trade band's edge).
    pool_ratio = Fraction(result.reserve_a_after, result.reserve_b_after)
    true_ratio = Fraction(price_a, price_b)
    assert abs(pool_ratio / true_ratio - 1) < Fraction(4, 1000)


def test_arbitrage_direction_follows_the_mispricing() -> None:
    # Pool prices A at 100 B; true price 90 B per A -> sell A into the pool.
    assert compute_profit_maximizing_trade(90, 1, 10**19, 10**21) == compute_profit_maximizing_trade(
        90, 1, 10**19, 10**21
    )
    assert compute_profit_maximizing_trade(1, 90, 10**21, 10**19).a_to_b is False
    assert compute_profit_maximizing_trade(1, 110, 10 * 10**18, 1000 * 10**18).a_to_b is False
    assert compute_profit_maximizing_trade(1, 90, 10 * 10**18, 1000 * 10**18).a_to_b is True


def test_multi_hop_amounts_chain_single_hops() -> None:
    hops = [(10**20, 2 * 10**20), (5 * 10**19, 10**21)]
    amounts = get_amounts_out(10**18, hops)
    assert amounts[1] == get_amount_out(10**18, *hops[0])
    assert amounts[2] == get_amount_out(amounts[1], *hops[1])
    back = get_amounts_in(amounts[2], hops)
    assert back[-1] == amounts[2]
    assert back[0] <= 10**18 + 2
    with pytest.raises(UniswapV2Revert, match="INVALID_PATH"):
        get_amounts_out(1, [])


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: get_amount_out(1, 0, 10), "INSUFFICIENT_LIQUIDITY"),
        (lambda: get_amount_out(1, 10, 0), "INSUFFICIENT_LIQUIDITY"),
        (lambda: get_amount_in(1, 0, 10), "INSUFFICIENT_LIQUIDITY"),
        (lambda: get_amount_in(0, 10, 10), "INSUFFICIENT_OUTPUT_AMOUNT"),
        (lambda: get_amount_in(10, 10, 10), "INSUFFICIENT_LIQUIDITY"),
        (lambda: quote(0, 10, 10), "INSUFFICIENT_AMOUNT"),
        (lambda: quote(1, 0, 10), "INSUFFICIENT_LIQUIDITY"),
        (lambda: compute_profit_maximizing_trade(1, 1, 0, 10), "ZERO_PAIR_RESERVES"),
        (lambda: compute_profit_maximizing_trade(0, 1, 10, 10), "ZERO_PRICE"),
        (
            lambda: pair_swap(10, 10, amount0_out=0, amount1_out=0, amount0_paid=1, amount1_paid=0),
            "INSUFFICIENT_OUTPUT_AMOUNT",
        ),
        (
            lambda: pair_swap(10, 10, amount0_out=10, amount1_out=0, amount0_paid=0, amount1_paid=100),
            "INSUFFICIENT_LIQUIDITY",
        ),
        (
            lambda: pair_swap(10, 10, amount0_out=1, amount1_out=0, amount0_paid=0, amount1_paid=0),
            "INSUFFICIENT_INPUT_AMOUNT",
        ),
        (
            lambda: pair_swap(10, 10, amount0_out=1, amount1_out=0, amount0_paid=0, amount1_paid=MAX_UINT112),
            "OVERFLOW",
        ),
    ],
)
def test_zero_reserves_and_contract_reverts(call: object, reason: str) -> None:
    assert callable(call)
    with pytest.raises(UniswapV2Revert) as err:
        call()
    assert err.value.reason == reason
    assert reason in str(err.value)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: get_amount_out(1, -5, 10), "reserve_in"),
        (lambda: get_amount_out(1, 10, -5), "reserve_out"),
        (lambda: get_amount_out(-1, 10, 10), "amount_in"),
        (lambda: get_amount_out(1.5, 10, 10), "amount_in"),  # type: ignore[arg-type]
        (lambda: get_amount_out(True, 10, 10), "amount_in"),
        (lambda: get_amount_out(1, 10, 10, fee_pips=1_000_000), "fee_pips"),
        (lambda: get_amount_out(1, 10, 10, fee_pips=-1), "fee_pips"),
        (lambda: get_amount_out(1, 1 << 256, 10), "reserve_in"),
        (
            lambda: pair_swap(1 << 112, 10, amount0_out=1, amount1_out=0, amount0_paid=0, amount1_paid=1),
            "reserve0",
        ),
        (lambda: compute_profit_maximizing_trade(1, 1, -1, 10), "reserve_a"),
    ],
)
def test_bad_input_is_refused_naming_the_field(call: object, field: str) -> None:
    assert callable(call)
    with pytest.raises(AmmInputError, match=field):
        call()
