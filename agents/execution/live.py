"""Live execution through CCXT REST, idempotent across restarts.

Sending an order is three steps: commit the intent to the durable ``Outbox`` (state PENDING), send it with a
client order id derived from the leg's idempotency key, record what the venue answered. A crash anywhere in
between leaves a PENDING or SENT record; on restart (and before any re-send) the order is looked up at the
venue by client order id: if found, its state and fills are adopted; if not, it never arrived and may be sent,
with the same id, while its deadline allows. So the venue never sees the same leg twice.

``CcxtVenue`` is the SDK's ``ExecutionAdapter`` (``sdk.adapters.interfaces``) for every ccxt venue: what the
agent's executor calls in live mode, checked by the conformance kit. ``execution_adapter_class(spec)`` is the
subclass of one venue module (``agents.venues``): its manifest and its order semantics, as data.

Synchronous on purpose: ccxt's REST calls block, and the agent runs this shell off its event loop.
Fees: CCXT reports the fee per trade with its currency; a fee charged in the base asset is converted to quote
at the fill price (our ``FillEvent.fee`` is always quote).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import ccxt

from agents.execution.clock import Clock
from agents.execution.outbox import Outbox, OutboxRecord, OutboxState
from agents.execution.paper import execution_manifest
from agents.venues.spec import VenueOrders, VenueSpec
from sdk.adapters.events import BookSnapshot
from sdk.adapters.execution import (
    AdapterError,
    AuthenticationFailed,
    Balance,
    FillEvent,
    InsufficientFunds,
    InvalidOrder,
    Liquidity,
    OrderEvent,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    RateLimited,
    TimeInForce,
    VenueUnavailable,
    decimal_book,
    refusal,
)
from sdk.adapters.interfaces import ExecutionListener
from sdk.adapters.manifest import AdapterManifest, VenueKind


def orders_for(exchange_id: str) -> VenueOrders:
    """The order semantics of the venue whose ccxt id is ``exchange_id`` (``agents.venues``)."""
    from agents.venues import by_ccxt_id

    return by_ccxt_id(exchange_id).orders()


def make_exchange(
    exchange_id: str,
    *,
    base_url: str | None,
    api_key: str,
    secret: str,
    options: Mapping[str, object] | None = None,
) -> Any:
    """A synchronous ccxt exchange; with ``base_url`` every REST endpoint is redirected there (tests point it
    at a local fake venue; nothing else is contacted). Market loading is limited to spot and currencies are
    not fetched (they need endpoints unrelated to trading). The venue module's ``VenueSpec.ccxt_options``
    (``agents.venues``) and then ``options`` are merged over these defaults."""
    exchange_class = getattr(ccxt, exchange_id, None)
    if exchange_class is None:
        raise ValueError(f"exchange_id must be a ccxt exchange id, got {exchange_id!r}")
    merged: dict[str, object] = {
        "fetchCurrencies": False,
        "fetchMargins": False,
        "fetchMarkets": {"types": ["spot"]},
        "defaultType": "spot",
    }
    merged.update(venue_ccxt_options(exchange_id))
    merged.update(options or {})
    exchange = exchange_class(
        {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": False,
            "timeout": 5_000,
            "options": merged,
        }
    )
    if merged.get("fetchCurrencies") is False:
        # Some modules (coinbase) fetch currencies in load_markets whenever ``has`` says they can.
        exchange.has = {**exchange.has, "fetchCurrencies": False}
    exchange.number = str  # unified orders and trades carry decimal strings, never binary floats
    if base_url is not None:
        redirect_api_urls(exchange, base_url)
    return exchange


def venue_ccxt_options(exchange_id: str) -> dict[str, object]:
    """``ccxt_options`` of the venue module named like the ccxt exchange (if any speaks it)."""
    from agents.venues import names, venue_spec

    if exchange_id not in names():
        return {}
    spec = venue_spec(exchange_id)
    return dict(spec.ccxt_options or {}) if spec.ccxt_id == exchange_id else {}


def redirect_api_urls(exchange: Any, base_url: str) -> None:
    """Replace scheme and host of every URL in ``exchange.urls['api']``, keeping each path."""
    base = urlsplit(base_url)

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            parts = urlsplit(value)
            return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    exchange.urls["api"] = rewrite(exchange.urls["api"])


@dataclass(frozen=True, slots=True)
class LiveInstrument:
    symbol: str  # ccxt unified symbol, e.g. "SOL/USDT"
    asset: str  # the consensus asset it moves, e.g. "SOL"
    lot_size: Decimal
    tick_size: Decimal


def map_ccxt_error(exc: Exception) -> AdapterError:
    """The SDK error for a ccxt exception (most specific first: ccxt's classes form a hierarchy)."""
    table: tuple[tuple[type[Exception], type[AdapterError]], ...] = (
        (ccxt.InsufficientFunds, InsufficientFunds),
        (ccxt.OrderNotFound, OrderNotFound),
        (ccxt.AuthenticationError, AuthenticationFailed),
        (ccxt.RateLimitExceeded, RateLimited),
        (ccxt.DDoSProtection, RateLimited),
        (ccxt.NetworkError, VenueUnavailable),
        (ccxt.InvalidOrder, InvalidOrder),
        (ccxt.BadRequest, InvalidOrder),
    )
    for ccxt_type, sdk_type in table:
        if isinstance(exc, ccxt_type):
            return sdk_type(str(exc))
    return VenueUnavailable(str(exc))


def account_balances(exchange: Any) -> dict[str, Balance]:
    """The account's balances through ccxt, in the SDK's model (ccxt errors mapped to the SDK's): what
    the adapter answers and what a live agent starts from."""
    try:
        raw = exchange.fetch_balance()
    except ccxt.BaseError as exc:
        raise map_ccxt_error(exc) from exc
    used = dict(raw.get("used") or {})
    return {
        asset: Balance(asset, Decimal(str(free or 0)), Decimal(str(used.get(asset) or 0)))
        for asset, free in dict(raw.get("free") or {}).items()
    }


class CcxtVenue:
    """One venue through a ccxt exchange object, as the SDK's ``ExecutionAdapter``; events go to
    ``listener``. ``instruments`` is keyed by the normalized ``BASE-QUOTE`` symbol."""

    manifest: ClassVar[AdapterManifest] = execution_manifest(
        "arbsphere-ccxt-execution", "0.2.0", VenueKind.ORDER_BOOK, library=f"ccxt=={ccxt.__version__}"
    )
    orders_class: ClassVar[type[VenueOrders] | None] = None
    """The venue module's order semantics (``execution_adapter_class`` sets it); ``None``: looked up by the
    exchange's ccxt id."""

    def __init__(
        self,
        venue: str,
        exchange: Any,
        *,
        outbox: Outbox,
        clock: Clock,
        listener: ExecutionListener,
        instruments: Mapping[str, LiveInstrument],
        orders: VenueOrders | None = None,
    ) -> None:
        self.venue = venue
        self.exchange = exchange
        if orders is None:
            kind = self.orders_class
            orders = kind() if kind is not None else orders_for(str(getattr(exchange, "id", "")))
        self.orders = orders
        self.outbox = outbox
        self.clock = clock
        self.instruments = dict(instruments)
        self._listener = listener
        self._filled: dict[str, Decimal] = {}
        self._status: dict[str, OrderStatus] = {}
        self._latest: dict[str, OrderEvent] = {}
        self._fills_seen: set[str] = set()
        self.errors: dict[str, Exception] = {}  # the ccxt error behind a rejection or an unknown outcome

    # -- orders --------------------------------------------------------------------------------------
    def submit(self, order: OrderRequest, role: str = "leg") -> None:
        """Send ``order`` unless the outbox or the venue already has it (then adopt that state instead)."""
        record = self.outbox.get(order.client_order_id)
        if record is not None:
            self.reconcile(record)
            return
        instrument = self.instruments.get(order.instrument)
        if instrument is None or order.venue != self.venue or order.asset != instrument.asset:
            error = InvalidOrder(
                f"{self.venue} serves {sorted(self.instruments)} ({self.venue} venue, their base assets), "
                f"got {order.venue}/{order.instrument}/{order.asset}"
            )
            self._emit_status(order, OrderStatus.REJECTED, Decimal(0), "", refusal(error))
            return
        if self.clock.now_ms() > order.deadline_ms:
            self._emit_status(order, OrderStatus.EXPIRED, Decimal(0), "", "deadline passed before sending")
            return
        self.outbox.claim(order, role, self.clock.now_ms())
        self._send(order)

    def reconcile(self, record: OutboxRecord) -> None:
        """Bring one outbox record up to date with the venue (used after restarts and for polling)."""
        order = record.order
        if record.state in (OutboxState.DONE, OutboxState.NOT_SENT):
            remote = self._lookup(order) if record.state is OutboxState.DONE else None
            if remote is not None:
                self._adopt(order, remote)  # re-emit final state and fills for a fresh process
            elif record.state is OutboxState.NOT_SENT:
                self._emit_status(order, OrderStatus.EXPIRED, Decimal(0), "", "never sent")
            return
        remote = self._lookup(order)
        if remote is not None:
            self._adopt(order, remote)
            return
        if record.state is OutboxState.PENDING and self.clock.now_ms() <= order.deadline_ms:
            self._send(order)  # the venue never saw it: send it now, same client order id
            return
        self.outbox.mark(order.client_order_id, OutboxState.NOT_SENT, self.clock.now_ms())
        self._emit_status(order, OrderStatus.EXPIRED, Decimal(0), "", "not found at the venue after restart")

    def recover(self) -> list[OutboxRecord]:
        """Reconcile every unfinished record of this venue; returns all its records (for re-tracking)."""
        for record in self.outbox.records(venue=self.venue, unfinished_only=True):
            self.reconcile(record)
        return self.outbox.records(venue=self.venue)

    def poll(self) -> None:
        """Refresh orders still working at the venue (resting orders, unknown outcomes)."""
        for record in self.outbox.records(venue=self.venue, unfinished_only=True):
            self.reconcile(record)

    def cancel(self, client_order_id: str) -> None:
        record = self.outbox.get(client_order_id)
        if record is None or record.state in (OutboxState.DONE, OutboxState.NOT_SENT):
            return
        # Finished or never arrived is not an error: reconcile tells which.
        self.orders.cancel_by_client_id(
            self.exchange, self._symbol(record.order), client_order_id, record.exchange_order_id
        )
        self.reconcile(record)

    def fetch_order(self, client_order_id: str) -> OrderEvent:
        """The order's state at the venue, by client order id (nothing is emitted or adopted)."""
        record = self.outbox.get(client_order_id)
        latest = self._latest.get(client_order_id)
        if record is None:
            if latest is not None:
                return latest  # refused before it was sent
            raise OrderNotFound(f"no order with client order id {client_order_id!r}")
        order = record.order
        if record.state is OutboxState.NOT_SENT:
            return self._event(order, OrderStatus.EXPIRED, Decimal(0), "", "never sent")
        try:
            remote = self._lookup(order)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc) from exc
        if remote is None:
            if latest is not None:
                return latest  # refused by the venue: it keeps no record
            raise OrderNotFound(f"{self.venue} does not know client order id {client_order_id!r}")
        filled = Decimal(str(remote.get("filled") or 0))
        return self._event(order, status_of(order, remote), filled, str(remote.get("id") or ""), "")

    def balances(self) -> Mapping[str, Balance]:
        return account_balances(self.exchange)

    def book(self, instrument: str, depth: int = 20) -> BookSnapshot[Decimal]:
        raw = self.exchange.fetch_order_book(self.instruments[instrument].symbol, depth)
        ts = raw.get("timestamp") or self.clock.now_ms()
        return decimal_book(
            [(str(p), str(s)) for p, s, *_ in raw["bids"]],
            [(str(p), str(s)) for p, s, *_ in raw["asks"]],
            int(ts),
            venue=self.venue,
            symbol=instrument,
        )

    # -- internals -----------------------------------------------------------------------------------
    def _symbol(self, order: OrderRequest) -> str:
        return self.instruments[order.instrument].symbol

    def _send(self, order: OrderRequest) -> None:
        try:
            remote = self.orders.create(self.exchange, self._symbol(order), order)
        except ccxt.OperationFailed as exc:
            # Outcome unknown (network errors, and venue answers such as Binance's 5xx "execution status
            # unknown", which ccxt raises as OperationFailed): the record stays PENDING and the next poll or
            # restart reconciles it.
            self.errors[order.client_order_id] = exc
            return
        except ccxt.InvalidOrder as exc:
            found = self._lookup(order)  # a duplicate id is reported as an invalid order: adopt the original
            if found is not None:
                self._adopt(order, found)
                return
            self._reject(order, exc)
            return
        except ccxt.ExchangeError as exc:
            self._reject(order, exc)
            return
        self._adopt(order, remote)

    def _reject(self, order: OrderRequest, exc: Exception) -> None:
        self.errors[order.client_order_id] = exc
        self.outbox.mark(order.client_order_id, OutboxState.DONE, self.clock.now_ms())
        self._emit_status(order, OrderStatus.REJECTED, Decimal(0), "", refusal(map_ccxt_error(exc)))

    def lookup(self, order: OrderRequest) -> dict[str, Any] | None:
        """The venue's view of ``order`` (a ccxt order structure), or None if the venue never saw it."""
        return self._lookup(order)

    def _lookup(self, order: OrderRequest) -> dict[str, Any] | None:
        return self.orders.fetch_by_client_id(self.exchange, self._symbol(order), order.client_order_id)

    def _adopt(self, order: OrderRequest, remote: Mapping[str, Any]) -> None:
        cid = order.client_order_id
        exchange_id = str(remote.get("id") or "")
        status = status_of(order, remote)
        filled = Decimal(str(remote.get("filled") or 0))
        if filled > self._filled.get(cid, Decimal(0)):
            self._fetch_fills(order, exchange_id)
            self._filled[cid] = filled
        state = OutboxState.DONE if status.terminal else OutboxState.SENT
        self.outbox.mark(cid, state, self.clock.now_ms(), exchange_id)
        if self._status.get(cid) is not status:
            self._emit_status(order, status, filled, exchange_id, "")

    def _fetch_fills(self, order: OrderRequest, exchange_id: str) -> None:
        trades = self.orders.trades_of(self.exchange, self._symbol(order), exchange_id)
        for trade in sorted(trades, key=lambda tr: (tr.get("timestamp") or 0, str(tr.get("id")))):
            fill_id = f"{self.venue}:{trade['id']}"
            if fill_id in self._fills_seen:
                continue
            self._fills_seen.add(fill_id)
            price = Decimal(str(trade["price"]))
            size = Decimal(str(trade["amount"]))
            fee = _fee_in_quote(trade.get("fee"), price, order)
            maker = trade.get("takerOrMaker") == "maker"
            self._listener(
                FillEvent.of_order(
                    order,
                    fill_id=fill_id,
                    price=price,
                    size=size,
                    fee=fee,
                    liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
                    ts_ms=int(trade.get("timestamp") or self.clock.now_ms()),
                    venue=self.venue,
                )
            )

    def _emit_status(
        self, order: OrderRequest, status: OrderStatus, filled: Decimal, exchange_id: str, reason: str
    ) -> None:
        self._status[order.client_order_id] = status
        event = self._event(order, status, filled, exchange_id, reason)
        self._latest[order.client_order_id] = event
        self._listener(event)

    def _event(
        self, order: OrderRequest, status: OrderStatus, filled: Decimal, exchange_id: str, reason: str
    ) -> OrderEvent:
        return OrderEvent(
            client_order_id=order.client_order_id,
            venue=self.venue,
            instrument=order.instrument,
            status=status,
            filled=filled,
            remaining=Decimal(0) if status.terminal else order.size - filled,
            ts_ms=self.clock.now_ms(),
            exchange_order_id=exchange_id,
            reason=reason,
        )


def status_of(order: OrderRequest, remote: Mapping[str, Any]) -> OrderStatus:
    """Our status for a ccxt order structure of ``order``."""
    status = remote.get("status")
    filled = Decimal(str(remote.get("filled") or 0))
    if status == "closed":
        return OrderStatus.FILLED
    if status == "canceled":
        return OrderStatus.CANCELLED
    if status == "expired":
        # Binance reports an IOC's cancelled remainder as EXPIRED; for us that is a cancelled IOC.
        return OrderStatus.CANCELLED if order.time_in_force is TimeInForce.IOC else OrderStatus.EXPIRED
    if status == "rejected":
        return OrderStatus.REJECTED
    return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED


def _fee_in_quote(fee: Any, price: Decimal, order: OrderRequest) -> Decimal:
    if not fee or fee.get("cost") is None:
        return Decimal(0)
    cost = abs(Decimal(str(fee["cost"])))
    currency = str(fee.get("currency") or "")
    base = order.instrument.split("-")[0].split("/")[0]
    if currency and currency in (order.asset, base):
        return cost * price
    return cost


@cache
def execution_adapter_class(spec: VenueSpec) -> type[CcxtVenue]:
    """The ``CcxtVenue`` subclass of one venue module: its own manifest (the contract wants the manifest on
    the class) and its order semantics (``spec.orders``)."""
    manifest = CcxtVenue.manifest.evolve(
        name=f"arbsphere-ccxt-{spec.name}-execution",
        venue=spec.name,
        endpoints={"rest": spec.rest_url},
    )
    return type(
        f"{spec.name.capitalize()}CcxtVenue",
        (CcxtVenue,),
        {"manifest": manifest, "orders_class": spec.orders},
    )
