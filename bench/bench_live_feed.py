"""Live feed path: messages per second from a websocket at full speed through the agent's whole path,
side by side with bare cryptofeed on the same messages over the same kind of connection.

Input: each venue's real recording played over and over until at least ``MIN_MESSAGES`` messages, rewritten
so a correct client sees no gap (``bench.streams``: Binance update ids and Bitstamp microtimestamps carried
on, Kraken checksums kept valid, Coinbase Advanced Trade ``l2_data`` built from the legacy recording with its
``sequence_num``). A fake venue (``bench.firehose``, its own process) sends the frames, encoded beforehand, as
fast as the client's socket takes them.

Ours = the agent's live path as the agent composes it (``agents.market.live.LiveMarket``: its feed thread
runs the websocket client, the venue's session with cryptofeed's parser, our normalized books and checks
(sequence chains, checksums, crossed books, void-on-unreadable) and one curve cache per instrument marked on
every event; the main thread plays the planner and pulls every curve every 10 ms). Bare = the same websocket
client loop handing each message to the unmodified cryptofeed exchange class with no-op callbacks (its own
Decimal book; Kraken with its checksum validation). Both rates are messages over the wall time from the
first message's arrival to the end of the last one's handling, taken the same way (a wrapper around the
message handler), with ours and bare alternating round by round against the same server. A run of ours
that reports any feed error or resync over the stream is a failed measurement (the stream would be unfair).
"Socket only" is the websocket client receiving the stream and doing nothing else: the ceiling both share.
"CPU overhead" compares messages per CPU second of the handling thread (``time.thread_time``) instead of
per wall second: on a shared machine it moves far less from run to run; "meets" is judged on wall time.

REST answers (instrument lists, depth snapshots) come from the recording for both; bare Bitstamp gets its
snapshots installed before its timer (cryptofeed sleeps 5 s before fetching them), ours fetches them inside
it. Coinbase: cryptofeed 2.4.1's own subscribe signs with a legacy API key, so bare Coinbase skips it (it only
resets the books), and its snapshot reads asks spelt ``"ask"`` only, so its books hold no asks until updates
add them (the live venue spells them ``"offer"``, as the stream does).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import websockets

from agents.feeds.session import RecordedRest
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession, ReplayConnection
from agents.market.live import CurveRules, LiveMarket
from agents.venues import venue_spec
from bench import streams
from bench.common import print_table, write_results
from sdk.curves.order_book import DEFAULT_BOOK_USAGE

VENUES = ("coinbase", "gemini", "bitstamp", "kraken", "binance")
MIN_MESSAGES = int(os.environ.get("ARBSPHERE_BENCH_LIVE_MESSAGES", "60000"))
ROUNDS = int(os.environ.get("ARBSPHERE_BENCH_LIVE_ROUNDS", "5"))
PULL_S = 0.010
RUN_TIMEOUT_S = 120.0
TARGET_MSGS_PER_S = 20_000
TARGET_OVERHEAD_PCT = 25.0


@dataclass
class Run:
    """One measured run: messages handled between the first arrival and the end of the last handling."""

    messages: int = 0
    first: float = 0.0
    last: float = 0.0
    cpu_first: float = 0.0
    cpu_last: float = 0.0
    """CPU time of the handling thread (``time.thread_time``) at the same two moments."""
    errors: int = 0
    detail: str = ""
    checksums: int = 0
    """Venue checksums our maintainer verified over the run (Kraken: one per update)."""

    @property
    def rate(self) -> float:
        return self.messages / (self.last - self.first)

    @property
    def cpu_rate(self) -> float:
        """Messages per CPU second of the handling thread: what the rate would be on an idle core."""
        return self.messages / (self.cpu_last - self.cpu_first)


def _firehose(venue: str, messages: tuple[str, ...]) -> tuple[subprocess.Popen[bytes], str]:
    folder = Path(tempfile.mkdtemp())
    stream_file = folder / "stream.txt"
    stream_file.write_text("\n".join(messages) + "\n")
    port_file = folder / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.firehose", venue, str(port_file), "--stream", str(stream_file)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    deadline = time.monotonic() + 60
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"firehose for {venue} did not start")
        time.sleep(0.05)
    port, count = port_file.read_text().split()
    if int(count) != len(messages):
        raise RuntimeError(f"firehose for {venue} loaded {count} messages, expected {len(messages)}")
    return proc, f"ws://127.0.0.1:{port}"


Handler = Callable[..., Awaitable[Any]]


def _timed(inner: Handler, run: Run, expected: int, done: Callable[[], None]) -> Handler:
    """``inner`` with the run's clock around it (the same wrapper for ours and bare)."""

    async def timed(*args: Any) -> Any:
        if not run.first:
            run.first = time.perf_counter()
            run.cpu_first = time.thread_time()
        result = await inner(*args)
        run.messages += 1
        if run.messages == expected:
            run.last = time.perf_counter()
            run.cpu_last = time.thread_time()
            done()
        return result

    return timed


def _ours(stream: streams.VenueStream, base: str) -> Run:
    run = Run()
    finished = threading.Event()
    spec = venue_spec(stream.venue)
    parent = spec.feed_session
    timed = _timed(parent.on_message_async, run, len(stream.messages), finished.set)
    counted = type(f"Timed{parent.__name__}", (parent,), {"on_message_async": timed})
    rules = [
        CurveRules(f"asset{i}", symbol, 10.0, DEFAULT_BOOK_USAGE, 0.0, 0.0)
        for i, symbol in enumerate(stream.symbols)
    ]
    market = LiveMarket(
        dataclasses.replace(spec, feed_session=cast(type[CryptofeedSession], counted)),
        rules,
        ws_base=base,
        stale_after_s=60.0,
        rest=RecordedRest(stream.rest),
    )
    market.start()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while not finished.wait(PULL_S):  # the planner: every curve, every 10 ms
            market.refresh()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{stream.venue}: {run.messages} of {len(stream.messages)} messages")
        run.errors = len(market.errors) + market.resyncs
        run.detail = market.errors[0] if market.errors else ""
        if market.session is not None:
            run.checksums = market.session.maintainer.checksums_verified
    finally:
        market.close()
    return run


def _install_bitstamp_snapshots(feed: Any, rest: tuple[tuple[str, str], ...]) -> None:
    """What cryptofeed's Bitstamp subscribe does after a 5 s sleep: install the REST snapshots."""
    from cryptofeed.types import OrderBook

    feed.last_update_id = {}
    for url, body in rest:
        if "/order_book/" not in url:
            continue
        data = json.loads(body, parse_float=Decimal)
        sym = feed.exchange_symbol_to_std_symbol(url.rstrip("/").rsplit("/", 1)[-1])
        feed.last_update_id[sym] = data["timestamp"]
        feed._l2_book[sym] = OrderBook(
            feed.id,
            sym,
            bids={Decimal(p): Decimal(s) for p, s in data["bids"]},
            asks={Decimal(p): Decimal(s) for p, s in data["asks"]},
        )


async def _bare(stream: streams.VenueStream, base: str) -> Run:
    from cryptofeed.defines import L2_BOOK, TRADES
    from cryptofeed.exchanges import Binance, Bitstamp, Coinbase, Gemini, Kraken

    classes = {"kraken": Kraken, "binance": Binance, "gemini": Gemini, "bitstamp": Bitstamp}
    cls: Any = {**classes, "coinbase": Coinbase}[stream.venue]

    async def noop(*_args: Any) -> None:
        return None

    symbols = list(stream.symbols)
    feed = cls(
        subscription={L2_BOOK: symbols, TRADES: symbols},
        callbacks={L2_BOOK: noop, TRADES: noop},
        checksum_validation=stream.venue == "kraken",
    )
    feed.http_conn = RecordedRest(stream.rest)
    conns = feed.connect()
    if stream.venue == "bitstamp":
        _install_bitstamp_snapshots(feed, stream.rest)
    elif stream.venue != "coinbase":  # Coinbase's subscribe signs with an API key; its reset is a no-op here
        for conn, subscribe, _h, _a in conns:
            await subscribe(ReplayConnection(dict(conn.subscription)))
    run = Run()
    done = asyncio.Event()
    handler = _timed(conns[0][2], run, len(stream.messages), done.set)
    async with websockets.connect(base + "/", max_size=None) as socket:
        await socket.send("{}")
        async for message in socket:
            await handler(message, None, time.time())
            if done.is_set():
                break
    return run


async def _socket_only(expected: int, base: str) -> Run:
    run = Run()
    async with websockets.connect(base + "/", max_size=None) as socket:
        await socket.send("{}")
        async for _message in socket:
            if not run.first:
                run.first = time.perf_counter()
                run.cpu_first = time.thread_time()
            run.messages += 1
            if run.messages == expected:
                run.last = time.perf_counter()
                run.cpu_last = time.thread_time()
                break
    return run


def _median(runs: list[Run], cpu: bool = False) -> float | None:
    return statistics.median(r.cpu_rate if cpu else r.rate for r in runs) if runs else None


def main() -> dict[str, object]:
    if not streams.DATA.is_dir():
        print(f"bench_live_feed: recordings not found at {streams.DATA}; skipped")
        return {}
    metrics: dict[str, object] = {"min_messages": MIN_MESSAGES, "rounds": ROUNDS}
    rows = []
    for venue in VENUES:
        stream = streams.build(venue, MIN_MESSAGES)
        proc, base = _firehose(venue, stream.messages)
        ours_runs: list[Run] = []
        bare_runs: list[Run] = []
        error = ""
        try:
            ceiling = asyncio.run(_socket_only(len(stream.messages), base)).rate
            for _ in range(ROUNDS):  # interleaved: ours, bare, ours, bare...
                try:
                    run = _ours(stream, base)
                    if run.errors:
                        error = f"{run.errors} feed errors/resyncs: {run.detail}"[:120]
                    ours_runs.append(run)
                except Exception as exc:  # a venue whose live path fails is reported, not hidden
                    error = f"{type(exc).__name__}: {exc}"[:120]
                    break
                bare_runs.append(asyncio.run(_bare(stream, base)))
        finally:
            proc.kill()
            proc.wait()
        ours = _median(ours_runs) if not error else None
        bare = _median(bare_runs)
        overhead = (bare / ours - 1.0) * 100.0 if ours and bare else None
        ours_cpu = _median(ours_runs, cpu=True) if not error else None
        bare_cpu = _median(bare_runs, cpu=True)
        cpu_overhead = (bare_cpu / ours_cpu - 1.0) * 100.0 if ours_cpu and bare_cpu else None
        meets = ours is not None and ours >= TARGET_MSGS_PER_S and (overhead or 0.0) <= TARGET_OVERHEAD_PCT
        metrics |= {
            f"{venue}_ours_msgs_per_s": ours,
            f"{venue}_bare_cryptofeed_msgs_per_s": bare,
            f"{venue}_ours_over_bare_ratio": (ours / bare) if ours and bare else None,
            f"{venue}_overhead_pct": overhead,
            f"{venue}_ours_msgs_per_cpu_s": ours_cpu,
            f"{venue}_bare_cryptofeed_msgs_per_cpu_s": bare_cpu,
            f"{venue}_cpu_overhead_pct": cpu_overhead,
            f"{venue}_socket_only_msgs_per_s": ceiling,
            f"{venue}_ours_rounds_msgs_per_s": [r.rate for r in ours_runs],
            f"{venue}_bare_rounds_msgs_per_s": [r.rate for r in bare_runs],
            f"{venue}_messages": len(stream.messages),
            f"{venue}_recording_passes": stream.passes,
            f"{venue}_ours_feed_errors": sum(r.errors for r in ours_runs),
            f"{venue}_ours_checksums_verified": sum(r.checksums for r in ours_runs),
            f"{venue}_meets_target": meets,
        }
        if error:
            metrics[f"{venue}_error"] = error
        rows.append(
            (
                venue,
                f"{len(stream.messages)} ({stream.passes} x {stream.first_pass})",
                ours or error or "n/a",
                bare or "n/a",
                "n/a" if not (ours and bare) else f"{ours / bare:.2f}",
                "n/a" if overhead is None else f"{overhead:.1f}",
                "n/a" if cpu_overhead is None else f"{cpu_overhead:.1f}",
                ceiling,
                "yes" if meets else "no",
            )
        )
    print_table(
        f"live path over a loopback websocket at full speed (median of {ROUNDS} interleaved rounds; "
        f"target >= {TARGET_MSGS_PER_S} msg/s and <= {TARGET_OVERHEAD_PCT:.0f}% overhead)",
        (
            "venue",
            "messages (passes x recording)",
            "ours msg/s",
            "bare cryptofeed msg/s",
            "ours/bare",
            "overhead %",
            "CPU overhead %",
            "socket only msg/s",
            "meets",
        ),
        rows,
    )
    write_results("bench_live_feed", metrics)
    return metrics


if __name__ == "__main__":
    main()
