"""Jupiter quotes: the documented answers parse (multi-hop legs chain), quotes at several sizes make a convex,
conservative fallback curve with its routes pinned, and a stale pool feed switches to it and back."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from solana_data import load

from agents.solana.jupiter import (
    JupiterClient,
    JupiterCurve,
    JupiterQuoteError,
    PoolCurveSource,
    jupiter_curve,
    parse_quote,
)
from sdk.amm.whirlpool import (
    TICK_ARRAY_SIZE,
    Tick,
    TickArray,
    WhirlpoolState,
    sqrt_price_from_tick_index,
    swap_tick_array_starts,
)
from sdk.curves.base import CostCurve
from sdk.curves.whirlpool import WhirlpoolCurve
from tests.fakevenues.jupiter import FakeJupiter

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


@pytest.mark.shared
def test_documented_quotes_parse_and_chain(shared_data: Path) -> None:
    single = parse_quote(load(shared_data, "jupiter/jup-docs__swap-v1-get-quote_exactin_sol_usdc.json"))
    assert (single.in_amount, single.out_amount, single.swap_mode) == (100000000, 16198753, "ExactIn")
    assert single.route[0].label == "Meteora DLMM"
    assert single.context_slot == 299283763
    three = parse_quote(load(shared_data, "jupiter/space-station__payments-api_exactout_3hop.json"))
    assert [leg.label for leg in three.route] == ["Raydium CLMM", "Whirlpool", "Whirlpool"]
    assert three.route[0].in_amount == three.in_amount and three.route[-1].out_amount == three.out_amount
    for a, b in zip(three.route, three.route[1:], strict=False):
        assert a.out_amount == b.in_amount
    # ExactOut threshold = ceil(inAmount * (10000 + bps) / 10000)
    assert three.other_amount_threshold == -(-three.in_amount * 10050 // 10000)
    assert single.route_id != three.route_id


@pytest.mark.shared
def test_broken_quotes_name_the_field(shared_data: Path) -> None:
    payload = dict(load(shared_data, "jupiter/space-station__payments-api_exactout_3hop.json"))
    payload["outAmount"] = 5.0
    with pytest.raises(JupiterQuoteError, match="outAmount"):
        parse_quote(payload)
    payload = dict(load(shared_data, "jupiter/space-station__payments-api_exactout_3hop.json"))
    plan = [dict(step) for step in payload["routePlan"]]
    plan[1] = {"swapInfo": {**plan[1]["swapInfo"], "inputMint": USDC}, "percent": 100}
    payload["routePlan"] = plan
    with pytest.raises(JupiterQuoteError, match=r"routePlan\[1\]\.swapInfo\.inputMint"):
        parse_quote(payload)


def _pool() -> WhirlpoolCurve:
    spacing = 64
    nets = {-1280: 4 * 10**12, 1280: -4 * 10**12, -5120: 10**12, 5120: -(10**12)}
    pool = WhirlpoolState(sqrt_price_from_tick_index(0), 0, 5 * 10**12, spacing, 3000, 300)
    span = TICK_ARRAY_SIZE * spacing
    starts = set(swap_tick_array_starts(0, spacing, True)) | set(swap_tick_array_starts(0, spacing, False))
    arrays = [
        TickArray(s, {(t - s) // spacing: Tick(n, abs(n)) for t, n in nets.items() if s <= t < s + span})
        for s in sorted(starts)
    ]
    return WhirlpoolCurve(pool, arrays)


SIZES = (10**9, 10**10, 5 * 10**10, 10**11, 2 * 10**11)


def _fallback(client: JupiterClient, now: float = 0.0) -> JupiterCurve:
    buys = [client.quote(USDC, SOL, q, swap_mode="ExactOut") for q in SIZES]
    sells = [client.quote(SOL, USDC, q, swap_mode="ExactIn") for q in SIZES]
    return jupiter_curve(
        buys, sells, base_mint=SOL, quote_mint=USDC, base_decimals=0, quote_decimals=0, built_at=now
    )


def test_quote_curve_is_convex_conservative_and_pinned() -> None:
    pool = _pool()
    with FakeJupiter(pool, pool_key="POOL", base_mint=SOL, quote_mint=USDC) as fake:
        curve = _fallback(JupiterClient(fake.url))
    assert isinstance(curve, CostCurve)
    assert curve.source == "jupiter"
    assert len(set(curve.route_ids)) == 1  # every size took the same (pinned) route
    assert curve.lower == -SIZES[-1] and curve.upper == SIZES[-1]
    slopes = curve.slopes
    assert all(a <= b for a, b in itertools.pairwise(slopes))
    # at the quoted sizes the curve is the exact quote; in between it never undercharges the pool
    for q in SIZES:
        assert curve.cost(q) == pytest.approx(pool.exact_cost(q), rel=1e-12)
        assert curve.cost(-q) == pytest.approx(pool.exact_cost(-q), rel=1e-12)
    for x in (5 * 10**9, 1.5e11, -(5 * 10**9), -1.5e11):
        assert curve.cost(x) >= pool.exact_cost(x) - 2
    assert math.isinf(curve.cost(3 * 10**11))


def test_stale_feed_switches_to_jupiter_and_back() -> None:
    pool = _pool()
    fresh = [True]
    clock = [0.0]
    with FakeJupiter(pool, pool_key="POOL", base_mint=SOL, quote_mint=USDC) as fake:
        client = JupiterClient(fake.url)
        source = PoolCurveSource(
            lambda: pool if fresh[0] else None, lambda: _fallback(client, clock[0]), clock=lambda: clock[0]
        )
        assert source.curve() is pool and source.source == "pool"
        fresh[0] = False
        jup = source.curve()
        assert source.source == "jupiter" and isinstance(jup, JupiterCurve)
        assert source.last_fallback_latency_s is not None
        requests = fake.requests
        assert source.curve() is jup and fake.requests == requests  # reused while young
        clock[0] += 3.0
        assert source.curve() is not jup and fake.requests > requests  # re-quoted when old
        fresh[0] = True
        assert source.curve() is pool and source.source == "pool"
        assert source.switches == 2


def test_unroutable_quote_is_refused() -> None:
    pool = _pool()
    with (
        FakeJupiter(pool, pool_key="POOL", base_mint=SOL, quote_mint=USDC) as fake,
        pytest.raises(JupiterQuoteError, match="Could not find any route"),
    ):
        JupiterClient(fake.url).quote(USDC, SOL, 10**9, swap_mode="ExactIn")
