"""The one execution vocabulary: orders, fills, order events and balances (Decimal money), the validation
every value crossing into execution passes once, and the errors every adapter maps venue errors to.

Everything that executes uses these types: the agent's plan runner, the paper venues, the live (CCXT) venue,
the durable outbox and store, and ``ExecutionAdapter`` implementations checked by the conformance kit.

Quantities are ``Decimal`` here (unlike the float market data of ``sdk.adapters.events``): orders are sent to
venues as exact decimal strings and fills are accounted to the last lot, so no binary rounding may creep in.
Validation is crash-only: prices and sizes are finite, positive ``Decimal`` instances, identifiers are
non-empty, printable and bounded, client order ids match ``CLIENT_ORDER_ID``, timestamps are non-negative
integers in unix milliseconds. Every error names the field.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sdk.adapters.events import BookSnapshot, DecimalLevel, Side

__all__ = [
    "BPS",
    "CLIENT_ORDER_ID",
    "MAX_DECIMAL_DIGITS",
    "MAX_ID_LENGTH",
    "AdapterError",
    "AuthenticationFailed",
    "Balance",
    "ExecutionEvent",
    "ExecutionInputError",
    "FillEvent",
    "InsufficientFunds",
    "InvalidOrder",
    "Liquidity",
    "OrderEvent",
    "OrderNotFound",
    "OrderRequest",
    "OrderStatus",
    "RateLimited",
    "Side",
    "TimeInForce",
    "VenueUnavailable",
    "decimal_book",
    "exact",
    "exact_book",
    "parse_decimal",
    "refusal",
    "require_decimal",
    "require_id",
    "require_time_ms",
]

CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
"""Client order ids every venue in scope accepts (Binance: 36, Kraken/Coinbase: uuid-sized, ...);
``agents.execution.client_ids`` derives ids of this form from idempotency keys."""
MAX_ID_LENGTH = 256
MAX_DECIMAL_DIGITS = 40
BPS = Decimal(10_000)


class ExecutionInputError(ValueError):
    """An invalid value reached execution (bad decimal, unknown side, empty key, ...)."""


class AdapterError(Exception):
    """Base of the errors adapters raise; venue-specific errors are mapped onto the subclasses."""

    retryable = False


def refusal(error: AdapterError) -> str:
    """The ``reason`` of a ``REJECTED`` order event for a venue refusal: the SDK error's name, then the
    venue's words (``InsufficientFunds: Account has insufficient balance``)."""
    return f"{type(error).__name__}: {error}"


class InvalidOrder(AdapterError, ExecutionInputError):
    """The order is malformed or violates the venue's rules (lot size, min notional, unknown symbol).

    Also what ``OrderRequest`` raises for an invalid field, so it is an ``ExecutionInputError`` too."""


class InsufficientFunds(AdapterError):
    """Not enough balance or margin."""


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


class TimeInForce(enum.StrEnum):
    IOC = "ioc"  # immediate-or-cancel: take what the book gives up to the cap, cancel the rest
    GTC = "gtc"  # rest on the book until filled, cancelled or the deadline passes


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    """Recorded or sent, not yet acknowledged by the venue."""
    ACCEPTED = "accepted"
    """Acknowledged and open at the venue."""
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    """Terminal; for an IOC: the unfilled rest was cancelled (possibly after partial fills)."""
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
    field: str,
    value: object,
    *,
    positive: bool = False,
    non_negative: bool = False,
    error: type[ExecutionInputError] = ExecutionInputError,
) -> Decimal:
    """Parse a decimal string (or Decimal/int) strictly; reject floats, NaN, inf, signs the field forbids."""
    if isinstance(value, bool | float):
        raise error(
            f"{field} must be a decimal string, got {type(value).__name__} {value!r} (floats lose money)"
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | str):
        text = str(value).strip()
        if not text:
            raise error(f"{field} must be a decimal string, got an empty string")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise error(f"{field} must be a decimal string, got {value!r}") from None
    else:
        raise error(f"{field} must be a decimal string, got {type(value).__name__}")
    if not number.is_finite():
        raise error(f"{field} must be finite, got {value!r}")
    parts = number.as_tuple()
    exponent = parts.exponent
    assert isinstance(exponent, int)  # finite numbers have an integer exponent
    if len(parts.digits) > MAX_DECIMAL_DIGITS or abs(exponent) > MAX_DECIMAL_DIGITS:
        raise error(f"{field} must have at most {MAX_DECIMAL_DIGITS} digits, got {value!r}")
    if positive and number <= 0:
        raise error(f"{field} must be > 0, got {value!r}")
    if non_negative and number < 0:
        raise error(f"{field} must be >= 0, got {value!r}")
    return number


def require_decimal(
    field: str,
    value: object,
    *,
    positive: bool = False,
    non_negative: bool = False,
    error: type[ExecutionInputError] = ExecutionInputError,
) -> Decimal:
    """A field typed ``Decimal`` holds a ``Decimal`` instance (not a string or an int) and passes
    ``parse_decimal``."""
    if not isinstance(value, Decimal):
        raise error(f"{field} must be a Decimal, got {type(value).__name__} {value!r}")
    return parse_decimal(field, value, positive=positive, non_negative=non_negative, error=error)


def require_id(field: str, value: object, *, error: type[ExecutionInputError] = ExecutionInputError) -> str:
    """A non-empty printable identifier of bounded length."""
    if not isinstance(value, str) or not value:
        raise error(f"{field} must be a non-empty string, got {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise error(f"{field} must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    if not value.isprintable():
        raise error(f"{field} must be printable, got {value!r}")
    return value


def require_time_ms(
    field: str, value: object, *, error: type[ExecutionInputError] = ExecutionInputError
) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise error(f"{field} must be a non-negative integer (unix ms), got {value!r}")
    return value


def exact(value: float) -> Decimal:
    """The decimal a float of market data stands for. Feeds parse the venue's decimal strings into floats;
    ``repr`` gives back the shortest string that round-trips, which is the venue's own string for every
    value of at most 15 significant digits (all prices and sizes of the venues in scope)."""
    return Decimal(repr(value))


def exact_book(book: BookSnapshot[float]) -> BookSnapshot[Decimal]:
    """``book`` with its levels read exactly (``exact``), for execution."""
    return BookSnapshot(
        book.venue,
        book.symbol,
        tuple((exact(p), exact(q)) for p, q in book.bids),
        tuple((exact(p), exact(q)) for p, q in book.asks),
        book.receipt_ts,
        book.exchange_ts,
        book.sequence,
    )


def decimal_book(
    bids: Iterable[tuple[object, object]],
    asks: Iterable[tuple[object, object]],
    ts_ms: int,
    *,
    venue: str = "paper",
    symbol: str = "BOOK",
) -> BookSnapshot[Decimal]:
    """Validate and build an exact snapshot at the boundary (REST snapshots, tests, replays): prices and sizes
    are decimal strings or Decimals, > 0, bids strictly descending, asks strictly ascending, not crossed."""
    b = _levels("bids", bids, descending=True)
    a = _levels("asks", asks, descending=False)
    if b and a and b[0][0] >= a[0][0]:
        raise ExecutionInputError(f"book must not be crossed: best bid {b[0][0]} >= best ask {a[0][0]}")
    require_time_ms("ts_ms", ts_ms)
    return BookSnapshot(require_id("venue", venue), require_id("symbol", symbol), b, a, ts_ms / 1000)


def _levels(
    field: str, raw: Iterable[tuple[object, object]], *, descending: bool
) -> tuple[DecimalLevel, ...]:
    out: list[DecimalLevel] = []
    for i, (p, s) in enumerate(raw):
        price = parse_decimal(f"{field}[{i}].price", p, positive=True)
        size = parse_decimal(f"{field}[{i}].size", s, positive=True)
        if out:
            prev = out[-1][0]
            if (descending and price >= prev) or (not descending and price <= prev):
                order = "descending" if descending else "ascending"
                raise ExecutionInputError(f"{field} must be strictly {order} by price: {prev} then {price}")
        out.append((price, size))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One limit order we intend to place; ``limit_price`` is the worst acceptable price (the cap: buy: the
    highest price paid, sell: the lowest price accepted).

    ``client_order_id`` is derived from the PlanDelta leg's idempotency key (``idempotency_key``), so a
    restarted agent that sends the same leg again is recognised by the venue (or the adapter) instead of
    trading twice. ``instrument`` is the normalized ``BASE-QUOTE`` symbol, ``asset`` its base and ``quote``
    the currency fees and cash are counted in. An invalid field raises ``InvalidOrder`` naming it.
    """

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
            require_id(name, getattr(self, name), error=InvalidOrder)
        if not CLIENT_ORDER_ID.match(self.client_order_id):
            raise InvalidOrder(
                f"client_order_id must match {CLIENT_ORDER_ID.pattern}, got {self.client_order_id!r}"
            )
        if not isinstance(self.side, Side):
            raise InvalidOrder(f"side must be a Side, got {self.side!r}")
        if not isinstance(self.time_in_force, TimeInForce):
            raise InvalidOrder(f"time_in_force must be a TimeInForce, got {self.time_in_force!r}")
        require_decimal("size", self.size, positive=True, error=InvalidOrder)
        require_decimal("limit_price", self.limit_price, positive=True, error=InvalidOrder)
        require_time_ms("deadline_ms", self.deadline_ms, error=InvalidOrder)

    @property
    def notional(self) -> Decimal:
        """Worst-case quote notional (size at the cap)."""
        return self.size * self.limit_price


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A state change of one order at a venue, with its cumulative fill (``filled + remaining`` is the order's
    size until it is terminal). ``exchange_order_id`` is the venue's id (``""`` before it assigned one)."""

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
    """One execution of (part of) an order: ``size`` at ``price``; ``fee`` is in ``quote`` and always >= 0."""

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
        if not isinstance(self.side, Side):
            raise ExecutionInputError(f"side must be a Side, got {self.side!r}")
        if not isinstance(self.liquidity, Liquidity):
            raise ExecutionInputError(f"liquidity must be a Liquidity, got {self.liquidity!r}")
        require_decimal("price", self.price, positive=True)
        require_decimal("size", self.size, positive=True)
        require_decimal("fee", self.fee, non_negative=True)

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


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


ExecutionEvent = OrderEvent | FillEvent
