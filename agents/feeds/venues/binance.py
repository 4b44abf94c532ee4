"""Binance spot and USD-M futures diff-depth streams through cryptofeed, our update-id chain per symbol.

The two markets differ only in data: the chain rule (``agents.feeds.sequence``: spot chains ``U == previous
u + 1``, futures ``pu == previous u``, and they bridge the snapshot differently), the endpoints (cryptofeed's
``Binance`` and ``BinanceFutures``) and the ``bookTicker`` event (futures name it in ``e``, spot does not).

cryptofeed checks the chain too, but on a gap it silently clears every symbol's book. Here a gap voids only
the symbol concerned, is reported (``FeedError`` + ``Resync``), and the next message of that symbol fetches a
fresh REST snapshot through the session's REST source (live HTTP, or the recording's captured answers). A
snapshot that cannot be fetched is reported (``SNAPSHOT_UNAVAILABLE``) and retried at the symbol's next
message; the venue's ``serverShutdown`` notice makes the live feed reconnect before the server drops it.

Dispatch is our own and strict (cryptofeed's logs and skips an event it does not know, which for a mangled
``depthUpdate`` would leave a wrong book behind): a combined-stream message that is not a documented event
voids the books. cryptofeed parses trades, tickers and candles; depth updates and REST snapshots go from the
decoded message straight into our book, fetched at the address cryptofeed would use.
cryptofeed's own Decimal book would only duplicate ours: building it from a 1000-level REST snapshot costs
about a millisecond (two ``Decimal`` per level), as much as fifty depth updates.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from cryptofeed.defines import L2_BOOK
from cryptofeed.exchanges import Binance, BinanceFutures
from yapic import json as yjson  # type: ignore[import-untyped]

from agents.feeds.sequence import SPOT_CHAIN, USDM_FUTURES_CHAIN, ChainRule, UpdateIdChain, Verdict
from agents.feeds.session import SnapshotUnavailable
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.feeds.venues.guard import MessageRefused, check_message, decimal_hook, integer, levels
from sdk.adapters.events import FeedErrorKind, Funding, Level

SNAPSHOT_DEPTH = 1000
"""Levels asked of the REST depth endpoint (cryptofeed's default for an unlimited book)."""

Depth = tuple[str, int, int, int | None, list[Level], list[Level], float]
"""A read ``depthUpdate``: symbol, first and last update id, the previous event's last id (``pu``, futures
only), bids, asks, event time (s)."""

SHUTDOWN_STREAM = "!serverShutdown"
MAX_TIMESTAMP_MS = 10**14


class _BinanceFeed(Binance):  # type: ignore[misc]
    arb_session: BinanceSession
    ticker_event: ClassVar[str | None] = None
    """The ``e`` of a ``bookTicker`` message (spot sends none)."""

    async def message_handler(self, msg: str, conn: Any, timestamp: float) -> None:
        """Combined-stream messages ``{"stream": "<pair>@<channel>", "data": {...}}``, strictly."""
        envelope = yjson.loads(msg, parse_float=decimal_hook)
        if type(envelope) is not dict or type(envelope.get("stream")) is not str:
            raise MessageRefused(f"expected a combined-stream object with a 'stream' name: {msg[:120]}")
        data = envelope.get("data")
        if type(data) is not dict:
            raise MessageRefused(f"{envelope['stream'][:60]}: 'data' must be an object")
        stream: str = envelope["stream"]
        if stream == SHUTDOWN_STREAM:  # the server is about to go away: reconnect first
            self.arb_session.reconnect_requested = True
            return
        pair, _, channel = stream.partition("@")
        pair = pair.upper()
        kind = data.get("e")
        if kind == "depthUpdate":
            # cryptofeed's ``_book`` step, without its coroutine: a symbol with a chain is applied
            # synchronously; only one without awaits its REST snapshot (``on_depth``)
            if pair not in self.arb_session.depth_pairs:
                raise MessageRefused(f"depthUpdate for a pair not subscribed: {pair[:40]!r}")
            pending = self.arb_session.read_depth(data, pair)
            if pending is not None:
                await self.arb_session.complete_depth(pair, pending)
        elif kind == "aggTrade":
            await self._trade(data, timestamp)
        elif kind == "kline":
            await self._candle(data, timestamp)
        elif kind == self.ticker_event and channel == "bookTicker":
            await self._ticker(data, timestamp)
        elif kind == "markPriceUpdate" and isinstance(self.arb_session, BinanceFuturesSession):
            self.arb_session.on_mark_price(data, pair)
        else:
            raise MessageRefused(f"{stream[:60]}: event {str(kind)[:40]!r} is not one this session reads")

    def snapshot_address(self, pair: str) -> str:
        """The REST depth URL cryptofeed's ``_snapshot`` asks for ``pair`` (exchange symbol)."""
        depth = self.max_depth or SNAPSHOT_DEPTH
        if depth not in self.valid_depths:
            depth = next((d for d in self.valid_depths if d > depth), depth)
        route: str = self.rest_endpoints[0].route("l2book", self.sandbox)
        return route.format(pair, depth)


class _BinanceFuturesFeed(_BinanceFeed, BinanceFutures):  # type: ignore[misc]
    ticker_event: ClassVar[str | None] = "bookTicker"


class BinanceSession(CryptofeedSession):
    venue: ClassVar[str] = "binance"
    feed_class: ClassVar[Any] = _BinanceFeed
    chain_rule: ClassVar[ChainRule] = SPOT_CHAIN
    """How this market's depth events chain (``agents.feeds.sequence``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.chains: dict[str, UpdateIdChain] = {}
        self.gaps = 0
        self.stale = 0
        """Updates skipped as already contained in a fresh snapshot (the documented start of a chain)."""
        super().__init__(*args, **kwargs)
        self.depth_pairs = frozenset(self.feed.subscription.get(self.feed.websocket_channels[L2_BOOK], ()))
        """Exchange symbols of the depth subscription (fixed for the session's life)."""

    async def on_depth(self, msg: dict[str, Any], pair: str) -> None:
        """One decoded ``depthUpdate`` of ``pair`` (exchange symbol); a symbol without a chain first
        fetches its REST snapshot. Every value is read before the chain moves."""
        pending = self.read_depth(msg, pair)
        if pending is not None:
            await self.complete_depth(pair, pending)

    def read_depth(self, msg: dict[str, Any], pair: str) -> Depth | None:
        """``on_depth`` up to the snapshot: the update read in full and applied when its symbol has a
        chain (``None``), or returned for ``complete_depth`` when it has to fetch a snapshot first."""
        symbol = self.feed.exchange_symbol_to_std_symbol(pair)
        first_id, last_id = integer(msg["U"], "U"), integer(msg["u"], "u")
        previous_id = integer(msg["pu"], "pu") if self.chain_rule.links_previous_id else None
        bids, asks = levels(msg["b"], "b"), levels(msg["a"], "a")
        exchange_ts = integer(msg["E"], "E", high=MAX_TIMESTAMP_MS) / 1000.0
        depth = (symbol, first_id, last_id, previous_id, bids, asks, exchange_ts)
        if symbol not in self.chains:
            return depth
        self._apply_depth(depth)
        return None

    async def complete_depth(self, pair: str, depth: Depth) -> None:
        """Fetch the snapshot of ``depth``'s symbol, then apply ``depth`` behind it."""
        await self._install_snapshot(pair, depth[0])
        self._apply_depth(depth)

    def _apply_depth(self, depth: Depth) -> None:
        symbol, first_id, last_id, previous_id, bids, asks, exchange_ts = depth
        if self.skip_update(symbol, first_id, last_id, previous_id):
            return
        self.maintainer.update(symbol, bids, asks, self._now, exchange_ts=exchange_ts, sequence=last_id)

    async def _install_snapshot(self, pair: str, symbol: str) -> None:
        address = self.feed.snapshot_address(pair)
        try:
            text = await self.feed.http_conn.read(address)
        except SnapshotUnavailable:
            raise
        except Exception as exc:  # transport or HTTP status: no book yet, retried at the next message
            raise SnapshotUnavailable(
                f"{symbol}: depth snapshot failed: {type(exc).__name__}: {exc}"
            ) from exc
        body = json.loads(check_message(text), parse_float=decimal_hook)
        if type(body) is not dict:
            raise MessageRefused(f"{symbol}: depth snapshot must be a JSON object")
        last_id = integer(body["lastUpdateId"], "lastUpdateId")
        exchange_ts = integer(body["E"], "E", high=MAX_TIMESTAMP_MS) / 1000.0 if "E" in body else None
        live = self.maintainer.snapshot(
            symbol,
            levels(body["bids"], "bids"),
            levels(body["asks"], "asks"),
            self._now,
            exchange_ts=exchange_ts,
            sequence=last_id,
        )
        if live:
            self.chains[symbol] = UpdateIdChain(last_id, self.chain_rule)

    def skip_update(self, symbol: str, first_id: int, last_id: int, previous_id: int | None = None) -> bool:
        chain = self.chains.get(symbol)
        if chain is None:
            return True
        verdict = chain.accept(first_id, last_id, previous_id)
        if verdict is Verdict.APPLY:
            return False
        if verdict is Verdict.STALE:
            self.stale += 1
        if verdict is Verdict.GAP:
            self.gaps += 1
            self.maintainer.invalidate(
                symbol,
                FeedErrorKind.SEQUENCE_GAP,
                chain.gap_detail(first_id, last_id, previous_id),
                self._now,
            )
            self.chains.pop(symbol, None)
        return True

    def after_invalidate(self) -> None:
        for symbol in list(self.chains):
            if symbol not in self.maintainer.live:
                del self.chains[symbol]


class BinanceFuturesSession(BinanceSession):
    """Binance USD-M futures (``fstream``/``fapi``): the spot session with the futures chain rule
    (``pu == previous u``) and cryptofeed's ``BinanceFutures`` endpoints and symbols (``BTC-USDT-PERP``)."""

    venue: ClassVar[str] = "binance_futures"
    feed_class: ClassVar[Any] = _BinanceFuturesFeed
    chain_rule: ClassVar[ChainRule] = USDM_FUTURES_CHAIN
    funding_interval_s: ClassVar[float] = 8 * 3600.0
    """The stream does not carry the interval; 8 h is the default (``GET /fapi/v1/fundingInfo`` lists the
    symbols with another one)."""

    def on_mark_price(self, msg: dict[str, Any], pair: str) -> None:
        """``<pair>@markPrice@1s``: ``p`` mark, ``i`` index, ``r`` the rate settled at ``T`` (ms), ``E``."""
        if msg.get("s") != pair:
            raise MessageRefused(
                f"markPriceUpdate: s {str(msg.get('s'))[:40]!r} is not the stream's {pair!r}"
            )
        symbol = self.feed.exchange_symbol_to_std_symbol(pair)
        mark = _price(msg.get("p"), "p")
        rate = _price(msg.get("r"), "r", signed=True)
        next_ms = integer(msg.get("T"), "T", high=MAX_TIMESTAMP_MS)
        exchange_ts = integer(msg.get("E"), "E", high=MAX_TIMESTAMP_MS) / 1000.0
        self.maintainer.events.append(
            Funding(
                self.venue,
                symbol,
                rate,
                self._now,
                mark_price=mark,
                next_funding_ts=next_ms / 1000.0 if next_ms else None,
                interval_s=self.funding_interval_s,
                exchange_ts=exchange_ts,
            )
        )


def _price(value: object, field: str, *, signed: bool = False) -> float:
    """A decimal-string field (read as ``Decimal`` by the decoder) as a finite float, ``> 0`` unless
    ``signed``."""
    try:
        number = float(str(value))
    except ValueError:
        raise MessageRefused(f"{field}: expected a decimal string, got {str(value)[:40]!r}") from None
    if number - number != 0.0 or (not signed and number <= 0.0):
        raise MessageRefused(
            f"{field}: expected a finite{'' if signed else ' positive'} number, got {value!r}"
        )
    return number
