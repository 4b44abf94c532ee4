"""Every fake venue with the instrument it lists by default, keyed by our exchange name (one table for the
tests and benchmarks that run a region of fakes)."""

from __future__ import annotations

from tests.fakevenues.base import FakeVenue
from tests.fakevenues.binance import FakeBinance
from tests.fakevenues.bitstamp import FakeBitstamp
from tests.fakevenues.coinbase import FakeCoinbase
from tests.fakevenues.gemini import FakeGemini
from tests.fakevenues.kraken import FakeKraken

FAKES: dict[str, tuple[type[FakeVenue], str]] = {
    "coinbase": (FakeCoinbase, "BTC-USD"),
    "gemini": (FakeGemini, "BTC-USD"),
    "kraken": (FakeKraken, "BTC-USD"),
    "bitstamp": (FakeBitstamp, "BTC-USD"),
    "binance": (FakeBinance, "BTC-USDT"),
}
