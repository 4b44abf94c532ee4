"""Order, fill and balance types of the execution side, and the errors every adapter maps venue errors to.

Quantities are ``Decimal`` here (unlike the float market data): orders are sent to venues as exact decimal
strings and fills are accounted to the last lot, so no binary rounding may creep in.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal

from sdk.adapters.events import Side

CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
"""Client order ids every venue in scope accepts (Binance: 36, Kraken/Coinbase: uuid-sized, ...)."""


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    """Sent, not yet acknowledged."""
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    """Terminal; for an IOC: the unfilled rest was cancelled (possibly after partial fills)."""
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED)


def _require_positive(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal):
        raise InvalidOrder(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        raise InvalidOrder(f"{name} must be finite and > 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An immediate-or-cancel limit order: fill what is available at ``limit_price`` or better, cancel
    the rest.

    ``limit_price`` is the price cap of the plan leg (buy: highest price paid, sell: lowest price accepted).
    ``client_order_id`` is derived from the PlanDelta leg's idempotency key, so a restarted agent that sends
    the same leg again is recognised by the venue (or the adapter) instead of trading twice.
    """

    venue: str
    symbol: str
    side: Side
    size: Decimal
    limit_price: Decimal
    client_order_id: str
    deadline_ts: float | None = None

    def __post_init__(self) -> None:
        _require_positive("size", self.size)
        _require_positive("limit_price", self.limit_price)
        if not CLIENT_ORDER_ID.match(self.client_order_id):
            raise InvalidOrder(
                f"client_order_id must match {CLIENT_ORDER_ID.pattern}, got {self.client_order_id!r}"
            )
        if not isinstance(self.side, Side):
            raise InvalidOrder(f"side must be a Side, got {self.side!r}")


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A state change of one order, with its cumulative fill."""

    venue: str
    client_order_id: str
    venue_order_id: str | None
    status: OrderStatus
    filled: Decimal
    remaining: Decimal
    ts: float
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class FillEvent:
    """One execution of an order: ``size`` at ``price``, fee in ``fee_asset``."""

    venue: str
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    fee_asset: str
    ts: float
    fill_id: str
    liquidity: str = "taker"


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


ExecutionEvent = OrderEvent | FillEvent


class AdapterError(Exception):
    """Base of the errors adapters raise; venue-specific errors are mapped onto the subclasses."""

    retryable = False


class InvalidOrder(AdapterError):
    """The order is malformed or violates the venue's rules (lot size, min notional, unknown symbol)."""


class InsufficientFunds(AdapterError):
    """Not enough balance or margin."""


class DuplicateClientOrderId(AdapterError):
    """An order with this client order id already exists: it was NOT sent again."""

    def __init__(self, client_order_id: str, existing: OrderEvent | None = None) -> None:
        super().__init__(f"client order id {client_order_id!r} already used")
        self.client_order_id = client_order_id
        self.existing = existing


class OrderNotFound(AdapterError):
    """No order with this id is known to the venue."""


class RateLimited(AdapterError):
    retryable = True

    def __init__(self, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class VenueUnavailable(AdapterError):
    """Network failure, maintenance, 5xx: the order's state is unknown until reconciled."""

    retryable = True


class AuthenticationFailed(AdapterError):
    """Credentials rejected."""
