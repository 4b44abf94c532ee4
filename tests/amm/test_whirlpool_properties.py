"""Whirlpool tick math and swap invariants: inverse maps, tick crossing, fee split and error paths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdk.amm.errors import AmmInputError
from sdk.amm.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from sdk.amm.whirlpool import (
    MAX_SQRT_PRICE_X64,
    MAX_TICK_INDEX,
    MIN_SQRT_PRICE_X64,
    MIN_TICK_INDEX,
    TICK_ARRAY_SIZE,
    SwapResult,
    Tick,
    TickArray,
    WhirlpoolError,
    WhirlpoolState,
    compute_swap_step,
    sequence_sqrt_price_limit,
    sqrt_price_from_tick_index,
    start_tick_index_for,
    swap,
    swap_tick_array_starts,
    tick_index_from_sqrt_price,
)

ticks = st.integers(MIN_TICK_INDEX, MAX_TICK_INDEX)


def test_limits_are_the_program_constants() -> None:
    assert sqrt_price_from_tick_index(MIN_TICK_INDEX) == MIN_SQRT_PRICE_X64
    assert sqrt_price_from_tick_index(MAX_TICK_INDEX) == MAX_SQRT_PRICE_X64
    assert sqrt_price_from_tick_index(0) == 1 << 64
    assert tick_index_from_sqrt_price(MIN_SQRT_PRICE_X64) == MIN_TICK_INDEX
    assert tick_index_from_sqrt_price(MAX_SQRT_PRICE_X64) == MAX_TICK_INDEX


def test_out_of_range_inputs_name_the_field() -> None:
    with pytest.raises(AmmInputError, match="tick"):
        sqrt_price_from_tick_index(MAX_TICK_INDEX + 1)
    with pytest.raises(AmmInputError, match="sqrt_price_x64"):
        tick_index_from_sqrt_price(MIN_SQRT_PRICE_X64 - 1)


@given(ticks)
def test_tick_is_the_floor_of_its_sqrt_price(tick: int) -> None:
    price = sqrt_price_from_tick_index(tick)
    assert tick_index_from_sqrt_price(price) == tick
    if tick > MIN_TICK_INDEX:
        assert tick_index_from_sqrt_price(price - 1) == tick - 1
        assert sqrt_price_from_tick_index(tick - 1) < price


@given(ticks)
def test_close_to_uniswap_q96_but_its_own_rounding(tick: int) -> None:
    # Same price definition; Q64.96 >> 32 agrees up to a relative 1e-12 (not bit for bit)
    ours = sqrt_price_from_tick_index(tick)
    theirs = get_sqrt_ratio_at_tick(tick) >> 32
    assert abs(ours - theirs) <= max(2, ours // 10**12)


def _pool(tick: int, liquidity: int, spacing: int = 64, fee: int = 3000, proto: int = 300) -> WhirlpoolState:
    return WhirlpoolState(sqrt_price_from_tick_index(tick), tick, liquidity, spacing, fee, proto)


def _arrays(tick: int, spacing: int, a_to_b: bool, initialized: dict[int, Tick]) -> list[TickArray]:
    span = TICK_ARRAY_SIZE * spacing
    out = []
    for s in swap_tick_array_starts(tick, spacing, a_to_b):
        out.append(TickArray(s, {(t - s) // spacing: v for t, v in initialized.items() if s <= t < s + span}))
    return out


def _edge(arrays: list[TickArray], a_to_b: bool) -> int:
    return sequence_sqrt_price_limit(arrays, 64, a_to_b)


def _quote(pool: WhirlpoolState, arrays: list[TickArray], amount: int, *, a_to_b: bool) -> SwapResult:
    """Exact-input swap limited to the far edge of the given arrays."""
    limit = _edge(arrays, a_to_b)
    return swap(pool, arrays, amount, sqrt_price_limit=limit, amount_specified_is_input=True, a_to_b=a_to_b)


def test_crossing_an_initialized_tick_changes_liquidity_and_flips_fee_growth() -> None:
    spacing, liquidity = 64, 10**12
    boundary = 640
    tick = Tick(liquidity_net=5 * 10**11, liquidity_gross=5 * 10**11, fee_growth_outside_a=0)
    pool = _pool(0, liquidity, spacing)
    up_arrays = _arrays(0, spacing, False, {boundary: tick})
    up = _quote(pool, up_arrays, 10**11, a_to_b=False)
    assert up.next_tick_index > boundary
    assert up.next_liquidity == liquidity + 5 * 10**11
    ((crossed_at, crossed),) = up.crossed
    assert crossed_at == boundary
    assert 0 < crossed.fee_growth_outside_b <= up.next_fee_growth_global
    # going back down across the same tick removes it again
    back = WhirlpoolState(
        up.next_sqrt_price,
        up.next_tick_index,
        up.next_liquidity,
        spacing,
        3000,
        300,
        fee_growth_global_b=up.next_fee_growth_global,
    )
    down_arrays = _arrays(up.next_tick_index, spacing, True, {boundary: crossed})
    down = _quote(back, down_arrays, 10**11, a_to_b=True)
    assert down.next_liquidity == liquidity


@given(
    tick=st.integers(-200_000, 200_000),
    liquidity=st.integers(10**6, 10**20),
    amount=st.integers(1, 10**12),
    a_to_b=st.booleans(),
    fee=st.integers(0, 30_000),
    proto=st.integers(0, 2_500),
)
def test_exact_input_spends_everything_and_splits_the_fee(
    tick: int, liquidity: int, amount: int, a_to_b: bool, fee: int, proto: int
) -> None:
    pool = _pool(tick, liquidity, 64, fee, proto)
    arrays = _arrays(tick, 64, a_to_b, {})
    try:
        r = _quote(pool, arrays, amount, a_to_b=a_to_b)
    except WhirlpoolError as err:
        assert err.code in {"TokenMaxExceeded", "TokenMinSubceeded", "SqrtPriceOutOfBounds"}
        return
    spent, received = (r.amount_a, r.amount_b) if a_to_b else (r.amount_b, r.amount_a)
    assert spent <= amount
    if r.next_sqrt_price != _edge(arrays, a_to_b):
        assert spent == amount  # the arrays did not run out: the whole input was used
    total_fee = -(-spent * fee // 1_000_000)  # at least this much of the input is fee (up to rounding)
    assert r.next_protocol_fee <= total_fee * proto // 10_000 + 3
    assert (r.next_sqrt_price <= pool.sqrt_price) if a_to_b else (r.next_sqrt_price >= pool.sqrt_price)
    assert received >= 0


@given(
    liquidity=st.integers(10**9, 10**18),
    small=st.integers(1, 10**9),
    extra=st.integers(1, 10**9),
    a_to_b=st.booleans(),
)
def test_more_input_never_pays_out_less(liquidity: int, small: int, extra: int, a_to_b: bool) -> None:
    pool = _pool(0, liquidity)
    arrays = _arrays(0, 64, a_to_b, {})
    r1 = _quote(pool, arrays, small, a_to_b=a_to_b)
    r2 = _quote(pool, arrays, small + extra, a_to_b=a_to_b)
    out1 = r1.amount_b if a_to_b else r1.amount_a
    out2 = r2.amount_b if a_to_b else r2.amount_a
    assert out2 >= out1


@given(liquidity=st.integers(10**9, 10**18), want=st.integers(1, 10**8), a_to_b=st.booleans())
def test_exact_output_then_exact_input_round_trip(liquidity: int, want: int, a_to_b: bool) -> None:
    pool = _pool(0, liquidity)
    arrays = _arrays(0, 64, a_to_b, {})
    out = swap(pool, arrays, want, sqrt_price_limit=0, amount_specified_is_input=False, a_to_b=a_to_b)
    paid = out.amount_a if a_to_b else out.amount_b
    got = swap(pool, arrays, paid, sqrt_price_limit=0, amount_specified_is_input=True, a_to_b=a_to_b)
    received = got.amount_b if a_to_b else got.amount_a
    assert received >= want - 1  # paying what exact-out asked for buys at least the output (rounding: 1 unit)


def test_step_rejects_nothing_at_zero_liquidity_and_jumps_to_target() -> None:
    step = compute_swap_step(
        10**9, 3000, 0, 1 << 64, (1 << 64) + 10**12, amount_specified_is_input=True, a_to_b=False
    )
    assert step.next_sqrt_price == (1 << 64) + 10**12
    assert step.amount_in == step.amount_out == 0


def test_limit_checks() -> None:
    pool = _pool(0, 10**12)
    arrays = _arrays(0, 64, True, {})
    with pytest.raises(WhirlpoolError) as info:
        swap(pool, arrays, 10, sqrt_price_limit=(1 << 64) + 1, amount_specified_is_input=True, a_to_b=True)
    assert info.value.code == "InvalidSqrtPriceLimitDirection"
    with pytest.raises(WhirlpoolError) as info:
        too_low = MIN_SQRT_PRICE_X64 - 1
        swap(pool, arrays, 10, sqrt_price_limit=too_low, amount_specified_is_input=True, a_to_b=True)
    assert info.value.code == "SqrtPriceOutOfBounds"
    # with no explicit limit, running past the given arrays is an error, not a partial fill
    with pytest.raises(WhirlpoolError) as info:
        swap(_pool(0, 1000), arrays, 10**18, sqrt_price_limit=0, amount_specified_is_input=False, a_to_b=True)
    assert info.value.code == "TickArraySequenceInvalidIndex"
    # the arrays reach the minimum tick: an exact output that cannot be filled is a PartialFillError
    bottom = [TickArray(start_tick_index_for(MIN_TICK_INDEX + 64, 64))]
    low = _pool(MIN_TICK_INDEX + 64, 1000)
    with pytest.raises(WhirlpoolError) as info:
        swap(low, bottom, 10**18, sqrt_price_limit=0, amount_specified_is_input=False, a_to_b=True)
    assert info.value.code == "PartialFillError"
