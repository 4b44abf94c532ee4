"""Paper fills on a Whirlpool: exact amounts, the slippage cap, and the network fee from recent fees."""

from __future__ import annotations

import pytest

from agents.solana.paper import (
    PaperFillRefused,
    network_fee_lamports,
    paper_swap,
    priority_fee_price,
)
from sdk.amm.whirlpool import (
    TickArray,
    WhirlpoolState,
    select_swap_arrays,
    sequence_sqrt_price_limit,
    sqrt_price_from_tick_index,
    swap,
    swap_tick_array_starts,
)


def _state(tick: int) -> WhirlpoolState:
    return WhirlpoolState(sqrt_price_from_tick_index(tick), tick, 10**13, 64, 3000, 300)


def _arrays(tick: int) -> list[TickArray]:
    starts = set(swap_tick_array_starts(tick, 64, True)) | set(swap_tick_array_starts(tick - 100, 64, True))
    return [TickArray(s) for s in sorted(starts)]


def test_fill_at_exact_amounts_when_the_price_held() -> None:
    arrays = _arrays(0)
    fill = paper_swap(_state(0), _state(0), arrays, 10**9, a_to_b=True, slippage_bps=50, network_fee=5000)
    walked = select_swap_arrays(arrays, 0, 64, True)
    limit = sequence_sqrt_price_limit(walked, 64, True)
    exact = swap(
        _state(0), walked, 10**9, sqrt_price_limit=limit, amount_specified_is_input=True, a_to_b=True
    )
    assert fill.amount_out == exact.amount_b
    assert fill.threshold == exact.amount_b * 9950 // 10000


def test_refused_beyond_the_slippage_cap() -> None:
    arrays = _arrays(0)
    # the price fell 1 % (100 ticks) between planning and filling: a 50 bps cap refuses, 200 bps fills
    with pytest.raises(PaperFillRefused, match="below the threshold"):
        paper_swap(_state(0), _state(-100), arrays, 10**9, a_to_b=True, slippage_bps=50, network_fee=5000)
    paper_swap(_state(0), _state(-100), arrays, 10**9, a_to_b=True, slippage_bps=200, network_fee=5000)


def test_priority_and_network_fee() -> None:
    recent = [0, 1000, 5000, 10000, 20000]
    assert priority_fee_price(recent, 75) == 10000
    assert priority_fee_price([], 75) == 0
    assert network_fee_lamports(priority_price_micro_lamports=10000, compute_units=200_000) == 5000 + 2000
    assert network_fee_lamports(priority_price_micro_lamports=1, compute_units=1) == 5001  # rounded up
    with pytest.raises(ValueError, match="percentile"):
        priority_fee_price(recent, 101)
