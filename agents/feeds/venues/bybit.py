"""Bybit v5 linear perpetuals (``wss://stream.bybit.com/v5/public/linear``) through cryptofeed's ``Bybit``.

Protocol facts (Bybit v5 docs, ``websocket/public/orderbook`` and ``websocket/public/ticker``;
bybit-exchange/docs at 072c197):

- ``orderbook.{depth}.{symbol}``: the first message after subscribing is a ``snapshot``, then ``delta``
  messages with absolute sizes (``"0"`` deletes the level). ``data.u`` is the update id, consecutive per
  topic ("normally continuous"); a new ``snapshot`` (``u == 1`` after a service restart) overwrites the book.
  ``data.seq`` is the cross sequence: increasing, not continuous. So a delta applies only when its ``u`` is
  the previous ``u + 1`` and its ``seq`` is larger; anything else is a missed message: the book is void and
  the live feed resubscribes (the stream has no REST snapshot in step with it; a fresh subscription starts
  with a snapshot). Levels past ``depth`` are dropped silently by the venue, so the book is cut at it.
- ``tickers.{symbol}``: a ``snapshot`` then ``delta`` messages carrying only the fields that changed. Linear
  perpetuals carry ``markPrice``, ``indexPrice``, ``fundingRate`` (per interval), ``nextFundingTime`` (ms),
  ``fundingIntervalHour`` and ``openInterest``; each merged state becomes a ``Funding`` event, which
  ``agents.perps.streams.FundingClock`` turns into settlements.

cryptofeed 2.4.1 covers the venue (its symbol map from ``/v5/market/instruments-info`` and its trade parser
are used here), but its book handler checks neither ``u`` nor ``seq`` and always subscribes 200 levels; its
dispatcher logs and skips what it does not know. Ours subscribes ``max_depth`` levels and the tickers,
and refuses anything undocumented (the books are voided, never guessed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from cryptofeed.defines import L2_BOOK, TRADES
from cryptofeed.exchanges import Bybit
from yapic import json as yjson  # type: ignore[import-untyped]

from agents.feeds.session import RestSource
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.feeds.venues.guard import MessageRefused, decimal_hook, integer, levels
from sdk.adapters.events import FeedErrorKind, Funding

LINEAR_INSTRUMENTS = "/v5/market/instruments-info?&category=linear&status=Trading&limit=1000"
MAX_TIMESTAMP_MS = 10**14
EIGHT_HOURS_S = 8 * 3600.0


@dataclass(slots=True)
class BookChain:
    """``u`` and ``seq`` of the last applied message of one book topic."""

    update_id: int
    seq: int

    def follows(self, update_id: int, seq: int) -> bool:
        return update_id == self.update_id + 1 and seq > self.seq


def _number(value: object, field: str) -> float:
    """A ticker field (a decimal string; ``""`` where the product has none) as a finite float."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and value:
        try:
            number = float(value)
        except ValueError:
            raise MessageRefused(f"{field}: expected a decimal string, got {value[:40]!r}") from None
    else:
        raise MessageRefused(f"{field}: expected a decimal string, got {str(value)[:40]!r}")
    if number - number != 0.0:
        raise MessageRefused(f"{field}: must be finite, got {value!r}")
    return number


class _BybitFeed(Bybit):  # type: ignore[misc]
    arb_session: BybitSession

    async def subscribe(self, conn: Any) -> None:
        """``orderbook.{max_depth}``, ``publicTrade`` and ``tickers`` (funding and mark) per symbol."""
        self.arb_session.reconnect_requested = False
        args: list[str] = []
        for channel, pairs in conn.subscription.items():
            for pair in sorted(pairs):
                if channel == self.websocket_channels[L2_BOOK]:
                    args += [f"orderbook.{self.arb_session.depth}.{pair}", f"tickers.{pair}"]
                elif channel == self.websocket_channels[TRADES]:
                    args.append(f"publicTrade.{pair}")
        await conn.write(json.dumps({"op": "subscribe", "args": args}))

    async def message_handler(self, msg: str, conn: Any, timestamp: float) -> None:
        data = yjson.loads(msg, parse_float=decimal_hook)
        if type(data) is not dict:
            raise MessageRefused(f"expected a JSON object, got {type(data).__name__}")
        if "success" in data:  # an operation's answer (subscribe, ping)
            if data["success"] is not True:
                raise MessageRefused(f"the venue refused {str(data.get('op'))[:20]!r}: {msg[:200]}")
            return
        topic = data.get("topic")
        if type(topic) is not str:
            raise MessageRefused(f"topic: expected a topic name, got {str(topic)[:40]!r}")
        if topic.startswith("orderbook."):
            self.arb_session.on_book(topic, data)
        elif topic.startswith("tickers."):
            self.arb_session.on_ticker(topic, data)
        elif topic.startswith("publicTrade."):
            await self._trade(data, timestamp, "linear")
        else:
            raise MessageRefused(f"topic {topic[:60]!r} is not one this session reads")


class BybitSession(CryptofeedSession):
    """Bybit v5 linear: books by ``u``/``seq`` chain, funding and mark from ``tickers``."""

    venue: ClassVar[str] = "bybit"
    feed_class: ClassVar[Any] = _BybitFeed
    max_depth: ClassVar[int | None] = 50
    resubscribe_to_resync: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.chains: dict[str, BookChain] = {}
        self.tickers: dict[str, dict[str, Any]] = {}
        """Merged ``tickers`` state per symbol (the last snapshot with every delta since)."""
        self.gaps = 0
        super().__init__(*args, **kwargs)

    @property
    def depth(self) -> int:
        return self.max_depth or 50

    @classmethod
    def symbol_metadata(cls, bodies: Sequence[str]) -> object:
        """cryptofeed's ``_parse_symbol_data`` takes the list of instruments-info answers."""
        if not bodies:
            raise ValueError("bybit: no recorded instruments-info answer to build the symbol map from")
        return [json.loads(body) for body in bodies]

    @classmethod
    async def fetch_symbol_bodies(cls, rest: RestSource) -> list[str]:
        endpoint = cls.feed_class.rest_endpoints[0]
        return [await rest.read(endpoint.address + LINEAR_INSTRUMENTS)]

    def _symbol(self, topic: str, expected: str) -> str:
        pair = topic.rsplit(".", 1)[-1]
        if pair != expected:
            raise MessageRefused(f"data.s: {expected[:40]!r} does not match the topic {topic[:60]!r}")
        symbol: str = self.feed.exchange_symbol_to_std_symbol(pair)
        return symbol

    def on_book(self, topic: str, message: dict[str, Any]) -> None:
        """One ``orderbook`` message: a snapshot resets the book and its chain; a delta must continue it."""
        parts = topic.split(".")
        if len(parts) != 3 or parts[1] != str(self.depth):
            raise MessageRefused(f"topic {topic[:60]!r}: expected orderbook.{self.depth}.<symbol>")
        data = message.get("data")
        if type(data) is not dict:
            raise MessageRefused(f"{topic[:60]}: 'data' must be an object")
        symbol = self._symbol(topic, str(data.get("s")))
        update_id = integer(data.get("u"), "data.u")
        seq = integer(data.get("seq"), "data.seq")
        bids, asks = levels(data.get("b"), "data.b"), levels(data.get("a"), "data.a")
        exchange_ts = integer(message.get("ts"), "ts", high=MAX_TIMESTAMP_MS) / 1000.0
        kind = message.get("type")
        maintainer = self.maintainer
        if kind == "snapshot":
            live = maintainer.snapshot(
                symbol, bids, asks, self._now, exchange_ts=exchange_ts, sequence=update_id
            )
            if live:
                self.chains[symbol] = BookChain(update_id, seq)
            return
        if kind != "delta":
            raise MessageRefused(f"type: expected 'snapshot' or 'delta', got {str(kind)[:20]!r}")
        chain = self.chains.get(symbol)
        if chain is None:  # no snapshot since the last void: the resubscription's snapshot rebuilds it
            maintainer.dropped_updates += 1
            return
        if not chain.follows(update_id, seq):
            self.gaps += 1
            detail = f"u {update_id} (seq {seq}) does not continue u {chain.update_id} (seq {chain.seq})"
            del self.chains[symbol]
            maintainer.invalidate(symbol, FeedErrorKind.SEQUENCE_GAP, detail, self._now)
            return
        chain.update_id, chain.seq = update_id, seq
        maintainer.update(symbol, bids, asks, self._now, exchange_ts=exchange_ts, sequence=update_id)

    def on_ticker(self, topic: str, message: dict[str, Any]) -> None:
        """One ``tickers`` message merged into the symbol's state; a ``Funding`` event when the state has
        a rate, a next funding time and a mark."""
        data = message.get("data")
        if type(data) is not dict:
            raise MessageRefused(f"{topic[:60]}: 'data' must be an object")
        symbol = self._symbol(topic, str(data.get("symbol")))
        kind = message.get("type")
        if kind == "snapshot":
            state = self.tickers[symbol] = dict(data)
        elif kind == "delta":
            if symbol not in self.tickers:
                raise MessageRefused(f"{topic[:60]}: a ticker delta before its snapshot")
            state = self.tickers[symbol]
            state.update(data)
        else:
            raise MessageRefused(f"type: expected 'snapshot' or 'delta', got {str(kind)[:20]!r}")
        exchange_ts = integer(message.get("ts"), "ts", high=MAX_TIMESTAMP_MS) / 1000.0
        if not state.get("fundingRate") or not state.get("nextFundingTime"):
            return  # a dated future or an option: no funding
        interval_h = state.get("fundingIntervalHour")
        interval_s = _number(interval_h, "fundingIntervalHour") * 3600 if interval_h else EIGHT_HOURS_S
        next_ms = integer(state["nextFundingTime"], "nextFundingTime", high=MAX_TIMESTAMP_MS)
        self.maintainer.events.append(
            Funding(
                self.venue,
                symbol,
                _number(state["fundingRate"], "fundingRate"),
                self._now,
                mark_price=_number(state.get("markPrice"), "markPrice"),
                next_funding_ts=next_ms / 1000.0,
                interval_s=interval_s,
                exchange_ts=exchange_ts,
            )
        )

    def after_invalidate(self) -> None:
        for symbol in list(self.chains):
            if symbol not in self.maintainer.live:
                del self.chains[symbol]
