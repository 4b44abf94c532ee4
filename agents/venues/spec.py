"""One venue's facts as data: endpoints, its feed parser, its client-order-id format, its order semantics.

Each supported exchange is one module in this package (``coinbase``, ``gemini``, ``kraken``, ``bitstamp``,
``binance``) that declares a ``VenueSpec``; nothing else in the product names an exchange. The shape follows
cryptofeed's declarative exchange classes: class attributes carry what differs (the parameter that carries our
client order id, how IOC is spelled, how an order is found and cancelled by that id), and the shared
behaviour lives here once. A venue whose ccxt module needs a different call overrides one hook.

Instruments are named in the normalized ``BASE-QUOTE`` form everywhere in the agent (``BTC-USD``); ccxt's
unified form (``BTC/USD``) is derived here, and the venue's own spelling is cryptofeed's and ccxt's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import ccxt

from agents.execution.client_ids import ClientIdRule
from agents.feeds.session import VenueSession
from sdk.adapters.execution import OrderRequest, TimeInForce


def ccxt_symbol(instrument: str) -> str:
    """``BTC-USD`` -> ``BTC/USD`` (ccxt's unified spot symbol)."""
    base, sep, quote = instrument.partition("-")
    if not sep or not base or not quote:
        raise ValueError(f"instrument must be BASE-QUOTE (e.g. 'BTC-USD'), got {instrument!r}")
    return f"{base}/{quote}"


class VenueOrders:
    """How orders reach one venue through its ccxt module, keyed by our client order id.

    Class attributes are the data (override them per venue); the methods are the shared behaviour, each a
    hook a venue may override when its ccxt module needs another call. Every method is synchronous: ccxt's
    REST calls block, and the runtime calls them off the feed's event loop.
    """

    client_id_param: ClassVar[str] = "clientOrderId"
    """``create_order`` parameter that carries our client order id (the venue's own field name)."""
    ioc_params: ClassVar[Mapping[str, object]] = {"timeInForce": "IOC"}
    """Parameters that make a limit order immediate-or-cancel, in the venue's spelling."""
    gtc_params: ClassVar[Mapping[str, object]] = {}
    lookup_param: ClassVar[str] = "clientOrderId"
    """``fetch_order(None, symbol, {lookup_param: id})`` finds an order by our client order id."""
    cancel_param: ClassVar[str] = "clientOrderId"
    """``cancel_order(None, symbol, {cancel_param: id})`` cancels an order by our client order id."""

    def create_params(self, order: OrderRequest) -> dict[str, object]:
        params = dict(self.ioc_params if order.time_in_force is TimeInForce.IOC else self.gtc_params)
        params[self.client_id_param] = order.client_order_id
        return params

    def create(self, exchange: Any, symbol: str, order: OrderRequest) -> dict[str, Any]:
        remote: dict[str, Any] = exchange.create_order(
            symbol,
            "limit",
            order.side.value,
            str(order.size),
            str(order.limit_price),
            self.create_params(order),
        )
        return remote

    def fetch_by_client_id(self, exchange: Any, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        """The venue's view of our order (a ccxt order structure), or ``None`` when it never arrived."""
        try:
            found: dict[str, Any] = exchange.fetch_order(None, symbol, {self.lookup_param: client_order_id})
        except ccxt.OrderNotFound:
            return None
        return found

    def cancel_by_client_id(
        self, exchange: Any, symbol: str, client_order_id: str, exchange_order_id: str
    ) -> None:
        """Cancel our order; an order that is already final or never arrived is not an error."""
        try:
            exchange.cancel_order(exchange_order_id or None, symbol, {self.cancel_param: client_order_id})
        except ccxt.OrderNotFound:
            return

    def trades_of(self, exchange: Any, symbol: str, exchange_order_id: str) -> list[dict[str, Any]]:
        """The venue's fills of one order (ccxt trade structures)."""
        if exchange.has.get("fetchOrderTrades"):
            trades: list[dict[str, Any]] = exchange.fetch_order_trades(exchange_order_id, symbol)
        else:
            trades = exchange.fetch_my_trades(symbol)
        return [t for t in trades if str(t.get("order")) == exchange_order_id]


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """Everything the agent needs to know about one exchange, as data."""

    name: str
    """Our name for the exchange (the module's name, the ``exchange`` key of a venue config)."""
    ccxt_id: str
    """ccxt's exchange id for orders, balances and market metadata."""
    rest_url: str
    """Default REST base URL (scheme and host); a venue config may point it elsewhere (tests: a fake)."""
    ws_url: str
    """Default market-data websocket URL."""
    client_ids: ClientIdRule
    """Format of client order ids (derived from the plan's idempotency keys, never ccxt's random one)."""
    feed_session: type[VenueSession]
    """Parses this venue's market-data messages (live and replay alike)."""
    orders: type[VenueOrders]
    recording_prefix: str | None = None
    """File prefix of this venue's recordings (``../shared/data/recordings/cryptofeed``), if any."""
    ccxt_options: Mapping[str, object] | None = field(default=None, hash=False)
    """Extra ccxt constructor options for this venue."""
    credentials: tuple[str, ...] = ("apiKey", "secret")
    """ccxt credential fields this venue needs (``password`` for passphrase venues)."""
    swap: bool = False
    """Perpetual swaps: instruments are ``BASE-QUOTE-PERP`` and ccxt's symbols ``BASE/SETTLE:SETTLE``."""
    settle_aliases: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Quote -> settlement currency where they differ (Hyperliquid: ``USD`` perps settle in ``USDC``)."""

    def market_symbol(self, instrument: str) -> str:
        """ccxt's unified symbol of ``instrument``: spot ``BTC/USD``, or the swap ``BTC/USDT:USDT``."""
        if not self.swap:
            return ccxt_symbol(instrument)
        base, sep, rest = instrument.partition("-")
        quote = rest.removesuffix("-PERP")
        if not sep or not base or not quote or "-" in quote or quote == rest:
            raise ValueError(f"instrument must be BASE-QUOTE-PERP (e.g. 'BTC-USDT-PERP'), got {instrument!r}")
        settle = self.settle_aliases.get(quote, quote)
        return f"{base}/{settle}:{settle}"
