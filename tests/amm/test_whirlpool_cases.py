"""Every Orca Whirlpool splash-pool swap case of the program's own test suite reproduced exactly.

The harness is the program's ``swap_integration_tests``: the pool starts at the sqrt price of
``currTickIndex`` with constant liquidity and three empty tick arrays from the array holding that tick, in the
direction of the swap; the limit is the sqrt price of the sequence's last tick. Per case all seven outputs
must be equal integers, or the same error code must be raised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from amm_vector_data import case_params, load_json

from sdk.amm.whirlpool import (
    MAX_TICK_INDEX,
    MIN_TICK_INDEX,
    TICK_ARRAY_SIZE,
    TickArray,
    WhirlpoolError,
    WhirlpoolState,
    sqrt_price_from_tick_index,
    start_tick_index_for,
    swap,
)

pytestmark = pytest.mark.shared
REL = "amm/orca_whirlpools/swap_test_cases_splash_pool.json"
_CACHE: dict[str, list[dict[str, Any]]] = {}


def _cases(shared_data: Path) -> list[dict[str, Any]]:
    if REL not in _CACHE:
        _CACHE[REL] = load_json(shared_data / REL)
    return _CACHE[REL]


def run_case(case: dict[str, Any]) -> tuple[Any, ...]:
    """Our outcome in the expectation's shape: ``(code,)`` or ``("", a, b, L, tick, p, fg, pf)``."""
    spacing = case["tickSpacing"]
    span = TICK_ARRAY_SIZE * spacing
    a_to_b = case["aToB"]
    start = start_tick_index_for(case["currTickIndex"], spacing)
    direction = -1 if a_to_b else 1
    arrays = [TickArray(start + span * i * direction) for i in range(3)]
    last = start - 2 * span if a_to_b else start + 3 * span - 1
    last = max(MIN_TICK_INDEX, min(MAX_TICK_INDEX, last))
    pool = WhirlpoolState(
        sqrt_price=sqrt_price_from_tick_index(case["currTickIndex"]),
        tick_current_index=case["currTickIndex"],
        liquidity=int(case["liquidity"]),
        tick_spacing=spacing,
        fee_rate=case["feeRate"],
        protocol_fee_rate=case["protocolFeeRate"],
    )
    try:
        r = swap(
            pool,
            arrays,
            int(case["tradeAmount"]),
            sqrt_price_limit=sqrt_price_from_tick_index(last),
            amount_specified_is_input=case["amountIsInput"],
            a_to_b=a_to_b,
        )
    except WhirlpoolError as err:
        return (err.code,)
    return (
        "",
        r.amount_a,
        r.amount_b,
        r.next_liquidity,
        r.next_tick_index,
        r.next_sqrt_price,
        r.next_fee_growth_global,
        r.next_protocol_fee,
    )


def expected(case: dict[str, Any]) -> tuple[Any, ...]:
    e = case["expectation"]
    if e["exception"]:
        return (e["exception"],)
    return (
        "",
        int(e["amountA"]),
        int(e["amountB"]),
        int(e["nextLiquidity"]),
        e["nextTickIndex"],
        int(e["nextSqrtPrice"]),
        int(e["nextFeeGrowthGlobal"]),
        int(e["nextProtocolFee"]),
    )


@pytest.mark.parametrize("index", case_params(REL, list, lambda c: f"{c['testId']}-{c['description']}"))
def test_splash_pool_swap_case(shared_data: Path, index: int) -> None:
    case = _cases(shared_data)[index]
    assert run_case(case) == expected(case), case["description"]


def test_all_2880_cases_and_every_outcome_class_present(shared_data: Path) -> None:
    cases = _cases(shared_data)
    assert len(cases) == 2880
    outcomes = {expected(c)[0] for c in cases}
    assert outcomes == {
        "",
        "ZeroTradableAmount",
        "TokenMaxExceeded",
        "MultiplicationShiftRightOverflow",
        "AmountCalcOverflow",
    }
    mismatches = [c["testId"] for c in cases if run_case(c) != expected(c)]
    assert mismatches == []


def test_error_carries_the_program_number(shared_data: Path) -> None:
    case = next(c for c in _cases(shared_data) if c["expectation"]["exception"] == "ZeroTradableAmount")
    with pytest.raises(WhirlpoolError) as info:
        pool = WhirlpoolState(
            sqrt_price_from_tick_index(case["currTickIndex"]),
            case["currTickIndex"],
            int(case["liquidity"]),
            case["tickSpacing"],
            case["feeRate"],
            case["protocolFeeRate"],
        )
        start = start_tick_index_for(case["currTickIndex"], case["tickSpacing"])
        swap(
            pool,
            [TickArray(start)],
            0,
            sqrt_price_limit=0,
            amount_specified_is_input=True,
            a_to_b=case["aToB"],
        )
    assert info.value.code == "ZeroTradableAmount"
    assert info.value.number == 6035
