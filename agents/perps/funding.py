"""Funding on perpetual positions: what a position pays or receives at each funding event, booked exactly.

At a funding event with rate ``r`` (per funding interval, as the venue publishes it) and mark price ``m``,
a position of ``q`` contracts (base units, signed: long > 0) pays ``q * m * r``: longs pay a positive rate
and shorts receive it, and the reverse for a negative rate. The booked amount is the account's cash flow,
``-q * m * r``. Everything is ``Decimal`` so a booked total equals the sum of its events to the last digit.

``PerpPositions`` is the pure state an agent keeps per instrument: the signed position built from its fills,
the funding booked at each event it was open through, and the fees; the agent feeds it fills and funding
events in time order (a funding event carries its own time, so replay and live book the same amounts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

ZERO = Decimal(0)


class FundingInputError(ValueError):
    """A funding event or fill that cannot be booked (the message names the field)."""


def _decimal(value: object, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise FundingInputError(f"{name}: expected a decimal number, got {value!r}") from None
    if not number.is_finite():
        raise FundingInputError(f"{name}: must be finite, got {value!r}")
    return number


@dataclass(frozen=True)
class FundingEvent:
    """One funding settlement of ``instrument`` at ``time_ms``: ``rate`` per interval, at ``mark``."""

    instrument: str
    time_ms: int
    rate: Decimal
    mark: Decimal

    def __post_init__(self) -> None:
        if not self.instrument:
            raise FundingInputError("instrument: must not be empty")
        if self.time_ms < 0:
            raise FundingInputError(f"time_ms: must be >= 0, got {self.time_ms}")
        if self.mark <= 0:
            raise FundingInputError(f"mark: must be > 0, got {self.mark}")


@dataclass(frozen=True)
class FundingPayment:
    """What one funding event booked on one position: ``amount`` > 0 is received, < 0 paid."""

    instrument: str
    time_ms: int
    position: Decimal
    mark: Decimal
    rate: Decimal
    amount: Decimal


def funding_amount(position: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """Cash flow of one funding event on ``position``: ``-position * mark * rate``."""
    return -(position * mark * rate)


@dataclass
class PerpPositions:
    """Signed positions per instrument, with the funding and fees booked on them (pure, in time order)."""

    positions: dict[str, Decimal] = field(default_factory=dict)
    funding: dict[str, Decimal] = field(default_factory=dict)
    fees: dict[str, Decimal] = field(default_factory=dict)
    payments: list[FundingPayment] = field(default_factory=list)
    last_time_ms: int = 0

    def _advance(self, time_ms: int, what: str) -> None:
        if time_ms < self.last_time_ms:
            raise FundingInputError(
                f"{what}.time_ms: {time_ms} is before the last booked event at {self.last_time_ms}"
            )
        self.last_time_ms = time_ms

    def fill(self, instrument: str, quantity: Decimal, *, fee: Decimal = ZERO, time_ms: int) -> Decimal:
        """Book a fill of signed ``quantity`` (buy > 0); returns the new position."""
        self._advance(time_ms, "fill")
        position = self.positions.get(instrument, ZERO) + quantity
        self.positions[instrument] = position
        self.fees[instrument] = self.fees.get(instrument, ZERO) + fee
        return position

    def settle(self, event: FundingEvent) -> FundingPayment | None:
        """Book ``event`` on the position held at its time; ``None`` when flat (nothing paid)."""
        self._advance(event.time_ms, "funding")
        position = self.positions.get(event.instrument, ZERO)
        if position == 0:
            return None
        amount = funding_amount(position, event.mark, event.rate)
        self.funding[event.instrument] = self.funding.get(event.instrument, ZERO) + amount
        payment = FundingPayment(event.instrument, event.time_ms, position, event.mark, event.rate, amount)
        self.payments.append(payment)
        return payment

    def position(self, instrument: str) -> Decimal:
        return self.positions.get(instrument, ZERO)

    def funding_pnl(self, instrument: str | None = None) -> Decimal:
        if instrument is not None:
            return self.funding.get(instrument, ZERO)
        return sum(self.funding.values(), ZERO)


def hyperliquid_funding(
    rows: Iterable[Mapping[str, object]], marks: Mapping[int, Decimal] | Decimal
) -> list[FundingEvent]:
    """Funding events from Hyperliquid ``fundingHistory`` rows (``coin``, ``fundingRate``, ``time``; hourly).

    The history carries no mark price: ``marks`` gives one per row time, or one for all rows."""
    events = []
    for n, row in enumerate(rows):
        coin = row.get("coin")
        if not isinstance(coin, str) or not coin:
            raise FundingInputError(f"rows[{n}].coin: expected a coin name, got {coin!r}")
        time_ms = row.get("time")
        if not isinstance(time_ms, int) or isinstance(time_ms, bool):
            raise FundingInputError(f"rows[{n}].time: expected integer milliseconds, got {time_ms!r}")
        rate = _decimal(row.get("fundingRate"), f"rows[{n}].fundingRate")
        mark = marks if isinstance(marks, Decimal) else marks.get(time_ms)
        if mark is None:
            raise FundingInputError(f"marks: no mark price for rows[{n}].time {time_ms}")
        events.append(FundingEvent(coin, time_ms, rate, mark))
    return events
