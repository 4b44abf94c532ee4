"""The cockpit on the hot path: tick-to-order with the event log, /metrics and the gateway on vs off.

The same region as ``bench_live_latency`` (coordinator and two live agents as CLI processes over mTLS, fake
Coinbase and Bitstamp venues on loopback), run alternately with the measured agent's cockpit off (no event
log at all) and on (embedded event log, ``/metrics`` served, HTTPS gateway up), ``PAIRS`` times each, in
one run. Reported: tick at the venue -> order at the venue (which includes the wait for the next
coordinator-driven session, so it is noisy), and commit -> orders sent (the agent's own execution path,
where the cockpit's event appends and metrics would land): p50 each, and the on/off ratio.
"""

from __future__ import annotations

import statistics

from bench.bench_live_latency import measure
from bench.common import print_table, write_results

VENUE = "coinbase"
PAIRS = 3
CYCLES = 20
KEYS = ("tick_to_order_p50_ms", "commit_to_order_sent_p50_ms", "session_start_to_commit_p50_ms")


def main() -> dict[str, object]:
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(PAIRS):
        for on in (False, True):
            runs[on].append(measure(VENUE, cockpit=on, cycles=CYCLES))
    metrics: dict[str, object] = {"venue": VENUE, "pairs": PAIRS, "cycles_per_run": CYCLES}
    rows = []
    for key in KEYS:
        off = statistics.median(r[key] for r in runs[False])
        on = statistics.median(r[key] for r in runs[True])
        metrics[f"cockpit_off_{key}"] = off
        metrics[f"cockpit_on_{key}"] = on
        metrics[f"cockpit_on_over_off_{key.removesuffix('_ms')}_ratio"] = on / off
        rows.append((key.removesuffix("_p50_ms"), off, on, f"{(on / off - 1) * 100:+.1f}%"))
    print_table(
        f"cockpit off vs on, one live agent on fake {VENUE}, {PAIRS} alternating runs of {CYCLES} cycles "
        "(median of the runs' p50)",
        ("path", "off p50 ms", "on p50 ms", "overhead"),
        rows,
    )
    write_results("cockpit", metrics)
    return metrics


if __name__ == "__main__":
    main()
