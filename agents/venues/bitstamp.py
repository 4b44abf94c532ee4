"""Bitstamp: orders through ccxt's ``bitstamp`` (REST ``/api/v2``), market data through cryptofeed's
``Bitstamp`` ``diff_order_book`` channel on REST ``order_book`` snapshots (``agents.feeds.venues.bitstamp``).

Facts, with where they come from (Bitstamp HTTP API v2 reference, www.bitstamp.net/api, and its WebSocket v2
page; ccxt 4.5.90 ``bitstamp.py``):

- Client order id: ``client_order_id`` on the limit order endpoints ``POST /api/v2/buy/{pair}/`` and
  ``/api/v2/sell/{pair}/``, "a unique string; a client order id value can only be used once" (ever, not only
  among open orders): a second order with it is refused with ``response_code`` 400.019 "Provided
  client_order_id already exists.". ccxt's ``create_order`` copies a ``client_order_id``/``clientOrderId``
  param into the request and generates nothing of its own. Ours are ``as`` + 30 base32 characters (150 bits).
- IOC: ``ioc_order=True`` on the same endpoints ("an order that must be executed immediately; any portion
  that cannot be filled immediately will be cancelled", possible value ``True``); ccxt passes the param
  through (it does not map a unified ``timeInForce`` there, and would spell a Python ``True`` as ``true``).
  The limit endpoint answers only the order's id, price and amount, so ``create`` reads the IOC's final
  state (status and fills) with one ``order_status`` request right after.
- Lookup by client id: ``POST /api/v2/order_status/`` with ``client_order_id`` (ccxt ``fetch_order`` sends it
  when given that param); status ``Open``/``Finished``/``Canceled``/``Expired`` and ``amount_remaining``; the
  answer's ``transactions`` are the order's fills (``tid``, ``price``, base and quote amounts, ``fee`` in the
  quote currency). Unknown order: "Order not found." (ccxt ``OrderNotFound``). ccxt maps the first three
  statuses only and has no ``amount`` here, so ``Expired`` is read as expired, and a ``Finished`` order with
  ``amount_remaining`` left (how an IOC's cancelled rest could be reported) as cancelled, never as a full
  fill.
- Cancel: ``POST /api/v2/cancel_order/`` takes the exchange ``id`` only (ccxt ``cancel_order`` sends just
  ``id``), so an order known only by client id is looked up first.
- Refusals (``{"status": "error", "reason": ..., "response_code": ...}``): ccxt maps the "Check your account
  balance" and "Minimum order size" texts; the response codes it does not map are translated here
  (``ERRORS``): a duplicate client id is ``DuplicateOrderId`` (an ``InvalidOrder``: the outbox adopts the
  original), the documented rate-limit refusal 400.002 is ``RateLimitExceeded`` (nothing was placed; the
  outbox reconciles before any re-send).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, ClassVar

import ccxt

from agents.execution.client_ids import ClientIdRule
from agents.feeds.venues.bitstamp import BitstampSession
from agents.venues.spec import VenueOrders, VenueSpec
from sdk.adapters.execution import OrderRequest, TimeInForce

ERRORS: Mapping[str, type[ccxt.BaseError]] = {
    "400.002": ccxt.RateLimitExceeded,  # Request rejected due to exceeded rate limit.
    "400.009": ccxt.InsufficientFunds,  # Insufficient balance for provided user.
    "400.019": ccxt.DuplicateOrderId,  # Provided client_order_id already exists.
    "400.020": ccxt.InvalidOrder,  # Provided order size is lower than minimum order value.
    "400.021": ccxt.InvalidOrder,  # Provided price is out of range.
}
"""Bitstamp ``response_code`` -> the ccxt error it means, for the codes ccxt leaves as ``ExchangeError``."""

_RESPONSE_CODE = re.compile(r'"response_code"\s*:\s*"(\d{3}\.\d{3})"')
_FINAL = frozenset({"closed", "canceled", "expired", "rejected"})


@contextlib.contextmanager
def venue_errors() -> Iterator[None]:
    """Re-raise a generic ``ExchangeError`` carrying a known Bitstamp ``response_code`` as what it means."""
    try:
        yield
    except ccxt.ExchangeError as exc:
        found = _RESPONSE_CODE.search(str(exc))
        meant = ERRORS.get(found.group(1)) if found else None
        if meant is None or isinstance(exc, meant):
            raise
        raise meant(str(exc)) from exc


class BitstampOrders(VenueOrders):
    client_id_param: ClassVar[str] = "client_order_id"
    ioc_params: ClassVar[Mapping[str, object]] = {"ioc_order": "True"}  # the documented value, verbatim
    lookup_param: ClassVar[str] = "client_order_id"
    cancel_param: ClassVar[str] = "client_order_id"  # unused by the venue: cancel goes by exchange id

    def create(self, exchange: Any, symbol: str, order: OrderRequest) -> dict[str, Any]:
        with venue_errors():
            placed = super().create(exchange, symbol, order)
        if order.time_in_force is not TimeInForce.IOC:
            return placed
        try:  # the IOC is final once placed: read its status and fills
            final = self.fetch_by_client_id(exchange, symbol, order.client_order_id)
        except ccxt.BaseError:
            return placed  # the order is at the venue; the next poll or restart reads its outcome
        return final if final is not None else placed

    def fetch_by_client_id(self, exchange: Any, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        with venue_errors():
            found = super().fetch_by_client_id(exchange, symbol, client_order_id)
        return None if found is None else final_state(found)

    def cancel_by_client_id(
        self, exchange: Any, symbol: str, client_order_id: str, exchange_order_id: str
    ) -> None:
        order_id = exchange_order_id
        if not order_id:
            found = self.fetch_by_client_id(exchange, symbol, client_order_id)
            if found is None or found.get("status") in _FINAL:
                return  # never arrived, or nothing left to cancel
            order_id = str(found["id"])
        with venue_errors():
            try:
                exchange.cancel_order(order_id, symbol)
            except ccxt.OrderNotFound:
                return  # already final

    def trades_of(self, exchange: Any, symbol: str, exchange_order_id: str) -> list[dict[str, Any]]:
        """The order's own ``transactions`` from ``order_status`` (by exchange id): exactly its fills."""
        with venue_errors():
            remote = exchange.fetch_order(exchange_order_id, symbol)
        return [{**trade, "order": exchange_order_id} for trade in remote.get("trades") or []]


def final_state(remote: dict[str, Any]) -> dict[str, Any]:
    """``remote`` (ccxt's parse of ``order_status``) with the statuses ccxt leaves unmapped read as meant."""
    info = remote.get("info") or {}
    raw = info.get("status")
    remaining = info.get("amount_remaining")
    if raw == "Expired":
        return {**remote, "status": "expired"}
    if raw == "Finished" and remaining is not None and Decimal(str(remaining)) > 0:
        return {**remote, "status": "canceled", "remaining": str(remaining)}
    return remote


SPEC = VenueSpec(
    name="bitstamp",
    ccxt_id="bitstamp",
    rest_url="https://www.bitstamp.net",
    ws_url="wss://ws.bitstamp.net",
    client_ids=ClientIdRule("token", 32),
    feed_session=BitstampSession,
    orders=BitstampOrders,
    recording_prefix="BITSTAMP",
)
