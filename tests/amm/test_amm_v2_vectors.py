"""Every Uniswap v2 vector of ``../shared/data/amm/uniswap_v2`` reproduced exactly (integers equal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from amm_vector_data import case_params, load_json

from sdk.amm.errors import UniswapV2Revert
from sdk.amm.uint import MAX_UINT256
from sdk.amm.uniswap_v2 import (
    arbitrage_to_true_price,
    get_amount_in,
    get_amount_out,
    get_reserves_after_arbitrage,
    pair_swap,
    quote,
)

pytestmark = pytest.mark.shared
REL = "amm/uniswap_v2/uniswap_v2_vectors.json"


def _vectors(shared_data: Path) -> Any:
    return load_json(shared_data / REL)


def _label(case: dict[str, Any]) -> str:
    return str(case.get("source") or case.get("test") or "case")


@pytest.mark.parametrize("index", case_params(REL, lambda d: d["getAmountOut"]["cases"], _label))
def test_get_amount_out_is_exact_and_the_maximum_the_pair_accepts(shared_data: Path, index: int) -> None:
    case = _vectors(shared_data)["getAmountOut"]["cases"][index]
    amount_in, reserve_in, reserve_out = (
        int(case["amountIn"]),
        int(case["reserveIn"]),
        int(case["reserveOut"]),
    )
    amount_out = get_amount_out(amount_in, reserve_in, reserve_out)
    assert amount_out == int(case["amountOut"])
    # The pair (token0 in, token1 out) accepts exactly this output and reverts with 'UniswapV2: K' on +1.
    after = pair_swap(
        reserve_in, reserve_out, amount0_out=0, amount1_out=amount_out, amount0_paid=amount_in, amount1_paid=0
    )
    assert after == (reserve_in + amount_in, reserve_out - amount_out)
    with pytest.raises(UniswapV2Revert) as err:
        pair_swap(
            reserve_in,
            reserve_out,
            amount0_out=0,
            amount1_out=amount_out + 1,
            amount0_paid=amount_in,
            amount1_paid=0,
        )
    assert err.value.revert_string == "UniswapV2: K"


@pytest.mark.parametrize("index", case_params(REL, lambda d: d["getAmountOut"]["reverts"], _label))
def test_get_amount_out_reverts_like_the_library(shared_data: Path, index: int) -> None:
    case = _vectors(shared_data)["getAmountOut"]["reverts"][index]
    with pytest.raises(UniswapV2Revert) as err:
        get_amount_out(int(case["amountIn"]), int(case["reserveIn"]), int(case["reserveOut"]))
    assert err.value.revert_string == case["error"]


@pytest.mark.parametrize("index", case_params(REL, lambda d: d["getAmountIn"]["cases"], _label))
def test_get_amount_in_is_exact_and_sufficient(shared_data: Path, index: int) -> None:
    case = _vectors(shared_data)["getAmountIn"]["cases"][index]
    amount_out, reserve_in, reserve_out = (
        int(case["amountOut"]),
        int(case["reserveIn"]),
        int(case["reserveOut"]),
    )
    amount_in = get_amount_in(amount_out, reserve_in, reserve_out)
    assert amount_in == int(case["amountIn"])
    assert get_amount_out(amount_in, reserve_in, reserve_out) >= amount_out


@pytest.mark.parametrize("index", case_params(REL, lambda d: d["quote"]["cases"], _label))
def test_quote(shared_data: Path, index: int) -> None:
    case = _vectors(shared_data)["quote"]["cases"][index]
    assert quote(int(case["amountA"]), int(case["reserveA"]), int(case["reserveB"])) == int(case["amountB"])


@pytest.mark.parametrize(
    "index",
    case_params(
        REL,
        lambda d: d["flash_swap_same_token_optimistic"]["cases"],
        lambda c: f"out{c['outputAmount']}-r{c['reserve0']}-{c['reserve1']}",
    ),
)
def test_same_token_flash_swap_accepts_output_and_reverts_k_on_plus_one(
    shared_data: Path, index: int
) -> None:
    case = _vectors(shared_data)["flash_swap_same_token_optimistic"]["cases"][index]
    reserve0, reserve1 = int(case["reserve0"]), int(case["reserve1"])
    output, paid = int(case["outputAmount"]), int(case["inputAmount"])
    assert pair_swap(
        reserve0, reserve1, amount0_out=output, amount1_out=0, amount0_paid=paid, amount1_paid=0
    ) == (
        reserve0 + paid - output,
        reserve1,
    )
    with pytest.raises(UniswapV2Revert) as err:
        pair_swap(
            reserve0, reserve1, amount0_out=output + 1, amount1_out=0, amount0_paid=paid, amount1_paid=0
        )
    assert err.value.revert_string == "UniswapV2: K"


@pytest.mark.parametrize(
    "index", case_params(REL, lambda d: d["swap_to_price_profit_maximizing_trade"]["cases"], _label)
)
def test_swap_to_true_price_trade(shared_data: Path, index: int) -> None:
    block = _vectors(shared_data)["swap_to_price_profit_maximizing_trade"]
    case = block["cases"][index]
    result = arbitrage_to_true_price(
        int(case["truePriceToken0"]),
        int(case["truePriceToken1"]),
        int(block["reserve0"]),
        int(block["reserve1"]),
    )
    assert result.a_to_b is (case["tokenIn"] == "token0")
    assert result.amount_in == int(case["amountIn"])
    assert result.amount_out == int(case["amountOut"])


def _true_price(text: str) -> int:
    return MAX_UINT256 // 1000 if text == "MaxUint256.div(1000)" else int(text)


@pytest.mark.parametrize("index", case_params(REL, lambda d: d["reserves_after_arbitrage"]["cases"], _label))
def test_reserves_after_arbitrage(shared_data: Path, index: int) -> None:
    block = _vectors(shared_data)["reserves_after_arbitrage"]
    case = block["cases"][index]
    reserves = get_reserves_after_arbitrage(
        _true_price(case["truePriceTokenA"]),
        _true_price(case["truePriceTokenB"]),
        int(block["reserve0"]),
        int(block["reserve1"]),
    )
    assert reserves == (int(case["reserveA"]), int(case["reserveB"]))
