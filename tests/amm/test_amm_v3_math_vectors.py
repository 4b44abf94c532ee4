"""Every Uniswap v3 SwapMath / SqrtPriceMath / TickMath vector reproduced exactly (integers equal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from amm_vector_data import case_params, load_json

from sdk.amm.errors import AmmRevert, UniswapV3Revert
from sdk.amm.uniswap_v3 import (
    compute_swap_step,
    get_amount0_delta,
    get_amount1_delta,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)

pytestmark = pytest.mark.shared
REL = "amm/uniswap_v3/uniswap_v3_math_vectors.json"


def _vectors(shared_data: Path) -> Any:
    return load_json(shared_data / REL)


def _int(field: dict[str, Any]) -> int:
    return int(field["value"])


def _leading_int(text: str) -> int:
    return int(text.split(maxsplit=1)[0])


@pytest.mark.parametrize(
    "index", case_params(REL, lambda d: d["SwapMath.computeSwapStep"]["cases"], lambda c: c["test"])
)
def test_compute_swap_step(shared_data: Path, index: int) -> None:
    case = _vectors(shared_data)["SwapMath.computeSwapStep"]["cases"][index]
    current, target = _int(case["sqrtPriceCurrent"]), _int(case["sqrtPriceTarget"])
    liquidity, remaining = _int(case["liquidity"]), _int(case["amountRemaining"])
    step = compute_swap_step(current, target, liquidity, remaining, case["feePips"])
    expected = case["expected"]
    assert step.amount_in == _leading_int(expected["amountIn"])
    assert step.fee_amount == _leading_int(expected["feeAmount"])
    assert step.amount_out == _leading_int(expected["amountOut"])
    next_spec: str = expected["sqrtRatioNext"]
    if next_spec == "== sqrtPriceTarget":
        assert step.sqrt_ratio_next_x96 == target
    elif "getNextSqrtPriceFromInput" in next_spec:
        assert step.sqrt_ratio_next_x96 < target
        assert step.sqrt_ratio_next_x96 == get_next_sqrt_price_from_input(
            current, liquidity, remaining - step.fee_amount, False
        )
    elif "getNextSqrtPriceFromOutput" in next_spec:
        assert step.sqrt_ratio_next_x96 < target
        assert step.sqrt_ratio_next_x96 == get_next_sqrt_price_from_output(
            current, liquidity, -remaining, False
        )
    else:
        assert step.sqrt_ratio_next_x96 == int(next_spec)
    # Invariants the spec file asserts for every case.
    if remaining >= 0:
        assert step.amount_in + step.fee_amount <= remaining
    else:
        assert step.amount_out <= -remaining


def _sqrt_price_call(case: dict[str, Any]) -> int | tuple[int, int]:
    fn = case["fn"]
    if fn in ("getNextSqrtPriceFromInput", "getNextSqrtPriceFromOutput"):
        call = (
            get_next_sqrt_price_from_input
            if fn == "getNextSqrtPriceFromInput"
            else get_next_sqrt_price_from_output
        )
        return call(_int(case["sqrtP"]), _int(case["liquidity"]), _int(case["amount"]), case["zeroForOne"])
    delta = get_amount0_delta if fn == "getAmount0Delta" else get_amount1_delta
    args = (_int(case["sqrtA"]), _int(case["sqrtB"]), _int(case["liquidity"]))
    if case["roundUp"] is None:
        return delta(*args, True), delta(*args, False)
    return delta(*args, case["roundUp"])


@pytest.mark.parametrize(
    "index", case_params(REL, lambda d: d["SqrtPriceMath"]["cases"], lambda c: f"{c['fn']}-{c['test']}")
)
def test_sqrt_price_math(shared_data: Path, index: int) -> None:
    case = _vectors(shared_data)["SqrtPriceMath"]["cases"][index]
    expected: str = case["expected"]
    if expected == "REVERT":
        with pytest.raises(AmmRevert):
            _sqrt_price_call(case)
        return
    result = _sqrt_price_call(case)
    if expected == "up == down + 1":
        assert isinstance(result, tuple)
        assert result[0] == result[1] + 1
        return
    assert result == int(expected)
    if "also" in case:  # getAmount0Delta(expected, sqrtP, liquidity, roundUp=true) == amount
        assert get_amount0_delta(int(expected), _int(case["sqrtP"]), _int(case["liquidity"]), True) == _int(
            case["amount"]
        )


@pytest.mark.parametrize(
    "index",
    case_params(REL, lambda d: d["TickMath"]["getSqrtRatioAtTick"], lambda c: f"tick{c['tick']}-{c['from']}"),
)
def test_get_sqrt_ratio_at_tick(shared_data: Path, index: int) -> None:
    case = _vectors(shared_data)["TickMath"]["getSqrtRatioAtTick"][index]
    assert get_sqrt_ratio_at_tick(case["tick"]) == int(case["sqrtPriceX96"])


@pytest.mark.parametrize(
    "index",
    case_params(
        REL, lambda d: d["TickMath"]["getTickAtSqrtRatio"], lambda c: f"p{c['sqrtPriceX96']}-{c['from']}"
    ),
)
def test_get_tick_at_sqrt_ratio(shared_data: Path, index: int) -> None:
    case = _vectors(shared_data)["TickMath"]["getTickAtSqrtRatio"][index]
    assert get_tick_at_sqrt_ratio(int(case["sqrtPriceX96"])) == case["tick"]


@pytest.mark.parametrize(
    "index", case_params(REL, lambda d: d["TickMath"]["getSqrtRatioAtTick_reverts"], lambda c: f"tick{c}")
)
def test_get_sqrt_ratio_at_tick_reverts_t(shared_data: Path, index: int) -> None:
    tick = _vectors(shared_data)["TickMath"]["getSqrtRatioAtTick_reverts"][index]
    with pytest.raises(UniswapV3Revert) as err:
        get_sqrt_ratio_at_tick(tick)
    assert err.value.reason == "T"


@pytest.mark.parametrize(
    "index", case_params(REL, lambda d: d["TickMath"]["getTickAtSqrtRatio_reverts"], str)
)
def test_get_tick_at_sqrt_ratio_reverts_r(shared_data: Path, index: int) -> None:
    text = _vectors(shared_data)["TickMath"]["getTickAtSqrtRatio_reverts"][index]
    with pytest.raises(UniswapV3Revert) as err:
        get_tick_at_sqrt_ratio(_leading_int(text))
    assert err.value.reason == "R"
