"""Raydium CPMM and AMM v4 exact math: the recorded CPMM pool's quotes, fee split, and invariants."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from solana_data import cpmm_state

from agents.solana.accounts import (
    b64decode_account,
    cpmm_pool,
    decode_cpmm_config,
    decode_cpmm_pool,
    decode_token_account,
)
from sdk.amm.errors import AmmInputError
from sdk.amm.raydium import CpmmFees, RaydiumAmmV4Pool, RaydiumCpmmPool, RaydiumError


def _recorded_pool(shared_data: Path) -> RaydiumCpmmPool:
    state = cpmm_state(shared_data)
    accounts = state["accounts"]
    pool = decode_cpmm_pool(b64decode_account(accounts[state["pool"]]["data"]))
    config = decode_cpmm_config(b64decode_account(accounts[str(pool.amm_config)]["data"]))
    vault_0 = decode_token_account(b64decode_account(accounts[str(pool.token_0_vault)]["data"]))
    vault_1 = decode_token_account(b64decode_account(accounts[str(pool.token_1_vault)]["data"]))
    return cpmm_pool(pool, config, vault_0, vault_1)


@pytest.mark.shared
def test_recorded_cpmm_quote_one_sol(shared_data: Path) -> None:
    pool = _recorded_pool(shared_data)
    x, y = pool.reserve_0, pool.reserve_1  # 461366032767 lamports, 95416112608385 raw token 1
    swap = pool.swap_base_input(10**9, zero_for_one=True)
    # 0.25 % trade fee rounded up, no creator fee (disabled on this pool although the config has 500)
    assert swap.trade_fee == 2_500_000
    assert swap.creator_fee == 0
    assert swap.output_amount == (10**9 - 2_500_000) * y // (x + 10**9 - 2_500_000)
    assert swap.protocol_fee == 2_500_000 * 120_000 // 10**6 == 300_000
    assert swap.fund_fee == 2_500_000 * 40_000 // 10**6 == 100_000
    new_0, new_1 = swap.reserves_after
    assert new_0 == x + 10**9 - 400_000  # the LPs keep the rest of the fee
    assert new_1 == y - swap.output_amount
    assert new_0 * new_1 >= x * y


@pytest.mark.shared
def test_recorded_cpmm_curve_agrees_with_exact(shared_data: Path) -> None:
    pool = _recorded_pool(shared_data)
    curve = pool.curve(decimals_0=9, decimals_1=6)
    assert curve.price == pytest.approx(95416112608385 / 1e6 / (461366032767 / 1e9), rel=1e-12)
    sell = pool.swap_base_input(10**9, zero_for_one=True)
    assert -curve.cost(-1.0) == pytest.approx(sell.output_amount / 1e6, rel=1e-6)
    buy = pool.swap_base_output(10**9, zero_for_one=False)
    assert curve.cost(1.0) == pytest.approx(buy.input_amount / 1e6, rel=1e-6)


fees = st.builds(
    CpmmFees,
    trade_fee_rate=st.integers(0, 30_000),
    protocol_fee_rate=st.integers(0, 300_000),
    fund_fee_rate=st.integers(0, 300_000),
    creator_fee_rate=st.integers(0, 10_000),
)
pools = st.builds(
    RaydiumCpmmPool,
    reserve_0=st.integers(10**6, 10**15),
    reserve_1=st.integers(10**6, 10**15),
    fees=fees,
    creator_fee_on=st.integers(0, 2),
    creator_fee_enabled=st.booleans(),
)


@given(pool=pools, amount=st.integers(1, 10**13), zero_for_one=st.booleans())
def test_cpmm_exact_input_never_lowers_k_and_splits_the_fee(
    pool: RaydiumCpmmPool, amount: int, zero_for_one: bool
) -> None:
    try:
        swap = pool.swap_base_input(amount, zero_for_one=zero_for_one)
    except RaydiumError as err:
        assert err.reason == "InvalidOutput"
        return
    new_0, new_1 = swap.reserves_after
    assert new_0 * new_1 >= pool.reserve_0 * pool.reserve_1
    assert swap.protocol_fee + swap.fund_fee <= swap.trade_fee
    if not pool.creator_fee_enabled:
        assert swap.creator_fee == 0


@given(pool=pools, amount=st.integers(1, 10**12), zero_for_one=st.booleans())
def test_cpmm_exact_output_pays_enough_for_the_output(
    pool: RaydiumCpmmPool, amount: int, zero_for_one: bool
) -> None:
    try:
        out = pool.swap_base_output(amount, zero_for_one=zero_for_one)
    except RaydiumError:
        return
    again = pool.swap_base_input(out.input_amount, zero_for_one=zero_for_one)
    assert again.output_amount >= amount - 1  # rounding of the creator fee on the output: one unit
    new_0, new_1 = out.reserves_after
    assert new_0 * new_1 >= pool.reserve_0 * pool.reserve_1


def test_cpmm_errors_name_the_field() -> None:
    with pytest.raises(AmmInputError, match="trade_fee_rate"):
        CpmmFees(2_000_000, 0, 0)
    pool = RaydiumCpmmPool(1000, 1000, CpmmFees(2500, 0, 0))
    with pytest.raises(RaydiumError, match="InvalidInput"):
        pool.swap_base_input(0, zero_for_one=True)
    with pytest.raises(RaydiumError, match="ZeroTradingTokens"):
        pool.swap_base_output(1000, zero_for_one=True)
    with pytest.raises(RaydiumError, match="InsufficientVault"):
        RaydiumCpmmPool.from_vaults(10, 10, fees=CpmmFees(2500, 0, 0), owed_0=11, owed_1=0)


def test_amm_v4_fee_rounds_up_and_pnl_is_not_a_reserve() -> None:
    pool = RaydiumAmmV4Pool.from_vaults(10**12, 5 * 10**10, need_take_pnl_coin=10**9, need_take_pnl_pc=0)
    assert pool.coin_reserve == 10**12 - 10**9
    out, fee = pool.swap_base_in(1001, coin_to_pc=True)
    assert fee == 3  # ceil(1001 * 25 / 10000)
    assert out == pool.pc_reserve * 998 // (pool.coin_reserve + 998)


@given(
    coin=st.integers(10**6, 10**15),
    pc=st.integers(10**6, 10**15),
    amount=st.integers(1, 10**12),
    coin_to_pc=st.booleans(),
)
def test_amm_v4_base_out_inverts_base_in(coin: int, pc: int, amount: int, coin_to_pc: bool) -> None:
    pool = RaydiumAmmV4Pool(coin, pc)
    try:
        amount_in, _ = pool.swap_base_out(amount, coin_to_pc=coin_to_pc)
        out, _ = pool.swap_base_in(amount_in, coin_to_pc=coin_to_pc)
    except RaydiumError:
        return
    assert out >= amount
    curve = pool.curve()
    if coin_to_pc and amount < 0.5 * pc:
        # selling coin: the continuous curve's proceeds match the exact output up to rounding (the fee is
        # rounded up to a whole input unit, worth ``price`` output units; the output is floored)
        assert -curve.cost(-amount_in) == pytest.approx(out, rel=1e-9, abs=2 + 2 * pc / coin)
