"""The execution store's durability bound, in process (the SIGKILL test with real processes is
``test_ag_kill``), and the leg-out residuals a hedge session picks up.

Bound (``DurableStoreWriter``): an order is durable before it is sent; a fill, an order's end, a plan's
outcome and its residuals are durable before the outcome is handed to anyone (coordinator report,
operator event). Under continuous trading the agent is never quiet, so both must hold without it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agents.agent import EdgeAgent
from agents.execution.clock import VirtualTime
from agents.persistence.store import ExecutionStore
from agents.risk.limits import RiskLimits
from agents.runtime import STORE_FILE, AgentRuntime, ExecutionStatus, PlanOutcome, unboxed
from sdk.adapters.execution import OrderRequest, Side
from sdk.curves.order_book import OrderBookCurve
from tests.crashonly.agent.ag_helpers import START_MS, InProcessRegion, commit_trades
from tests.crashonly.agent.test_ag_gates import _one_book_agent
from tests.execution.exec_helpers import D

NEVER_QUIET = 10**9  # ms: the agent is never quiet long enough to write the store for that reason


class _Spy:
    """Wraps a paper venue: records, at each send, whether the order was already in the store on disk."""

    def __init__(self, inner: object, store: ExecutionStore) -> None:
        self.inner = inner
        self.store = store
        self.durable_at_send: list[bool] = []

    def submit(self, order: OrderRequest, role: str = "leg") -> None:
        ids = {o.client_order_id for o in self.store.orders()}
        self.durable_at_send.append(order.client_order_id in ids)
        self.inner.submit(order, role)  # type: ignore[attr-defined]

    def cancel(self, client_order_id: str) -> None:
        self.inner.cancel(client_order_id)  # type: ignore[attr-defined]


def _runtime(path: Path, agent: EdgeAgent, time: VirtualTime, **options: object) -> AgentRuntime:
    return AgentRuntime(
        agent,
        path,
        inventory={"SOL": D(100), "USD": D(100_000)},
        scheduler=time,
        latency_ms=5,
        store_quiet_ms=NEVER_QUIET,
        **options,  # type: ignore[arg-type]
    )


def test_orders_are_durable_before_they_leave_and_fills_before_anything_reports_them(tmp_path: Path) -> None:
    agent, _ = _one_book_agent()
    time = VirtualTime(START_MS)
    reader = ExecutionStore.sqlite(tmp_path / STORE_FILE)  # another connection, as after a crash
    reported: list[tuple[int, int]] = []

    def on_outcome(outcome: PlanOutcome) -> None:
        stored = {f.client_order_id for f in reader.fills(outcome.plan_id)}
        reported.append((len(outcome.fills), sum(f.client_order_id in stored for f in outcome.fills)))

    runtime = _runtime(tmp_path, agent, time, on_outcome=on_outcome)
    try:
        runtime.constrain()
        spy = _Spy(runtime.runner.adapter_for(runtime.venue, "SOL-USD"), reader)
        runtime.runner.add_venue(runtime.venue, spy, instruments=("SOL-USD",))  # type: ignore[arg-type]
        for sequence in range(1, 9):  # continuous trading: a plan while the previous one is in flight
            plan = commit_trades(
                agent, {"SOL": D("0.5")}, session_id=f"s{sequence}", sequence=sequence, now_ms=time.now_ms()
            )
            assert plan is not None
            assert runtime.execute(plan) is None  # in flight
            time.advance(3)
            runtime.poll()
        time.advance(10)
        runtime.poll()
    finally:
        runtime.close()
    print(
        f"{len(spy.durable_at_send)} orders sent, {sum(spy.durable_at_send)} durable before leaving; "
        f"{sum(n for n, _ in reported)} fills reported, {sum(s for _, s in reported)} durable before"
    )
    assert spy.durable_at_send and all(spy.durable_at_send)
    assert len(reported) == 8 and all(n == stored and n > 0 for n, stored in reported)


def test_a_successor_closes_what_a_killed_runtime_left_and_reports_it(tmp_path: Path) -> None:
    """The first runtime is abandoned mid-flight, its held writes never released (as when killed); the
    second finds the orders' intents and the plan, closes them, opens the residual and reports it."""
    agent, _ = _one_book_agent()
    time = VirtualTime(START_MS)
    first = _runtime(tmp_path, agent, time)
    first.constrain()
    plan = commit_trades(agent, {"SOL": D("-0.7")}, session_id="s1", sequence=1, now_ms=time.now_ms())
    assert plan is not None
    assert first.execute(plan) is None  # orders in flight; then the process "dies" (never polled again)
    successor_agent, _ = _one_book_agent()
    outcomes: list[PlanOutcome] = []
    second = AgentRuntime(
        successor_agent,
        tmp_path,
        inventory={"SOL": D(999), "USD": D(999)},  # ignored: the store's balances win
        scheduler=time,
        on_outcome=outcomes.append,
    )
    try:
        settled = second.recover()
        assert settled == 1
        (outcome,) = outcomes
        assert outcome.recovered and outcome.status is ExecutionStatus.LEG_OUT and not outcome.fills
        (residual,) = second.residuals()
        assert (residual.asset, residual.side, residual.size, residual.reason) == (
            "SOL",
            Side.SELL,
            D("0.7"),
            "lost",
        )
        assert {o.status for o in second.store.orders()} == {"cancelled"}
        assert second.inventory() == {"SOL": D(100), "USD": D(100_000)}
        assert second.recover() == 0 and len(outcomes) == 1  # a second start finds nothing left
    finally:
        second.close()


def test_a_leg_out_leaves_a_durable_residual_a_hedge_session_can_take(tmp_path: Path) -> None:
    region = InProcessRegion(tmp_path, 5, 7, kinds=("order_book", "cpmm", "clmm", "perp"), latency_ms=5)
    region.execute = False
    try:
        region.session("s1")
        plan = next(p for p in region.plans if p.delta.venue_id.startswith("order_book"))
        venue = plan.delta.venue_id
        agent, runtime = region.agents[venue], region.runtimes[venue]
        assert runtime.execute(plan) is None
        leg = plan.delta.legs[0]
        book = unboxed(agent.curves[leg.asset])
        assert isinstance(book, OrderBookCurve)
        factor = 1.03 if leg.side.name == "BUY" else 0.97  # the book runs away while the order flies
        moved = OrderBookCurve(
            [(p * factor, q) for p, q in book.bids],
            [(p * factor, q) for p, q in book.asks],
            taker_fee_bps=book.fee * 1e4,
            book_usage=book.book_usage,
            lot_size=book.lot_size,
        )
        agent.update_curves({leg.asset: moved})
        runtime.market_moved()
        region.time.advance(5)
        (outcome,) = runtime.poll()
        assert outcome.status is ExecutionStatus.LEG_OUT
        open_now = runtime.residuals()
    finally:
        region.close()
    assert open_now and {r.plan_id for r in open_now} == {outcome.plan_id}
    short = {r.asset: r for r in open_now}[leg.asset]
    assert short.side.name == leg.side.name and short.size > 0 and short.reason in ("leg_out", "replan")
    assert short.exclude_venues == (venue,)
    # After a restart the request is still there: nothing is thrown away.
    store = ExecutionStore.sqlite(tmp_path / venue / STORE_FILE)
    assert [(r.plan_id, r.asset, r.size) for r in store.residuals()] == [
        (r.plan_id, r.asset, r.size) for r in open_now
    ]
    store.set_residual_state(short.plan_id, short.asset, "taken", START_MS)
    assert short.asset not in {r.asset for r in store.residuals()}
    print(f"leg-out of {venue}: residual {short.side.value} {short.size} {short.asset} kept ({short.reason})")


def test_refused_legs_leave_their_obligation_as_a_residual(tmp_path: Path) -> None:
    agent, _ = _one_book_agent()
    time = VirtualTime(START_MS)
    runtime = AgentRuntime(
        agent, tmp_path, inventory={"SOL": D(100), "USD": D(100_000)}, scheduler=time, limits=RiskLimits()
    )
    try:
        plan = commit_trades(agent, {"SOL": D("2")}, session_id="s1", sequence=1, now_ms=time.now_ms())
        assert plan is not None
        runtime.risk.pause("operator", time.now_ms())
        outcome = runtime.execute(plan)
        assert outcome is not None and outcome.status is ExecutionStatus.REFUSED
        assert [(r.asset, r.side, r.size, r.reason) for r in runtime.residuals()] == [
            ("SOL", Side.BUY, Decimal(2), "refused")
        ]
    finally:
        runtime.close()


@pytest.mark.parametrize("quiet_ms", [0, NEVER_QUIET])
def test_the_store_is_complete_at_close_whatever_the_quiet_period(tmp_path: Path, quiet_ms: int) -> None:
    agent, _ = _one_book_agent()
    time = VirtualTime(START_MS)
    runtime = AgentRuntime(
        agent, tmp_path, inventory={"SOL": D(100), "USD": D(100_000)}, scheduler=time, store_quiet_ms=quiet_ms
    )
    plan = commit_trades(agent, {"SOL": D("1")}, session_id="s1", sequence=1, now_ms=time.now_ms())
    assert plan is not None
    outcome = runtime.execute(plan)
    runtime.close()
    assert outcome is not None and outcome.status is ExecutionStatus.FILLED
    store = ExecutionStore.sqlite(tmp_path / STORE_FILE)
    (record,) = store.plans()
    assert record.reported and record.status == "filled" and record.realised_profit == outcome.realised_profit
    assert len(store.fills()) == outcome.fill_count


def test_a_live_fill_the_store_never_saw_is_adopted_at_restart(tmp_path: Path) -> None:
    """Live: the venue filled the order and the outbox knew it was done, but the process died before the
    store wrote the fill and before the outcome was reported. The successor reconciles that order at the
    venue by client order id: the fill lands in the store once, the outcome is reported, and the venue's
    balance report replaces the store's balances."""
    import time as wall

    from agents.agent import EdgeAgent, InstrumentSpec, VenueConfig
    from agents.execution.client_ids import client_order_id
    from agents.execution.clock import SystemClock
    from agents.execution.live import CcxtVenue, LiveInstrument, make_exchange
    from agents.execution.outbox import Outbox
    from agents.runtime import Listener, LiveExecution
    from tests.execution.fake_binance import API_KEY, SECRET, FakeBinance

    def make_agent() -> EdgeAgent:
        book = OrderBookCurve([(99.5, 2.0), (99.0, 5.0)], [(100.1, 0.3), (100.2, 1.0)], taker_fee_bps=10.0)
        spec = InstrumentSpec("SOL-USDT", Decimal("0.001"), Decimal("0.01"))
        return EdgeAgent(VenueConfig("A", {"SOL": spec}), {"SOL": book})

    with FakeBinance() as fake:
        fake.add_symbol(
            "SOLUSDT", "SOL", "USDT", [("99.5", "2"), ("99", "5")], [("100.1", "0.3"), ("100.2", "1")]
        )
        exchange = make_exchange("binance", base_url=fake.url, api_key=API_KEY, secret=SECRET)
        exchange.load_markets()

        def live(listener: Listener) -> LiveExecution:
            return CcxtVenue(
                "A",
                exchange,
                outbox=Outbox.sqlite(tmp_path / "outbox.sqlite"),
                clock=SystemClock(),
                listener=listener,
                instruments={"SOL-USDT": LiveInstrument("SOL/USDT", "SOL", D("0.001"), D("0.01"))},
            )

        agent = make_agent()
        first = AgentRuntime(
            agent,
            tmp_path,
            inventory={"SOL": D(10), "USDT": D(10_000)},
            quote="USDT",
            live=live,
            client_ids="binance",
            store_quiet_ms=NEVER_QUIET,
        )
        first._report = lambda done: None  # type: ignore[method-assign]  # killed before the outcome barrier
        plan = commit_trades(
            agent, {"SOL": D("0.09")}, session_id="s1", sequence=1, now_ms=int(wall.time() * 1000)
        )
        assert plan is not None
        first.execute(plan)
        cid = client_order_id(plan.delta.legs[0].idempotency_key, "binance")
        assert not ExecutionStore.sqlite(tmp_path / STORE_FILE).fills(), "the fill reached the store"
        venue_report = {"SOL": D("10.09"), "USDT": D("9990.9")}
        outcomes: list[PlanOutcome] = []
        second = AgentRuntime(
            make_agent(),
            tmp_path,
            inventory=venue_report,
            quote="USDT",
            live=live,
            client_ids="binance",
            venue_balances=True,
            on_outcome=outcomes.append,
        )
        try:
            assert second.recover() == 1
            fills = second.store.fills()
            assert [(f.client_order_id, f.size) for f in fills] == [(cid, D("0.09"))]
            assert len(fake.client_order_ids()) == 1  # reconciled, never re-sent
            (outcome,) = outcomes
            assert outcome.recovered and outcome.status is ExecutionStatus.FILLED and outcome.fill_count == 1
            assert second.inventory() == venue_report
        finally:
            second.close()
