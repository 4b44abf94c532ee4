"""One behavioural suite for the execution store, run on SQLite (memory, file) and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.execution.accounting import Portfolio
from agents.persistence.store import ExecutionStore
from agents.persistence.writer import StoreWriter, StoreWriterError
from sdk.adapters.execution import FillEvent, Liquidity, OrderEvent, OrderStatus, Side
from tests.execution.exec_helpers import order

D = Decimal


def fill(
    n: int, side: Side, price: str, size: str, fee: str = "0", venue: str = "A", plan: str = "s/1"
) -> FillEvent:
    return FillEvent(
        f"{venue}:{n}",
        f"o{n}",
        plan,
        venue,
        "SOL-USD",
        "SOL",
        side,
        D(price),
        D(size),
        D(fee),
        Liquidity.TAKER,
        n,
    )


class StoreContract:
    """Every behavioural test of the store; subclasses say which backend."""

    def store_factory(self) -> ExecutionStore:
        raise NotImplementedError

    def test_order_lifecycle(self) -> None:
        store = self.store_factory()
        o = order("c1", Side.BUY, "2", "100.5")
        store.record_order(o, 1)
        store.record_order(o, 2)  # idempotent
        store.record_order_event(
            OrderEvent("c1", "paper", "SOL-USD", OrderStatus.FILLED, D(2), D(0), 3, exchange_order_id="x9")
        )
        (row,) = store.orders()
        assert (row.status, row.filled, row.exchange_order_id, row.limit_price) == (
            "filled",
            D(2),
            "x9",
            D("100.5"),
        )
        assert store.orders(plan_id="nope") == []

    def test_fill_updates_position_inventory_and_plan_pnl(self) -> None:
        store = self.store_factory()
        store.set_inventory("A", "USD", D(1000), 0)
        store.set_inventory("B", "USD", D(1000), 0)
        store.record_prediction("s/1", D("1.5"), 0)
        assert store.record_fill(fill(1, Side.BUY, "100", "2", "0.2", "A"))
        assert store.record_fill(fill(2, Side.SELL, "101", "2", "0.2", "B"))
        assert not store.record_fill(fill(1, Side.BUY, "100", "2", "0.2", "A"))  # replayed: ignored
        inv = store.inventory()
        assert inv[("A", "USD")] == D("799.8") and inv[("A", "SOL")] == D(2)
        assert inv[("B", "USD")] == D("1201.8") and inv[("B", "SOL")] == D(-2)
        pnl = store.plan_pnl("s/1")
        assert pnl is not None and (pnl.realised, pnl.fees, pnl.fills, pnl.predicted) == (
            D("1.6"),
            D("0.4"),
            2,
            D("1.5"),
        )
        assert pnl.error == D("0.1")
        positions = {(p.venue, p.asset): p for p in store.positions()}
        assert positions[("A", "SOL")].cost == D(200) and positions[("B", "SOL")].cost == D(-202)
        assert [f.fill_id for f in store.fills("s/1")] == ["A:1", "B:2"]
        assert store.plan_pnl("missing") is None

    def test_exact_decimals_round_trip(self) -> None:
        store = self.store_factory()
        f = fill(1, Side.BUY, "0.123456789012345678", "12345.000000000000000001", "0.000000000000000001")
        store.record_fill(f)
        assert store.fills() == [f]

    def test_writer_off_hot_path_flush_and_error(self) -> None:
        store = self.store_factory()
        writer = StoreWriter(store)
        writer.order(order("c1", Side.SELL, "1", "99"), 1)
        for n in range(50):
            writer.event(fill(n, Side.BUY, "10", "1"))
        writer.prediction("s/1", D(3), 1)
        writer.flush()
        assert len(store.fills()) == 50
        assert store.plan_pnl("s/1") == store.plan_pnl("s/1")
        writer._put(lambda s: 1 / 0)  # a failing write surfaces on flush
        with pytest.raises(StoreWriterError, match="ZeroDivisionError"):
            writer.flush()
        writer2 = StoreWriter(store)
        writer2.close()
        with pytest.raises(StoreWriterError, match="closed"):
            writer2.order(order("c2", Side.SELL, "1", "99"), 1)

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(list(Side)),
                st.decimals(min_value=D("0.01"), max_value=D(1000), places=2),
                st.decimals(min_value=D("0.001"), max_value=D(10), places=3),
                st.sampled_from(["A", "B"]),
            ),
            max_size=12,
        )
    )
    def test_store_matches_pure_accounting(self, specs: list[tuple[Side, Decimal, Decimal, str]]) -> None:
        store = self.store_factory()
        portfolio = Portfolio.starting_with({})
        for n, (side, price, size, venue) in enumerate(specs):
            f = fill(n, side, str(price), str(size), str(price * size / 1000), venue)
            store.record_fill(f)
            portfolio.apply(f)
        for p in store.positions():
            mine = portfolio.positions[(p.venue, p.asset)]
            assert (p.quantity, p.cost, p.realised) == (mine.quantity, mine.cost, portfolio.realised[p.venue])


class TestSqliteMemory(StoreContract):
    def store_factory(self) -> ExecutionStore:
        return ExecutionStore.sqlite()


class TestSqliteFile(StoreContract):
    @pytest.fixture(autouse=True)
    def _dir(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.count = 0

    def store_factory(self) -> ExecutionStore:
        self.count += 1
        return ExecutionStore.sqlite(self.dir / f"exec{self.count}.db")


@pytest.mark.postgres
class TestPostgres(StoreContract):
    @pytest.fixture(autouse=True)
    def _pg(self, postgres_url: str, postgres_schema: str) -> Iterator[None]:
        self.engine = sa.create_engine(postgres_url)
        self.schema = postgres_schema
        self.created: list[str] = []
        yield
        with self.engine.begin() as conn:
            for name in self.created:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        self.engine.dispose()

    def store_factory(self) -> ExecutionStore:
        # Hypothesis calls the factory many times per test: each store gets a schema of its own, named after
        # the fixture's fresh schema (so parallel runs never collide) and dropped by the fixture.
        name = f"{self.schema}_{len(self.created)}"
        with self.engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        self.created.append(name)
        store = ExecutionStore(self.engine, schema=name)
        store.create_schema()
        return store
