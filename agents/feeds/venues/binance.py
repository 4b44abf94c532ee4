"""Binance spot diff-depth stream through cryptofeed's parser, with our update-id chain per symbol.

cryptofeed checks the chain too, but on a gap it silently clears every symbol's book. Here a gap voids only
the symbol concerned, is reported (``FeedError`` + ``Resync``), and the next message of that symbol fetches a
fresh REST snapshot through the session's REST source (live HTTP, or the recording's captured answers).
"""

from __future__ import annotations

from typing import Any, ClassVar

from cryptofeed.exchanges import Binance

from agents.feeds.sequence import UpdateIdChain, Verdict
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from sdk.adapters.events import FeedErrorKind


class _BinanceFeed(Binance):  # type: ignore[misc]
    arb_session: BinanceSession

    def _check_update_id(self, std_pair: str, msg: dict[str, Any]) -> bool:
        """True = skip the message (cryptofeed's contract)."""
        return self.arb_session.skip_update(std_pair, int(msg["U"]), int(msg["u"]))


class BinanceSession(CryptofeedSession):
    venue: ClassVar[str] = "binance"
    feed_class: ClassVar[Any] = _BinanceFeed

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.chains: dict[str, UpdateIdChain] = {}
        self.gaps = 0
        super().__init__(*args, **kwargs)

    def on_library_snapshot(self, book: Any) -> None:
        self.chains[book.symbol] = UpdateIdChain(int(book.raw["lastUpdateId"]))
        super().on_library_snapshot(book)

    def skip_update(self, symbol: str, first_id: int, last_id: int) -> bool:
        chain = self.chains.get(symbol)
        if chain is None:
            return True
        verdict = chain.accept(first_id, last_id)
        if verdict is Verdict.APPLY:
            return False
        if verdict is Verdict.GAP:
            self.gaps += 1
            self.maintainer.invalidate(
                symbol, FeedErrorKind.SEQUENCE_GAP, chain.gap_detail(first_id, last_id), self._now
            )
            self._forget(symbol)
        return True

    def _forget(self, symbol: str) -> None:
        self.chains.pop(symbol, None)
        self.feed._l2_book.pop(symbol, None)

    def after_invalidate(self) -> None:
        for symbol in list(self.chains):
            if symbol not in self.maintainer.live:
                self._forget(symbol)
