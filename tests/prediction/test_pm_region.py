"""End to end with real processes: the coordinator and two prediction-market agents started by
``agent run --config`` against the loopback Kalshi and Polymarket fakes (mutual TLS, real websockets, Kalshi's
signed handshake), trading the matched "JD Vance wins 2028" market's YES and NO shares.

Kalshi's YES asks at 0.32 and Polymarket's YES bids at 0.36 (and the NO shares mirror it): the region
commits a plan that buys YES (and sells NO) where it is cheap after each venue's exact fee and does the
opposite on the other venue, both agents fill it on paper on the fakes' books, and no venue refuses its legs.
Then the agents hold (``resolution_wait_s``) until the venues announce the resolution (Kalshi's
``market_lifecycle_v2`` ``determined``, Polymarket's ``market_resolved``), settle every share at 1/0 and print
their realised PnL: the region's positions net to zero per outcome, so the settlements cancel across venues
and the two PnLs add up to exactly the cash the plan's fills locked in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from sdk.fees.kalshi import trading_fee
from tests.fakevenues.kalshi import FakeKalshi
from tests.fakevenues.polymarket import FakePolymarket
from tests.venues.region import Proc, Region

pytestmark = pytest.mark.slow

TICKER = "KXPRESPERSON-28-JVAN"
CONDITION = "0x7ad403c3508f8e3912940fd1a913f227591145ca0614074208e0b962d5fcc422"
YES_TOKEN = "16040015440196279900485035793550429453516625694844857319147506590755961451627"
NO_TOKEN = "94476829201604408463453426454480212459887267917122244941405244686637914508323"
D = Decimal
BALANCES = 'resolution_wait_s = 60.0\npaper_balances = { USD = "10000", VANCEY = "300", VANCEN = "300" }'


@pytest.fixture
def fakes() -> Iterator[tuple[FakeKalshi, FakePolymarket]]:
    kalshi = FakeKalshi({TICKER: {"title": "Will J.D. Vance win the 2028 presidential election?"}}).start()
    poly = FakePolymarket({CONDITION: [YES_TOKEN, NO_TOKEN]}).start()
    assert isinstance(kalshi, FakeKalshi) and isinstance(poly, FakePolymarket)
    kalshi.set_book(TICKER, [(D("0.30"), D(400))], [(D("0.32"), D(400))])
    poly.set_book(YES_TOKEN, [(D("0.36"), D(400))], [(D("0.37"), D(400))])
    poly.set_book(NO_TOKEN, [(D("0.62"), D(400))], [(D("0.64"), D(400))])
    try:
        yield kalshi, poly
    finally:
        kalshi.stop()
        poly.stop()


def kalshi_config(region: Region, kalshi: FakeKalshi, sessions: int, mode: str = "paper") -> Path:
    return region.write_agent_config(
        "kalshi-a",
        "kalshi",
        rest=kalshi.rest_url + "/trade-api/v2",
        ws=kalshi.ws_url,
        mode=mode,
        sessions=sessions,
        extra=BALANCES if mode == "paper" else "resolution_wait_s = 60.0",
        instruments=[
            {"asset": "VANCEY", "symbol": "VANCEY-USD", "market": TICKER, "outcome": "yes"},
            {"asset": "VANCEN", "symbol": "VANCEN-USD", "market": TICKER, "outcome": "no"},
        ],
    )


def poly_config(region: Region, poly: FakePolymarket, sessions: int) -> Path:
    return region.write_agent_config(
        "polymarket-a",
        "polymarket",
        rest=poly.rest_url,
        ws=poly.ws_url,
        mode="paper",
        sessions=sessions,
        extra=BALANCES,
        instruments=[
            {"asset": "VANCEY", "symbol": "VANCEY-USD", "market": YES_TOKEN, "fee_rate": 0.0},
            {"asset": "VANCEN", "symbol": "VANCEN-USD", "market": NO_TOKEN, "fee_rate": 0.0},
        ],
    )


UNUSED = {"apiKey": "unused", "secret": "unused"}


def start_agents(region: Region, kalshi: FakeKalshi, poly: FakePolymarket, sessions: int) -> list[Proc]:
    """The two prediction agents, each by ``agent run --config`` on its fake venue (paper)."""
    return [
        region.start_agent(kalshi_config(region, kalshi, sessions), kalshi.credentials(), live=False),
        region.start_agent(poly_config(region, poly, sessions), UNUSED, live=False),
    ]


def sides_of(agents: list[Proc], sequence: int) -> dict[tuple[str, str], str]:
    return {
        (a.name.split()[-1], leg["instrument"]): leg["side"]
        for a in agents
        for plan in a.of("plan")
        if plan["sequence"] == sequence
        for leg in plan["legs"]
    }


def test_prediction_region_commits_and_fills_the_matched_market(
    tmp_path: Path, fakes: tuple[FakeKalshi, FakePolymarket]
) -> None:
    kalshi, poly = fakes
    with Region(tmp_path) as region:
        coordinator = region.start_coordinator(expect=2, sessions=1)
        agents = start_agents(region, kalshi, poly, sessions=1)
        session = coordinator.wait_for("session", 90)
        for agent in agents:
            agent.wait_for("execution", 30)
        kalshi.resolve(TICKER, "yes")
        poly.resolve(CONDITION, YES_TOKEN)
        for agent in agents:
            assert agent.finish(60) == 0, region.report()
        assert coordinator.finish(30) == 0, region.report()
        assert session["committed"] == ["kalshi-a", "polymarket-a"], (session, region.report())
        assert session["profit"] > 0
        plans = {a.name: a.of("plan") for a in agents}
        executions = [e for a in agents for e in a.of("execution")]
        assert all(plans.values()) and len(executions) == 2, region.report()
        assert {e["status"] for e in executions} == {"FILLED"}, executions
        assert all(not e["risk_gates"] for e in executions)
        sides = {
            (name.split()[-1], leg["instrument"]): leg["side"]
            for name, ps in plans.items()
            for p in ps
            for leg in p["legs"]
        }
        assert sides[("kalshi-a", "VANCEY-USD")] == "BUY" and sides[("polymarket-a", "VANCEY-USD")] == "SELL"
        kinds = region.ledger_kinds()
        assert kinds.get("PLAN_COMMITTED", 0) >= 1 and kinds.get("EXECUTION_REPORT") == 2, kinds
        assert kalshi.ws_connects >= 1 and kalshi.unauthorized == 0  # the signed handshake was accepted
        settlements = {(a.name.split()[-1], e["asset"]): e for a in agents for e in a.of("settlement")}
        assert {k: v["payout"] for k, v in settlements.items()} == {
            ("kalshi-a", "VANCEY"): "1", ("kalshi-a", "VANCEN"): "0",
            ("polymarket-a", "VANCEY"): "1", ("polymarket-a", "VANCEN"): "0",
        }  # fmt: skip
        pnl = [D(a.of("resolution_pnl")[0]["realised_pnl"]) for a in agents]
        locked = sum(D(e["realised_pnl"]) for e in executions)
        assert sum(pnl) == locked > 0, (pnl, locked)
        print(f"resolution PnL per venue {[str(x) for x in pnl]}, total {sum(pnl)} = fills' cash {locked}")


def test_held_set_exits_early_when_its_bid_side_pays_more_than_resolution(
    tmp_path: Path, fakes: tuple[FakeKalshi, FakePolymarket]
) -> None:
    """After the first plan the region holds the set (Kalshi long YES, Polymarket long NO). The books move:
    Kalshi's YES bid 0.40 plus Polymarket's NO bid 0.62 is 1.02, more than the 1 the set pays at resolution
    (after fees, above the agents' minimum edge). The next session is the exit: Kalshi sells YES, Polymarket
    sells NO (each buying back what it sold), filled on paper; what is left is settled at resolution."""
    kalshi, poly = fakes
    with Region(tmp_path) as region:
        coordinator = region.start_coordinator(expect=2, sessions=2, extra=("--interval", "3.0"))
        agents = start_agents(region, kalshi, poly, sessions=2)
        for agent in agents:
            agent.wait_for("execution", 60)
        kalshi.set_book(TICKER, [(D("0.40"), D(400))], [(D("0.41"), D(400))])
        deadline = time.monotonic() + 60
        while sum(len(a.of("execution")) for a in agents) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        kalshi.resolve(TICKER, "no")
        poly.resolve(CONDITION, NO_TOKEN)
        for agent in agents:
            assert agent.finish(90) == 0, region.report()
        assert coordinator.finish(30) == 0, region.report()
        sessions = coordinator.of("session")
        assert [s["committed"] for s in sessions] == [["kalshi-a", "polymarket-a"]] * 2, region.report()
        executions = [e for a in agents for e in a.of("execution")]
        assert {e["status"] for e in executions} == {"FILLED"} and len(executions) == 4, executions
        entry, exit_ = sides_of(agents, 1), sides_of(agents, 2)
        assert entry[("kalshi-a", "VANCEY-USD")] == "BUY" and entry[("polymarket-a", "VANCEN-USD")] == "BUY"
        assert exit_[("kalshi-a", "VANCEY-USD")] == "SELL" and exit_[("polymarket-a", "VANCEN-USD")] == "SELL"
        pnl = [D(a.of("resolution_pnl")[0]["realised_pnl"]) for a in agents]
        locked = sum(D(e["realised_pnl"]) for e in executions)
        assert sum(pnl) == locked > 0, (pnl, locked)
        print(f"entry + early exit locked {locked}; per venue after resolution {[str(x) for x in pnl]}")


def test_kalshi_live_orders_go_through_signed_rest_without_refusals(
    tmp_path: Path, fakes: tuple[FakeKalshi, FakePolymarket]
) -> None:
    """``mode = 'live'`` on Kalshi (``--live``): the agent's inventory is the account's (cash, positions), its
    legs are IOC orders through the signed REST API with our client order id, and its fills are the venue's
    (fee included, Kalshi's round-up to the cent)."""
    kalshi, poly = fakes
    with Region(tmp_path) as region:
        coordinator = region.start_coordinator(expect=2, sessions=1)
        agents = [
            region.start_agent(
                kalshi_config(region, kalshi, 1, mode="live"), kalshi.credentials(), live=True
            ),
            region.start_agent(poly_config(region, poly, 1), UNUSED, live=False),
        ]
        coordinator.wait_for("session", 90)
        for agent in agents:
            agent.wait_for("execution", 30)
        kalshi.resolve(TICKER, "yes")
        poly.resolve(CONDITION, YES_TOKEN)
        for agent in agents:
            assert agent.finish(90) == 0, region.report()
        assert coordinator.finish(30) == 0, region.report()
        executions = [e for a in agents for e in a.of("execution")]
        assert {e["status"] for e in executions} == {"FILLED"}, executions
        [live] = agents[0].of("execution")
        [request] = kalshi.create_requests
        assert request["time_in_force"] == "immediate_or_cancel" and request["side"] == "yes"
        assert live["fills"][0]["client_order_id"] == request["client_order_id"]
        contracts = D(request["count_fp"])
        assert D(live["fees"]) == kalshi.fees_paid == trading_fee(contracts, D("0.32")) > 0
        assert kalshi.duplicate_client_ids("client_order_id") == 0 and kalshi.unauthorized == 0
        assert kalshi.positions[TICKER] == 0 and kalshi.settlements[0]["revenue"] == int(contracts * 100)
