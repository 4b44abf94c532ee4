"""Kraken spot: REST orders through ccxt's ``kraken``, market data through cryptofeed's WebSocket v1 ``book``.

Facts, and where they come from (ccxt 4.5.90 ``ccxt/kraken.py``; Kraken docs, docs.kraken.com: "Spot Client
Order Identifiers", REST ``AddOrder``, ``OpenOrders``, ``ClosedOrders``, ``QueryOrders``, ``CancelOrder``):

- Our id goes in ``cl_ord_id``, a string: a long UUID (36 characters with dashes), a short UUID (32 hex) or
  free text of at most 18 characters. ``userref`` is a separate signed 32-bit integer that is never unique, so
  it cannot carry an idempotency key; ours are long UUIDs. ccxt's ``create_order`` maps ``clientOrderId`` to
  ``cl_ord_id`` and passes a raw ``cl_ord_id`` through unchanged; it never invents one.
- Kraken checks ``cl_ord_id`` uniqueness only among *open* orders: an IOC is closed once matched, so sending
  its id again would create a second order. ``CcxtVenue`` therefore looks the id up before any re-send. The
  docs do not quote the refusal of an id that is still open (the fake answers ``EOrder:Duplicate cl_ord_id``,
  a spelling seen in third-party code only); ccxt maps no such text (a generic ``ExchangeError``), so
  ``create`` turns an unmapped error naming ``cl_ord_id`` or ``Duplicate`` into ``InvalidOrder``, on which
  ``CcxtVenue`` looks the id up and adopts the original.
- IOC is ``timeinforce=IOC`` (ccxt reads ``timeInForce`` or ``timeinforce`` and writes ``timeinforce``).
- ``AddOrder`` answers only ``descr`` and ``txid``: the order's state and fills come from ``QueryOrders``
  (``txid``, ``trades=true``), which ``create`` reads right after (an IOC is final once ``AddOrder`` returns).
  A partly filled IOC's remainder is cancelled; an order reported ``closed`` with less than its volume
  executed is reported here as cancelled, so it is never taken for a full fill.
- Lookup by client id: ``QueryOrders`` needs ``txid``; ``OpenOrders`` and ``ClosedOrders`` accept
  ``cl_ord_id`` (ccxt's ``fetch_open_orders``/``fetch_closed_orders`` map ``clientOrderId`` to it;
  ``fetch_order`` would map it to ``userref`` instead). Open orders are asked first, so an order that closes
  in between is still found among the closed ones.
- Cancel by client id: ``CancelOrder`` takes ``cl_ord_id`` instead of ``txid`` (ccxt's ``cancel_order`` with
  ``clientOrderId``); ``EOrder:Unknown order`` becomes ccxt's ``OrderNotFound``.
- Fills: ``QueryTrades`` for the trade ids the order lists (ccxt's ``fetch_order_trades``); the fee is in the
  quote currency by default (``fciq``), ``maker`` says the liquidity.
- Private calls carry ``API-Key`` and ``API-Sign`` (base64 HMAC-SHA512, with the base64-decoded secret, of the
  URI path followed by SHA-256 of nonce + POST data); errors come back as ``{"error": ["EOrder:..."]}``.
- Markets: ``/0/public/AssetPairs`` (``wsname`` is the pair's websocket name, ``XBT/USD``; ``pair_decimals``
  and ``lot_decimals`` give tick and lot); ccxt's ``commonCurrencies`` map ``XXBT``/``ZUSD`` to
  ``BTC``/``USD`` without ``/0/public/Assets`` (``make_exchange`` does not fetch currencies).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import ccxt

from agents.execution.client_ids import ClientIdRule
from agents.feeds.venues.kraken import KrakenSession
from agents.venues.spec import VenueOrders, VenueSpec
from sdk.adapters.execution import OrderRequest


class KrakenOrders(VenueOrders):
    client_id_param: ClassVar[str] = "cl_ord_id"
    ioc_params: ClassVar[Mapping[str, object]] = {"timeinforce": "IOC"}
    lookup_param: ClassVar[str] = "clientOrderId"
    """ccxt's ``fetch_open_orders``/``fetch_closed_orders`` parameter that becomes ``cl_ord_id``."""
    cancel_param: ClassVar[str] = "cl_ord_id"

    def create(self, exchange: Any, symbol: str, order: OrderRequest) -> dict[str, Any]:
        try:
            placed = super().create(exchange, symbol, order)
        except ccxt.ExchangeError as exc:
            unmapped = type(exc) is ccxt.ExchangeError
            if unmapped and ("cl_ord_id" in str(exc) or "Duplicate" in str(exc)):
                raise ccxt.InvalidOrder(str(exc)) from exc  # our id is still open at the venue
            raise
        order_id = str(placed.get("id") or "")
        if not order_id:
            return placed
        try:
            final: dict[str, Any] = exchange.fetch_order(order_id, symbol)
        except ccxt.OrderNotFound:
            return placed
        return _normalized(final)

    def fetch_by_client_id(self, exchange: Any, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        params = {self.lookup_param: client_order_id}
        for fetch in (exchange.fetch_open_orders, exchange.fetch_closed_orders):
            found = [
                o
                for o in fetch(symbol, None, None, dict(params))
                if o.get("clientOrderId") == client_order_id
            ]
            if found:
                # Only one can exist unless an id was reused after its order closed; ours never are.
                return _normalized(min(found, key=lambda o: (o.get("timestamp") or 0, str(o.get("id")))))
        return None

    def trades_of(self, exchange: Any, symbol: str, exchange_order_id: str) -> list[dict[str, Any]]:
        order = exchange.fetch_order(exchange_order_id, symbol)
        trade_ids = [str(t["id"]) for t in order.get("trades") or () if t.get("id")]
        if not trade_ids:
            return []
        trades = exchange.fetch_order_trades(exchange_order_id, symbol, None, None, {"trades": trade_ids})
        return [t for t in trades if str(t.get("order")) == exchange_order_id]


def _normalized(order: dict[str, Any]) -> dict[str, Any]:
    """A ``closed`` order with less than its volume executed was cancelled (an IOC's remainder)."""
    if order.get("status") == "closed":
        amount, filled = order.get("amount"), order.get("filled")
        if amount is not None and filled is not None and Decimal(str(filled)) < Decimal(str(amount)):
            return {**order, "status": "canceled"}
    return order


SPEC = VenueSpec(
    name="kraken",
    ccxt_id="kraken",
    rest_url="https://api.kraken.com",
    ws_url="wss://ws.kraken.com",
    client_ids=ClientIdRule("uuid"),
    feed_session=KrakenSession,
    orders=KrakenOrders,
    recording_prefix="KRAKEN",
)
