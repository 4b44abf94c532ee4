"""Agent memory under a full-rate live feed: resident set size over ten minutes, growth measured.

A firehose process (``bench.firehose --loop``) replays Kraken's recording (checksummed books, no sequence
numbers, so a replayed stream stays valid) again and again over one loopback websocket, as fast as the socket
takes it. This process runs the agent's live market (``agents.market.live.LiveMarket``: websocket, cryptofeed
parser, checked books, curve cache) and pulls every curve every 10 ms, as the planner does. RSS is sampled
every 5 s; the figure that matters is the growth between the end of the first minute (warm) and the end.
``ARBSPHERE_BENCH_MEMORY_S`` shortens the run (default 600 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agents.feeds.recording import Recording, rest_bodies
from agents.feeds.replay import load_recording
from agents.feeds.session import RecordedRest
from agents.market.live import CurveRules, LiveMarket
from agents.venues import venue_spec
from bench.common import print_table, write_results

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "cryptofeed"
DURATION_S = float(os.environ.get("ARBSPHERE_BENCH_MEMORY_S", "600"))
SAMPLE_S = 5.0
WARM_S = 60.0


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> dict[str, object]:
    if not DATA.is_dir():
        print(f"bench_live_memory: recordings not found at {DATA}; skipped")
        return {}
    loaded = load_recording("kraken", DATA)  # installs Kraken's recorded symbol map in cryptofeed
    port_file = Path(tempfile.mkdtemp()) / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.firehose", "kraken", str(port_file), "--loop"],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        spec = venue_spec("kraken")
        symbols = list(loaded.symbols)
        rules = [CurveRules(s.split("-")[0] + f"_{i}", s, 26.0, 0.3, 0.0, 0.0) for i, s in enumerate(symbols)]

        recording = Recording.find(DATA, "KRAKEN")
        rest = RecordedRest([*rest_bodies(recording.venue_file), *loaded.rest])  # instrument list, snapshots
        market = LiveMarket(spec, rules, ws_base=f"ws://127.0.0.1:{port}", stale_after_s=60.0, rest=rest)
        market.start()
        samples: list[tuple[float, float, int]] = []
        started = time.monotonic()
        next_sample = started
        pulls = 0
        while (now := time.monotonic()) - started < DURATION_S:
            market.refresh()
            pulls += 1
            if now >= next_sample:
                messages = market.session.messages if market.session is not None else 0
                samples.append((now - started, rss_mib(), messages))
                next_sample += SAMPLE_S
            time.sleep(0.010)
        messages = market.session.messages if market.session is not None else 0
        samples.append((time.monotonic() - started, rss_mib(), messages))
        market.close()
    finally:
        proc.kill()
    elapsed = samples[-1][0]
    warm = next((s for s in samples if s[0] >= min(WARM_S, DURATION_S / 6)), samples[0])
    end = samples[-1]
    rate = end[2] / elapsed if elapsed > 0 else 0.0
    metrics: dict[str, object] = {
        "duration_s": elapsed,
        "messages": end[2],
        "msgs_per_s": rate,
        "curve_pulls": pulls,
        "rss_start_mib": samples[0][1],
        "rss_warm_mib": warm[1],
        "rss_end_mib": end[1],
        "rss_growth_after_warm_mib": end[1] - warm[1],
        "rss_growth_after_warm_pct": (end[1] / warm[1] - 1.0) * 100.0,
        "rss_max_mib": max(s[1] for s in samples),
    }
    print_table(
        f"agent live market under a full-rate Kraken feed for {elapsed:.0f} s (RSS every {SAMPLE_S:g} s)",
        ("t s", "RSS MiB", "messages"),
        [(f"{t:.0f}", f"{r:.1f}", m) for t, r, m in samples[:: max(1, len(samples) // 12)]]
        + [(f"{end[0]:.0f}", f"{end[1]:.1f}", end[2])],
    )
    print(
        f"  growth after warm-up: {end[1] - warm[1]:+.1f} MiB "
        f"({metrics['rss_growth_after_warm_pct']:+.2f}%), "
        f"{rate:.0f} msg/s"
    )
    write_results("bench_live_memory", metrics)
    return metrics


if __name__ == "__main__":
    main()
