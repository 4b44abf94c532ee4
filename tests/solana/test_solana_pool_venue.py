"""A Solana pool venue as configured: ``[solana]`` keys validated (errors name the key, live refused), the
pool market serving the direct curve, pausing when stale without a Jupiter fallback, and paper fills at the
pool's exact math within the slippage cap through the SDK execution adapter."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solana_data import account_bytes, cpmm_state
from solders.pubkey import Pubkey

from agents.agent_config import ConfigError, parse_config
from agents.execution.clock import VirtualTime
from agents.solana.accounts import decode_cpmm_pool
from agents.solana.market import PoolMarket
from agents.solana.paper import PaperFillRefused
from agents.solana.settings import SolanaSettings
from agents.solana.venue import PoolPaperVenue
from sdk.adapters.execution import ExecutionEvent, FillEvent, OrderEvent, OrderRequest, OrderStatus, Side
from tests.fakevenues.solana import FakeAccount, FakeSolanaNode

POOL = "CGGNcohZdLdeDBdhmQRGmUH1Viv1p4d1ds2aPLoiVWaR"


def _config(**solana: Any) -> dict[str, Any]:
    table = {"rpc_url": "http://127.0.0.1:1", "ws_url": "ws://127.0.0.1:1", "pool": POOL, **solana}
    return {
        "venue": "orca",
        "exchange": "orca-whirlpool",
        "instruments": [{"asset": "SOL", "symbol": "SOL-USDC"}],
        "solana": table,
    }


def test_solana_keys_are_validated_and_errors_name_the_key() -> None:
    config = parse_config(_config(base_decimals=9, quote_decimals=6))
    assert config.solana is not None and config.solana.stale_after_s == 2.0
    assert config.solana.kind_for(config.exchange) == "whirlpool"
    cases = {
        "solana.slippage_bps": _config(base_decimals=9, quote_decimals=6, slippage_bps=20_000),
        "solana.pool": _config(base_decimals=9, quote_decimals=6, pool="not-a-key"),
        "solana.base_decimals": _config(quote_decimals=6),
        "solana.pool_kind": _config(base_decimals=9, quote_decimals=6, pool_kind="raydium_cpmm"),
        "solana.jupiter_url": _config(base_decimals=9, quote_decimals=6, jupiter_url="ftp://x"),
        "solana.rpc_url": _config(base_decimals=9, quote_decimals=6, rpc_url="nope"),
        "solana.priority_fee_percentile": _config(
            base_decimals=9, quote_decimals=6, priority_fee_percentile=101
        ),
        "solana.surprise": _config(base_decimals=9, quote_decimals=6, surprise=1),
    }
    for key, data in cases.items():
        with pytest.raises(ConfigError) as caught:
            parse_config(data)
        assert key in str(caught.value), (key, str(caught.value))
    capped = _config(base_decimals=9, quote_decimals=6)
    capped["instruments"] = [{"asset": "SOL", "symbol": "SOL-USDC", "max_sell": "5"}]
    with pytest.raises(ConfigError, match=r"instruments\.0\.max_sell: not supported on a pool venue"):
        parse_config(capped)
    no_table = _config()
    del no_table["solana"]
    with pytest.raises(ConfigError, match=r"solana: orca-whirlpool needs a \[solana\] table"):
        parse_config(no_table)


def test_live_mode_is_refused_until_a_signer_design_exists() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**_config(base_decimals=9, quote_decimals=6), "mode": "live"})
    assert "mode:" in str(caught.value)
    assert "live transaction building is out of scope until a signer design exists" in str(caught.value)


def _cpmm_node(shared_data: Path) -> tuple[FakeSolanaNode, Pubkey]:
    state = cpmm_state(shared_data)
    accounts = {
        Pubkey.from_string(key): FakeAccount(account_bytes(entry), Pubkey.from_string(entry["owner"]))
        for key, entry in state["accounts"].items()
    }
    return FakeSolanaNode(accounts), Pubkey.from_string(state["pool"])


def _until(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_cpmm_pool_market_serves_the_curve_pauses_when_stale_and_fills_exactly(shared_data: Path) -> None:
    node, pool = _cpmm_node(shared_data)
    clock = [1000.0]
    events: list[dict[str, object]] = []
    with node:
        settings = SolanaSettings(rpc_url=node.http_url, ws_url=node.ws_url, pool=str(pool), slippage_bps=50)
        market = PoolMarket(
            "ray", "SOL", settings, "raydium_cpmm", emit=events.append, clock=lambda: clock[0]
        )
        market.start(10)
        try:
            snap = market.snapshot()
            assert snap is not None
            view = market.refresh(0)
            assert not view.paused and view.curves["SOL"] is snap.curve
            assert events[-1]["event"] == "quote_source" and events[-1]["source"] == "direct"
            assert market.base_decimals == snap.pool.mint_0_decimals

            # a paper sell of 1 SOL: the program's exact output; the fee 5000 + p75 priority fee, in quote
            fill = market.paper_fill(snap.curve, Decimal(-1))
            exact = snap.swap_pool.swap_base_input(10**9, zero_for_one=True).output_amount
            assert (fill.base_raw, fill.quote_raw, fill.source) == (10**9, exact, "direct")
            assert fill.network_fee_lamports == 5000 + 10_000 * 200_000 // 1_000_000

            # the same order through the SDK adapter: FILLED at the exact average, fee = network fee
            seen: list[ExecutionEvent] = []
            scheduler = VirtualTime(0)
            venue = PoolPaperVenue("ray", snap.curve, scheduler, seen.append, market=market)
            order = OrderRequest(
                client_order_id="c1",
                idempotency_key="k1",
                plan_id="p1",
                venue="ray",
                asset="SOL",
                quote="PUMP",
                instrument="SOL-PUMP",
                side=Side.SELL,
                size=Decimal(1),
                limit_price=Decimal("0.0000001"),
                deadline_ms=10_000,
            )
            venue.submit(order)
            scheduler.advance(1)
            fills = [e for e in seen if isinstance(e, FillEvent)]
            assert len(fills) == 1 and fills[0].fee == fill.network_fee_quote > 0
            assert fills[0].price <= fill.quote  # rounded against us
            assert [e.status for e in seen if isinstance(e, OrderEvent)][-1] is OrderStatus.FILLED

            # someone dumps SOL into the pool after the plan was priced: beyond 50 bps, the fill is refused
            vault_key = decode_cpmm_pool(node.accounts[pool].data).token_0_vault
            grown = bytearray(node.accounts[vault_key].data)
            grown[64:72] = (int.from_bytes(grown[64:72], "little") * 2).to_bytes(8, "little")
            rebuilds = market.feed.rebuilds
            _until(lambda: market.feed.snapshot is not None and len(node._subs) == 4)
            node.set_account(vault_key, bytes(grown))
            _until(lambda: market.feed.rebuilds > rebuilds)
            with pytest.raises(PaperFillRefused, match="below the threshold"):
                market.paper_fill(snap.curve, Decimal(-1))

            # silent for longer than stale_after_s, no Jupiter configured: paused, and said so
            clock[0] += 3.0
            view = market.refresh(1)
            assert view.curves == {} and "no [solana] jupiter_url fallback" in view.paused["SOL"]
            assert events[-1]["event"] == "trading_paused"
            health = market.health()
            (feed,) = health.values()
            assert feed.staleness_ms is not None and feed.staleness_ms >= 3000
        finally:
            market.close()
