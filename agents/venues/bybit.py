"""Bybit v5 linear perpetuals: orders through ccxt's ``bybit`` (REST ``/v5/order``, ``category=linear``),
market data through cryptofeed's ``Bybit`` (``agents.feeds.venues.bybit``: books by the ``u``/``seq`` chain,
funding and mark from ``tickers``).

Facts (Bybit v5 docs "Place Order", "Get Open & Closed Orders", "Cancel Order"; ccxt 4.5.90 ``bybit.py``):

- Client order id: ``orderLinkId``, "a max of 36 characters; numbers, letters (upper and lower cases),
  dashes and underscores", unique per account: ours are ``as`` + 34 base32 characters. Binance's
  ``newClientOrderId``/``origClientOrderId`` mean nothing here (the issue saw them sent to Bybit).
- Lookup: ``GET /v5/order/realtime?orderLinkId=..`` (ccxt's ``fetch_order`` on a unified account asks for
  ``acknowledged`` first: it only sees the last 500 orders); cancel: ``POST /v5/order/cancel`` with
  ``orderLinkId``.
- IOC: ``timeInForce=IOC``.
- Symbols: ccxt's ``BTC/USDT:USDT`` for our ``BTC-USDT-PERP``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import ccxt

from agents.execution.client_ids import ClientIdRule
from agents.feeds.venues.bybit import BybitSession
from agents.venues.spec import VenueOrders, VenueSpec


class BybitOrders(VenueOrders):
    client_id_param: ClassVar[str] = "orderLinkId"
    lookup_param: ClassVar[str] = "orderLinkId"
    cancel_param: ClassVar[str] = "orderLinkId"

    def fetch_by_client_id(self, exchange: Any, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = exchange.fetch_order(
                None, symbol, {self.lookup_param: client_order_id, "acknowledged": True}
            )
        except ccxt.OrderNotFound:
            return None
        return found


SPEC = VenueSpec(
    name="bybit",
    ccxt_id="bybit",
    rest_url="https://api.bybit.com",
    ws_url="wss://stream.bybit.com",
    client_ids=ClientIdRule("token", 36),
    feed_session=BybitSession,
    orders=BybitOrders,
    ccxt_options={"defaultType": "swap"},
    swap=True,
)
