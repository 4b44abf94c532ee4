"""Binance spot: orders through ccxt's ``binance`` (REST ``/api/v3``), market data through cryptofeed's
``Binance`` diff-depth stream (``agents.feeds.venues.binance``).

Facts, with where they come from (binance-spot-api-docs ``rest-api.md``, ``errors.md``, ``enums.md``,
``web-socket-streams.md``; ccxt 4.5.90 ``binance.py``):

- Client order id: ``newClientOrderId`` on ``POST /api/v3/order``, "a unique id among open orders": an id can
  be reused once its order is no longer open, so the venue alone does not make a re-send idempotent; the
  outbox's lookup before every re-send does. Binance answers ``-1100`` with the legal range
  ``^[a-zA-Z0-9-_]{1,36}$``; ours are ``as`` + 34 base32 characters (170 bits), 36 in all. ccxt's
  ``create_order_request`` sends a ``newClientOrderId`` param as given (it generates its own broker-prefixed
  id only when none is passed).
- IOC: ``timeInForce=IOC`` (ccxt passes it through); the unfilled rest of an IOC ends ``EXPIRED``
  (``enums.md``), which ``agents.execution.live.status_of`` reads as a cancelled IOC.
- Lookup and cancel by client id: ``GET``/``DELETE /api/v3/order`` with ``origClientOrderId`` (ccxt's
  ``fetch_order``/``cancel_order`` map the ``origClientOrderId`` param onto it; ``-2013``/``-2011`` become
  ``OrderNotFound``).
- Fills and fees: ``GET /api/v3/myTrades?symbol=..&orderId=..`` (``commission`` in ``commissionAsset``).
- Refusals: ``-2010`` "Duplicate order sent." (an open order has the id: ccxt ``InvalidOrder``, so the outbox
  looks the original up and adopts it), "Account has insufficient balance for requested action."
  (``InsufficientFunds``); HTTP 429 (``Retry-After``) is ``DDoSProtection``; a 5xx means "execution status
  UNKNOWN" (``-1006``/``-1007``): never a rejection, the order is reconciled by client id.
- Market data: ``/stream?streams=<pair>@depth@100ms/...`` (combined) or ``/ws/<stream>`` (raw),
  ``depthUpdate`` events with ``U``/``u`` update ids on top of ``GET /api/v3/depth`` (``lastUpdateId``).
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
        """``myTrades`` filtered by the venue itself (``orderId``): one request, only this order's fills."""
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
