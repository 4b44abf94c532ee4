"""End to end with real processes: a coordinator and three agents started with the CLI, each configured by
a TOML file for a different loopback fake venue (Coinbase Advanced Trade, Gemini, Kraken), in live mode.

Books come from the fakes' websockets; the region commits a plan; orders reach the fakes' REST APIs with
each venue's own client-id field (the fake files every order under the id it read from that field); fills
come back; execution reports land on the ledger. Then the kill test: an order whose acknowledgement is lost,
the agent killed while the venue holds the answer, restarted from its state directory: it adopts the order
by client id and the venue counts exactly one create request for it."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fakevenues.base import FakeVenue
from tests.fakevenues.bitstamp import FakeBitstamp
from tests.fakevenues.catalog import FAKES
from tests.fakevenues.coinbase import FakeCoinbase
from tests.fakevenues.gemini import FakeGemini
from tests.fakevenues.kraken import FakeKraken
from tests.venues.region import Proc, Region

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

INSTRUMENT = {"asset": "BTC", "taker_fee_bps": "10", "max_buy": "0.4", "max_sell": "0.4"}


def agent(region: Region, venue: str, exchange: str, fake: FakeVenue, symbol: str, sessions: int = 1) -> Proc:
    config = region.write_agent_config(
        venue,
        exchange,
        rest=fake.rest_url,
        ws=fake.ws_url,
        instruments=[{**INSTRUMENT, "symbol": symbol}],
        sessions=sessions,
    )
    return region.start_agent(config, fake.credentials())


def fills_of(proc: Proc) -> list[dict[str, Any]]:
    return [f for e in proc.of("execution") for f in e["fills"]]


def test_three_live_agents_commit_and_trade_on_their_venues(tmp_path: Path) -> None:
    coinbase, gemini, kraken = (FakeCoinbase(tick_s=0.25), FakeGemini(tick_s=0.25), FakeKraken(tick_s=0.25))
    with coinbase, gemini, kraken, Region(tmp_path) as region:
        coinbase.ladder("BTC-USD", 60_000.0, levels=10, size=0.2)  # cheap
        gemini.ladder("BTC-USD", 60_400.0, levels=10, size=0.2)  # rich
        kraken.ladder("BTC-USD", 60_200.0, levels=10, size=0.2)
        coordinator = region.start_coordinator(expect=3, sessions=1)
        agents = {
            "cb": agent(region, "cb", "coinbase", coinbase, "BTC-USD"),
            "gm": agent(region, "gm", "gemini", gemini, "BTC-USD"),
            "kr": agent(region, "kr", "kraken", kraken, "BTC-USD"),
        }
        try:
            session = coordinator.wait_for("session", 180)
        except AssertionError:
            raise AssertionError(region.report()) from None
        assert coordinator.finish(60) == 0, coordinator.tail()
        for name, proc in agents.items():
            assert proc.finish(60) == 0, f"{name}: {proc.tail()}"
        assert session["profit"] > 0, session
        assert sorted(session["participants"]) == ["cb", "gm", "kr"], session
        assert {"cb", "gm"} <= set(session["committed"]), session
        traded = 0
        for name, fake in (("cb", coinbase), ("gm", gemini), ("kr", kraken)):
            fills = fills_of(agents[name])
            for fill in fills:
                cid = fill["client_order_id"]
                assert cid in fake.by_client_id, f"{name}: {cid} not filed at the venue under its client id"
                order = fake.by_client_id[cid]
                assert order.filled > 0
            traded += bool(fills)
        assert fills_of(agents["cb"]), "the cheap venue bought nothing"
        assert fills_of(agents["gm"]), "the rich venue sold nothing"
        buys = sum(Decimal(f["size"]) for p in agents.values() for f in fills_of(p) if f["side"] == "BUY")
        sells = sum(Decimal(f["size"]) for p in agents.values() for f in fills_of(p) if f["side"] == "SELL")
        assert buys == sells  # the region stays delta-neutral
        kinds = region.ledger_kinds()
        assert kinds.get("PLAN_COMMITTED", 0) >= len(session["committed"])
        assert kinds.get("EXECUTION_REPORT", 0) >= traded


@pytest.mark.parametrize("venue", ["coinbase", "gemini", "kraken", "bitstamp", "binance"])
def test_lost_ack_then_kill_and_restart_sends_no_duplicate(tmp_path: Path, venue: str) -> None:
    cls, symbol = FAKES[venue]
    other_exchange = "bitstamp" if venue != "bitstamp" else "coinbase"
    other_cls, other_symbol = (FakeBitstamp if venue != "bitstamp" else FakeCoinbase), "BTC-USD"
    fake, other = cls(tick_s=0.25), other_cls(tick_s=0.25)  # a moving market keeps the feeds fresh
    with fake, other, Region(tmp_path) as region:
        fake.ladder(symbol, 60_000.0, levels=10, size=0.2)  # the venue under test buys
        other.ladder(other_symbol, 60_400.0, levels=10, size=0.2)
        fake.faults.lose_ack = 1
        fake.faults.lost_ack_hold_s = 20.0
        region.start_coordinator(expect=2, sessions=0, extra=("--join-timeout", "60"))
        victim = agent(region, "victim", venue, fake, symbol, sessions=1)
        agent(region, "peer", other_exchange, other, other_symbol, sessions=0)
        assert fake.lost_acks.wait(120), f"no order reached {venue}: {region.report()}"
        victim.kill()  # the order is live at the venue; the agent never heard back
        fake.faults.lost_ack_hold_s = 0.0
        cids = list(fake.by_client_id)
        assert len(cids) == 1, cids
        restarted = region.start_agent(region.root / "victim.toml", fake.credentials())
        try:
            recovered = restarted.wait_for("recovered", 60)
            assert recovered["orders"] >= 1
            assert restarted.finish(180) == 0  # it rejoins and serves one more session
        except AssertionError:
            raise AssertionError(region.report()) from None
        order = fake.by_client_id[cids[0]]
        assert order.filled > 0
        with sqlite3.connect(region.root / "state-victim" / "execution.sqlite") as db:
            stored = db.execute(
                "SELECT COALESCE(SUM(CAST(size AS REAL)), 0) FROM exec_fills WHERE client_order_id = ?",
                (cids[0],),
            ).fetchone()[0]
        assert stored == pytest.approx(float(order.filled)), "the adopted fill is not in the agent's store"
        duplicates = len(fake.create_requests) - len(fake.by_client_id)
        assert duplicates == 0, f"{duplicates} duplicate order requests at {venue}"


def test_a_leg_out_is_hedged_by_the_next_session_and_the_region_ends_flat(tmp_path: Path) -> None:
    """The rich venue's sell finds no liquidity (the book ran away): its plan legs out, the region holds
    what the cheap venue bought. The next session is a hedge session: the rich venue brings what it owes
    as a target, the others trade it, the ledger shows LEG_OUT and the hedge, and the region ends flat."""
    coinbase, gemini, kraken = (FakeCoinbase(tick_s=0.25), FakeGemini(tick_s=0.25), FakeKraken(tick_s=0.25))
    with coinbase, gemini, kraken, Region(tmp_path) as region:
        coinbase.ladder("BTC-USD", 60_000.0, levels=10, size=0.2)  # cheap
        gemini.ladder("BTC-USD", 60_400.0, levels=10, size=0.2)  # rich
        kraken.ladder("BTC-USD", 60_200.0, levels=10, size=0.2)
        gemini.faults.no_fill = 1
        coordinator = region.start_coordinator(expect=3, sessions=2)
        agents = {
            "cb": agent(region, "cb", "coinbase", coinbase, "BTC-USD", sessions=2),
            "gm": agent(region, "gm", "gemini", gemini, "BTC-USD", sessions=2),
            "kr": agent(region, "kr", "kraken", kraken, "BTC-USD", sessions=2),
        }
        try:
            coordinator.wait_for("session", 180)
            assert coordinator.finish(120) == 0, coordinator.tail()
            for name, proc in agents.items():
                assert proc.finish(60) == 0, f"{name}: {proc.tail()}"
        except AssertionError:
            raise AssertionError(region.report()) from None
        first, second = coordinator.of("session")
        assert "gm" in first["committed"], first
        statuses = {e["session"]: e["status"] for e in agents["gm"].of("execution")}
        assert statuses.get(first["session"]) == "LEG_OUT", statuses
        assert second["hedge"] == ["gm"], second
        hedges = agents["gm"].of("hedge")
        assert hedges and hedges[0]["session"] == second["session"], hedges
        net = Decimal(0)
        for proc in agents.values():
            for fill in fills_of(proc):
                net += Decimal(fill["size"]) if fill["side"] == "BUY" else -Decimal(fill["size"])
        # No order of gm's for the asset it owed in the hedge session, and the region is flat in lots.
        assert not [f for f in fills_of(agents["gm"])], fills_of(agents["gm"])
        lot = max(fake.symbols["BTC-USD"].lot for fake in (coinbase, gemini, kraken))
        print(f"leg-out of gm in {first['session']}; hedge session {second['session']}: region net {net} BTC")
        assert abs(net) <= lot, net
        kinds = region.ledger_kinds()
        assert kinds.get("LEG_OUT", 0) >= 2, kinds  # the report and the hedge
