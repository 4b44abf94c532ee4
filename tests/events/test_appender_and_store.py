"""The non-blocking appender, and the event store: built live by its consumer, rebuilt by replay, equal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.events.appender import BackgroundAppender
from registry.events.log import Consumer, EventLog, EventLogError, Record
from registry.events.store import EventStore, StoreWriter, replay
from tests.conftest import ROOT
from tests.events.conftest import LogFactory


class StuckLog(EventLog):
    """A log whose appends hang until released, then fail a few times: the worst a log can do."""

    def __init__(self) -> None:
        self.url = "stuck://"
        self.source = "test"
        self.release = threading.Event()
        self.failures_left = 3
        self.appended: list[Mapping[str, object]] = []

    def append_many(self, events: Iterable[Mapping[str, object]]) -> list[int]:
        batch = list(events)
        self.release.wait()
        if self.failures_left:
            self.failures_left -= 1
            raise EventLogError("stuck: away")
        self.appended.extend(batch)
        return list(range(len(self.appended) - len(batch) + 1, len(self.appended) + 1))

    def read(self, start: int = 1, limit: int | None = None) -> Iterator[Record]:
        return iter(())

    def last_sequence(self) -> int:
        return len(self.appended)

    def consumer(self, name: str) -> Consumer:
        raise NotImplementedError

    def close(self) -> None:
        self.release.set()


def test_submit_never_blocks_drops_beyond_the_bound_and_catches_up() -> None:
    log = StuckLog()
    appender = BackgroundAppender(log, capacity=100, batch=50)
    started = time.perf_counter()
    accepted = [appender.submit({"event": "order", "i": i}) for i in range(1000)]
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5  # 1000 submits against a hung log: no waiting
    assert appender.stats.dropped >= 1000 - 101  # the queue and the batch in hand
    assert accepted.count(False) == appender.stats.dropped
    log.release.set()  # the log comes back (after failing three more times)
    deadline = time.monotonic() + 10
    while appender.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    appender.close()
    assert appender.stats.failures == 3
    kept = [e["i"] for e in log.appended]
    assert kept == sorted(kept)  # order kept, nothing appended twice
    assert len(kept) == accepted.count(True)


def test_appender_feeds_the_real_log_in_order(open_events: LogFactory) -> None:
    log = open_events()
    batches: list[int] = []
    appender = BackgroundAppender(log, on_batch=lambda n, s: batches.append(n))
    for i in range(2000):
        appender.submit({"event": "tick", "i": i})
    appender.close(timeout=20)
    assert appender.stats.dropped == 0
    assert [r.event["i"] for r in log.read(1)] == list(range(2000))
    assert sum(batches) == 2000
    assert len(batches) < 2000  # group commit: many events per fsync / per round of acks


def _session_events(n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for s in range(n):
        out.append({"event": "round", "round": 1, "imbalance_lots": 0.5, "gap": 0.01, "profit": 1.0})
        out.append(
            {
                "event": "plan",
                "venue": "v1",
                "session": f"s{s}",
                "sequence": s + 1,
                "state_hash": "ab" * 16,
                "expected_profit": "1.25",
                "legs": [{"instrument": "BTC-USD", "side": "BUY", "size": "0.01", "limit_price": "1"}],
            }
        )
        out.append(
            {
                "event": "execution",
                "venue": "v1",
                "session": f"s{s}",
                "sequence": s + 1,
                "status": "FILLED",
                "predicted_pnl": "-640.5",
                "realised_pnl": "-640.25",
                "pnl_vs_plan": "0.25",
                "fees": "0.1",
                "risk_gates": [],
                "fills": [
                    {
                        "instrument": "BTC-USD",
                        "side": "BUY",
                        "price": "64025",
                        "size": "0.01",
                        "fee": "0.1",
                        "client_order_id": f"c{s}",
                    }
                ],
            }
        )
        out.append(
            {
                "event": "session",
                "session": f"s{s}",
                "strategy": "price",
                "rounds": 7,
                "converged": True,
                "profit": 1.25,
                "elapsed_ms": 12.5,
                "participants": ["v1", "v2"],
                "dropped": [],
                "sequence": s + 1,
                "committed": ["v1", "v2"],
                "execution_reports": 2,
                "ledger_size": 10 + s,
            }
        )
    return out


def test_store_writer_crashing_between_apply_and_ack_writes_each_record_once(
    open_events: LogFactory, tmp_path: Path
) -> None:
    log = open_events()
    log.append_many(_session_events(25))  # 100 records
    store = EventStore.open(f"sqlite:///{tmp_path / 'live.sqlite'}")
    writer = StoreWriter(log, store)
    records = writer.consumer.fetch(30, 1.0)
    store.apply(records)  # applied, then "killed" before the ack
    writer.close()
    writer = StoreWriter(log, store)
    assert writer.consumer.acked == 0
    assert writer.run(follow=False) == 100
    writer.close()
    rebuilt = EventStore.open(f"sqlite:///{tmp_path / 'replayed.sqlite'}")
    assert replay(log, rebuilt) == 100
    assert store.dump() == rebuilt.dump()
    counts = store.counts()
    assert counts["ev_events"] == 100
    assert (counts["ev_plans"], counts["ev_executions"], counts["ev_fills"], counts["ev_sessions"]) == (
        25,
        25,
        25,
        25,
    )
    store.close()
    rebuilt.close()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "arbsphere.cli", *args]


def _position(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT sequence FROM ev_position")).scalar() or 0)
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


@pytest.mark.slow
def test_store_process_killed_mid_run_loses_nothing_and_replay_reproduces_it(
    open_events: LogFactory, log_url: str, tmp_path: Path
) -> None:
    log = open_events()
    total = 0
    for _ in range(2):
        total = log.append_many(_session_events(500))[-1]  # 4,000 records
    live = f"sqlite:///{tmp_path / 'live.sqlite'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    store = subprocess.Popen(
        _cli("events", "store", "--events", log_url, "--store", live, "--follow"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while (at := _position(live)) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    store.send_signal(signal.SIGKILL)
    store.wait(timeout=30)
    assert 0 < at < total, at  # killed mid-run
    done = subprocess.run(
        _cli("events", "store", "--events", log_url, "--store", live),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f'"position": {total}' in done.stdout
    replayed = f"sqlite:///{tmp_path / 'replayed.sqlite'}"
    done = subprocess.run(
        _cli("events", "replay", "--events", log_url, "--store", replayed),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    a, b = EventStore.open(live), EventStore.open(replayed)
    try:
        assert a.counts()["ev_events"] == total
        assert a.dump() == b.dump()  # the replayed store is the live one, row for row
    finally:
        a.close()
        b.close()
