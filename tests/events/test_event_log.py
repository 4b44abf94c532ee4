"""The event log's behaviour, one suite run against every backend (embedded file and NATS JetStream)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from registry.events.log import EventLogError
from tests.conftest import ROOT
from tests.events.conftest import LogFactory


def _events(n: int, kind: str = "plan") -> list[dict[str, object]]:
    return [{"event": kind, "i": i, "size": f"{i}.125"} for i in range(n)]


def test_sequences_are_consecutive_from_one(open_events: LogFactory) -> None:
    log = open_events()
    assert log.last_sequence() == 0
    assert log.append({"event": "first"}) == 1
    assert log.append_many(_events(4)) == [2, 3, 4, 5]
    assert log.append_many([]) == []
    assert log.last_sequence() == 5


def test_events_round_trip_exactly(open_events: LogFactory) -> None:
    log = open_events()
    event = {
        "event": "execution",
        "venue": "kraken-ü",
        "fills": [{"price": "64000.125", "size": "0.001", "side": "BUY"}],
        "risk_gates": [],
        "nested": {"a": [1, 2.5, None, True]},
    }
    log.append(event)
    (record,) = list(log.read(1))
    assert record.sequence == 1
    assert record.source == "test"
    assert record.kind == "execution"
    assert dict(record.event) == event
    assert record.time_ns > 0


def test_non_json_events_are_refused_and_nothing_is_appended(open_events: LogFactory) -> None:
    log = open_events()
    with pytest.raises(ValueError):
        log.append_many([{"event": "ok"}, {"event": "bad", "x": math.nan}])
    with pytest.raises(TypeError):
        log.append_many([{"event": "bad", "x": object()}])
    with pytest.raises(TypeError):
        log.append("not a mapping")  # type: ignore[arg-type]
    assert log.last_sequence() == 0


def test_read_from_any_offset_with_limit(open_events: LogFactory) -> None:
    log = open_events()
    log.append_many(_events(50))
    assert [r.sequence for r in log.read(1)] == list(range(1, 51))
    assert [r.event["i"] for r in log.read(17, 5)] == [16, 17, 18, 19, 20]
    assert [r.sequence for r in log.read(50)] == [50]
    assert list(log.read(51)) == []
    assert [r.sequence for r in log.read(48, 100)] == [48, 49, 50]
    with pytest.raises(EventLogError, match="start"):
        list(log.read(0))


def test_durable_across_restart_and_numbering_continues(open_events: LogFactory) -> None:
    first = open_events()
    first.append_many(_events(10))
    first.close()
    second = open_events()
    assert second.last_sequence() == 10
    assert second.append({"event": "after-restart"}) == 11
    assert [r.kind for r in second.read(10)] == ["plan", "after-restart"]


def test_consumer_delivers_in_order_and_resumes_after_its_last_ack(open_events: LogFactory) -> None:
    log = open_events()
    log.append_many(_events(10))
    consumer = log.consumer("store")
    assert consumer.acked == 0
    batch = consumer.fetch(4, 1.0)
    assert [r.sequence for r in batch] == [1, 2, 3, 4]
    consumer.ack(3)
    assert [r.sequence for r in consumer.fetch(100, 1.0)] == list(range(5, 11))
    consumer.close()  # 4..10 delivered, only 1..3 acknowledged
    again = log.consumer("store")
    assert again.acked == 3
    records = again.fetch(100, 2.0)
    assert [r.sequence for r in records] == list(range(4, 11))  # unacknowledged: delivered again, once
    again.ack(10)
    assert again.fetch(100, 0.3) == []
    again.close()
    third = log.consumer("store")
    assert third.acked == 10
    assert third.fetch(100, 0.3) == []
    third.close()


def test_ack_of_an_undelivered_record_is_refused(open_events: LogFactory) -> None:
    log = open_events()
    log.append_many(_events(3))
    consumer = log.consumer("c")
    consumer.fetch(1, 1.0)
    with pytest.raises(EventLogError, match="ack of 3"):
        consumer.ack(3)
    consumer.close()


def test_consumers_keep_independent_positions(open_events: LogFactory) -> None:
    log = open_events()
    log.append_many(_events(6))
    a, b = log.consumer("metrics"), log.consumer("store")
    a.ack(a.fetch(6, 1.0)[-1].sequence)
    b.ack(b.fetch(2, 1.0)[-1].sequence)
    assert (a.acked, b.acked) == (6, 2)
    assert [r.sequence for r in b.fetch(10, 1.0)] == [3, 4, 5, 6]
    a.close()
    b.close()


def test_a_waiting_consumer_wakes_up_for_a_new_record(open_events: LogFactory) -> None:
    log = open_events()
    consumer = log.consumer("live")
    assert consumer.fetch(10, 0.2) == []
    timer = threading.Timer(0.3, lambda: log.append({"event": "late"}))
    timer.start()
    started = time.monotonic()
    records = consumer.fetch(10, 5.0)
    assert [r.kind for r in records] == ["late"]
    assert time.monotonic() - started < 4.0
    timer.join()
    consumer.close()


def test_a_second_reader_sees_what_the_writer_appends(open_events: LogFactory) -> None:
    writer = open_events()
    reader = open_events()
    writer.append_many(_events(3))
    assert reader.last_sequence() == 3
    writer.append({"event": "more"})
    assert [r.kind for r in reader.read(3)] == ["plan", "more"]


CONSUME = """
import sys, time
from registry.events.log import open_log
log = open_log(sys.argv[1], scope="unused", source="child")
consumer = log.consumer("killed")
while True:
    for record in consumer.fetch(7, 1.0):
        print("delivered", record.sequence, flush=True)
        time.sleep(0.002)
        if record.sequence % 5 == 0:
            consumer.ack(record.sequence)
            print("acked", record.sequence, flush=True)
"""


def test_consumer_killed_mid_run_loses_nothing_and_repeats_nothing_acked(
    open_events: LogFactory, log_url: str
) -> None:
    log = open_events()
    total = 400
    log.append_many(_events(total))
    child = subprocess.Popen(
        [sys.executable, "-c", CONSUME, log_url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    delivered: list[int] = []
    acked = 0
    assert child.stdout is not None
    for line in child.stdout:
        what, seq = line.split()
        if what == "delivered":
            delivered.append(int(seq))
        else:
            acked = int(seq)
        if acked >= 100 and len(delivered) % 7 == 3:  # mid-batch, with deliveries not acknowledged
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=30)
    assert 0 < acked < total
    restarted = log.consumer("killed")
    durable = restarted.acked
    assert durable >= acked  # nothing acknowledged is forgotten
    rest: list[int] = []
    while batch := restarted.fetch(100, 1.0):
        rest.extend(r.sequence for r in batch)
        restarted.ack(batch[-1].sequence)
    restarted.close()
    assert rest == list(range(durable + 1, total + 1))  # no acknowledged record comes again
    assert set(delivered) | set(rest) == set(range(1, total + 1))  # and none is lost


def test_writer_and_consumer_positions_survive_a_crash_of_the_writer(log_url: str, backend: str) -> None:
    """A writer process killed right after appends returned: every returned sequence is readable."""
    code = (
        "import sys, os\n"
        "from registry.events.log import open_log\n"
        "log = open_log(sys.argv[1], scope='unused', source='child')\n"
        "for i in range(20):\n"
        "    seqs = log.append_many([{'event': 'e', 'i': i * 10 + k} for k in range(10)])\n"
        "    print(seqs[-1], flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, log_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL
    last = int(done.stdout.split()[-1])
    from registry.events.log import open_log

    log = open_log(log_url, scope="unused", source="test")
    try:
        records = list(log.read(1))
        assert len(records) == last == 200
        assert [r.event["i"] for r in records] == list(range(200))
        assert log.append({"event": "next"}) == 201
    finally:
        log.close()


def test_embedded_log_repairs_a_torn_last_line(tmp_path: Path) -> None:
    from registry.events.embedded import EmbeddedLog

    path = tmp_path / "events.jsonl"
    log = EmbeddedLog(path)
    log.append_many(_events(3))
    log.close()
    with path.open("ab") as f:
        f.write(b'{"seq":4,"ts":1,"source":"x","ev')  # a crash mid-write
    reader = EmbeddedLog(path)
    assert reader.last_sequence() == 3  # an incomplete line is not a record
    writer = EmbeddedLog(path)
    assert writer.append({"event": "after"}) == 4
    assert [json.loads(line)["seq"] for line in path.read_text().splitlines()] == [1, 2, 3, 4]
    writer.close()


def test_embedded_log_has_one_writer_at_a_time(tmp_path: Path) -> None:
    from registry.events.embedded import EmbeddedLog

    path = tmp_path / "events.jsonl"
    first, second = EmbeddedLog(path), EmbeddedLog(path)
    first.append({"event": "a"})
    with pytest.raises(EventLogError, match="writer"):
        second.append({"event": "b"})
    first.close()
    assert second.append({"event": "b"}) == 2
    second.close()


def test_embedded_consumer_name_is_held_by_one_live_consumer(tmp_path: Path) -> None:
    from registry.events.embedded import EmbeddedLog

    log = EmbeddedLog(tmp_path / "events.jsonl")
    consumer = log.consumer("store")
    with pytest.raises(EventLogError, match="already held"):
        log.consumer("store")
    consumer.close()
    log.consumer("store").close()
    log.close()
