"""Long, protocol-correct venue streams built from the short real recordings (live-feed benchmark input).

The recordings under ``../shared/data/recordings/cryptofeed`` hold 265 to 9,900 messages per venue: replayed
once, startup and the initial snapshots dominate any rate measured on them. ``build(venue, minimum)`` plays a
recording again and again until at least ``minimum`` messages are queued, rewritten so that a correct client
never sees a gap, a stale update or a wrong checksum:

- pass 1 is the recording as it was received (Coinbase: the legacy Pro messages re-enveloped in the Advanced
  Trade ``l2_data`` / ``market_trades`` format, see ``advanced_trade``);
- every later pass starts with one *transition* update per symbol, the documented update message of the venue
  that turns the book as pass 1 left it back into the book pass 1 started from (absolute sizes, ``0``
  deletes), then plays pass 1's book updates again without their snapshots, numbered on from the previous
  pass: Binance ``U``/``u`` continue each symbol's chain, Bitstamp ``timestamp``/``microtimestamp`` move on by
  whole seconds, Coinbase ``sequence_num`` counts every message of the connection; Kraken's updates keep
  their recorded ``c`` (the book they are checked against is the same again) and each transition carries the
  CRC32 of the book it restores, computed here from the venue's texts (Kraken v1 guide), not by the code
  under test.
  Updates a venue's procedure drops in pass 1 (Binance updates already in the REST snapshot, Bitstamp diffs
  not after it) are not played again.

The reference books here follow each venue's documented rules independently of ``agents.feeds`` (Kraken's
depth-1000 books are truncated to their best 1000 levels, as a depth-limited subscription is). The benchmark
checks the result the other way round: ours must not report one error or resync over the whole stream, and
bare cryptofeed checks Kraken's checksums and Binance's update ids itself.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.feeds.recording import LineKind, Recording, rest_bodies
from agents.feeds.replay import load_recording
from agents.feeds.venues.coinbase import PRODUCTS_ADDRESS, CoinbaseSession
from tests.fakevenues.coinbase import advanced_trade

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "cryptofeed"
VENUES = ("coinbase", "gemini", "bitstamp", "kraken", "binance")

Level = tuple[str, str]
"""``(price text, size text)`` exactly as the venue spells them."""


@dataclass(frozen=True)
class VenueStream:
    """Messages to send on one connection, and the REST answers a client of the venue asks for."""

    venue: str
    symbols: tuple[str, ...]
    messages: tuple[str, ...]
    rest: tuple[tuple[str, str], ...]
    """``(url, body)``: instrument lists first, then depth snapshots (served once each, in this order)."""
    passes: int
    first_pass: int
    """Messages in pass 1 (the recording itself)."""


class RefBook:
    """A reference book of one symbol: ``Decimal(price) -> (price text, size text)`` per side."""

    def __init__(
        self, bids: Iterable[Level] = (), asks: Iterable[Level] = (), depth: int | None = None
    ) -> None:
        self.depth = depth
        self.bids: dict[Decimal, Level] = {}
        self.asks: dict[Decimal, Level] = {}
        for price, size in bids:
            self.set("bid", price, size)
        for price, size in asks:
            self.set("ask", price, size)
        self.truncate()

    def copy(self) -> RefBook:
        book = RefBook(depth=self.depth)
        book.bids = dict(self.bids)
        book.asks = dict(self.asks)
        return book

    def set(self, side: str, price: str, size: str) -> None:
        levels = self.bids if side == "bid" else self.asks
        key = Decimal(price)
        if Decimal(size) == 0:
            levels.pop(key, None)
        else:
            levels[key] = (price, size)

    def truncate(self) -> None:
        """Keep the best ``depth`` levels per side (what a depth-limited subscription shows)."""
        if self.depth is None:
            return
        for levels, best_first in ((self.bids, True), (self.asks, False)):
            if len(levels) > self.depth:
                for key in sorted(levels, reverse=best_first)[self.depth :]:
                    del levels[key]

    def best(self, side: str, n: int) -> list[Level]:
        levels = self.bids if side == "bid" else self.asks
        return [levels[k] for k in sorted(levels, reverse=side == "bid")[:n]]

    def changes_to(self, target: RefBook, zero: str) -> tuple[list[Level], list[Level]]:
        """The absolute-size changes ``(bids, asks)`` that turn this book into ``target``."""
        out: list[list[Level]] = []
        for mine, theirs in ((self.bids, target.bids), (self.asks, target.asks)):
            side = [(text, zero) for key, (text, _) in sorted(mine.items()) if key not in theirs]
            side += [
                level
                for key, level in sorted(theirs.items())
                if key not in mine or Decimal(mine[key][1]) != Decimal(level[1])
            ]
            out.append(side)
        return out[0], out[1]


def _received(venue: str) -> list[str]:
    loaded = load_recording(venue, DATA)  # also installs the recorded symbol map in cryptofeed
    return [r.payload for r in loaded.records if r.kind is LineKind.RECEIVED]


def _instrument_rest(venue: str) -> list[tuple[str, str]]:
    return rest_bodies(Recording.find(DATA, venue.upper()).venue_file)


def _snapshot_rest(venue: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path in Recording.find(DATA, venue.upper()).http_files:
        out.extend(rest_bodies(path))
    return out


def _dumps(message: object) -> str:
    return json.dumps(message, separators=(",", ":"))


def _repeat(first: Sequence[str], later: Callable[[int], list[str]], minimum: int) -> tuple[list[str], int]:
    """Pass 1, then ``later(k)`` for k = 2, 3, ... until at least ``minimum`` messages."""
    messages = list(first)
    passes = 1
    while len(messages) < minimum:
        passes += 1
        messages.extend(later(passes))
    return messages, passes


# --- Kraken (WebSocket v1, book-1000 with CRC32 checksums) -------------------------------------------------


def kraken_checksum(book: RefBook) -> int:
    """CRC32 over the 10 best asks then the 10 best bids, each price and volume text without ``.`` and
    leading zeros (Kraken's v1 guide), unsigned."""
    parts = [
        text.replace(".", "").lstrip("0")
        for side in ("ask", "bid")
        for level in book.best(side, 10)
        for text in level
    ]
    return zlib.crc32("".join(parts).encode("ascii")) & 0xFFFFFFFF


def _kraken(minimum: int) -> VenueStream:
    first = _received("kraken")
    start: dict[str, RefBook] = {}
    books: dict[str, RefBook] = {}
    channel: dict[str, tuple[Any, str]] = {}
    body: list[str] = []
    last_ts: dict[str, str] = {}
    for text in first:
        msg = json.loads(text)
        if isinstance(msg, list) and isinstance(msg[-2], str) and msg[-2].startswith("book"):
            pair, book_parts = msg[-1], msg[1:-2]
            if "as" in book_parts[0] or "bs" in book_parts[0]:
                asks = [(e[0], e[1]) for e in book_parts[0].get("as", [])]
                bids = [(e[0], e[1]) for e in book_parts[0].get("bs", [])]
                books[pair] = RefBook(bids, asks, depth=int(msg[-2].split("-")[1]))
                start[pair] = books[pair].copy()
                channel[pair] = (msg[0], msg[-2])
                continue  # snapshots are played once
            book = books[pair]
            for part in book_parts:
                for key, side in (("a", "ask"), ("b", "bid")):
                    for entry in part.get(key, []):
                        book.set(side, entry[0], entry[1])
                        last_ts[pair] = entry[2]
            book.truncate()
        body.append(text)

    # every later pass starts from the book pass 1 ended with: the same transitions each time
    transitions = []
    for pair, target in start.items():
        bids, asks = books[pair].changes_to(target, "0.00000000")
        if not bids and not asks:
            continue
        stamp = last_ts.get(pair, "0.000000")
        checksum = str(kraken_checksum(target))
        a = [[p, s, stamp] for p, s in asks]
        b = [[p, s, stamp] for p, s in bids]
        parts: list[dict[str, Any]]
        if a and b:  # both sides: two dicts, the checksum in the last (as the venue sends them)
            parts = [{"a": a}, {"b": b, "c": checksum}]
        else:
            parts = [{"a": a, "c": checksum} if a else {"b": b, "c": checksum}]
        channel_id, name = channel[pair]
        transitions.append(_dumps([channel_id, *parts, name, pair]))

    def later(_k: int) -> list[str]:
        return transitions + body

    messages, passes = _repeat(first, later, minimum)
    symbols = tuple(load_recording("kraken", DATA).symbols)
    return VenueStream(
        "kraken", symbols, tuple(messages), tuple(_instrument_rest("kraken")), passes, len(first)
    )


# --- Binance spot (combined diff-depth stream, U/u chained on the REST lastUpdateId) ----------------------


def _binance(minimum: int) -> VenueStream:
    first = _received("binance")
    snapshots = _snapshot_rest("binance")
    start: dict[str, RefBook] = {}
    anchor: dict[str, int] = {}
    for url, body_text in snapshots:
        data = json.loads(body_text)
        symbol = url.split("symbol=")[1].split("&")[0]
        anchor[symbol] = data["lastUpdateId"]
        start[symbol] = RefBook([tuple(e) for e in data["bids"]], [tuple(e) for e in data["asks"]])
    books = {s: b.copy() for s, b in start.items()}
    last_id = dict(anchor)
    last_event: dict[str, int] = {}
    stream_name: dict[str, str] = {}
    body: list[tuple[str, dict[str, Any] | None]] = []  # text, or the decoded depth update to renumber
    for text in first:
        msg = json.loads(text)
        data = msg["data"]
        if data.get("e") != "depthUpdate":
            body.append((text, None))
            continue
        symbol = data["s"]
        if data["u"] <= anchor[symbol]:
            continue  # already in the snapshot: dropped by the procedure, not played again
        if not data["U"] <= last_id[symbol] + 1 <= data["u"]:
            raise ValueError(f"binance recording: {symbol} update ids {data['U']}..{data['u']} leave a gap")
        last_id[symbol] = data["u"]
        for key, side in (("b", "bid"), ("a", "ask")):
            for price, size in data[key]:
                books[symbol].set(side, price, size)
        last_event[symbol] = data["E"]
        stream_name[symbol] = msg["stream"]
        body.append((text, msg))
    end = books
    emitted = dict(last_id)  # last u sent per symbol

    def later(_k: int) -> list[str]:
        out = []
        shift: dict[str, int] = {}
        for symbol, target in start.items():
            bids, asks = end[symbol].changes_to(target, "0.00000000")
            if not bids and not asks:
                continue
            n = emitted[symbol] + 1
            data: dict[str, Any] = {"e": "depthUpdate", "E": last_event[symbol], "s": symbol, "U": n, "u": n}
            data |= {"b": [list(x) for x in bids], "a": [list(x) for x in asks]}
            out.append(_dumps({"stream": stream_name[symbol], "data": data}))
            emitted[symbol] = n
        for symbol in start:
            shift[symbol] = emitted[symbol] + 1 - (anchor[symbol] + 1)
        for text, msg in body:
            if msg is None:
                out.append(text)
                continue
            data = dict(msg["data"])
            symbol = data["s"]
            data["U"] = max(data["U"], anchor[symbol] + 1) + shift[symbol]
            data["u"] = data["u"] + shift[symbol]
            emitted[symbol] = data["u"]
            out.append(_dumps({"stream": msg["stream"], "data": data}))
        return out

    messages, passes = _repeat(first, later, minimum)
    symbols = tuple(load_recording("binance", DATA).symbols)
    rest = (*_instrument_rest("binance"), *snapshots)
    return VenueStream("binance", symbols, tuple(messages), rest, passes, len(first))


# --- Bitstamp (diff_order_book, synchronised on REST snapshots by microtimestamp) -------------------------


def _bitstamp(minimum: int) -> VenueStream:
    first = _received("bitstamp")
    snapshots = _snapshot_rest("bitstamp")
    start: dict[str, RefBook] = {}
    gate: dict[str, int] = {}
    for url, body_text in snapshots:
        data = json.loads(body_text)
        pair = url.rstrip("/").rsplit("/", 1)[-1]
        gate[pair] = int(data["microtimestamp"])
        start[pair] = RefBook([tuple(e) for e in data["bids"]], [tuple(e) for e in data["asks"]])
    books = {p: b.copy() for p, b in start.items()}
    first_micro: dict[str, int] = {}
    last_micro: dict[str, int] = {}
    body: list[tuple[str, dict[str, Any] | None]] = []
    for text in first:
        msg = json.loads(text)
        channel = msg.get("channel", "")
        if msg.get("event") != "data" or not channel.startswith("diff_order_book_"):
            body.append((text, None))
            continue
        pair = channel[len("diff_order_book_") :]
        micro = int(msg["data"]["microtimestamp"])
        if micro <= gate[pair]:
            continue  # not after the snapshot: dropped by the procedure, not played again
        first_micro.setdefault(pair, micro)
        last_micro[pair] = micro
        for key, side in (("bids", "bid"), ("asks", "ask")):
            for price, size in msg["data"][key]:
                books[pair].set(side, price, size)
        body.append((text, msg))
    end = books
    span_s = math.ceil(max(last_micro[p] - first_micro[p] for p in last_micro) / 1e6) + 2
    emitted = dict(last_micro)

    def later(k: int) -> list[str]:
        out = []
        for pair, target in start.items():
            bids, asks = end[pair].changes_to(target, "0.00000000")
            if not bids and not asks:
                continue
            micro = emitted.get(pair, gate[pair]) + 1
            data: dict[str, Any] = {"timestamp": str(micro // 1_000_000), "microtimestamp": str(micro)}
            data |= {"bids": [list(x) for x in bids], "asks": [list(x) for x in asks]}
            out.append(_dumps({"data": data, "channel": f"diff_order_book_{pair}", "event": "data"}))
            emitted[pair] = micro
        offset = (k - 1) * span_s
        for text, msg in body:
            if msg is None:
                out.append(text)
                continue
            data = dict(msg["data"])
            data["timestamp"] = str(int(data["timestamp"]) + offset)
            data["microtimestamp"] = str(int(data["microtimestamp"]) + offset * 1_000_000)
            emitted[msg["channel"][len("diff_order_book_") :]] = int(data["microtimestamp"])
            out.append(_dumps({**msg, "data": data}))
        return out

    messages, passes = _repeat(first, later, minimum)
    symbols = tuple(load_recording("bitstamp", DATA).symbols)
    rest = (*_instrument_rest("bitstamp"), *snapshots)
    return VenueStream("bitstamp", symbols, tuple(messages), rest, passes, len(first))


# --- Gemini v2 (l2_updates; the first per symbol is the full book) ---------------------------------------


def _gemini(minimum: int) -> VenueStream:
    first = _received("gemini")
    start: dict[str, RefBook] = {}
    books: dict[str, RefBook] = {}
    body: list[str] = []
    for text in first:
        msg = json.loads(text)
        if msg.get("type") != "l2_updates":
            body.append(text)
            continue
        symbol = msg["symbol"]
        changes = msg["changes"]
        if "trades" in msg:  # the full book: played once
            bids = [(p, q) for s, p, q in changes if s == "buy"]
            asks = [(p, q) for s, p, q in changes if s == "sell"]
            books[symbol] = RefBook(bids, asks)
            start[symbol] = books[symbol].copy()
            continue
        for side, price, size in changes:
            books[symbol].set("bid" if side == "buy" else "ask", price, size)
        body.append(text)
    end = books

    def later(_k: int) -> list[str]:
        out = []
        for symbol, target in start.items():
            bids, asks = end[symbol].changes_to(target, "0")
            if not bids and not asks:
                continue
            changes = [["buy", p, q] for p, q in bids] + [["sell", p, q] for p, q in asks]
            out.append(_dumps({"type": "l2_updates", "symbol": symbol, "changes": changes}))
        return out + body

    messages, passes = _repeat(first, later, minimum)
    symbols = tuple(load_recording("gemini", DATA).symbols)
    return VenueStream(
        "gemini", symbols, tuple(messages), tuple(_instrument_rest("gemini")), passes, len(first)
    )


# --- Coinbase Advanced Trade (level2 as l2_data, market_trades; sequence_num per connection) --------------


def coinbase_products(symbols: Iterable[str]) -> str:
    """A public products answer (``PRODUCTS_ADDRESS``) listing ``symbols`` as spot products."""
    products = [
        {
            "product_id": s,
            "base_currency_id": s.split("-")[0],
            "quote_currency_id": s.split("-")[1],
            "quote_increment": "0.00000001",
            "product_type": "SPOT",
        }
        for s in symbols
    ]
    return _dumps({"products": products})


def _coinbase(minimum: int) -> VenueStream:
    legacy = load_recording("coinbase", DATA)
    symbols = tuple(legacy.symbols)
    products = coinbase_products(symbols)
    CoinbaseSession.load_symbols([products])
    payloads = [r.payload for r in legacy.records if r.kind is LineKind.RECEIVED]
    events = list(advanced_trade(payloads))
    start: dict[str, RefBook] = {}
    books: dict[str, RefBook] = {}
    stamp = "2021-04-17T00:00:00.000000Z"
    for channel, event in events:
        if channel != "l2_data":
            continue
        product = event["product_id"]
        levels = [(u["side"], u["price_level"], u["new_quantity"]) for u in event["updates"]]
        if event["type"] == "snapshot":
            books[product] = RefBook(
                [(p, q) for s, p, q in levels if s == "bid"], [(p, q) for s, p, q in levels if s != "bid"]
            )
            start[product] = books[product].copy()
        else:
            for side, price, size in levels:
                books[product].set("bid" if side == "bid" else "ask", price, size)
            stamp = event["updates"][0]["event_time"] if event["updates"] else stamp
    sequence = 0

    def envelope(channel: str, event: dict[str, Any], time: str) -> str:
        nonlocal sequence
        message = {"channel": channel, "client_id": "", "timestamp": time, "sequence_num": sequence}
        sequence += 1
        return _dumps({**message, "events": [event]})

    def event_time(event: dict[str, Any]) -> str:
        if event.get("updates"):
            return str(event["updates"][0]["event_time"])
        if event.get("trades"):
            return str(event["trades"][0]["time"])
        return stamp

    first = [envelope(c, e, event_time(e)) for c, e in events]

    def later(_k: int) -> list[str]:
        out = []
        for product, target in start.items():
            bids, asks = books[product].changes_to(target, "0")
            if not bids and not asks:
                continue
            updates = [
                {"side": side, "event_time": stamp, "price_level": p, "new_quantity": q}
                for side, levels in (("bid", bids), ("offer", asks))
                for p, q in levels
            ]
            out.append(
                envelope("l2_data", {"type": "update", "product_id": product, "updates": updates}, stamp)
            )
        out.extend(envelope(c, e, event_time(e)) for c, e in events if e["type"] != "snapshot")
        return out

    messages, passes = _repeat(first, later, minimum)
    rest = ((PRODUCTS_ADDRESS, products),)
    return VenueStream("coinbase", symbols, tuple(messages), rest, passes, len(first))


BUILDERS: dict[str, Callable[[int], VenueStream]] = {
    "binance": _binance,
    "bitstamp": _bitstamp,
    "coinbase": _coinbase,
    "gemini": _gemini,
    "kraken": _kraken,
}


def build(venue: str, minimum: int) -> VenueStream:
    """At least ``minimum`` messages of ``venue`` (see the module docstring); installs the venue's symbol map
    in cryptofeed as a side effect (as ``load_recording`` does)."""
    if venue not in BUILDERS:
        raise ValueError(f"venue must be one of {sorted(BUILDERS)}, got {venue!r}")
    return BUILDERS[venue](minimum)
