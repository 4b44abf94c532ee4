"""Binance spot: REST orders through ccxt's ``binance``, market data through cryptofeed's diff-depth stream.

Client order ids go in ``newClientOrderId`` (36 characters of ``[A-Za-z0-9._:/-]``); an order is found and
cancelled by ``origClientOrderId``; IOC is ``timeInForce=IOC``. A depth book starts from a REST snapshot and
follows the ``U``/``u`` update-id chain (``agents.feeds.venues.binance``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from agents.execution.client_ids import ClientIdRule
from agents.feeds.venues.binance import BinanceSession
from agents.venues.spec import VenueOrders, VenueSpec


class BinanceOrders(VenueOrders):
    client_id_param: ClassVar[str] = "newClientOrderId"
    lookup_param: ClassVar[str] = "origClientOrderId"
    cancel_param: ClassVar[str] = "origClientOrderId"

    def trades_of(self, exchange: Any, symbol: str, exchange_order_id: str) -> list[dict[str, Any]]:
        trades = exchange.fetch_my_trades(symbol, None, None, {"orderId": exchange_order_id})
        return [t for t in trades if str(t.get("order")) == exchange_order_id]


SPEC = VenueSpec(
    name="binance",
    ccxt_id="binance",
    rest_url="https://api.binance.com",
    ws_url="wss://stream.binance.com:9443",
    client_ids=ClientIdRule("token", 36),
    feed_session=BinanceSession,
    orders=BinanceOrders,
    recording_prefix="BINANCE",
)
