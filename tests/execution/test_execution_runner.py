"""The full paper loop in virtual time: PlanDelta -> risk -> orders -> fills -> leg-out -> sink and store."""

from __future__ import annotations

from decimal import Decimal

from agents.execution.clock import VirtualTime
from agents.execution.events import ExecutionReport, InMemorySink, LegOutEvent
from agents.execution.legout import HedgeQuote, LegOutMonitor, LegOutPolicy, ReplanRequest
from agents.execution.paper import PaperConfig, PaperVenue
from agents.execution.plan import plan_from_proto
from agents.execution.runner import PlanRunner
from agents.persistence.store import ExecutionStore
from agents.persistence.writer import StoreWriter
from agents.risk.events import RiskEvent
from agents.risk.limits import RiskLimits
from agents.risk.manager import RiskManager
from agents.risk.market import MarketState
from energibridge.v1 import ir_pb2
from tests.execution.exec_helpers import book

D = Decimal
T0 = 1_800_000_000_000


def delta(venue: str, side: int, size: str, cap: str, seq: int = 1) -> ir_pb2.PlanDelta:
    d = ir_pb2.PlanDelta(session_id="s", venue_id=venue, sequence=seq, expected_profit_quote="0.5")
    d.legs.add(
        instrument="SOL-USD",
        asset="SOL",
        side=side,
        size=size,
        limit_price=cap,
        deadline_unix_ms=T0 + 1_000,
        idempotency_key=f"s/{seq}/{venue}/0",
    )
    return d


class Loop:
    def __init__(self, *, latency: int = 20, replan: bool = False) -> None:
        self.vt = VirtualTime(T0)
        self.sink = InMemorySink()
        self.store = ExecutionStore.sqlite()
        self.writer = StoreWriter(self.store)
        self.replans: list[ReplanRequest] = []
        policy = LegOutPolicy(hedge_slippage_bps=D(100), hedge_timeout_ms=500, prefer_replan=replan)
        self.runner = PlanRunner(
            clock=self.vt,
            monitor=LegOutMonitor(policy, self.sink),
            sink=self.sink,
            risk=RiskManager(RiskLimits(), self.sink),
            writer=self.writer,
            on_replan=self.replans.append,
        )
        self.venues = {}
        for name in ("A", "B", "C"):
            venue = PaperVenue(PaperConfig(name, latency_ms=latency), self.vt, self.runner.on_event)
            self.venues[name] = venue
            self.runner.add_venue(name, venue)

    def set_book(self, venue: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        self.venues[venue].update_book("SOL-USD", book(bids, asks, self.vt.now_ms()))

    def market(self) -> MarketState:
        return MarketState(
            {(n, "SOL-USD"): b for n, v in self.venues.items() if (b := v.book("SOL-USD")) is not None}
        )

    def quotes(self) -> list[HedgeQuote]:
        return [
            HedgeQuote(n, "SOL-USD", "SOL", b, D("0.01"), D("0.01"))
            for n, v in self.venues.items()
            if (b := v.book("SOL-USD")) is not None
        ]

    def run(self, until_ms: int, step: int = 10) -> None:
        while self.vt.now_ms() < until_ms:
            self.vt.advance(step)
            self.runner.tick(self.quotes())


def test_both_legs_fill_and_plan_is_reported() -> None:
    loop = Loop()
    loop.set_book("A", [("99", "5")], [("100", "5")])
    loop.set_book("B", [("101", "5")], [("102", "5")])
    for d in (delta("A", ir_pb2.SIDE_BUY, "2", "100"), delta("B", ir_pb2.SIDE_SELL, "2", "101")):
        assert loop.runner.submit_plan(plan_from_proto(d), loop.market()).ok
    loop.run(T0 + 200)
    reports = [e for e in loop.sink.events if isinstance(e, ExecutionReport)]
    assert len(reports) == 1 and reports[0].complete
    # 2 * (101 - 100) minus 10 bps taker fees on 200 and 202.
    assert reports[0].realised_pnl == D("1.598")
    assert reports[0].predicted_pnl == D("1.0")
    assert loop.runner.portfolio.exposure("SOL") == 0
    assert loop.runner.portfolio.conservation_gap() == 0
    loop.writer.flush()
    pnl = loop.store.plan_pnl("s/1")
    assert pnl is not None and pnl.realised == D("1.598") and pnl.predicted == D("1.0")
    assert {o.status for o in loop.store.orders()} == {"filled"}


def test_partial_fill_legs_out_and_is_hedged_on_most_liquid_venue() -> None:
    loop = Loop()
    loop.set_book("A", [("99", "5")], [("100", "5")])
    loop.set_book("B", [("101", "5")], [("102", "5")])
    loop.set_book("C", [("100.5", "9")], [("101.5", "9")])
    for d in (delta("A", ir_pb2.SIDE_BUY, "2", "100"), delta("B", ir_pb2.SIDE_SELL, "2", "101")):
        loop.runner.submit_plan(plan_from_proto(d), loop.market())
    loop.set_book("B", [("101", "0.5"), ("100", "5")], [("102", "5")])  # B's bid thinned before arrival
    loop.run(T0 + 400)
    legouts = [e for e in loop.sink.events if isinstance(e, LegOutEvent)]
    assert len(legouts) == 1
    (hedge,) = legouts[0].hedges
    assert (hedge.venue, hedge.size, legouts[0].imbalance) == ("C", D("1.5"), D("-1.5"))
    assert loop.runner.portfolio.exposure("SOL") == 0
    reports = [e for e in loop.sink.events if isinstance(e, ExecutionReport)]
    assert len(reports) == 1 and reports[0].complete


def test_prefer_replan_raises_request_instead_of_hedging() -> None:
    loop = Loop(replan=True)
    loop.set_book("A", [("99", "5")], [("100", "5")])
    loop.set_book("B", [("101", "5")], [("102", "5")])
    for d in (delta("A", ir_pb2.SIDE_BUY, "2", "100"), delta("B", ir_pb2.SIDE_SELL, "2", "101")):
        loop.runner.submit_plan(plan_from_proto(d), loop.market())
    loop.set_book("B", [("90", "5")], [("102", "5")])
    loop.run(T0 + 400)
    assert [(r.asset, r.side.value, r.size, r.exclude_venues) for r in loop.replans] == [
        ("SOL", "sell", D(2), ("B",))
    ]
    assert loop.runner.portfolio.exposure("SOL") == D(2)  # left to the coordinator's re-plan


def test_observe_only_sends_nothing() -> None:
    loop = Loop()
    loop.set_book("A", [("99", "5")], [("100", "5")])
    assert loop.runner.risk is not None
    loop.runner.risk.observe_only("dry run", T0)
    decision = loop.runner.submit_plan(
        plan_from_proto(delta("A", ir_pb2.SIDE_BUY, "1", "100")), loop.market()
    )
    loop.run(T0 + 100)
    assert not decision.allowed
    assert loop.runner.portfolio.positions == {}
    assert any(isinstance(e, RiskEvent) and e.action == "refuse" for e in loop.sink.events)
    assert not [e for e in loop.sink.events if isinstance(e, LegOutEvent)]
