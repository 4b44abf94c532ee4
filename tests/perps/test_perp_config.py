"""A perpetual venue's configuration (issue 13): ``BASE-QUOTE-PERP`` instruments and a ``[perp]`` margin,
each error naming its key; the running agent's market gets the margin and horizon from it."""

from __future__ import annotations

import pytest

from agents.agent_config import ConfigError, parse_config
from agents.perps.streams import PerpTerms
from agents.service import perp_terms


def _config(exchange: str, symbol: str, perp: dict[str, object] | None) -> dict[str, object]:
    data: dict[str, object] = {
        "venue": "perp-venue",
        "exchange": exchange,
        "instruments": [{"asset": "BTC", "symbol": symbol}],
    }
    if perp is not None:
        data["perp"] = perp
    return data


def test_perp_venue_config_and_its_terms() -> None:
    config = parse_config(_config("bybit", "BTC-USDT-PERP", {"margin": "20000", "max_leverage": 5}))
    assert perp_terms(config) == PerpTerms(20000.0, 5.0, 8.0)
    assert config.quote_asset == "USDT"
    spot = parse_config(_config("binance", "BTC-USDT", None))
    assert perp_terms(spot) is None


@pytest.mark.parametrize(
    ("exchange", "symbol", "perp", "key"),
    [
        ("bybit", "BTC-USDT-PERP", None, "perp"),
        ("hyperliquid", "BTC-USD", {"margin": "1"}, "instruments.0.symbol"),
        ("binance", "BTC-USDT-PERP", None, "instruments.0.symbol"),
        ("bybit", "BTC-USDT-PERP", {"margin": "0"}, "perp.margin"),
        ("bybit", "BTC-USDT-PERP", {"margin": "10", "max_leverage": 0}, "perp.max_leverage"),
    ],
)
def test_perp_config_errors_name_the_key(exchange, symbol, perp, key) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(exchange, symbol, perp))
    assert key in str(caught.value), str(caught.value)
