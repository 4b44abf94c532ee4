"""The three perpetual venues as data (issue 13): ccxt swap symbols and each venue's own client-id field.

Binance's ``newClientOrderId``/``origClientOrderId`` must not reach Bybit (``orderLinkId``) or Hyperliquid
(``cloid``, ccxt's ``clientOrderId``, a 128-bit hex string signed into the wallet's action).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from agents.execution.client_ids import client_order_id
from agents.feeds.venues.binance import BinanceFuturesSession
from agents.feeds.venues.bybit import BybitSession
from agents.feeds.venues.hyperliquid import HyperliquidSession
from agents.venues import by_ccxt_id, names, venue_spec
from sdk.adapters.execution import OrderRequest, Side


def _order(venue: str, key: str) -> OrderRequest:
    cid = client_order_id(key, venue_spec(venue).client_ids)
    return OrderRequest(
        cid, key, "plan-1", venue, "BTC-USDT-PERP", "BTC", Side.BUY, Decimal(1), Decimal(60000), 1
    )


@pytest.mark.parametrize(
    ("venue", "ccxt_id", "session", "instrument", "symbol"),
    [
        ("binance_futures", "binanceusdm", BinanceFuturesSession, "BTC-USDT-PERP", "BTC/USDT:USDT"),
        ("bybit", "bybit", BybitSession, "ETH-USDT-PERP", "ETH/USDT:USDT"),
        ("hyperliquid", "hyperliquid", HyperliquidSession, "BTC-USD-PERP", "BTC/USDC:USDC"),
    ],
)
def test_perp_venue_specs(venue, ccxt_id, session, instrument, symbol) -> None:
    spec = venue_spec(venue)
    assert venue in names() and spec.ccxt_id == ccxt_id and by_ccxt_id(ccxt_id) is spec
    assert spec.feed_session is session and spec.swap
    assert spec.market_symbol(instrument) == symbol
    with pytest.raises(ValueError, match="BASE-QUOTE-PERP"):
        spec.market_symbol("BTC-USDT")
    # spot venues keep their spot symbols
    assert venue_spec("binance").market_symbol("BTC-USDT") == "BTC/USDT"


def test_each_venue_sends_its_own_client_id_field() -> None:
    binance = venue_spec("binance_futures").orders().create_params(_order("binance_futures", "s/1/b/0"))
    assert set(binance) == {"timeInForce", "newClientOrderId"}
    bybit = venue_spec("bybit").orders().create_params(_order("bybit", "s/1/y/0"))
    assert set(bybit) == {"timeInForce", "orderLinkId"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,36}", bybit["orderLinkId"])
    hyper = venue_spec("hyperliquid").orders().create_params(_order("hyperliquid", "s/1/h/0"))
    assert set(hyper) == {"timeInForce", "clientOrderId"}
    assert re.fullmatch(r"0x[0-9a-f]{32}", hyper["clientOrderId"])
    assert venue_spec("hyperliquid").credentials == ("walletAddress", "privateKey")
    assert venue_spec("bybit").orders().lookup_param == "orderLinkId"
