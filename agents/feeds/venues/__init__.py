"""Venue sessions: the parsing path of each venue, shared by live feeds and replay."""

from __future__ import annotations

from agents.feeds.venues.binance import BinanceFuturesSession, BinanceSession
from agents.feeds.venues.bitstamp import BitstampSession
from agents.feeds.venues.coinbase_legacy import CoinbaseLegacySession
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.feeds.venues.gemini import GeminiSession
from agents.feeds.venues.kraken import KrakenSession

CRYPTOFEED_SESSIONS: dict[str, type[CryptofeedSession]] = {
    "binance": BinanceSession,
    "binance_futures": BinanceFuturesSession,
    "bitstamp": BitstampSession,
    "gemini": GeminiSession,
    "kraken": KrakenSession,
}

__all__ = [
    "CRYPTOFEED_SESSIONS",
    "BinanceFuturesSession",
    "BinanceSession",
    "BitstampSession",
    "CoinbaseLegacySession",
    "CryptofeedSession",
    "GeminiSession",
    "KrakenSession",
]
