"""Event log: appends per second, embedded file vs NATS JetStream, side by side.

For each backend:

- ``batched``: what the agent does: events go through the ``BackgroundAppender`` (bounded queue, one drain
  thread), which hands the log whatever queued up as one batch: one fsync (embedded) or one round of async
  publishes and acks (JetStream) per batch. Timed from the first submit until every event is durable.
- ``one_by_one``: the naive baseline: each ``append`` waits for its own fsync or PubAck.
- ``submit``: the hot-path cost an order pays, the latency of one ``submit`` call (p50/p99, microseconds).
- ``consume``: a durable consumer reading the whole log back with cumulative acks per batch.

The events are real agent ``execution`` events (about 600 bytes of JSON each). JetStream figures need the
server on 127.0.0.1:4222 (with ``-js``); without it they are reported as missing.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.common import percentile, print_table, write_results
from registry.events.appender import BackgroundAppender
from registry.events.log import EventLog

NATS = "nats://127.0.0.1:4222"
BATCHED = 50_000
ONE_BY_ONE = 1_000
EVENT: dict[str, object] = {
    "event": "execution",
    "venue": "order_book-0000",
    "session": "bench-1700000000000-1",
    "sequence": 1,
    "status": "FILLED",
    "predicted_pnl": "-640.51234567",
    "realised_pnl": "-640.49876543",
    "pnl_vs_plan": "0.01358024",
    "fees": "0.12810247",
    "risk_gates": [],
    "fills": [
        {
            "instrument": "BTC-USD",
            "side": "BUY",
            "price": "64049.87654321",
            "size": "0.01",
            "fee": "0.12810247",
            "client_order_id": "arb-0123456789abcdef0123456789abcdef",
        }
    ],
    "tick_ns": 1_000_000_000,
    "plan_ns": 1_000_500_000,
    "orders_ns": 1_000_700_000,
}


def _measure(open_log: Callable[[], EventLog]) -> dict[str, float]:
    out: dict[str, float] = {}
    log = open_log()
    try:
        log.append_many([EVENT] * 10)  # warm-up: connection, stream, file
        submit_us: list[float] = []
        appender = BackgroundAppender(log, capacity=BATCHED + 1, batch=1024)
        started = time.perf_counter()
        for i in range(BATCHED):
            t0 = time.perf_counter()
            appender.submit({**EVENT, "sequence": i})
            submit_us.append((time.perf_counter() - t0) * 1e6)
        appender.close(timeout=300)
        elapsed = time.perf_counter() - started
        assert appender.stats.dropped == 0, appender.stats
        out["batched_appends_per_s"] = BATCHED / elapsed
        out["submit_p50_us"] = percentile(submit_us, 50)
        out["submit_p99_us"] = percentile(submit_us, 99)
        started = time.perf_counter()
        for i in range(ONE_BY_ONE):
            log.append({**EVENT, "sequence": i})
        out["one_by_one_appends_per_s"] = ONE_BY_ONE / (time.perf_counter() - started)
        total = log.last_sequence()
        consumer = log.consumer("bench")
        started = time.perf_counter()
        read = 0
        while read < total:
            records = consumer.fetch(1024, 2.0)
            if not records:
                break
            read += len(records)
            consumer.ack(records[-1].sequence)
        out["consume_records_per_s"] = read / (time.perf_counter() - started)
        consumer.close()
    finally:
        delete = getattr(log, "delete", None)
        if delete is not None:
            delete()
        log.close()
    return out


def main() -> dict[str, object]:
    from registry.events.embedded import EmbeddedLog
    from registry.events.jetstream import JetStreamLog, reachable

    metrics: dict[str, object] = {"events_batched": BATCHED, "events_one_by_one": ONE_BY_ONE}
    with tempfile.TemporaryDirectory() as tmp:
        embedded = _measure(lambda: EmbeddedLog(Path(tmp) / "events.jsonl", source="bench"))
    metrics.update({f"embedded_{k}": v for k, v in embedded.items()})
    jetstream: dict[str, float] = {}
    if reachable(NATS):
        scope = f"bench-{uuid.uuid4().hex[:8]}"
        jetstream = _measure(lambda: JetStreamLog(NATS, scope=scope, source="bench"))
        metrics.update({f"jetstream_{k}": v for k, v in jetstream.items()})
        metrics["embedded_over_jetstream_batched_ratio"] = (
            embedded["batched_appends_per_s"] / jetstream["batched_appends_per_s"]
        )
    else:
        metrics["jetstream_missing"] = f"NATS not reachable on {NATS}"
    for name, figures in (("embedded", embedded), ("jetstream", jetstream)):
        if figures:
            metrics[f"{name}_batched_over_one_by_one_ratio"] = (
                figures["batched_appends_per_s"] / figures["one_by_one_appends_per_s"]
            )
    keys = ["batched_appends_per_s", "one_by_one_appends_per_s", "submit_p50_us", "submit_p99_us"]
    keys.append("consume_records_per_s")
    print_table(
        "Event log appends (execution events, ~600 B JSON; durable = fsync / JetStream PubAck)",
        ["metric", "embedded", "jetstream"],
        [[k, embedded[k], jetstream.get(k, "n/a")] for k in keys],
    )
    write_results("events", metrics)
    return metrics


if __name__ == "__main__":
    main()
