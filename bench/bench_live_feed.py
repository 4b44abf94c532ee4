"""Live feed path: messages per second from a websocket at full speed through the agent's whole path,
side by side with bare cryptofeed on the same messages over the same kind of connection.

A fake venue (``bench.firehose``, its own process) plays each venue's recorded messages over a real loopback
websocket as fast as the socket takes them. Ours = the agent's live path (``agents.feeds.live.LiveFeed``:
the websocket client, the venue's session with cryptofeed's parser, our normalized book and checks, the
curve cache marked on every event and pulled every 10 ms of wall time, as the planner does). Bare = the same
websocket client loop handing each message to the unmodified cryptofeed exchange class with no-op callbacks
(its own Decimal book; Kraken with its checksum validation). Rates are messages over the wall time from the
first message to the last one handled (the sender is never the bottleneck: it runs in its own process and
idles most of the time). REST snapshots come from the recording for both. Coinbase: its recording is the
legacy Pro feed, which cryptofeed 2.4.1 cannot parse, so it has no bare figure and no live path here.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import websockets

from agents.feeds.curve_cache import order_book_curves
from agents.feeds.live import LiveFeed
from agents.feeds.replay import LoadedRecording, load_recording
from agents.feeds.session import RecordedRest
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession, ReplayConnection
from bench.common import print_table, write_results
from sdk.adapters.events import FeedEvent

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "cryptofeed"
VENUES = ("kraken", "binance", "gemini", "bitstamp")
ROUNDS = 5
CURVE_TICK_S = 0.010
TARGET_MSGS_PER_S = 20_000
TARGET_OVERHEAD_PCT = 25.0


def _firehose(venue: str) -> tuple[subprocess.Popen[bytes], str, int]:
    port_file = Path(tempfile.mkdtemp()) / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.firehose", venue, str(port_file)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    deadline = time.monotonic() + 60
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"firehose for {venue} did not start")
        time.sleep(0.05)
    port, count = port_file.read_text().split()
    return proc, f"ws://127.0.0.1:{port}", int(count)


def _rest(loaded: LoadedRecording) -> RecordedRest:
    rest = RecordedRest(loaded.rest)
    for path in sorted(DATA.glob(f"{loaded.venue.upper()}.http.*")):
        for line in path.read_text().splitlines():
            if " -> " in line:
                url, _, body = line.partition(" -> ")
                rest.add(url, body.split(": ", 1)[1])
    return rest


async def _ours(loaded: LoadedRecording, base: str, expected: int) -> tuple[float, int, int]:
    source = loaded.open()
    session = source.session
    assert isinstance(session, CryptofeedSession)
    session.feed.http_conn = _rest(loaded)
    caches = [order_book_curves(session.book, taker_fee_bps=10.0) for _ in (0,)]
    cache = caches[0]
    stop = asyncio.Event()
    state = {"first": 0.0, "last": 0.0, "next_pull": 0.0}

    def on_events(events: Sequence[FeedEvent]) -> None:
        cache.observe(events)

    feed = LiveFeed(session, ws_base=base, on_events=on_events)
    original = session.on_message_async

    async def counted(text: str, receipt_ts: float) -> list[FeedEvent]:
        now = time.perf_counter()
        if not state["first"]:
            state["first"] = now
        if now >= state["next_pull"]:
            cache.refresh()
            state["next_pull"] = now + CURVE_TICK_S
        events = await original(text, receipt_ts)
        if session.messages >= expected:
            state["last"] = time.perf_counter()
            stop.set()
        return events

    session.on_message_async = counted  # type: ignore[method-assign]
    task = asyncio.ensure_future(feed.run(stop))
    await asyncio.wait_for(stop.wait(), timeout=120)
    await feed.drop()
    await asyncio.wait_for(task, timeout=10)
    cache.refresh()
    return state["last"] - state["first"], session.messages, cache.builds


async def _bare(loaded: LoadedRecording, base: str, expected: int) -> tuple[float, int, int]:
    from cryptofeed.defines import L2_BOOK, TRADES
    from cryptofeed.exchanges import Binance, Bitstamp, Gemini, Kraken
    from cryptofeed.types import OrderBook

    cls: Any = {"kraken": Kraken, "binance": Binance, "gemini": Gemini, "bitstamp": Bitstamp}[loaded.venue]

    async def noop(*_args: Any) -> None:
        return None

    symbols = list(loaded.symbols)
    feed = cls(
        subscription={L2_BOOK: symbols, TRADES: symbols},
        callbacks={L2_BOOK: noop, TRADES: noop},
        checksum_validation=loaded.venue == "kraken",
    )
    feed.http_conn = _rest(loaded)
    conns = feed.connect()
    handler = conns[0][2]
    if loaded.venue == "bitstamp":  # what its subscribe does after a 5 s sleep: install the REST snapshots
        feed.last_update_id = {}
        for path in sorted(DATA.glob("BITSTAMP.http.*")):
            for line in path.read_text().splitlines():
                if " -> " not in line:
                    continue
                url, _, body = line.partition(" -> ")
                data = json.loads(body.split(": ", 1)[1], parse_float=Decimal)
                sym = feed.exchange_symbol_to_std_symbol(url.rsplit("/", 1)[-1])
                feed.last_update_id[sym] = data["timestamp"]
                feed._l2_book[sym] = OrderBook(
                    feed.id,
                    sym,
                    bids={Decimal(p): Decimal(s) for p, s in data["bids"]},
                    asks={Decimal(p): Decimal(s) for p, s in data["asks"]},
                )
    else:
        for conn, subscribe, _h, _a in conns:
            await subscribe(ReplayConnection(dict(conn.subscription)))
    count = 0
    first = 0.0
    async with websockets.connect(base + "/", max_size=None) as socket:
        await socket.send("{}")
        async for message in socket:
            now = time.perf_counter()
            if not first:
                first = now
            await handler(message, None, time.time())
            count += 1
            if count >= expected:
                break
    return time.perf_counter() - first, count, 0


def main() -> dict[str, object]:
    if not DATA.is_dir():
        print(f"bench_live_feed: recordings not found at {DATA}; skipped")
        return {}
    metrics: dict[str, object] = {}
    rows = []
    for venue in VENUES:
        loaded = load_recording(venue, DATA)
        proc, base, expected = _firehose(venue)
        try:
            ours_rates: list[float] = []
            bare_rates: list[float] = []
            error = ""
            for _ in range(ROUNDS):  # interleaved: ours, bare, ours, bare...
                try:
                    seconds, count, _builds = asyncio.run(_ours(loaded, base, expected))
                    ours_rates.append(count / seconds)
                except Exception as exc:  # a venue whose live path fails is reported, not hidden
                    error = f"{type(exc).__name__}: {exc}"[:120]
                    break
                seconds, count, _ = asyncio.run(_bare(loaded, base, expected))
                bare_rates.append(count / seconds)
        finally:
            proc.kill()
        ours = statistics.median(ours_rates) if ours_rates else None
        bare = statistics.median(bare_rates) if bare_rates else None
        overhead = (bare / ours - 1.0) * 100.0 if ours and bare else None
        metrics[f"{venue}_ours_msgs_per_s"] = ours
        metrics[f"{venue}_bare_cryptofeed_msgs_per_s"] = bare
        metrics[f"{venue}_ours_over_bare_ratio"] = (ours / bare) if ours and bare else None
        metrics[f"{venue}_overhead_pct"] = overhead
        metrics[f"{venue}_messages"] = expected
        meets = (
            ours is not None
            and ours >= TARGET_MSGS_PER_S
            and (overhead is None or overhead <= TARGET_OVERHEAD_PCT)
        )
        metrics[f"{venue}_meets_target"] = meets
        rows.append(
            (
                venue,
                expected,
                ours or error or "n/a",
                bare or "n/a",
                "n/a" if not (ours and bare) else f"{ours / bare:.2f}",
                "n/a" if overhead is None else f"{overhead:.1f}",
                "yes" if meets else "no",
            )
        )
    print_table(
        f"live path over a loopback websocket at full speed (median of {ROUNDS} interleaved rounds; "
        f"target >= {TARGET_MSGS_PER_S} msg/s and <= {TARGET_OVERHEAD_PCT:.0f}% overhead)",
        ("venue", "messages", "ours msg/s", "bare cryptofeed msg/s", "ours/bare", "overhead %", "meets"),
        rows,
    )
    write_results("bench_live_feed", metrics)
    return metrics


if __name__ == "__main__":
    main()
