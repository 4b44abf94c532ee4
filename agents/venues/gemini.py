"""Gemini spot: REST orders through ccxt's ``gemini``, market data through cryptofeed's v2 ``l2`` stream.

Facts, and where they come from (ccxt 4.5.90 ``ccxt/gemini.py``; Gemini REST docs, docs.gemini.com):

- New order ``POST /v1/order/new``: our id goes in ``client_order_id`` (ccxt's ``create_order`` takes it from
  ``client_order_id``/``clientOrderId`` and only invents ``str(milliseconds())`` when neither is given).
  Allowed ids match ``[:\\-_.#a-zA-Z0-9]{1,36}`` (docs "Client Order ID"), so ours are 36-character tokens.
  Gemini does *not* enforce their uniqueness (recommended "unique per trading session"; FIX docs: "Gemini does
  not enforce uniqueness"): a duplicate is accepted as a second order, which is why ``CcxtVenue`` looks the id
  up before any re-send.
- Orders are ``exchange limit`` only; IOC is the execution option ``options: ["immediate-or-cancel"]``, which
  ccxt writes for ``timeInForce="IOC"`` (passing ``options`` as a string would be overwritten with a bare
  string by ccxt's parameter merge, and Gemini answers ``OptionsMustBeArray``). The answer of
  ``/v1/order/new`` is the order after matching, so an IOC comes back final (``is_live`` false,
  ``is_cancelled`` for a remainder).
- Order status ``POST /v1/order/status`` takes ``order_id`` *or* ``client_order_id`` (not both) and
  ``include_trades``; ccxt's ``fetch_order`` always sends ``order_id``, so the lookup by client id calls the
  implicit ``privatePostV1OrderStatus`` and parses with ``parse_order``. Because ids are not unique the venue
  may answer a list; the earliest order is ours (we never send an id twice).
- Cancel ``POST /v1/order/cancel`` takes only ``order_id``: the order id comes from our outbox or, when the
  acknowledgement was lost, from the lookup by client id.
- Fills: ``include_trades`` on the order status gives the order's trades (``price``, ``amount``,
  ``fee_amount``, ``fee_currency``, ``aggressor``, ``tid``), parsed with ccxt's ``parse_trade``; ``aggressor``
  says taker.
- Private calls need an *account-scoped* key (ccxt's ``sign`` refuses keys without ``account``) and carry
  ``X-GEMINI-APIKEY``, ``X-GEMINI-PAYLOAD`` (base64 JSON with ``request`` and ``nonce``) and
  ``X-GEMINI-SIGNATURE`` (hex HMAC-SHA384 of the payload).
- Markets: ``/v1/symbols`` then ``/v1/symbols/details/{symbol}`` for lot (``tick_size``) and tick
  (``quote_increment``): ccxt only reads the details with ``fetchDetailsForAllSymbols`` (without them every
  precision is ``None`` and ``create_order`` cannot round). ccxt would scrape the currency list from the web
  exchange page, unrelated to trading; ``make_exchange`` does not fetch currencies. One details call per
  listed symbol is what both ccxt and cryptofeed make; Gemini's public limit is 120 requests per minute.
"""

from __future__ import annotations

from typing import Any, ClassVar

import ccxt

from agents.execution.client_ids import ClientIdRule
from agents.feeds.venues.gemini import GeminiSession
from agents.venues.spec import VenueOrders, VenueSpec


class GeminiOrders(VenueOrders):
    client_id_param: ClassVar[str] = "client_order_id"
    lookup_param: ClassVar[str] = "client_order_id"
    cancel_param: ClassVar[str] = "order_id"

    def fetch_by_client_id(self, exchange: Any, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        exchange.load_markets()
        try:
            raw = exchange.privatePostV1OrderStatus({self.lookup_param: client_order_id})
        except ccxt.OrderNotFound:
            return None
        candidates = raw if isinstance(raw, list) else [raw]
        ours = [o for o in candidates if isinstance(o, dict) and o.get("client_order_id") == client_order_id]
        if not ours:
            return None
        first = min(ours, key=lambda o: (int(o.get("timestampms") or 0), str(o.get("order_id"))))
        found: dict[str, Any] = exchange.parse_order(first, exchange.market(symbol))
        return found

    def cancel_by_client_id(
        self, exchange: Any, symbol: str, client_order_id: str, exchange_order_id: str
    ) -> None:
        order_id = exchange_order_id
        if not order_id:
            found = self.fetch_by_client_id(exchange, symbol, client_order_id)
            if found is None:
                return  # never arrived: nothing to cancel
            order_id = str(found["id"])
        try:
            exchange.cancel_order(order_id, symbol)
        except ccxt.OrderNotFound:
            return

    def trades_of(self, exchange: Any, symbol: str, exchange_order_id: str) -> list[dict[str, Any]]:
        exchange.load_markets()
        market = exchange.market(symbol)
        raw = exchange.privatePostV1OrderStatus(
            {"order_id": _order_id(exchange_order_id), "include_trades": True}
        )
        if isinstance(raw, dict) and isinstance(raw.get("trades"), list):
            rows = raw["trades"]
        else:  # an answer without the order's trades: the account's recent trades carry the order id
            rows = exchange.privatePostV1Mytrades({"symbol": market["id"], "limit_trades": 500})
        trades: list[dict[str, Any]] = []
        for row in rows:
            if str(row.get("order_id")) != exchange_order_id:
                continue
            trade: dict[str, Any] = exchange.parse_trade(row, market)
            aggressor = row.get("aggressor")
            if isinstance(aggressor, bool):
                trade["takerOrMaker"] = "taker" if aggressor else "maker"
            trades.append(trade)
        return trades


def _order_id(exchange_order_id: str) -> int | str:
    """Gemini order ids are integers in requests (``order_id``); keep anything else as given."""
    return int(exchange_order_id) if exchange_order_id.isdigit() else exchange_order_id


SPEC = VenueSpec(
    name="gemini",
    ccxt_id="gemini",
    rest_url="https://api.gemini.com",
    ws_url="wss://api.gemini.com",
    client_ids=ClientIdRule("token", 36),
    feed_session=GeminiSession,
    orders=GeminiOrders,
    recording_prefix="GEMINI",
    ccxt_options={"fetchMarketsFromAPI": {"fetchDetailsForAllSymbols": True}},
)
