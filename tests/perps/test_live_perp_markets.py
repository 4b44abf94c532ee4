"""Bybit v5 linear, live over a loopback websocket (``tests.fakevenues.bybit``), through the running agent's
market (``agents.market.live.LiveMarket``): the curve is a ``PerpetualCurve`` carrying the venue's funding
and mark, a skipped ``u`` voids the book and the feed resubscribes for a fresh snapshot, and each funding
settlement the ticker stream reveals reaches the runtime's hook (which books it on the position).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from agents.market.live import CurveRules, LiveMarket
from agents.perps.funding import FundingEvent
from agents.perps.streams import PerpTerms
from agents.venues import venue_spec
from sdk.curves.perp import PerpetualCurve
from tests.fakevenues.bybit import FakeBybit

PERP = "BTC-USDT-PERP"


@pytest.fixture
def fake() -> Iterator[FakeBybit]:
    venue = FakeBybit().start()
    venue.ladder(PERP, 60_000.0, levels=20, size=0.5)
    try:
        yield venue
    finally:
        venue.stop()


def _until(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_live_perp_market_books_funding_and_resync(fake: FakeBybit) -> None:
    rule = CurveRules(PERP.split("-", maxsplit=1)[0], PERP, 5.5, 1.0, 0.001, 5.0)
    market = LiveMarket(
        venue_spec("bybit"),
        [rule],
        ws_base=fake.ws_url,
        rest_base=fake.rest_url,
        perp=PerpTerms(margin=30_000.0, max_leverage=5.0),
    )
    settled: list[tuple[str, FundingEvent]] = []
    lock = threading.Lock()

    def on_funding(asset: str, event: FundingEvent) -> None:
        with lock:
            settled.append((asset, event))

    market.on_funding = on_funding
    market.start()
    try:
        view = market.wait_ready(10.0)
        assert not view.paused
        curve = view.curves["BTC"]
        assert isinstance(curve, PerpetualCurve)
        assert curve.mark_price == 60000.0 and curve.funding_rate_per_hour == pytest.approx(0.0001 / 8)
        assert curve.position_limit == pytest.approx(30_000.0 * 5 / 60_000.0)
        # a book change arrives as a delta; a skipped ``u`` voids the book, and the resubscription rebuilds it
        connects = fake.ws_connects
        fake.change(PERP, "buy", Decimal("59999.0"), Decimal("7"))
        _until(lambda: (b := market.session.book(PERP)) is not None and b.best_bid() == 59999.0)
        fake.gap_ws()
        fake.change(PERP, "sell", Decimal("60001.0"), Decimal("3"))
        _until(lambda: fake.ws_connects > connects and market.session.book(PERP) is not None)
        assert market.resyncs >= 1 and market.session.gaps == 1
        book = market.session.book(PERP)
        assert book is not None and book.best_ask() == 60001.0  # the fresh snapshot has the change
        # the ticker stream: a new rate, then the funding time moves on -> one settlement, at the old time
        due = int(fake.funding[PERP]["nextFundingTime"])
        fake.set_funding(PERP, fundingRate="0.0003", markPrice="60100.00")
        _until(lambda: (f := market.funding.get(PERP)) is not None and f.rate == 0.0003)
        fake.set_funding(PERP, nextFundingTime=str(due + 28_800_000), fundingRate="0.0002")
        _until(lambda: len(settled) == 1)
        asset, event = settled[0]
        assert asset == "BTC" and event.time_ms == due
        assert event.rate == Decimal("0.0003") and event.mark == Decimal("60100.0")
        view = market.refresh()
        curve = view.curves["BTC"]
        assert isinstance(curve, PerpetualCurve) and curve.funding_rate_per_hour == pytest.approx(0.0002 / 8)
    finally:
        market.close()


def test_live_hyperliquid_market_full_books_and_hourly_funding() -> None:
    """Hyperliquid over its documented websocket (``tests.fakevenues.hyperliquid``): the symbol list by
    ``POST /info``, full ``l2Book`` snapshots, the hourly ``activeAssetCtx`` funding in the curve."""
    from tests.fakevenues.hyperliquid import FakeHyperliquid

    fake = FakeHyperliquid().start()
    fake.ladder("BTC-USD-PERP", 60_000.0, levels=10, size=0.2)
    market = LiveMarket(
        venue_spec("hyperliquid"),
        [CurveRules("BTC", "BTC-USD-PERP", 3.5, 1.0, 0.00001, 10.0)],
        ws_base=fake.ws_url,
        rest_base=fake.rest_url,
        perp=PerpTerms(margin=12_000.0, max_leverage=10.0),
    )
    market.start()
    try:
        view = market.wait_ready(10.0)
        assert not view.paused
        curve = view.curves["BTC"]
        assert isinstance(curve, PerpetualCurve)
        assert curve.funding_rate_per_hour == pytest.approx(0.0000125)  # hourly venue: the rate is per hour
        assert curve.position_limit == pytest.approx(2.0)
        fake.change("BTC-USD-PERP", "buy", Decimal("59999"), Decimal("4"))
        _until(lambda: (b := market.session.book("BTC-USD-PERP")) is not None and b.best_bid() == 59999.0)
        fake.set_context("BTC-USD-PERP", funding="-0.00002", markPx="60010.0")
        _until(lambda: (f := market.funding.get("BTC-USD-PERP")) is not None and f.rate == -0.00002)
        curve = market.refresh().curves["BTC"]
        assert isinstance(curve, PerpetualCurve) and curve.mark_price == 60010.0
        assert curve.funding_rate_per_hour == pytest.approx(-0.00002)
    finally:
        market.close()
        fake.stop()


def test_full_cycle_on_live_fakes_enter_funding_exit_on_convergence(tmp_path) -> None:
    """The funding-arbitrage life cycle over real loopback websockets: Bybit pays 0.08% per 8 h, Hyperliquid
    0.01%: the federated session (two agents, the coordinator's driver, paper runtimes) shorts Bybit and
    longs Hyperliquid; Bybit's ticker stream reveals a settlement, booked on the short by the runtime (the
    short receives); the rate converges, the exit asks both runtimes to unwind and the next session
    flattens both legs."""
    from agents.agent import CommittedPlan, EdgeAgent, InstrumentSpec, VenueConfig
    from agents.perps.exits import ExitReason, OpenPair, PairState, check_exit
    from agents.risk.limits import RiskLimits
    from agents.runtime import AgentRuntime
    from arbsphere.inprocess import InProcessLink
    from coordinator.session import SessionDriver
    from energibridge.protocol.venue import VenueInfo
    from tests.fakevenues.hyperliquid import FakeHyperliquid

    bybit, hyper = FakeBybit().start(), FakeHyperliquid().start()
    for fake, symbol in ((bybit, PERP), (hyper, "BTC-USD-PERP")):
        fake.ladder(symbol, 60_000.0, levels=10, size=0.5, spread_bps=1.0)
    bybit.set_funding(PERP, fundingRate="0.0008", markPrice="60000.0")
    hyper.set_context("BTC-USD-PERP", funding="0.0000125", markPx="60000.0")
    symbols = {"bybit": PERP, "hyperliquid": "BTC-USD-PERP"}
    markets = {
        v: LiveMarket(
            venue_spec(v),
            [CurveRules("BTC", s, 1.0, 1.0, 0.001, 1.0)],
            ws_base=(bybit if v == "bybit" else hyper).ws_url,
            rest_base=(bybit if v == "bybit" else hyper).rest_url,
            perp=PerpTerms(margin=60_000.0, max_leverage=2.0),
        )
        for v, s in symbols.items()
    }
    runtimes: dict[str, AgentRuntime] = {}
    try:
        agents = {}
        for v, market in markets.items():
            market.start()
            view = market.wait_ready(10.0)
            spec = InstrumentSpec(symbols[v], Decimal("0.001"), Decimal("0.1"))
            agents[v] = EdgeAgent(VenueConfig(v, {"BTC": spec}, latency_budget_ms=60_000), dict(view.curves))
            agents[v].reference_prices = dict(view.mids)
            limits = RiskLimits(daily_notional_cap=Decimal(10**9), book_usage_cap=Decimal(1))
            runtimes[v] = AgentRuntime(
                agents[v], tmp_path / v, inventory={"USD": Decimal(10**6)}, limits=limits
            )
            market.on_funding = runtimes[v].settle_funding
        link = InProcessLink(agents, clock_ms=lambda: int(time.time() * 1000))  # wall-clock leg deadlines
        driver = SessionDriver(
            link, {v: VenueInfo(v, a.lot_sizes(), {"BTC": 60_000.0}, 60_000) for v, a in agents.items()}
        )

        def session(name: str) -> None:
            for v, agent in agents.items():
                agent.update_curves(markets[v].refresh().curves)
                runtimes[v].market_moved()
                runtimes[v].constrain()
            for ack in driver.run(name).acks:
                committed = link.committed[ack.venue_id]
                assert isinstance(committed, CommittedPlan)
                runtimes[ack.venue_id].execute(committed)

        def delta_8h() -> Decimal:
            high = markets["bybit"].funding[PERP].rate
            low = markets["hyperliquid"].funding["BTC-USD-PERP"].rate * 8
            return Decimal(repr(high)) - Decimal(repr(low))

        session("enter")
        short, long_ = runtimes["bybit"].perps.position("BTC"), runtimes["hyperliquid"].perps.position("BTC")
        assert short < 0 and long_ == -short, (short, long_)
        pair = OpenPair("BTC", "hyperliquid", "bybit", -short, Decimal(60_000), Decimal(0), Decimal(10**6))
        assert check_exit(pair, PairState(delta_8h(), Decimal(0), Decimal(0))) is None
        # Bybit's funding time passes: the stream announces the next one; the short receives 0.08%
        due = int(bybit.funding[PERP]["nextFundingTime"])
        bybit.set_funding(PERP, nextFundingTime=str(due + 28_800_000), fundingRate="0.0001")
        _until(lambda: runtimes["bybit"].perps.funding_pnl("BTC") != 0)
        (payment,) = runtimes["bybit"].perps.payments
        assert payment.time_ms == due and payment.rate == Decimal("0.0008")
        assert payment.amount == -short * Decimal("60000.0") * Decimal("0.0008") > 0
        # converged (0.01% vs 0.01% per 8 h): the exit unwinds both legs in a federated session
        _until(lambda: markets["bybit"].funding[PERP].rate == 0.0001)
        unwind = check_exit(pair, PairState(delta_8h(), Decimal(0), payment.amount))
        assert unwind is not None and unwind.reason is ExitReason.FUNDING_CONVERGENCE
        for venue in unwind.trades:
            runtimes[venue].request_unwind("BTC", unwind.reason.value)
        session("exit")
        assert runtimes["bybit"].perps.position("BTC") == 0 == runtimes["hyperliquid"].perps.position("BTC")
    finally:
        for runtime in runtimes.values():
            runtime.close()
        for market in markets.values():
            market.close()
        bybit.stop()
        hyper.stop()
