"""From a venue's mark-price and funding-rate stream to the funding events a position is charged at.

Venues publish the *current* funding rate and the time it is next charged continuously (Binance
``markPrice@1s``: ``r`` and ``T``; Bybit ``tickers``: ``fundingRate`` and ``nextFundingTime``; Hyperliquid
``activeAssetCtx``: the hourly ``funding``, charged on the hour). No message says "funding was charged now":
a settlement is the moment the announced funding time passes. ``FundingClock`` turns the stream into those
moments: when an observation arrives at or after the announced time (or announces a later one), the rate
and mark last seen *before* that time are the ones settled, and a ``FundingEvent`` is emitted for it, once.

Rates are compared across venues per 8 hours (``per_8h``): Hyperliquid charges hourly, Binance and Bybit
every 8 hours (some symbols 4 h; the interval travels with each observation).

``perp_curve`` turns a venue's book and its last funding observation into the agent's perpetual cost curve.

Pure: no I/O, no clock; feed it ``sdk.adapters.events.Funding`` observations in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agents.perps.funding import FundingEvent, FundingInputError
from sdk.adapters.events import Funding
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.perp import PerpetualCurve

EIGHT_HOURS_S = Decimal(8 * 3600)


def to_decimal(value: float, name: str) -> Decimal:
    """A float from a parsed message as the decimal it was printed as (``repr`` round-trips)."""
    number = Decimal(repr(value))
    if not number.is_finite():
        raise FundingInputError(f"{name}: must be finite, got {value!r}")
    return number


def per_8h(rate: Decimal, interval_s: Decimal) -> Decimal:
    """A funding rate charged every ``interval_s`` seconds, as the rate over 8 hours."""
    if interval_s <= 0:
        raise FundingInputError(f"interval_s: must be > 0, got {interval_s}")
    return rate * EIGHT_HOURS_S / interval_s


@dataclass
class _Pending:
    due_ms: int
    rate: Decimal
    mark: Decimal


class FundingClock:
    """Settlement moments of one venue's funding stream, per instrument (see the module docstring)."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self.settled: dict[str, int] = {}
        """Last funding time settled per instrument (a time is never settled twice)."""

    def observe(self, funding: Funding) -> list[FundingEvent]:
        """One observation; the settlements it reveals (at most one per instrument)."""
        if funding.next_funding_ts is None or funding.mark_price is None:
            return []
        now_ms = round((funding.exchange_ts or funding.receipt_ts) * 1000)
        due_ms = round(funding.next_funding_ts * 1000)
        rate = to_decimal(funding.rate, "rate")
        mark = to_decimal(funding.mark_price, "mark_price")
        if mark <= 0:
            raise FundingInputError(f"mark_price: must be > 0, got {funding.mark_price!r}")
        out: list[FundingEvent] = []
        pending = self._pending.get(funding.symbol)
        if pending is not None and (now_ms >= pending.due_ms or due_ms > pending.due_ms):
            if self.settled.get(funding.symbol, -1) < pending.due_ms:
                out.append(FundingEvent(funding.symbol, pending.due_ms, pending.rate, pending.mark))
                self.settled[funding.symbol] = pending.due_ms
            pending = None
        if now_ms < due_ms and due_ms > self.settled.get(funding.symbol, -1):
            self._pending[funding.symbol] = _Pending(due_ms, rate, mark)
        elif pending is None:
            self._pending.pop(funding.symbol, None)
        return out


@dataclass(frozen=True, slots=True)
class PerpTerms:
    """What an agent's perpetual curve needs besides the book: its margin and how long a plan holds."""

    margin: float
    """Collateral for the position, in quote."""
    max_leverage: float = 1.0
    horizon_hours: float = 8.0
    """Funding carry horizon of a plan (one 8 h interval by default)."""


def perp_curve(
    book: OrderBookCurve, funding: Funding | None, mid: float, terms: PerpTerms, position: float = 0.0
) -> PerpetualCurve:
    """The perpetual's cost curve from its book and the venue's last funding observation: the rate per
    interval as a rate per hour, marked at the venue's mark price (the book's mid before any arrives)."""
    rate_h, mark = 0.0, mid
    if funding is not None:
        interval_h = (funding.interval_s or float(EIGHT_HOURS_S)) / 3600.0
        rate_h = funding.rate / interval_h
        if funding.mark_price is not None and funding.mark_price > 0:
            mark = funding.mark_price
    return PerpetualCurve(
        book,
        mark_price=mark,
        funding_rate_per_hour=rate_h,
        horizon_hours=terms.horizon_hours,
        margin=terms.margin,
        max_leverage=terms.max_leverage,
        position=position,
    )
