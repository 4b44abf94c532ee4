"""Every Uniswap v3 pool swap case of the v3-core snapshot reproduced exactly.

Per case: pool balances after minting, amount deltas, fee growth globals and tick after (integers equal), the
5-significant-digit prices within their rounding, and the ``SPL`` reverts.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from amm_vector_data import case_params, load_json

from sdk.amm.errors import UniswapV3Revert
from sdk.amm.uint import MAX_INT256
from sdk.amm.uniswap_v3 import Pool

pytestmark = pytest.mark.shared
REL = "amm/uniswap_v3/uniswap_v3_pool_swaps.json"


def _build(data: Any, case: dict[str, Any]) -> tuple[Pool, dict[str, Any]]:
    pool_spec = next(p for p in data["pools"] if p["description"] == case["pool"])
    test = next(t for t in data["tests"] if t["description"] == case["test"])
    pool = Pool(pool_spec["feeAmount"], pool_spec["tickSpacing"], int(pool_spec["startingSqrtPriceX96"]))
    for position in pool_spec["positions"]:
        pool.mint(position["tickLower"], position["tickUpper"], int(position["liquidity"]))
    return pool, test


def _amount_specified(test: dict[str, Any]) -> int:
    if "exactOut" not in test:  # swapToLowerPrice / swapToHigherPrice: type(int256).max up to the limit
        return MAX_INT256
    amount = int(test["amount0"] if "amount0" in test else test["amount1"])
    return -amount if test["exactOut"] else amount


def _price(sqrt_price_x96: int) -> float:
    return float(Fraction(sqrt_price_x96, 1 << 96) ** 2)


def _close(actual: float, expected_text: str) -> bool:
    """Matches a ``toPrecision(5)`` string (NaN / -Infinity included)."""
    expected = float(expected_text)
    if math.isnan(expected) or math.isinf(expected):
        return math.isnan(actual) if math.isnan(expected) else actual == expected
    return math.isclose(actual, expected, rel_tol=1e-4)


def _execution_price(amount0: int, amount1: int) -> float:
    if amount0 == 0:
        return math.nan if amount1 == 0 else -math.copysign(math.inf, amount1)
    return float(Fraction(-amount1, amount0))


@pytest.mark.parametrize(
    "index", case_params(REL, lambda d: d["cases"], lambda c: f"{c['pool']}|{c['test']}")
)
def test_pool_swap_case(shared_data: Path, index: int) -> None:
    data = load_json(shared_data / REL)
    case = data["cases"][index]
    expected = case["expected"]
    pool, test = _build(data, case)
    limit = int(test["sqrtPriceLimitX96"]) if "sqrtPriceLimitX96" in test else None
    assert pool.tick == expected["tickBefore"]
    assert _close(_price(pool.sqrt_price_x96), expected["poolPriceBefore"])

    if case["outcome"] == "error":
        assert pool.balances == (int(expected["poolBalance0"]), int(expected["poolBalance1"]))
        assert expected["swapError"].endswith("revert SPL")
        with pytest.raises(UniswapV3Revert) as err:
            pool.swap(test["zeroForOne"], _amount_specified(test), limit)
        assert err.value.reason == "SPL"
        return

    assert pool.balances == (int(expected["amount0Before"]), int(expected["amount1Before"]))
    result = pool.swap(test["zeroForOne"], _amount_specified(test), limit)
    assert result.amount0 == int(expected["amount0Delta"])
    assert result.amount1 == int(expected["amount1Delta"])
    assert result.fee_growth_global0_x128 == int(expected["feeGrowthGlobal0X128Delta"])
    assert result.fee_growth_global1_x128 == int(expected["feeGrowthGlobal1X128Delta"])
    assert result.tick == expected["tickAfter"]
    assert _close(_price(result.sqrt_price_x96), expected["poolPriceAfter"])
    assert _close(_execution_price(result.amount0, result.amount1), expected["executionPrice"])
    # The swap was committed: pool state equals the result.
    assert (pool.sqrt_price_x96, pool.tick, pool.liquidity) == (
        result.sqrt_price_x96,
        result.tick,
        result.liquidity,
    )
