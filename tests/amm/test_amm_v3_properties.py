"""Uniswap v3 invariants (hypothesis), an independent check of multi-range swaps, and bad-input refusal."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sdk.amm.errors import AmmInputError, AmmRevert, UniswapV3Revert
from sdk.amm.uint import MAX_INT256, MAX_UINT128, MAX_UINT160, MAX_UINT256
from sdk.amm.uniswap_v3 import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    Q96,
    Pool,
    TickBitmap,
    compute_swap_step,
    get_amount0_delta,
    get_amount0_delta_signed,
    get_amount1_delta,
    get_amount1_delta_signed,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    mul_div,
    mul_div_rounding_up,
)
from sdk.amm.uniswap_v3.tick_math import _BIT_FACTORS_Q128

ticks = st.integers(min_value=MIN_TICK, max_value=MAX_TICK - 1)
sqrt_prices = st.integers(min_value=MIN_SQRT_RATIO, max_value=MAX_SQRT_RATIO - 1)
uint256 = st.integers(min_value=0, max_value=MAX_UINT256)
liquidities = st.integers(min_value=1, max_value=MAX_UINT128)


def test_tick_math_factors_are_round_to_nearest_of_their_definition() -> None:
    with localcontext() as ctx:
        ctx.prec = 120
        inverse_sqrt = 1 / Decimal("1.0001").sqrt()
        for i, factor in enumerate(_BIT_FACTORS_Q128):
            exact = inverse_sqrt ** (2**i) * Decimal(2) ** 128
            assert int(exact.to_integral_value(rounding=ROUND_HALF_EVEN)) == factor


@settings(max_examples=400, deadline=None)
@given(tick=ticks)
def test_tick_round_trip_and_strict_monotonicity(tick: int) -> None:
    ratio = get_sqrt_ratio_at_tick(tick)
    assert get_tick_at_sqrt_ratio(ratio) == tick
    assert get_sqrt_ratio_at_tick(tick + 1) > ratio
    # Against sqrt(1.0001**tick) * 2**96 in 60-digit decimals. The contract works on the Q128.128 value
    # r = 2**128 / sqrt(1.0001)**|tick| (inverted for tick > 0): ~20 truncations of r, each off by under one
    # unit, so the relative error is below ~64 / r, plus one unit of the final Q64.96 rounding.
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal("1.0001").sqrt() ** tick * Q96
        r = Decimal(2) ** 128 / Decimal("1.0001").sqrt() ** abs(tick)
        assert abs(Decimal(ratio) - exact) <= 2 + exact * 64 / r


@settings(max_examples=400, deadline=None)
@given(price=sqrt_prices)
def test_tick_at_sqrt_ratio_is_the_greatest_tick_at_or_below_the_price(price: int) -> None:
    tick = get_tick_at_sqrt_ratio(price)
    assert get_sqrt_ratio_at_tick(tick) <= price < get_sqrt_ratio_at_tick(tick + 1)


@settings(max_examples=300, deadline=None)
@given(a=uint256, b=uint256, d=st.integers(min_value=1, max_value=MAX_UINT256))
def test_mul_div_equals_exact_big_int_arithmetic(a: int, b: int, d: int) -> None:
    floor, ceil = a * b // d, -(-(a * b) // d)
    if floor > MAX_UINT256:
        with pytest.raises(AmmRevert):
            mul_div(a, b, d)
    else:
        assert mul_div(a, b, d) == floor
    if ceil > MAX_UINT256:
        with pytest.raises(AmmRevert):
            mul_div_rounding_up(a, b, d)
    else:
        assert mul_div_rounding_up(a, b, d) == ceil


@settings(max_examples=300, deadline=None)
@given(a=uint256, b=st.integers(min_value=0, max_value=2**200))
def test_mul_div_small_results_near_the_uint256_edge(a: int, b: int) -> None:
    d = max(1, a * b // MAX_UINT256)
    assert mul_div(a, b, d) == a * b // d if a * b // d <= MAX_UINT256 else True


@settings(max_examples=300, deadline=None)
@given(p=sqrt_prices, q=sqrt_prices, liquidity=st.integers(min_value=0, max_value=MAX_UINT128))
def test_amount_deltas_round_up_by_at_most_one_and_match_exact_values(p: int, q: int, liquidity: int) -> None:
    lower, upper = sorted((p, q))
    for delta in (get_amount0_delta, get_amount1_delta):
        up, down = delta(p, q, liquidity, True), delta(p, q, liquidity, False)
        assert down <= up <= down + 1
        assert delta(q, p, liquidity, True) == up  # order of the prices does not matter
    exact1 = Fraction(liquidity * (upper - lower), Q96)
    assert get_amount1_delta(p, q, liquidity, False) == exact1.__floor__()
    assert get_amount1_delta(p, q, liquidity, True) == exact1.__ceil__()
    exact0 = Fraction(liquidity * (upper - lower) * Q96, lower * upper)
    assert get_amount0_delta(p, q, liquidity, False) in (exact0.__floor__(), exact0.__floor__() - 1)
    assert get_amount0_delta(p, q, liquidity, True) in (exact0.__ceil__(), exact0.__ceil__() + 1)
    if liquidity <= MAX_UINT128 >> 1:
        assert get_amount0_delta_signed(p, q, liquidity) == get_amount0_delta(p, q, liquidity, True)
        assert get_amount1_delta_signed(p, q, -liquidity) == -get_amount1_delta(p, q, liquidity, False)


@settings(max_examples=300, deadline=None)
@given(
    price=sqrt_prices,
    liquidity=liquidities,
    amount=st.integers(min_value=0, max_value=2**128),
    zero_for_one=st.booleans(),
)
def test_next_price_from_input_never_overshoots(
    price: int, liquidity: int, amount: int, zero_for_one: bool
) -> None:
    try:
        after = get_next_sqrt_price_from_input(price, liquidity, amount, zero_for_one)
    except UniswapV3Revert as err:
        assert not zero_for_one and err.reason == "PRICE_OVERFLOW"  # price beyond uint160 going up
        return
    if zero_for_one:
        assert after <= price
        assert after == 0 or get_amount0_delta(after, price, liquidity, True) <= amount
    else:
        assert after >= price
        assert get_amount1_delta(price, after, liquidity, True) <= amount


@settings(max_examples=300, deadline=None)
@given(
    price=sqrt_prices,
    liquidity=liquidities,
    amount=st.integers(min_value=0, max_value=2**128),
    zero_for_one=st.booleans(),
)
def test_next_price_from_output_pays_at_least_the_output(
    price: int, liquidity: int, amount: int, zero_for_one: bool
) -> None:
    try:
        after = get_next_sqrt_price_from_output(price, liquidity, amount, zero_for_one)
    except UniswapV3Revert as err:
        assert err.reason in {"INSUFFICIENT_RESERVES", "PRICE_OVERFLOW"}
        return
    except AmmRevert as err:
        assert err.reason == "FULLDIV_OVERFLOW"
        return
    if zero_for_one:
        assert after <= price
        assert get_amount1_delta(after, price, liquidity, False) >= amount
    else:
        assert after >= price
        assert after > MAX_UINT160 or get_amount0_delta(price, after, liquidity, False) >= amount


@settings(max_examples=400, deadline=None)
@given(
    current=sqrt_prices,
    target=sqrt_prices,
    liquidity=st.integers(min_value=0, max_value=10**30),
    remaining=st.integers(min_value=-(10**30), max_value=10**30),
    fee=st.sampled_from([0, 1, 100, 500, 3000, 10_000, 999_999]),
)
def test_swap_step_respects_budget_and_target(
    current: int, target: int, liquidity: int, remaining: int, fee: int
) -> None:
    step = compute_swap_step(current, target, liquidity, remaining, fee)
    low, high = sorted((current, target))
    assert low <= step.sqrt_ratio_next_x96 <= high
    if remaining >= 0:
        assert step.amount_in + step.fee_amount <= remaining
    else:
        assert step.amount_out <= -remaining
    if step.sqrt_ratio_next_x96 != target and remaining != 0:
        # Stopping short of the target means the budget was used up.
        if remaining > 0:
            assert step.amount_in + step.fee_amount == remaining
        else:
            assert step.amount_out == -remaining


# -- pool ----------------------------------------------------------------------------------------------------


def _active_liquidity(positions: dict[tuple[int, int], int], tick: int) -> int:
    return sum(liq for (lower, upper), liq in positions.items() if lower <= tick < upper)


@st.composite
def pools(draw: st.DrawFn) -> tuple[Pool, dict[tuple[int, int], int]]:
    spacing = draw(st.sampled_from([1, 10, 60, 200]))
    fee = draw(st.sampled_from([100, 500, 3000, 10_000]))
    start_tick = draw(st.integers(min_value=-600, max_value=600)) * spacing
    start_tick = max(min(start_tick, MAX_TICK - 1), MIN_TICK)
    offset = draw(st.integers(min_value=0, max_value=10**6))
    pool = Pool(fee, spacing, get_sqrt_ratio_at_tick(start_tick) + offset)
    positions: dict[tuple[int, int], int] = {}
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        lo = draw(st.integers(min_value=-700, max_value=699))
        hi = draw(st.integers(min_value=lo + 1, max_value=700))
        lower, upper = (
            max(lo * spacing, -(887272 // spacing) * spacing),
            min(hi * spacing, (887272 // spacing) * spacing),
        )
        if lower >= upper:
            continue
        liquidity = draw(st.integers(min_value=10**3, max_value=10**24))
        pool.mint(lower, upper, liquidity)
        positions[(lower, upper)] = positions.get((lower, upper), 0) + liquidity
    return pool, positions


def _tick_consistent(pool: Pool) -> bool:
    price, tick = pool.sqrt_price_x96, pool.tick
    if get_sqrt_ratio_at_tick(tick) <= price < get_sqrt_ratio_at_tick(tick + 1):
        return True
    return price == get_sqrt_ratio_at_tick(tick + 1)  # ended exactly on a tick crossed downward


@settings(max_examples=60, deadline=None)
@given(
    setup=pools(),
    swaps=st.lists(
        st.tuples(st.booleans(), st.booleans(), st.integers(min_value=1, max_value=10**22)),
        min_size=1,
        max_size=6,
    ),
)
def test_swap_sequences_keep_liquidity_tick_and_balances_consistent(
    setup: tuple[Pool, dict[tuple[int, int], int]], swaps: list[tuple[bool, bool, int]]
) -> None:
    pool, positions = setup
    for zero_for_one, exact_in, amount in swaps:
        if pool.sqrt_price_x96 == (MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1):
            with pytest.raises(UniswapV3Revert, match="SPL"):  # already at the default limit
                pool.swap(zero_for_one, amount)
            continue
        before = (pool.sqrt_price_x96, pool.fee_growth_global0_x128, pool.fee_growth_global1_x128)
        quoted = pool.quote(zero_for_one, amount if exact_in else -amount)
        assert (pool.sqrt_price_x96, pool.fee_growth_global0_x128, pool.fee_growth_global1_x128) == before
        result = pool.swap(zero_for_one, amount if exact_in else -amount)
        assert result == quoted
        assert pool.liquidity == _active_liquidity(positions, pool.tick)
        assert _tick_consistent(pool)
        assert min(pool.balances) >= 0
        assert pool.fee_growth_global0_x128 >= before[1] and pool.fee_growth_global1_x128 >= before[2]
        paid, received = (
            (result.amount0, result.amount1) if zero_for_one else (result.amount1, result.amount0)
        )
        assert paid >= 0 >= received
        hit_limit = result.sqrt_price_x96 in (MIN_SQRT_RATIO + 1, MAX_SQRT_RATIO - 1)
        if exact_in:
            assert paid == amount or (hit_limit and paid <= amount)
        else:
            assert -received == amount or (hit_limit and -received <= amount)


def _reference_walk(pool: Pool, limit: int) -> tuple[Fraction, Fraction]:
    """Exact (rational, fee-free) token0 and token1 moved by walking the price to ``limit``."""
    up = limit > pool.sqrt_price_x96
    price, liquidity = pool.sqrt_price_x96, pool.liquidity
    ordered = [t for t in pool.initialized_ticks() if (t > pool.tick if up else t <= pool.tick)]
    ordered.sort(reverse=not up)
    amount0 = amount1 = Fraction(0)
    for tick in [*ordered, None]:
        edge = limit if tick is None else get_sqrt_ratio_at_tick(tick)
        reached = edge >= limit if up else edge <= limit
        end = limit if reached else edge
        lo, hi = sorted((price, end))
        amount1 += Fraction(liquidity * (hi - lo), Q96)
        amount0 += Fraction(liquidity * (hi - lo) * Q96, lo * hi) if lo else 0
        if reached:
            break
        info = pool.tick_info(tick) if tick is not None else None
        assert info is not None
        liquidity += info.liquidity_net if up else -info.liquidity_net
        price = end
    return amount0, amount1


@settings(max_examples=80, deadline=None)
@given(setup=pools(), target_tick=st.integers(min_value=-800, max_value=800))
def test_swap_to_price_matches_an_exact_rational_walk(
    setup: tuple[Pool, dict[tuple[int, int], int]], target_tick: int
) -> None:
    pool, _ = setup
    limit = get_sqrt_ratio_at_tick(max(min(target_tick * pool.tick_spacing, MAX_TICK - 1), MIN_TICK + 1))
    assume(limit != pool.sqrt_price_x96)
    zero_for_one = limit < pool.sqrt_price_x96
    ref0, ref1 = _reference_walk(pool, limit)
    start_word = (pool.tick // pool.tick_spacing) >> 8
    result = pool.swap(zero_for_one, MAX_INT256, limit)
    assert result.sqrt_price_x96 == limit
    end_word = (result.tick // pool.tick_spacing) >> 8
    steps = len(pool.initialized_ticks()) + abs(end_word - start_word) + 2
    net_in, out = (ref0, ref1) if zero_for_one else (ref1, ref0)
    paid, received = (result.amount0, -result.amount1) if zero_for_one else (result.amount1, -result.amount0)
    gross_in = net_in * 1_000_000 / (1_000_000 - pool.fee_pips)
    assert abs(paid - gross_in) <= 3 * steps
    assert abs(received - out) <= 2 * steps


@settings(max_examples=60, deadline=None)
@given(
    setup=pools(),
    lo=st.integers(min_value=-50, max_value=49),
    width=st.integers(min_value=1, max_value=50),
    liquidity=st.integers(min_value=1, max_value=10**24),
)
def test_mint_then_burn_returns_no_more_than_paid(
    setup: tuple[Pool, dict[tuple[int, int], int]], lo: int, width: int, liquidity: int
) -> None:
    pool, positions = setup
    lower, upper = lo * pool.tick_spacing, (lo + width) * pool.tick_spacing
    active_before, ticks_before = pool.liquidity, pool.initialized_ticks()
    paid0, paid1 = pool.mint(lower, upper, liquidity)
    owed0, owed1 = pool.burn(lower, upper, liquidity)
    assert 0 <= owed0 <= paid0 <= owed0 + 1
    assert 0 <= owed1 <= paid1 <= owed1 + 1
    assert pool.liquidity == active_before
    assert pool.initialized_ticks() == ticks_before
    assert pool.position_liquidity(lower, upper) == positions.get((lower, upper), 0)


@settings(max_examples=200, deadline=None)
@given(
    spacing=st.sampled_from([1, 10, 60]),
    initialized=st.sets(st.integers(min_value=-700, max_value=700), max_size=12),
    tick=st.integers(min_value=-200_000, max_value=200_000),
    lte=st.booleans(),
)
def test_tick_bitmap_search_matches_brute_force(
    spacing: int, initialized: set[int], tick: int, lte: bool
) -> None:
    bitmap = TickBitmap(spacing)
    for compressed in initialized:
        bitmap.flip_tick(compressed * spacing)
    compressed = tick // spacing
    if lte:
        word = range(compressed - compressed % 256, compressed + 1)
        hits = [c for c in word if c in initialized]
        expected = (max(hits) * spacing, True) if hits else (word[0] * spacing, False)
    else:
        start = compressed + 1
        word = range(start, start - start % 256 + 256)
        hits = [c for c in word if c in initialized]
        expected = (min(hits) * spacing, True) if hits else (word[-1] * spacing, False)
    assert bitmap.next_initialized_tick_within_one_word(tick, lte) == expected


# -- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tick", [MIN_TICK - 1, MAX_TICK + 1, -(2**23)])
def test_tick_outside_range_reverts_t(tick: int) -> None:
    with pytest.raises(UniswapV3Revert, match="T: tick must be in"):
        get_sqrt_ratio_at_tick(tick)


@pytest.mark.parametrize("price", [0, MIN_SQRT_RATIO - 1, MAX_SQRT_RATIO, MAX_UINT160])
def test_price_outside_range_reverts_r(price: int) -> None:
    with pytest.raises(UniswapV3Revert) as err:
        get_tick_at_sqrt_ratio(price)
    assert err.value.reason == "R"
    with pytest.raises(UniswapV3Revert):
        Pool(3000, 60, price)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: get_sqrt_ratio_at_tick(2**23), "tick"),
        (lambda: get_sqrt_ratio_at_tick(1.0), "tick"),  # type: ignore[arg-type]
        (lambda: get_tick_at_sqrt_ratio(-1), "sqrt_price_x96"),
        (lambda: get_tick_at_sqrt_ratio(1 << 160), "sqrt_price_x96"),
        (lambda: mul_div(-1, 1, 1), "a"),
        (lambda: get_amount0_delta(Q96, 2 * Q96, -1, True), "liquidity"),
        (lambda: get_amount0_delta(Q96, 2 * Q96, 1 << 128, True), "liquidity"),
        (lambda: get_amount1_delta(Q96, 2 * Q96, 1, 1), "round_up"),  # type: ignore[arg-type]
        (lambda: compute_swap_step(Q96, Q96, 1, 1, 1_000_000), "fee_pips"),
        (lambda: compute_swap_step(Q96, Q96, 1, 1 << 255, 3000), "amount_remaining"),
        (lambda: Pool(3000, 0, Q96), "tick_spacing"),
        (lambda: Pool(3000, 60, Q96, fee_protocol=0x33), "fee_protocol"),
        (lambda: Pool(3000, 60, Q96).mint(-60, 61, 10), "tick_upper"),
        (lambda: Pool(3000, 60, Q96).mint(-60, 60, -10), "amount"),
        (lambda: Pool(3000, 60, Q96).swap(True, 10**18, sqrt_price_limit_x96=-1), "sqrt_price_limit_x96"),
        (lambda: Pool(3000, 60, Q96).swap(1, 10**18), "zero_for_one"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_refused_naming_the_field(call: object, field: str) -> None:
    assert callable(call)
    with pytest.raises(AmmInputError, match=field):
        call()


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: Pool(3000, 60, Q96).mint(60, -60, 10), "TLU"),
        (lambda: Pool(3000, 60, Q96).mint(60, 60, 10), "TLU"),
        (lambda: Pool(3000, 1, Q96).mint(MIN_TICK - 1, 0, 10), "TLM"),
        (lambda: Pool(3000, 1, Q96).mint(0, MAX_TICK + 1, 10), "TUM"),
        (lambda: Pool(3000, 60, Q96).mint(-60, 60, MAX_UINT128 >> 1), "LO"),
        (lambda: Pool(3000, 60, Q96).mint(-60, 60, 0), "ZERO_AMOUNT"),
        (lambda: Pool(3000, 60, Q96).burn(-60, 60, 1), "NP"),
        (lambda: Pool(3000, 60, Q96).swap(True, 0), "AS"),
        (lambda: Pool(3000, 60, Q96).swap(True, 10**18, Q96), "SPL"),
        (lambda: Pool(3000, 60, Q96).swap(True, 10**18, MIN_SQRT_RATIO), "SPL"),
        (lambda: Pool(3000, 60, Q96).swap(False, 10**18, MAX_SQRT_RATIO), "SPL"),
        (lambda: Pool(3000, 60, Q96).swap(False, 10**18, Q96 - 1), "SPL"),
        (lambda: get_next_sqrt_price_from_input(0, 1, 1, True), "ZERO_PRICE"),
        (lambda: get_next_sqrt_price_from_output(Q96, 0, 1, True), "ZERO_LIQUIDITY"),
    ],
)
def test_contract_reverts(call: object, reason: str) -> None:
    assert callable(call)
    with pytest.raises(UniswapV3Revert) as err:
        call()
    assert err.value.reason == reason


def test_swap_on_an_empty_pool_moves_the_price_for_free() -> None:
    pool = Pool(3000, 60, Q96)
    result = pool.swap(True, 10**18, get_sqrt_ratio_at_tick(-600))
    assert (result.amount0, result.amount1) == (0, 0)
    assert pool.tick == -600 and pool.sqrt_price_x96 == get_sqrt_ratio_at_tick(-600)


def test_protocol_fee_takes_its_share_of_the_swap_fee() -> None:
    plain, with_protocol = Pool(3000, 60, Q96), Pool(3000, 60, Q96, fee_protocol=0x44)
    for pool in (plain, with_protocol):
        pool.mint(-887220, 887220, 2 * 10**18)
    a = plain.swap(True, 10**18)
    b = with_protocol.swap(True, 10**18)
    assert (a.amount0, a.amount1) == (b.amount0, b.amount1)
    assert b.protocol_fee > 0 and with_protocol.protocol_fees == (b.protocol_fee, 0)
    assert b.fee_growth_global0_x128 < a.fee_growth_global0_x128
