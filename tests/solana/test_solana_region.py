"""A region of a CEX order-book agent and an Orca Whirlpool agent fed by the fake RPC node: the committed plan
reaches the centralised optimum; with the pool feed stalled the Whirlpool agent plans on the Jupiter quote
curve (and says so), and goes back to the pool curve when the feed is fresh again."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal

from solana_data import fixed_tick_array_bytes, whirlpool_bytes
from solders.pubkey import Pubkey

from agents.agent import EdgeAgent, InstrumentSpec, VenueConfig
from agents.solana.accounts import WHIRLPOOL_PROGRAM_ID, tick_array_address
from agents.solana.jupiter import JupiterClient, JupiterCurve, PoolCurveSource, jupiter_curve
from agents.solana.pool_feed import WhirlpoolFeed
from agents.solana.rpc import SolanaRpc
from arbsphere.inprocess import InProcessLink
from coordinator.session import SessionDriver
from energibridge.protocol.venue import VenueInfo
from sdk.amm.whirlpool import TICK_ARRAY_SIZE, sqrt_price_from_tick_index, start_tick_index_for
from sdk.curves.base import CostCurve
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.whirlpool import WhirlpoolCurve
from sdk.reference_solver import centralised_optimum
from tests.fakevenues.jupiter import FakeJupiter
from tests.fakevenues.solana import FakeAccount, FakeSolanaNode

POOL = Pubkey.from_string("CGGNcohZdLdeDBdhmQRGmUH1Viv1p4d1ds2aPLoiVWaR")
SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
SPACING = 64


def _pool_node() -> FakeSolanaNode:
    """A SOL/USDC Whirlpool (decimals 9/6) at 152 USDC per SOL, 0.3 % fee, liquidity in three ranges."""
    tick = math.floor(math.log(152.0 * 1e6 / 1e9) / math.log(1.0001))
    centre = tick // SPACING * SPACING
    positions = [(centre - 640, centre + 640, 4 * 10**12), (centre - 3200, centre + 3200, 2 * 10**12)]
    nets: dict[int, int] = {}
    for lo, hi, liq in positions:
        nets[lo] = nets.get(lo, 0) + liq
        nets[hi] = nets.get(hi, 0) - liq
    data = whirlpool_bytes(
        config=bytes(32),
        mint_a=bytes(Pubkey.from_string(SOL)),
        mint_b=bytes(Pubkey.from_string(USDC)),
        tick_spacing=SPACING,
        fee_rate=3000,
        protocol_fee_rate=300,
        liquidity=sum(liq for _, _, liq in positions),
        sqrt_price=sqrt_price_from_tick_index(tick),
        tick=tick,
    )
    accounts = {POOL: FakeAccount(data, WHIRLPOOL_PROGRAM_ID)}
    span = TICK_ARRAY_SIZE * SPACING
    first = start_tick_index_for(tick, SPACING)
    for k in range(-3, 4):
        start = first + k * span
        ticks = {(t - start) // SPACING: (n, abs(n)) for t, n in nets.items() if start <= t < start + span}
        accounts[tick_array_address(POOL, start)] = FakeAccount(
            fixed_tick_array_bytes(start, bytes(POOL), ticks), WHIRLPOOL_PROGRAM_ID
        )
    return FakeSolanaNode(accounts)


def _cex() -> OrderBookCurve:
    asks = [(150.0 + 0.05 * i, 20.0) for i in range(40)]
    bids = [(149.9 - 0.05 * i, 20.0) for i in range(40)]
    return OrderBookCurve(bids, asks, taker_fee_bps=5.0)


def _agent(venue: str, curve: CostCurve) -> EdgeAgent:
    spec = InstrumentSpec(symbol="SOL-USD", lot_size=Decimal("0.001"), tick_size=Decimal("0.01"))
    agent = EdgeAgent(VenueConfig(venue, {"SOL": spec}, latency_budget_ms=600_000), {"SOL": curve})
    agent.reference_prices = {"SOL": 150.0}
    return agent


def _plan(pool_curve: CostCurve) -> tuple[float, float, dict[str, Decimal]]:
    agents = {"cex": _agent("cex", _cex()), "orca": _agent("orca", pool_curve)}
    infos = {
        v: VenueInfo(v, a.lot_sizes(), {"SOL": 150.0}, a.config.latency_budget_ms) for v, a in agents.items()
    }
    link = InProcessLink(agents, secure=True)
    result = SessionDriver(link, infos, strategy="price").run()
    assert result.converged
    optimum = centralised_optimum({v: dict(a.curves) for v, a in agents.items()}).profit
    trades = {v: p.trades["SOL"] for v, p in link.committed.items()}  # type: ignore[attr-defined]
    return result.profit, optimum, trades


def test_region_with_a_whirlpool_agent_and_the_jupiter_fallback() -> None:
    node = _pool_node()
    clock = [0.0]

    async def load(feed: WhirlpoolFeed) -> None:
        await feed.load()

    with node:
        feed = WhirlpoolFeed(
            SolanaRpc(node.http_url, node.ws_url), POOL, decimals_a=9, decimals_b=6, clock=lambda: clock[0]
        )
        asyncio.run(load(feed))
        snap = feed.snapshot
        assert snap is not None
        assert 151.5 < snap.curve.price < 152.5
        raw = WhirlpoolCurve(snap.pool.state(), [a.tick_array() for a in snap.tick_arrays])
        with FakeJupiter(raw, pool_key=str(POOL), base_mint=SOL, quote_mint=USDC) as jupiter:
            client = JupiterClient(jupiter.url)
            sizes = [10**8, 10**9, 5 * 10**9, 2 * 10**10, 5 * 10**10, 10**11]

            def fallback() -> JupiterCurve:
                buys = [client.quote(USDC, SOL, q, swap_mode="ExactOut") for q in sizes]
                sells = [client.quote(SOL, USDC, q, swap_mode="ExactIn") for q in sizes]
                return jupiter_curve(
                    buys,
                    sells,
                    base_mint=SOL,
                    quote_mint=USDC,
                    base_decimals=9,
                    quote_decimals=6,
                    built_at=clock[0],
                )

            source = PoolCurveSource(feed.curve, fallback, clock=lambda: clock[0])

            # fresh feed: the pool curve; buy SOL on the CEX at ~150, sell it into the pool at ~152
            curve = source.curve()
            assert source.source == "pool" and curve is snap.curve
            profit, optimum, trades = _plan(curve)
            assert profit >= 0.999 * optimum > 0
            assert trades["cex"] > 0 > trades["orca"]
            assert trades["cex"] + trades["orca"] == 0

            # the pool feed stalls for 3 s: the agent plans on the Jupiter curve and says so
            node.stall()
            clock[0] += 3.0
            assert feed.curve() is None
            curve = source.curve()
            assert source.source == "jupiter"
            profit_j, optimum_j, trades_j = _plan(curve)
            assert profit_j >= 0.999 * optimum_j > 0
            assert trades_j["orca"] < 0  # still selling into the pool, through Jupiter's route
            assert profit_j <= profit * 1.001  # the conservative fallback never promises more than the pool

            # fresh again: back to the pool curve
            node.resume()
            asyncio.run(load(feed))
            assert source.curve() is feed.curve() and source.source == "pool"
            assert source.switches == 2
