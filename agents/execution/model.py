"""Orders, fills and order events: the execution vocabulary, with Decimal money and sizes.

Every value crossing into execution is validated here once (crash-only core): prices and sizes are finite,
positive Decimals, identifiers are non-empty and bounded, timestamps are non-negative integers in ms.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sdk.adapters.events import Side

__all__ = [
    "BPS",
    "MAX_DECIMAL_DIGITS",
    "MAX_ID_LENGTH",
    "ExecutionEvent",
    "ExecutionInputError",
    "FillEvent",
    "Liquidity",
    "OrderEvent",
    "OrderRequest",
    "OrderStatus",
    "Side",
    "TimeInForce",
    "parse_decimal",
    "require_id",
    "require_time_ms",
]

MAX_ID_LENGTH = 256
MAX_DECIMAL_DIGITS = 40
BPS = Decimal(10_000)


class ExecutionInputError(ValueError):
    """An invalid value reached execution (bad decimal, unknown side, empty key, ...)."""


class TimeInForce(enum.StrEnum):
    IOC = "ioc"  # immediate-or-cancel: take what the book gives up to the cap, cancel the rest
    GTC = "gtc"  # rest on the book until filled, cancelled or the deadline passes


class OrderStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


class Liquidity(enum.StrEnum):
    MAKER = "maker"
    TAKER = "taker"


def parse_decimal(
    field: str, value: object, *, positive: bool = False, non_negative: bool = False
) -> Decimal:
    """Parse a decimal string (or Decimal/int) strictly; reject floats, NaN, inf, signs the field forbids."""
    if isinstance(value, bool | float):
        raise ExecutionInputError(
            f"{field} must be a decimal string, got {type(value).__name__} {value!r} (floats lose money)"
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | str):
        text = str(value).strip()
        if not text:
            raise ExecutionInputError(f"{field} must be a decimal string, got an empty string")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ExecutionInputError(f"{field} must be a decimal string, got {value!r}") from None
    else:
        raise ExecutionInputError(f"{field} must be a decimal string, got {type(value).__name__}")
    if not number.is_finite():
        raise ExecutionInputError(f"{field} must be finite, got {value!r}")
    parts = number.as_tuple()
    exponent = parts.exponent
    assert isinstance(exponent, int)  # finite numbers have an integer exponent
    if len(parts.digits) > MAX_DECIMAL_DIGITS or abs(exponent) > MAX_DECIMAL_DIGITS:
        raise ExecutionInputError(f"{field} must have at most {MAX_DECIMAL_DIGITS} digits, got {value!r}")
    if positive and number <= 0:
        raise ExecutionInputError(f"{field} must be > 0, got {value!r}")
    if non_negative and number < 0:
        raise ExecutionInputError(f"{field} must be >= 0, got {value!r}")
    return number


def require_id(field: str, value: object) -> str:
    """A non-empty printable identifier of bounded length."""
    if not isinstance(value, str) or not value:
        raise ExecutionInputError(f"{field} must be a non-empty string, got {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise ExecutionInputError(f"{field} must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    if not value.isprintable():
        raise ExecutionInputError(f"{field} must be printable, got {value!r}")
    return value


def require_time_ms(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ExecutionInputError(f"{field} must be a non-negative integer (unix ms), got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One limit order we intend to place; ``limit_price`` is the worst acceptable price (the cap)."""

    client_order_id: str
    idempotency_key: str
    plan_id: str
    venue: str
    instrument: str
    asset: str
    side: Side
    size: Decimal
    limit_price: Decimal
    deadline_ms: int
    time_in_force: TimeInForce = TimeInForce.IOC
    quote: str = "USD"

    def __post_init__(self) -> None:
        for name in (
            "client_order_id",
            "idempotency_key",
            "plan_id",
            "venue",
            "instrument",
            "asset",
            "quote",
        ):
            require_id(name, getattr(self, name))
        if not isinstance(self.side, Side):
            raise ExecutionInputError(f"side must be a Side, got {self.side!r}")
        if not isinstance(self.time_in_force, TimeInForce):
            raise ExecutionInputError(f"time_in_force must be a TimeInForce, got {self.time_in_force!r}")
        parse_decimal("size", self.size, positive=True)
        parse_decimal("limit_price", self.limit_price, positive=True)
        require_time_ms("deadline_ms", self.deadline_ms)

    @property
    def notional(self) -> Decimal:
        """Worst-case quote notional (size at the cap)."""
        return self.size * self.limit_price


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A state change of one of our orders at a venue."""

    client_order_id: str
    venue: str
    instrument: str
    status: OrderStatus
    filled: Decimal
    remaining: Decimal
    ts_ms: int
    exchange_order_id: str = ""
    reason: str = ""

    kind = "order"


@dataclass(frozen=True, slots=True)
class FillEvent:
    """One execution of (part of) an order; ``fee`` is in the quote unit and always >= 0."""

    fill_id: str
    client_order_id: str
    plan_id: str
    venue: str
    instrument: str
    asset: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: Liquidity
    ts_ms: int
    quote: str = "USD"

    kind = "fill"

    def __post_init__(self) -> None:
        require_id("fill_id", self.fill_id)
        parse_decimal("price", self.price, positive=True)
        parse_decimal("size", self.size, positive=True)
        parse_decimal("fee", self.fee, non_negative=True)

    @property
    def signed_size(self) -> Decimal:
        return self.side.sign * self.size

    @classmethod
    def of_order(
        cls,
        order: OrderRequest,
        *,
        fill_id: str,
        price: Decimal,
        size: Decimal,
        fee: Decimal,
        liquidity: Liquidity,
        ts_ms: int,
        venue: str | None = None,
    ) -> FillEvent:
        """A fill of ``order``: the order's identity fields plus what the venue reports (one place for all
        venue kinds: paper book, paper pool, live)."""
        return cls(
            fill_id=fill_id,
            client_order_id=order.client_order_id,
            plan_id=order.plan_id,
            venue=order.venue if venue is None else venue,
            instrument=order.instrument,
            asset=order.asset,
            side=order.side,
            price=price,
            size=size,
            fee=fee,
            liquidity=liquidity,
            ts_ms=ts_ms,
            quote=order.quote,
        )

    @property
    def cash_flow(self) -> Decimal:
        """Quote cash change of this fill: ``-side*price*size - fee``."""
        return -self.side.sign * self.price * self.size - self.fee


ExecutionEvent = OrderEvent | FillEvent
