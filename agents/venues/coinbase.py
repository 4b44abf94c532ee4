"""Coinbase Advanced Trade: orders through ccxt's ``coinbase`` (the brokerage API ``/api/v3/brokerage/...``),
market data through cryptofeed's ``Coinbase`` class (``agents.feeds.venues.coinbase``).

ccxt 4.5.90 has no ``coinbaseadvanced`` module: ``coinbase.py`` is the Advanced Trade one (its v3 private API
is ``brokerage/orders``, ``brokerage/orders/historical/...``, ``brokerage/accounts``); ``coinbaseexchange`` is
the old Pro/Exchange API and ``coinbaseinternational`` INTX.

Facts, with where they come from (Advanced Trade REST reference ``docs.cdp.coinbase.com/api-reference/
advanced-trade-api/rest-api/orders/*``; the official ``coinbase-advanced-py`` SDK v1.8.4 ``rest/orders.py``
and README; ccxt 4.5.90 ``coinbase.py``):

- Client order id: ``client_order_id`` of ``POST /api/v3/brokerage/orders`` (required). The venue keeps it
  unique per account: the SDK README calls a fixed id "the intended safeguard of accidentally placing
  duplicate orders", and a repeated id creates no second order. Ours is a UUID (``ClientIdRule("uuid")``), the
  format Coinbase's APIs have always used for client ids. ccxt's ``create_order`` always fills
  ``client_order_id`` with ``brokerId + '-' + uuid()`` and drops the unified ``clientOrderId`` param (it is in
  its ``omit`` list), so our id must travel as the raw ``client_order_id`` param, which ``extend(request,
  params)`` lays over ccxt's random one.
- IOC: ccxt maps ``timeInForce: 'IOC'`` on a limit order to ``order_configuration.sor_limit_ioc`` with
  ``base_size`` and ``limit_price`` (the price cap); GTC is ``limit_limit_gtc``.
- The create answer is ``{"success", "success_response": {"order_id", "product_id", "side",
  "client_order_id"}}``: no status and no fills, so ``create`` reads the order back (``GET
  /orders/historical/{order_id}``). Refusals come as ``success: false`` with ``error_response`` (ccxt maps
  ``preview_failure_reason: PREVIEW_INSUFFICIENT_FUND`` to ``InsufficientFunds``); 429 is
  ``RateLimitExceeded``, 5xx ``ExchangeNotAvailable`` (the outcome is unknown, the order is reconciled).
- Lookup by client id: orders are addressed by ``order_id`` only. ``Get Order`` has a deprecated
  ``client_order_id`` query parameter but still needs the ``order_id`` in its path, and ``List Orders`` (``GET
  /orders/historical/batch``: ``order_ids``, ``product_ids``, ``order_status``, ``limit``, ``cursor``, ...)
  has no client-id filter. So the lookup lists the product's orders, newest first, page by page
  (``cursor``/``has_next``) and matches ``client_order_id``; ccxt's ``parse_order`` reads the match (ccxt's
  ``fetch_order(None, ...)`` would ask for ``/orders/historical/None``).
- Cancel: ``POST /orders/batch_cancel`` with ``order_ids`` (ccxt ``cancel_order(id)``); the order id comes
  from the outbox record or, when the acknowledgement was lost, from the lookup above.
- Fills and fees: ``GET /orders/historical/fills?order_ids=..`` (ccxt ``fetch_my_trades``): ``commission`` in
  the quote currency, ``liquidity_indicator`` MAKER/TAKER.
- Balances: ``GET /api/v3/brokerage/accounts`` (``available_balance`` and ``hold``), chosen through ccxt's
  ``fetchBalance`` option; ccxt's default is the Coinbase App v2 ``/v2/accounts`` endpoint.
- Auth: a CDP key (``organizations/{org}/apiKeys/{id}`` + EC P-256 PEM) makes ccxt sign a per-request ES256
  JWT (``Authorization: Bearer``); a legacy key gets the HMAC ``CB-ACCESS-*`` headers. Both come from
  ``apiKey``/``secret``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import ccxt

from agents.execution.client_ids import ClientIdRule
from agents.feeds.venues.coinbase import CoinbaseSession
from agents.venues.spec import VenueOrders, VenueSpec
from sdk.adapters.execution import OrderRequest

FINAL_STATUSES = frozenset({"closed", "canceled", "expired", "rejected"})


class OrderLookupExhausted(ccxt.ExchangeError):  # type: ignore[misc]
    """The order was not among the newest orders searched: whether it arrived is unknown, so it must not be
    re-sent on the strength of this lookup."""


class CoinbaseOrders(VenueOrders):
    """Advanced Trade orders through ccxt: our id as the raw ``client_order_id``, IOC as ccxt's
    ``timeInForce: 'IOC'`` (``sor_limit_ioc``), lookups through List Orders (the venue finds orders by
    ``order_id`` only)."""

    client_id_param: ClassVar[str] = "client_order_id"
    lookup_param: ClassVar[str] = "client_order_id"
    cancel_param: ClassVar[str] = "client_order_id"
    page_size: ClassVar[int] = 250
    max_pages: ClassVar[int] = 20
    """Newest ``page_size * max_pages`` orders of the product are searched for a client id."""

    def create(self, exchange: Any, symbol: str, order: OrderRequest) -> dict[str, Any]:
        """Place the order, then read it back: the create answer carries ids only."""
        created = super().create(exchange, symbol, order)
        order_id = created.get("id")
        if not order_id or created.get("status") is not None:
            return created
        try:
            found: dict[str, Any] = exchange.fetch_order(order_id, symbol)
        except ccxt.BaseError:
            # Accepted for sure (never report it rejected because the read-back failed): the next poll
            # reads its state.
            return created
        return found

    def fetch_by_client_id(self, exchange: Any, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        """List Orders of the product, newest first, until ``client_order_id`` shows up."""
        exchange.load_markets()
        market = exchange.market(symbol)
        cursor = ""
        for _ in range(self.max_pages):
            params: dict[str, object] = {"product_ids": [market["id"]], "limit": self.page_size}
            if cursor:
                params["cursor"] = cursor
            page = exchange.v3PrivateGetBrokerageOrdersHistoricalBatch(params)
            for raw in page.get("orders") or []:
                if raw.get("client_order_id") == client_order_id:
                    found: dict[str, Any] = exchange.parse_order(raw, market)
                    return found
            next_cursor = str(page.get("cursor") or "")
            if not page.get("has_next") or not next_cursor or next_cursor == cursor:
                return None
            cursor = next_cursor
        raise OrderLookupExhausted(
            f"coinbase: client order id {client_order_id} not among the newest "
            f"{self.page_size * self.max_pages} orders of {market['id']}"
        )

    def cancel_by_client_id(
        self, exchange: Any, symbol: str, client_order_id: str, exchange_order_id: str
    ) -> None:
        """Cancel by ``order_id`` (from the outbox, or looked up by client id); an order that is final or
        never arrived is not an error."""
        order_id = exchange_order_id
        if not order_id:
            found = self.fetch_by_client_id(exchange, symbol, client_order_id)
            if found is None or found.get("status") in FINAL_STATUSES:
                return
            order_id = str(found["id"])
        answer = exchange.v3PrivatePostBrokerageOrdersBatchCancel({"order_ids": [order_id]})
        results = answer.get("results") or []
        if results and results[0].get("success") is True:
            return
        reason = results[0].get("failure_reason") if results else "no result"
        state: dict[str, Any] = exchange.fetch_order(order_id, symbol)
        if state.get("status") not in FINAL_STATUSES:
            raise ccxt.ExchangeError(f"coinbase: cancel of order {order_id} refused: {reason}")

    def trades_of(self, exchange: Any, symbol: str, exchange_order_id: str) -> list[dict[str, Any]]:
        """List Fills filtered by the venue (``order_ids``)."""
        trades = exchange.fetch_my_trades(symbol, None, None, {"order_ids": [exchange_order_id]})
        return [t for t in trades if str(t.get("order")) == exchange_order_id]


SPEC = VenueSpec(
    name="coinbase",
    ccxt_id="coinbase",
    rest_url="https://api.coinbase.com",
    ws_url="wss://advanced-trade-ws.coinbase.com",
    client_ids=ClientIdRule("uuid"),
    feed_session=CoinbaseSession,
    orders=CoinbaseOrders,
    # The COINBASE recordings are the legacy Pro feed, replayed with CoinbaseLegacySession.
    recording_prefix=None,
    ccxt_options={"fetchBalance": "v3PrivateGetBrokerageAccounts", "brokerId": "arbsphere"},
)
