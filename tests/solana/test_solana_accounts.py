"""Recorded mainnet accounts decode to the upstream decoder's fields; PDAs and tick math agree with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from solana_data import account_bytes, cpmm_state, load
from solders.pubkey import Pubkey

from agents.solana.accounts import (
    RAYDIUM_CPMM_PROGRAM_ID,
    AccountDecodeError,
    anchor_discriminator,
    b64decode_account,
    cpmm_pool,
    decode_amm_v4,
    decode_cpmm_config,
    decode_cpmm_pool,
    decode_fee_tier,
    decode_mint,
    decode_tick_array,
    decode_token_account,
    decode_whirlpool,
    tick_array_address,
    whirlpool_address,
)
from sdk.amm.whirlpool import (
    TICK_ARRAY_SIZE,
    Tick,
    TickArray,
    sqrt_price_from_tick_index,
    tick_index_from_sqrt_price,
)
from sdk.curves.whirlpool import WhirlpoolCurve

pytestmark = pytest.mark.shared

_CAMEL = {
    "whirlpoolsConfig": "whirlpools_config",
    "tickSpacing": "tick_spacing",
    "feeRate": "fee_rate",
    "protocolFeeRate": "protocol_fee_rate",
    "liquidity": "liquidity",
    "sqrtPrice": "sqrt_price",
    "tickCurrentIndex": "tick_current_index",
    "protocolFeeOwedA": "protocol_fee_owed_a",
    "protocolFeeOwedB": "protocol_fee_owed_b",
    "tokenMintA": "token_mint_a",
    "tokenVaultA": "token_vault_a",
    "feeGrowthGlobalA": "fee_growth_global_a",
    "tokenMintB": "token_mint_b",
    "tokenVaultB": "token_vault_b",
    "feeGrowthGlobalB": "fee_growth_global_b",
    "rewardLastUpdatedTimestamp": "reward_last_updated_timestamp",
}


def test_whirlpool_matches_the_upstream_decode(shared_data: Path) -> None:
    entry = load(shared_data, "orca_whirlpool/carbon/whirlpool_account.json")
    pool = decode_whirlpool(b64decode_account(entry["data"]))
    upstream = entry["data_decoded"]
    for camel, field in _CAMEL.items():
        ours = getattr(pool, field)
        expected = upstream[camel]["data"]
        assert str(ours) == str(expected), field
    assert pool.whirlpool_bump == upstream["whirlpoolBump"]["data"][0]
    assert list(pool.tick_spacing_seed) == upstream["tickSpacingSeed"]["data"]
    for ours_reward, theirs in zip(pool.reward_infos, upstream["rewardInfos"]["data"], strict=True):
        assert str(ours_reward.mint) == theirs["mint"]
        assert str(ours_reward.vault) == theirs["vault"]
        assert str(ours_reward.authority) == theirs["authority"]
        assert ours_reward.emissions_per_second_x64 == int(theirs["emissionsPerSecondX64"])
        assert ours_reward.growth_global_x64 == int(theirs["growthGlobalX64"])


def test_whirlpool_address_and_tick_are_consistent(shared_data: Path) -> None:
    entry = load(shared_data, "orca_whirlpool/carbon/whirlpool_account.json")
    pool = decode_whirlpool(b64decode_account(entry["data"]))
    address, bump = whirlpool_address(
        pool.whirlpools_config, pool.token_mint_a, pool.token_mint_b, pool.tick_spacing_seed
    )
    assert str(address) == "CGGNcohZdLdeDBdhmQRGmUH1Viv1p4d1ds2aPLoiVWaR"
    assert bump == pool.whirlpool_bump == 246
    assert tick_index_from_sqrt_price(pool.sqrt_price) == pool.tick_current_index == 223338


def test_fixed_tick_array_matches_the_upstream_decode(shared_data: Path) -> None:
    entry = load(shared_data, "orca_whirlpool/carbon/tick_array_account.json")
    array = decode_tick_array(b64decode_account(entry["data"]))
    upstream = entry["data_decoded"]
    assert array.start_tick_index == int(upstream["startTickIndex"]["data"])
    assert str(array.whirlpool) == upstream["whirlpool"]["data"]
    assert len(array.ticks) == TICK_ARRAY_SIZE
    for ours, theirs in zip(array.ticks, upstream["ticks"]["data"], strict=True):
        assert ours.initialized == theirs["initialized"]
        assert ours.liquidity_net == int(theirs["liquidityNet"])
        assert ours.liquidity_gross == int(theirs["liquidityGross"])
        assert ours.fee_growth_outside_a == int(theirs["feeGrowthOutsideA"])
        assert ours.fee_growth_outside_b == int(theirs["feeGrowthOutsideB"])
        assert list(ours.reward_growths_outside) == [int(v) for v in theirs["rewardGrowthsOutside"]]
    # the full-range lower bound of the splash pool, and the array's PDA is derivable
    assert array.tick_array().ticks.keys() == {75}
    assert array.start_tick_index + 75 * 32896 == -427648
    assert tick_array_address(array.whirlpool, array.start_tick_index) != array.whirlpool


def test_dynamic_tick_array_follows_its_bitmap(shared_data: Path) -> None:
    entry = load(shared_data, "orca_whirlpool/carbon/dynamic_tick_array_account0.json")
    array = decode_tick_array(b64decode_account(entry["data"]))
    assert array.dynamic
    assert array.start_tick_index == 45056
    assert str(array.whirlpool) == "XbZJ25spXckFsU7xYD2Sr3FkXsiw991yHPshExYSpD9"
    assert [i for i, t in enumerate(array.ticks) if t.initialized] == [32]


def test_fee_tier(shared_data: Path) -> None:
    entry = load(shared_data, "orca_whirlpool/carbon/fee_tier_account.json")
    tier = decode_fee_tier(b64decode_account(entry["data"]))
    assert (tier.tick_spacing, tier.default_fee_rate) == (32896, 10000)
    assert str(tier.whirlpools_config) == "2LecshUwdy9xi7meFgHtFJQNSKk4KdTrcpvaB56dP2NQ"


def test_byte_array_whirlpool_bonk_wif(shared_data: Path) -> None:
    entry = load(
        shared_data,
        "orca_whirlpool/yellowstone_vixen/56Ekyu6uBpTna3LR2qkjHjNbDNkCLWK2Lt3uWh7J2R8Z_account.json",
    )
    pool = decode_whirlpool(account_bytes(entry))
    assert str(pool.token_mint_a).startswith("DezXAZ8z")  # BONK
    assert str(pool.token_mint_b).startswith("EKpQGSJt")  # WIF
    assert (pool.tick_spacing, pool.fee_rate, pool.protocol_fee_rate) == (16, 1600, 1300)
    assert tick_index_from_sqrt_price(pool.sqrt_price) == pool.tick_current_index == -94063
    address, bump = whirlpool_address(
        pool.whirlpools_config, pool.token_mint_a, pool.token_mint_b, pool.tick_spacing_seed
    )
    assert bytes(address) == bytes(entry["pubkey"])
    assert bump == pool.whirlpool_bump


def test_wrong_kind_and_size_are_refused_naming_the_account(shared_data: Path) -> None:
    entry = load(shared_data, "orca_whirlpool/carbon/whirlpool_account.json")
    data = b64decode_account(entry["data"])
    with pytest.raises(AccountDecodeError, match="TickArray discriminator"):
        decode_tick_array(data)
    with pytest.raises(AccountDecodeError, match="Whirlpool account must be 653 bytes"):
        decode_whirlpool(data[:-1])
    with pytest.raises(AccountDecodeError, match="must be base64"):
        b64decode_account("not base64!")
    assert anchor_discriminator("Whirlpool") == data[:8]


# ------------------------------------------------------------------------------------------- Raydium


def _cpmm(shared_data: Path):  # type: ignore[no-untyped-def]
    state = cpmm_state(shared_data)
    accounts = state["accounts"]
    pool = decode_cpmm_pool(b64decode_account(accounts[state["pool"]]["data"]))
    config = decode_cpmm_config(b64decode_account(accounts[str(pool.amm_config)]["data"]))
    vault_0 = decode_token_account(b64decode_account(accounts[str(pool.token_0_vault)]["data"]))
    vault_1 = decode_token_account(b64decode_account(accounts[str(pool.token_1_vault)]["data"]))
    return state, pool, config, vault_0, vault_1


def test_cpmm_pool_points_at_its_accounts_and_owes_fees(shared_data: Path) -> None:
    state, pool, config, vault_0, vault_1 = _cpmm(shared_data)
    accounts = state["accounts"]
    for key in (pool.amm_config, pool.token_0_vault, pool.token_1_vault, pool.lp_mint, pool.observation_key):
        assert str(key) in accounts
    assert (pool.mint_0_decimals, pool.mint_1_decimals) == (9, 6)
    assert (pool.protocol_fees_token_0, pool.protocol_fees_token_1) == (8501600, 2629481698)
    assert (pool.fund_fees_token_0, pool.fund_fees_token_1) == (42236834, 8120109309)
    assert pool.swap_enabled
    # the vaults are owned by the program's authority PDA
    authority, _ = Pubkey.find_program_address([b"vault_and_lp_mint_auth_seed"], RAYDIUM_CPMM_PROGRAM_ID)
    assert vault_0.owner == vault_1.owner == authority
    assert (vault_0.amount, vault_1.amount) == (461416771201, 95426862199392)
    # wSOL vault: amount + rent-exempt reserve == lamports
    assert vault_0.is_native is not None
    assert vault_0.amount + vault_0.is_native == accounts[str(pool.token_0_vault)]["lamports"]
    lp_mint = decode_mint(b64decode_account(accounts[str(pool.lp_mint)]["data"]))
    assert pool.lp_supply == lp_mint.supply + 100
    assert (
        config.trade_fee_rate,
        config.protocol_fee_rate,
        config.fund_fee_rate,
        config.creator_fee_rate,
    ) == (
        2500,
        120000,
        40000,
        500,
    )


def test_cpmm_reserves_are_vaults_minus_fees_owed(shared_data: Path) -> None:
    _, pool, config, vault_0, vault_1 = _cpmm(shared_data)
    swap_pool = cpmm_pool(pool, config, vault_0, vault_1)
    assert (swap_pool.reserve_0, swap_pool.reserve_1) == (461366032767, 95416112608385)
    with pytest.raises(AccountDecodeError, match=r"vault_0\.mint"):
        cpmm_pool(pool, config, vault_1, vault_0)


def test_cpmm_config_2024_has_no_creator_fee(shared_data: Path) -> None:
    entry = load(shared_data, "raydium/raydium_cp_swap/D4FPEruKEHrG5TenZ2mpDGEfu1iUvTiqBxvpU8HLBvC2.json")
    config = decode_cpmm_config(account_bytes(entry["account"]))
    assert (config.trade_fee_rate, config.creator_fee_rate) == (2500, 0)
    wsol = load(shared_data, "raydium/raydium_cp_swap/DNXgeM9EiiaAbaWvwjHj9fQQLAX5ZsfHyvmYUNRAdNC8.json")
    account = decode_token_account(account_bytes(wsol["account"]))
    assert (account.amount, account.is_native) == (1478450000000, 2039280)


def test_amm_v4_info(shared_data: Path) -> None:
    entry = load(shared_data, "raydium/jupiter_docs_amm_v4/raydium_amm_v4_market_cache_entry.json")
    amm = decode_amm_v4(account_bytes(entry))
    assert amm.status == 1
    assert (amm.coin_decimals, amm.pc_decimals) == (9, 6)
    assert (amm.fees["trade_fee_numerator"], amm.fees["trade_fee_denominator"]) == (25, 10000)
    assert (amm.fees["swap_fee_numerator"], amm.fees["swap_fee_denominator"]) == (25, 10000)
    assert (amm.fees["pnl_numerator"], amm.fees["pnl_denominator"]) == (12, 100)
    assert str(amm.keys["coin_vault_mint"]) == "ForaXiBD8K3a7C1PwxV1xqDHs5aV8y8nWRmHebafdkes"
    assert str(amm.keys["pc_vault_mint"]) == "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"  # USDC
    assert str(amm.keys["market"]).startswith("2HqK6oen")
    assert str(amm.keys["coin_vault"]).startswith("FubQ1Ca1")
    assert amm.lp_amount == 524213136037216
    with pytest.raises(AccountDecodeError, match="752 bytes"):
        decode_amm_v4(account_bytes(entry)[:-8])


def test_decoded_splash_pool_quotes_through_its_full_range_position(shared_data: Path) -> None:
    pool = decode_whirlpool(
        b64decode_account(load(shared_data, "orca_whirlpool/carbon/whirlpool_account.json")["data"])
    )
    lower = decode_tick_array(
        b64decode_account(load(shared_data, "orca_whirlpool/carbon/tick_array_account.json")["data"])
    ).tick_array()
    # the array at 0 is not recorded; a splash pool's only position is full range, so it holds the upper bound
    upper = TickArray(0, {13: Tick(-pool.liquidity, pool.liquidity)})  # 13 * 32896 = 427648
    curve = WhirlpoolCurve(pool.state(), [lower, upper], decimals_a=9, decimals_b=6)
    s = pool.sqrt_price / 2**64
    x_virtual = pool.liquidity / s  # raw A
    y_virtual = pool.liquidity * s  # raw B
    gamma = 1 - pool.fee_rate / 1e6
    amounts = curve.exact_amounts(-100e-9)  # sell 100 lamports
    assert amounts is not None
    paid_a, got_b = amounts
    assert paid_a == 100
    assert got_b == pytest.approx(y_virtual * 100 * gamma / (x_virtual + 100 * gamma), rel=1e-6)
    assert curve.exact_cost(-100e-9) == pytest.approx(curve.cost(-100e-9), rel=1e-6)
    # the sell side ends at the position's lower bound (below it the pool has no liquidity)
    bottom = sqrt_price_from_tick_index(-427648) / 2**64
    assert curve.lower == pytest.approx(-pool.liquidity * (1 / bottom - 1 / s) / gamma * 1e-9, rel=1e-9)
