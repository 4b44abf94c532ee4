"""A Whirlpool feed against the fake RPC node playing the recorded accounts: initial read, curve rebuilt on
every account change, stale when the feed stalls, window moves and reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from solana_data import cpmm_state, fixed_tick_array_bytes, load, with_price
from solders.pubkey import Pubkey

from agents.solana.accounts import (
    WHIRLPOOL_PROGRAM_ID,
    b64decode_account,
    decode_cpmm_pool,
    decode_whirlpool,
    tick_array_address,
)
from agents.solana.pool_feed import CpmmFeed, WhirlpoolFeed
from agents.solana.rpc import SolanaRpc
from sdk.amm.whirlpool import sqrt_price_from_tick_index
from tests.fakevenues.solana import FakeAccount, FakeSolanaNode

pytestmark = pytest.mark.shared

POOL = Pubkey.from_string("CGGNcohZdLdeDBdhmQRGmUH1Viv1p4d1ds2aPLoiVWaR")


def _node(shared_data: Path) -> tuple[FakeSolanaNode, bytes]:
    pool_data = b64decode_account(load(shared_data, "orca_whirlpool/carbon/whirlpool_account.json")["data"])
    lower_data = b64decode_account(load(shared_data, "orca_whirlpool/carbon/tick_array_account.json")["data"])
    pool = decode_whirlpool(pool_data)
    # the array at 0 is not recorded: the splash pool's full-range position puts its upper bound there
    upper_data = fixed_tick_array_bytes(0, bytes(POOL), {13: (-pool.liquidity, pool.liquidity)})
    accounts = {
        POOL: FakeAccount(pool_data, WHIRLPOOL_PROGRAM_ID),
        tick_array_address(POOL, -2894848): FakeAccount(lower_data, WHIRLPOOL_PROGRAM_ID),
        tick_array_address(POOL, 0): FakeAccount(upper_data, WHIRLPOOL_PROGRAM_ID),
    }
    return FakeSolanaNode(accounts), pool_data


async def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_feed_rebuilds_the_curve_when_accounts_change(shared_data: Path) -> None:
    node, pool_data = _node(shared_data)
    clock = [100.0]

    async def scenario() -> None:
        feed = WhirlpoolFeed(
            SolanaRpc(node.http_url, node.ws_url), POOL, decimals_a=9, decimals_b=6, clock=lambda: clock[0]
        )
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop))
        try:
            await _until(lambda: feed.snapshot is not None)
            snap = feed.snapshot
            assert snap is not None
            assert snap.pool.tick_current_index == 223338
            assert {a.start_tick_index for a in snap.tick_arrays} == {0, -2894848}
            first_price = snap.curve.price
            assert first_price == pytest.approx((snap.pool.sqrt_price / 2**64) ** 2 * 1e3, rel=1e-12)
            assert feed.curve() is snap.curve
            await _until(lambda: "getMultipleAccounts" in node.requests and len(node._subs) == 6)

            # a swap moved the price within the same window: one notification, one rebuild
            rebuilds = feed.rebuilds
            node.set_account(POOL, with_price(pool_data, sqrt_price_from_tick_index(224000), 224000))
            await _until(lambda: feed.rebuilds > rebuilds)
            assert feed.snapshot is not None
            assert feed.snapshot.pool.tick_current_index == 224000
            assert feed.snapshot.curve.price > first_price
            assert feed.snapshot.slot == node.slot

            # the feed stalls: after 2 s of silence the curve is withheld, and comes back when it resumes
            node.stall()
            node.set_account(POOL, with_price(pool_data, sqrt_price_from_tick_index(224100), 224100))
            clock[0] += 3.0
            assert feed.is_stale()
            assert feed.curve() is None
            rebuilds = feed.rebuilds
            node.resume()
            await _until(lambda: feed.rebuilds > rebuilds)
            assert not feed.is_stale()
            assert feed.curve() is not None

            # the price crossed into another tick array: the window is re-read and resubscribed
            reads = node.requests.count("getMultipleAccounts")
            node.set_account(POOL, with_price(pool_data, sqrt_price_from_tick_index(-100000), -100000))
            await _until(lambda: node.requests.count("getMultipleAccounts") >= reads + 2)
            await _until(
                lambda: feed.snapshot is not None and feed.snapshot.pool.tick_current_index == -100000
            )
            assert {a.start_tick_index for a in feed.snapshot.tick_arrays} == {0, -2894848}

            # the socket drops: the feed reconnects and re-reads
            await _until(lambda: len(node._subs) == 6)  # the new window's subscriptions are in place
            reconnects = feed.reconnects
            node.drop_ws()
            await _until(lambda: feed.reconnects > reconnects)
            await _until(lambda: len(node._subs) > 0)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)

    with node:
        asyncio.run(scenario())


def test_missing_pool_is_an_error(shared_data: Path) -> None:
    node, _ = _node(shared_data)

    async def scenario() -> None:
        feed = WhirlpoolFeed(
            SolanaRpc(node.http_url, node.ws_url), Pubkey.default(), decimals_a=9, decimals_b=6
        )
        with pytest.raises(ValueError, match="does not exist"):
            await feed.load()

    with node:
        asyncio.run(scenario())


def test_cpmm_feed_rebuilds_when_a_vault_changes(shared_data: Path) -> None:
    state = cpmm_state(shared_data)
    accounts = {
        Pubkey.from_string(key): FakeAccount(
            b64decode_account(entry["data"]), Pubkey.from_string(entry["owner"])
        )
        for key, entry in state["accounts"].items()
    }
    pool_key = Pubkey.from_string(state["pool"])
    node = FakeSolanaNode(accounts)
    vault_0_key = decode_cpmm_pool(accounts[pool_key].data).token_0_vault
    vault_0 = accounts[vault_0_key].data

    async def scenario() -> None:
        feed = CpmmFeed(SolanaRpc(node.http_url, node.ws_url), pool_key)
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop))
        try:
            await _until(lambda: feed.snapshot is not None and len(node._subs) == 4)
            snap = feed.snapshot
            assert snap is not None
            assert (snap.swap_pool.reserve_0, snap.swap_pool.reserve_1) == (461366032767, 95416112608385)
            assert feed.curve() is snap.curve
            # someone sold 1 SOL into the pool: the wSOL vault grew, the curve's price fell
            grown = bytearray(vault_0)
            grown[64:72] = (461416771201 + 10**9).to_bytes(8, "little")
            rebuilds = feed.rebuilds
            node.set_account(vault_0_key, bytes(grown))
            await _until(lambda: feed.rebuilds > rebuilds)
            assert feed.snapshot is not None
            assert feed.snapshot.swap_pool.reserve_0 == 461366032767 + 10**9
            assert feed.snapshot.curve.price < snap.curve.price
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)

    with node:
        asyncio.run(scenario())
