"""Feed ingest: recorded messages per second through the agent's whole path vs the bare library.

Ours = cryptofeed's parser + normalized book + checks (checksum, sequence, crossed) + cost-curve update
(top 20 levels per side -> ``sdk.curves.order_book.OrderBookCurve``) on every book event.
Bare = the unmodified cryptofeed exchange class on the same messages with a no-op callback (Kraken with its
own checksum validation on). Both drive the handler coroutine the same way (no event loop). Coinbase's
legacy feed has no cryptofeed 2.4.1 parser, so only our own parser's figure is shown there.
"""

from __future__ import annotations

import json
import statistics
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.feeds.book import L2Book
from agents.feeds.recording import LineKind
from agents.feeds.replay import open_recording, replay_events, start, step
from agents.feeds.session import RecordedRest
from agents.feeds.venues.cryptofeed_bridge import ReplayConnection, run_sync
from bench.common import print_table, write_results
from sdk.adapters.events import BookSnapshot, BookUpdate
from sdk.curves.order_book import OrderBookCurve

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "cryptofeed"
REPEATS = 5
CURVE_DEPTH = 20


def _ours(venue: str, with_curve: bool) -> tuple[float, int]:
    source = open_recording(venue, DATA)
    session = source.session
    records = source.records
    start(session)
    t0 = time.perf_counter()
    for record in records:
        for event in step(session, record):
            if with_curve and isinstance(event, BookSnapshot | BookUpdate):
                book = session.book(event.symbol)
                if book is not None:
                    asks, bids = book.curve_levels(CURVE_DEPTH)
                    if asks and bids:
                        OrderBookCurve(bids, asks, taker_fee_bps=10.0)
    return time.perf_counter() - t0, len(records)


def _bare(venue: str) -> tuple[float, int] | None:
    if venue == "coinbase":
        return None
    from cryptofeed.defines import L2_BOOK, TRADES
    from cryptofeed.exchanges import Binance, Bitstamp, Gemini, Kraken
    from cryptofeed.types import OrderBook

    cls: Any = {"kraken": Kraken, "binance": Binance, "gemini": Gemini, "bitstamp": Bitstamp}[venue]
    source = open_recording(venue, DATA)  # installs the symbol map; its records are the same messages

    async def noop(*_args: Any) -> None:
        return None

    symbols = source.symbols
    feed = cls(
        subscription={L2_BOOK: symbols, TRADES: symbols},
        callbacks={L2_BOOK: noop, TRADES: noop},
        checksum_validation=venue == "kraken",
    )
    rest = RecordedRest()
    for path in sorted(DATA.glob(f"{venue.upper()}.http.*")):
        for line in path.read_text().splitlines():
            if " -> " in line:
                url, _, rest_of = line.partition(" -> ")
                rest.add(url, rest_of.split(": ", 1)[1])
    feed.http_conn = rest
    conns = feed.connect()
    handler = conns[0][2]
    if venue == "bitstamp":  # what its subscribe does after a 5 s sleep: install the REST snapshots
        feed.last_update_id = {}
        for path in sorted(DATA.glob("BITSTAMP.http.*")):
            for line in path.read_text().splitlines():
                if " -> " not in line:
                    continue
                url, _, rest_of = line.partition(" -> ")
                data = json.loads(rest_of.split(": ", 1)[1], parse_float=Decimal)
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
            run_sync(subscribe(ReplayConnection(dict(conn.subscription))))
    records = [r for r in source.records if r.kind is LineKind.RECEIVED]
    t0 = time.perf_counter()
    for record in records:
        run_sync(handler(record.payload, None, record.ts))
    elapsed = time.perf_counter() - t0
    # our path also handles the REST lines in-stream for Bitstamp: count messages the same way
    return elapsed, len(records)


def _best(fn: Any, *args: Any) -> tuple[float, int]:
    runs = [fn(*args) for _ in range(REPEATS)]
    return min(r[0] for r in runs), runs[0][1]


def _book_structures() -> dict[str, float]:
    """Apply Kraken's recorded level changes to our bisect book vs sortedcontainers' SortedDict."""
    source = open_recording("kraken", DATA)
    events = [
        e for e in replay_events(source.session, source.records) if isinstance(e, BookSnapshot | BookUpdate)
    ]
    out: dict[str, float] = {}

    def ours() -> float:
        books: dict[str, L2Book] = {}
        t0 = time.perf_counter()
        for e in events:
            book = books.get(e.symbol)
            if book is None:
                book = books[e.symbol] = L2Book("k", e.symbol)
            if isinstance(e, BookSnapshot):
                book.apply_snapshot(e.bids, e.asks, 0.0)
            else:
                book.apply_update(e.bids, e.asks, 0.0)
                book.curve_levels(CURVE_DEPTH)
        return time.perf_counter() - t0

    out["book_bisect_us_per_event"] = min(ours() for _ in range(REPEATS)) / len(events) * 1e6
    try:
        from sortedcontainers import SortedDict
    except ImportError:  # pragma: no cover - only a dev dependency (hypothesis) brings it
        return out

    def sorted_containers() -> float:
        books: dict[str, tuple[Any, Any]] = {}
        t0 = time.perf_counter()
        for e in events:
            if isinstance(e, BookSnapshot):
                books[e.symbol] = (SortedDict({-p: s for p, s in e.bids}), SortedDict(dict(e.asks)))
                continue
            bids, asks = books[e.symbol]
            for p, s in e.bids:
                if s == 0:
                    bids.pop(-p, None)
                else:
                    bids[-p] = s
            for p, s in e.asks:
                if s == 0:
                    asks.pop(p, None)
                else:
                    asks[p] = s
            [(-k, bids[k]) for k in bids.islice(0, CURVE_DEPTH)]
            [(k, asks[k]) for k in asks.islice(0, CURVE_DEPTH)]
        return time.perf_counter() - t0

    out["book_sortedcontainers_us_per_event"] = (
        min(sorted_containers() for _ in range(REPEATS)) / len(events) * 1e6
    )
    return out


def main() -> dict[str, object]:
    metrics: dict[str, object] = {}
    rows = []
    for venue in ("kraken", "binance", "gemini", "bitstamp", "coinbase"):
        ours_t, ours_n = _best(_ours, venue, True)
        parse_t, _ = _best(_ours, venue, False)
        bare = _best(_bare, venue) if venue != "coinbase" else None
        ours_rate = ours_n / ours_t
        parse_rate = ours_n / parse_t
        metrics[f"{venue}_ours_msgs_per_s"] = round(ours_rate)
        metrics[f"{venue}_ours_no_curve_msgs_per_s"] = round(parse_rate)
        metrics[f"{venue}_messages"] = ours_n
        if bare is not None:
            bare_rate = bare[1] / bare[0]
            overhead = (bare_rate / ours_rate - 1.0) * 100.0
            overhead_no_curve = (bare_rate / parse_rate - 1.0) * 100.0
            metrics[f"{venue}_bare_cryptofeed_msgs_per_s"] = round(bare_rate)
            metrics[f"{venue}_overhead_pct"] = round(overhead, 1)
            metrics[f"{venue}_overhead_no_curve_pct"] = round(overhead_no_curve, 1)
            rows.append(
                [
                    venue,
                    ours_n,
                    round(ours_rate),
                    round(parse_rate),
                    round(bare_rate),
                    f"{overhead:.1f}%",
                    f"{overhead_no_curve:.1f}%",
                ]
            )
        else:
            rows.append([venue, ours_n, round(ours_rate), round(parse_rate), "n/a", "n/a", "n/a"])
    rates = [v for k, v in metrics.items() if k.endswith("_ours_msgs_per_s") and isinstance(v, int)]
    metrics["min_ours_msgs_per_s"] = min(rates)
    metrics["median_ours_msgs_per_s"] = round(statistics.median(rates))
    print_table(
        "Feed ingest, recorded messages/s (best of 5); overhead = time per message vs bare cryptofeed",
        ["venue", "msgs", "ours+curve", "ours no curve", "bare cryptofeed", "overhead", "overhead no curve"],
        rows,
    )
    structures = _book_structures()
    metrics.update({k: round(v, 3) for k, v in structures.items()})
    print_table(
        "Book structure, Kraken recorded events (apply + top-20 read)",
        ["structure", "us/event"],
        [[k, round(v, 3)] for k, v in structures.items()],
    )
    write_results("feeds", metrics)
    return metrics


if __name__ == "__main__":
    main()
