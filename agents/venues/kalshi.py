"""Kalshi (Trade API v2): REST markets, order books, orders, fills, positions and settlements with RSA-PSS
request signing; market data through ``agents.feeds.venues.kalshi`` (websocket ``orderbook_delta``).

Facts (docs.kalshi.com "API keys", "Create order", "Get fills", "Get positions", "Get settlements",
"orderbook_responses", "fixed_point_migration"; fixtures in ``../shared/data/recordings/prediction_markets/
kalshi``):

- Base ``https://api.elections.kalshi.com/trade-api/v2``. Every authenticated request carries
  ``KALSHI-ACCESS-KEY`` (the key id), ``KALSHI-ACCESS-TIMESTAMP`` (milliseconds) and
  ``KALSHI-ACCESS-SIGNATURE``: base64 of an RSA-PSS signature (SHA-256, MGF1-SHA-256, salt length = digest
  length) over ``timestamp + METHOD + path``, the path *with* ``/trade-api/v2`` and *without* the query
  string. The websocket handshake is signed the same way over ``GET /trade-api/ws/v2``.
- Public: ``GET /markets`` (``tickers``, ``event_ticker``, ``cursor``), ``GET /events/{event_ticker}``,
  ``GET /markets/{ticker}/orderbook`` (bids only; see ``sdk.fees.kalshi_book``).
- Orders: ``POST /portfolio/orders`` with ``ticker``, ``client_order_id`` (ours, derived from the plan's
  idempotency key), ``side`` (``yes``/``no``), ``action`` (``buy``/``sell``), ``count``, ``type: limit``,
  ``yes_price_dollars`` or ``no_price_dollars`` and ``time_in_force: immediate_or_cancel`` for IOC;
  answer ``{"order": {order_id, client_order_id, status, ...}}``. A duplicate ``client_order_id`` is refused
  (409), and ``GET /portfolio/orders?ticker=`` lists orders with their ``client_order_id``, so a lost answer
  is reconciled by client id before any re-send (``KalshiRest.submit``). ``DELETE /portfolio/orders/{id}``
  cancels.
- ``GET /portfolio/fills`` (``order_id``, ``ticker``): ``count_fp``, ``yes_price_dollars``,
  ``no_price_dollars``, ``side``, ``action``, ``is_taker``, ``fee_cost`` (dollars). ``GET
  /portfolio/positions``: ``market_positions[].position_fp`` (signed YES contracts). ``GET
  /portfolio/settlements``: ``ticker``, ``market_result`` (``yes``/``no``), ``yes_count_fp``,
  ``no_count_fp``, ``revenue`` (cents), ``settled_time``.
- Fees: ``round_up(0.07 * C * P * (1 - P))`` to the cent per order for takers (``sdk.fees.kalshi``); makers
  pay 0.0175 on the series that charge them.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import ccxt
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from agents.execution.clock import SystemClock
from agents.execution.live import CcxtVenue, LiveInstrument
from agents.execution.outbox import Outbox
from agents.feeds.venues.kalshi import KalshiSession
from agents.venues.prediction import PredictionVenueSpec
from agents.venues.spec import VenueOrders
from sdk.adapters.execution import OrderRequest, TimeInForce
from sdk.adapters.interfaces import ExecutionListener
from sdk.curves.prediction import KALSHI_FEE_RATE, FeeModel, KalshiFees

if TYPE_CHECKING:
    from agents.agent_config import AgentConfig

REST_URL = "https://api.elections.kalshi.com/trade-api/v2"
WS_URL = "wss://api.elections.kalshi.com"


class KalshiError(RuntimeError):
    """A Kalshi REST call failed; ``status`` is the HTTP status (0: no answer arrived)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class KalshiSigner:
    """Kalshi's request signature: RSA-PSS/SHA-256 over ``timestamp_ms + METHOD + path``."""

    def __init__(self, key_id: str, private_key: rsa.RSAPrivateKey) -> None:
        if not key_id:
            raise ValueError("key_id: the Kalshi API key id must not be empty")
        self.key_id = key_id
        self._key = private_key

    @classmethod
    def from_pem(cls, key_id: str, pem: str | bytes) -> KalshiSigner:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise ValueError(f"secret: not a PEM private key ({exc})") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"secret: Kalshi keys are RSA, got {type(key).__name__}")
        return cls(key_id, key)

    @classmethod
    def from_file(cls, key_id: str, path: Path) -> KalshiSigner:
        return cls.from_pem(key_id, path.read_bytes())

    def headers(self, method: str, path: str, timestamp_ms: int | None = None) -> dict[str, str]:
        ts = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
        message = (ts + method.upper() + urlsplit(path).path).encode()
        signature = self._key.sign(
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
        return {
            "KALSHI-ACCESS-KEY": self.key_id,
            "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode(),
            "KALSHI-ACCESS-TIMESTAMP": ts,
        }


def verify(public_key: rsa.RSAPublicKey, headers: Mapping[str, str], method: str, path: str) -> bool:
    """Check a request's Kalshi signature (the fake venue's side of ``KalshiSigner``)."""
    try:
        signature = base64.b64decode(headers["KALSHI-ACCESS-SIGNATURE"])
        message = (headers["KALSHI-ACCESS-TIMESTAMP"] + method.upper() + urlsplit(path).path).encode()
        public_key.verify(
            signature,
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
    except Exception:  # missing header, bad base64, bad signature: all one answer
        return False
    return True


class KalshiRest:
    """Kalshi's REST API, synchronous (the runtime calls it off the feed's loop)."""

    def __init__(
        self,
        base_url: str = REST_URL,
        signer: KalshiSigner | None = None,
        *,
        timeout_s: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.prefix = urlsplit(self.base_url).path
        self.signer = signer
        self.timeout_s = timeout_s
        self.http = session or requests.Session()

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            if self.signer is None:
                raise KalshiError(f"{method} {path}: needs credentials (api key id and RSA private key)")
            headers.update(self.signer.headers(method, self.prefix + path))
        try:
            response = self.http.request(
                method,
                self.base_url + path,
                params=dict(params or {}),
                json=dict(body) if body is not None else None,
                headers=headers,
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise KalshiError(f"{method} {path}: no answer ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise KalshiError(
                f"{method} {path}: HTTP {response.status_code} {response.text[:200]}", response.status_code
            )
        return response.json() if response.content else {}

    # -- public --------------------------------------------------------------------------------------------
    def markets(self, **params: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = self._call(
                "GET", "/markets", params={**params, "cursor": cursor} if cursor else params, auth=False
            )
            out.extend(page.get("markets") or [])
            cursor = str(page.get("cursor") or "")
            if not cursor:
                return out

    def event(self, event_ticker: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", f"/events/{event_ticker}", auth=False)
        return found

    def orderbook(self, ticker: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", f"/markets/{ticker}/orderbook", auth=False)
        return found

    # -- private -------------------------------------------------------------------------------------------
    def create_order(
        self,
        *,
        ticker: str,
        client_order_id: str,
        side: str,
        action: str,
        count: Decimal,
        price: Decimal,
        ioc: bool = True,
    ) -> dict[str, Any]:
        if side not in ("yes", "no") or action not in ("buy", "sell"):
            raise ValueError(f"side/action: expected yes|no and buy|sell, got {side!r}/{action!r}")
        body: dict[str, object] = {
            "ticker": ticker,
            "client_order_id": client_order_id,
            "side": side,
            "action": action,
            "count_fp": str(count),
            "type": "limit",
            f"{side}_price_dollars": f"{price:.4f}",
        }
        if ioc:
            body["time_in_force"] = "immediate_or_cancel"
        order: dict[str, Any] = self._call("POST", "/portfolio/orders", body=body)["order"]
        return order

    def orders(self, **params: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            self._call("GET", "/portfolio/orders", params=params).get("orders") or []
        )
        return found

    def find_by_client_id(self, ticker: str, client_order_id: str) -> dict[str, Any] | None:
        for order in self.orders(ticker=ticker):
            if order.get("client_order_id") == client_order_id:
                return order
        return None

    def submit(self, **order: Any) -> dict[str, Any]:
        """``create_order``, reconciled: after a lost answer or a 5xx the order is looked up by our client
        id before it is sent again, so a retry never places it twice."""
        try:
            return self.create_order(**order)
        except KalshiError as exc:
            if exc.status and exc.status < 500:
                raise
        found = self.find_by_client_id(order["ticker"], order["client_order_id"])
        return found if found is not None else self.create_order(**order)

    def cancel(self, order_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("DELETE", f"/portfolio/orders/{order_id}")
        return found

    def fills(self, **params: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/portfolio/fills", params=params).get("fills") or []
        return found

    def positions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/portfolio/positions").get("market_positions") or []
        return found

    def settlements(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/portfolio/settlements").get("settlements") or []
        return found

    def balance(self) -> Decimal:
        """Available cash in dollars (the API answers cents)."""
        return Decimal(int(self._call("GET", "/portfolio/balance")["balance"])) / 100


def _ccxt_error(exc: KalshiError) -> Exception:
    """The ccxt exception ``CcxtVenue`` reads for a Kalshi failure: unknown outcome (no answer, 5xx, 429),
    a duplicate id (the original is adopted), or a refusal."""
    kind: type[Exception] = ccxt.ExchangeError  # ccxt is untyped: its classes are Any to mypy
    if exc.status == 0 or exc.status >= 500 or exc.status == 429:
        kind = ccxt.OperationFailed
    elif exc.status == 409:
        kind = ccxt.InvalidOrder
    elif exc.status in (401, 403):
        kind = ccxt.AuthenticationError
    return kind(str(exc))


_STATUS = {"executed": "closed", "canceled": "canceled", "resting": "open", "pending": "open"}


class KalshiOrders(VenueOrders):
    """Kalshi's order semantics for ``CcxtVenue``, over ``KalshiRest`` (the ``exchange`` argument) instead
    of a ccxt module: answers are shaped as ccxt's unified order and trade structures. An instrument's
    symbol is ``TICKER:yes`` or ``TICKER:no``: buying or selling that outcome's contracts."""

    client_id_param: ClassVar[str] = "client_order_id"
    lookup_param: ClassVar[str] = "client_order_id"
    cancel_param: ClassVar[str] = "order_id"

    @staticmethod
    def split(symbol: str) -> tuple[str, str]:
        ticker, _, side = symbol.rpartition(":")
        if not ticker or side not in ("yes", "no"):
            raise ValueError(f"symbol must be 'TICKER:yes' or 'TICKER:no', got {symbol!r}")
        return ticker, side

    @staticmethod
    def unified(order: Mapping[str, Any]) -> dict[str, Any]:
        side = str(order.get("side") or "yes")
        return {
            "id": str(order["order_id"]),
            "clientOrderId": order.get("client_order_id"),
            "status": _STATUS.get(str(order.get("status")), "open"),
            "filled": str(order.get("fill_count_fp") or "0"),
            "price": order.get(f"{side}_price_dollars"),
            "info": dict(order),
        }

    def create(self, exchange: Any, symbol: str, order: OrderRequest) -> dict[str, Any]:
        ticker, side = self.split(symbol)
        try:
            remote = exchange.create_order(
                ticker=ticker,
                client_order_id=order.client_order_id,
                side=side,
                action=order.side.value,
                count=order.size,
                price=order.limit_price,
                ioc=order.time_in_force is TimeInForce.IOC,
            )
        except KalshiError as exc:
            raise _ccxt_error(exc) from exc
        return self.unified(remote)

    def fetch_by_client_id(self, exchange: Any, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        ticker, _ = self.split(symbol)
        try:
            found = exchange.find_by_client_id(ticker, client_order_id)
        except KalshiError as exc:
            raise _ccxt_error(exc) from exc
        return None if found is None else self.unified(found)

    def cancel_by_client_id(
        self, exchange: Any, symbol: str, client_order_id: str, exchange_order_id: str
    ) -> None:
        order_id = exchange_order_id
        if not order_id:
            found = self.fetch_by_client_id(exchange, symbol, client_order_id)
            if found is None:
                return
            order_id = str(found["id"])
        try:
            exchange.cancel(order_id)
        except KalshiError as exc:
            if exc.status != 404:
                raise _ccxt_error(exc) from exc

    def trades_of(self, exchange: Any, symbol: str, exchange_order_id: str) -> list[dict[str, Any]]:
        _, side = self.split(symbol)
        try:
            fills = exchange.fills(order_id=exchange_order_id)
        except KalshiError as exc:
            raise _ccxt_error(exc) from exc
        return [
            {
                "id": str(f["trade_id"]),
                "order": str(f["order_id"]),
                "price": str(f[f"{side}_price_dollars"]),
                "amount": str(f["count_fp"]),
                "fee": {"cost": str(f.get("fee_cost") or "0"), "currency": "USD"},
                "takerOrMaker": "taker" if f.get("is_taker", True) else "maker",
                "timestamp": f.get("created_time"),
            }
            for f in fills
            if str(f.get("order_id")) == exchange_order_id
        ]


def live_account(
    config: AgentConfig, key_id: str, pem: str, outbox_path: Path
) -> tuple[dict[str, Decimal], Callable[[ExecutionListener], CcxtVenue]]:
    """Live mode on Kalshi: the account's inventory (cash, and each instrument's contracts from the net
    position: YES held when positive, NO when negative) and the execution adapter factory (``CcxtVenue``
    over ``KalshiRest`` with ``KalshiOrders``; the outbox reconciles by client order id before a re-send)."""
    rest = KalshiRest(config.endpoints.rest or REST_URL, KalshiSigner.from_pem(key_id, pem))
    positions = {str(p["ticker"]): Decimal(str(p.get("position_fp") or "0")) for p in rest.positions()}
    inventory: dict[str, Decimal] = {config.quote_asset: rest.balance()}
    instruments: dict[str, LiveInstrument] = {}
    for i in config.instruments:
        assert i.market is not None  # the config checked it
        net = positions.get(i.market, Decimal(0))
        inventory[i.asset] = max(net, Decimal(0)) if i.outcome == "yes" else max(-net, Decimal(0))
        lot, tick = i.lot_size or Decimal(SPEC.lot_size), i.tick_size or Decimal(SPEC.tick_size)
        instruments[i.symbol] = LiveInstrument(f"{i.market}:{i.outcome}", i.asset, lot, tick)

    def venue(listener: ExecutionListener) -> CcxtVenue:
        return CcxtVenue(
            config.venue,
            rest,
            outbox=Outbox.sqlite(outbox_path),
            clock=SystemClock(),
            listener=listener,
            instruments=instruments,
            orders=KalshiOrders(),
        )

    return inventory, venue


def handshake(signer: KalshiSigner | None) -> Callable[[str], dict[str, str]]:
    """The websocket handshake's headers (the orderbook channel is private)."""

    def headers(path: str) -> dict[str, str]:
        return signer.headers("GET", path) if signer is not None else {}

    return headers


def _fees(rate: float | None) -> FeeModel:
    return KalshiFees(KALSHI_FEE_RATE if rate is None else rate)


SPEC = PredictionVenueSpec(
    name="kalshi",
    rest_url=REST_URL,
    ws_url=WS_URL,
    feed_session=KalshiSession,
    fees=_fees,
    live_orders=True,
    tick_size="0.01",
    lot_size="1",
)

__all__ = [
    "SPEC",
    "KalshiError",
    "KalshiOrders",
    "KalshiRest",
    "KalshiSigner",
    "handshake",
    "live_account",
    "verify",
]
