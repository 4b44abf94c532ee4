"""End to end with real processes: a coordinator, a CEX agent (paper, on a fake Coinbase) and an Orca
Whirlpool agent started with ``arbsphere agent run --config`` against the fake Solana RPC node and a fake
Jupiter quote server.

The region commits a plan at >= 99.9 % of the coordinator's certified bound on the optimum: the CEX agent
buys SOL, the Whirlpool agent sells it into the pool, and the pool's paper fill is the program's exact amount
for that size (the fee being the network fee: 5000 lamports plus the 75th percentile priority fee times 200k
compute units, priced in USDC). Then the fake node stalls (account notifications withheld): after 2 s the
Whirlpool agent plans on the Jupiter curve and says so (``quote_source``), and back on the direct pool curve
once the node resumes."""

from __future__ import annotations

import threading
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest
from test_solana_region import POOL, SOL, USDC, _pool_node

from agents.solana.accounts import decode_tick_array, decode_whirlpool
from registry.pki import write_bundle
from sdk.curves.whirlpool import WhirlpoolCurve
from tests.fakevenues.base import SymbolInfo
from tests.fakevenues.coinbase import FakeCoinbase
from tests.fakevenues.jupiter import FakeJupiter
from tests.fakevenues.solana import FakeSolanaNode
from tests.venues.region import Proc, Region

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SESSIONS = 40


def _raw_curve(node: FakeSolanaNode, decimals: tuple[int, int] = (0, 0)) -> WhirlpoolCurve:
    pool = decode_whirlpool(node.accounts[POOL].data)
    arrays = [decode_tick_array(a.data) for k, a in node.accounts.items() if k != POOL]
    return WhirlpoolCurve(
        pool.state(), [a.tick_array() for a in arrays], decimals_a=decimals[0], decimals_b=decimals[1]
    )


def _pool_config(region: Region, node: FakeSolanaNode, jupiter: FakeJupiter) -> Path:
    venue = "orca"
    bundle = region.root / f"agent-{venue}"
    write_bundle(bundle, region.ca.issue_agent(venue))
    text = f"""
venue = "{venue}"
exchange = "orca-whirlpool"
mode = "paper"
sessions = {SESSIONS}
state_dir = "state-{venue}"
latency_budget_ms = 5000

[coordinator]
target = "{region.target}"
cert_dir = "{bundle}"

[solana]
rpc_url = "{node.http_url}"
ws_url = "{node.ws_url}"
pool = "{POOL}"
base_decimals = 9
quote_decimals = 6
slippage_bps = 50
priority_fee_percentile = 75
stale_after_s = 2.0
jupiter_url = "{jupiter.url}"
jupiter_sizes = [0.1, 1.0, 5.0, 20.0, 50.0, 100.0]

[[instruments]]
asset = "SOL"
symbol = "SOL-USDC"
lot_size = "0.001"
tick_size = "0.0001"

[paper_balances]
SOL = "10000"
USDC = "10000000"

[caps]
daily_notional = 100000000.0
max_trades_per_minute = 1000
"""
    path = region.root / f"{venue}.toml"
    path.write_text(text)
    return path


def _ticker(node: FakeSolanaNode, stop: threading.Event) -> None:
    """A live chain: the pool account is written every 0.25 s (same state, new slot)."""
    while not stop.wait(0.25):
        node.set_account(POOL, node.accounts[POOL].data)


def _wait(proc: Proc, predicate: Any, what: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in list(proc.events):
            if predicate(event):
                return dict(event)
        if proc.popen.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"{proc.name}: no {what} within {timeout_s} s: {proc.tail()}")


def test_whirlpool_agent_trades_on_paper_and_falls_back_to_jupiter(tmp_path: Path) -> None:
    node = _pool_node()
    stop = threading.Event()
    cex = FakeCoinbase({"SOL-USD": SymbolInfo("SOL", "USD", lot=Decimal("0.001"))}, tick_s=0.25)
    with node, cex, Region(tmp_path) as region:
        jupiter = FakeJupiter(_raw_curve(node), pool_key=str(POOL), base_mint=SOL, quote_mint=USDC).start()
        ticker = threading.Thread(target=_ticker, args=(node, stop), daemon=True)
        ticker.start()
        try:
            cex.ladder("SOL-USD", 150.0, levels=20, size=5.0)  # cheap: ~150; the pool is at ~152
            coordinator = region.start_coordinator(expect=2, sessions=SESSIONS)
            cex_config = region.write_agent_config(
                "cex",
                "coinbase",
                rest=cex.rest_url,
                ws=cex.ws_url,
                mode="paper",
                sessions=SESSIONS,
                instruments=[{"asset": "SOL", "symbol": "SOL-USD", "taker_fee_bps": "5", "max_buy": "5"}],
                extra='[paper_balances]\nUSD = "10000000"\nSOL = "10000"',
            )
            cex_agent = region.start_agent(cex_config, cex.credentials(), live=False)
            pool_agent = region.start_agent(
                _pool_config(region, node, jupiter), {"apiKey": "", "secret": ""}, live=False
            )
            try:
                first = _wait(pool_agent, lambda e: e.get("event") == "quote_source", "quote_source", 120)
                assert first["source"] == "direct", first
                execution = _wait(
                    pool_agent,
                    lambda e: e.get("event") == "execution" and e.get("fills"),
                    "a filled execution",
                    120,
                )
            except AssertionError:
                raise AssertionError(region.report()) from None
            assert execution["status"] == "FILLED", execution
            (fill,) = execution["fills"]
            assert fill["side"] == "SELL", fill  # sells SOL into the rich pool
            size = Decimal(fill["size"])
            sold = int(size.scaleb(9))
            amounts = _raw_curve(node).exact_amounts(-float(sold))
            assert amounts is not None
            usdc = Decimal(amounts[1]).scaleb(-6)
            price = (usdc / size / Decimal("1e-8")).to_integral_value(ROUND_FLOOR) * Decimal("1e-8")
            assert Decimal(fill["price"]) == price, (fill, usdc)
            lamports = 5000 + 10_000 * 200_000 // 1_000_000  # p75 of the node's fees [0, 1k, 5k, 10k, 20k]
            fee = (Decimal(lamports) / 10**9 * (usdc / size)).quantize(Decimal("1e-6"), ROUND_CEILING)
            assert Decimal(fill["fee"]) == fee, fill  # 7000 lamports at the fill's price, in whole micro-USDC
            session = _wait(
                coordinator,
                lambda e: e.get("event") == "session" and sorted(e.get("committed", [])) == ["cex", "orca"],
                "a session committed by both",
                30,
            )
            assert session["profit"] >= 0.999 * session["bound"] > 0, session  # the certified optimum bound
            cex_fills = [f for e in cex_agent.of("execution") for f in e["fills"]]
            assert cex_fills and cex_fills[0]["side"] == "BUY", cex_agent.tail()

            # the pool's notifications stop: after 2 s the agent plans on Jupiter quotes and says so
            node.stall()
            stalled_at = time.monotonic()
            switched = _wait(
                pool_agent,
                lambda e: e.get("event") == "quote_source" and e.get("source") == "jupiter",
                "a switch to jupiter",
                60,
            )
            assert time.monotonic() - stalled_at >= 2.0
            assert switched["direct_age_ms"] > 2000, switched
            assert switched["latency_delta_ms"] is not None and switched["latency_delta_ms"] > 0, switched
            assert switched["routes"], switched
            assert jupiter.requests >= 12
            _wait(
                pool_agent,
                lambda e: (
                    e.get("event") == "plan" and e.get("legs") and e is not None and _after(pool_agent, e)
                ),
                "a plan on the Jupiter curve",
                60,
            )

            # fresh again: back on the direct pool curve
            node.resume()
            back = _wait(
                pool_agent,
                lambda e: (
                    e.get("event") == "quote_source"
                    and e.get("source") == "direct"
                    and e.get("previous") == "jupiter"
                ),
                "a switch back to direct",
                60,
            )
            assert back["direct_age_ms"] < 2000, back
            assert coordinator.finish(120) == 0, coordinator.tail()
            assert pool_agent.finish(60) == 0, pool_agent.tail()
            assert cex_agent.finish(60) == 0, cex_agent.tail()
        finally:
            stop.set()
            ticker.join(5)
            jupiter.stop()


def _after(proc: Proc, event: dict[str, Any]) -> bool:
    """``event`` came after the agent's switch to Jupiter (and before any switch back)."""
    events = list(proc.events)
    switches = [
        i for i, e in enumerate(events) if e.get("event") == "quote_source" and e.get("source") == "jupiter"
    ]
    return bool(switches) and any(e is event for e in events[switches[0] + 1 :])
