"""Polymarket taker fees in exact decimal arithmetic, and the published schedule as data.

Fee model (docs.polymarket.com/trading/fees, 2026; see
``../shared/data/recordings/prediction_markets/polymarket/fees/``)::

    taker fee = C * feeRate * p * (1 - p)     truncated to 0.00001 USDC
    maker fee = 0                             (makers are never charged; they earn rebates)

with ``C`` shares at price ``p``. The truncation to 5 decimals is what the chain does: all 21 real
Polygon ``OrderFilled`` taker legs in the shared recordings (2026-09) satisfy it exactly (tested), whereas an
earlier docs version said "rounded to 4 decimal places". ``feeRate`` is per market: a market object carries
``feesEnabled`` and ``feeSchedule {rate, exponent, takerOnly, rebateRate}``, and the category table below
(:data:`CATEGORY_TAKER_RATES`) is only the published default — politics markets were fee-free in a 2026-03
capture and charged 0.04 in 2026-06, so read the market's own schedule where there is one.

**Buy fees are taken in shares** (the earlier docs: "fees are collected in shares on buy orders and USDC on
sell orders"): a buyer of ``C`` shares receives ``C - fee / p`` of them. For a complete set, whose payout is
the *smallest* holding, :func:`buy_fee_cost` values those missing shares at their maximum payout (1 each),
so a plan priced with it never overstates what it earns.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, Inexact, InvalidOperation

from sdk.fees.kalshi import KalshiInputError, to_decimal

FEE_QUANTUM = Decimal("0.00001")
"""Fees are truncated to 5 decimals (10 micro-USDC), as on chain."""
PRICE_PLACES = 4
SHARE_PLACES = 6  # on-chain amounts are 6-decimal mantissas

CATEGORY_TAKER_RATES: dict[str, Decimal] = {
    "crypto": Decimal("0.07"),
    "sports": Decimal("0.03"),
    "finance": Decimal("0.04"),
    "politics": Decimal("0.04"),
    "economics": Decimal("0.05"),
    "culture": Decimal("0.05"),
    "weather": Decimal("0.05"),
    "world": Decimal("0"),
}
"""Taker ``feeRate`` per category from the official 2026 page (Geopolitics/world markets are fee-free)."""
MAKER_REBATE: dict[str, Decimal] = {"crypto": Decimal("0.20")}
"""Share of taker fees returned to makers (0.25 where not listed here)."""

_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation])


class PolymarketFeeError(KalshiInputError):
    """A Polymarket fee input is invalid; the message names the field."""


def _places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _parse(name: str, value: object, places: int, upper: Decimal | None) -> Decimal:
    try:
        number = to_decimal(name, value)
    except KalshiInputError as exc:
        raise PolymarketFeeError(str(exc)) from None
    if number < 0 or (upper is not None and number > upper):
        bound = f"[0, {upper}]" if upper is not None else ">= 0"
        raise PolymarketFeeError(f"{name} must be in {bound}, got {value!r}")
    if _places(number) > places:
        raise PolymarketFeeError(f"{name} has more than {places} decimals, got {value!r}")
    return number


def taker_fee(shares: object, price: object, rate: object) -> Decimal:
    """``C * rate * p * (1 - p)`` truncated to 0.00001 USDC (the fee-equivalent value of one taker fill)."""
    c = _parse("shares", shares, SHARE_PLACES, None)
    p = _parse("price", price, PRICE_PLACES, Decimal(1))
    r = _parse("rate", rate, 6, Decimal(1))
    raw = _EXACT.multiply(_EXACT.multiply(_EXACT.multiply(c, r), p), _EXACT.subtract(Decimal(1), p))
    return raw.quantize(FEE_QUANTUM, rounding=ROUND_FLOOR, context=Context(prec=60))


def buy_fee_cost(shares: object, price: object, rate: object) -> Decimal:
    """What a taker *buy* fee costs a held-to-resolution position: the shares withheld (``fee / p``, the
    fee converted at the trade price), each worth at most 1 at resolution; never less than the fee."""
    fee = taker_fee(shares, price, rate)
    p = _parse("price", price, PRICE_PLACES, Decimal(1))
    if fee == 0:
        return fee
    if p == 0:
        raise PolymarketFeeError("price must be > 0 for a buy that pays a fee, got 0")
    withheld = Context(prec=60).divide(fee, p)
    return withheld.quantize(FEE_QUANTUM, rounding=ROUND_CEILING, context=Context(prec=60))


@dataclass(frozen=True, slots=True)
class PolymarketSchedule:
    """One market's fee parameters (``feeSchedule`` of the Gamma market), validated."""

    rate: Decimal
    exponent: int = 1
    taker_only: bool = True
    rebate_rate: Decimal = Decimal("0.25")

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.rate < Decimal(1):
            raise PolymarketFeeError(f"feeSchedule.rate must be in [0, 1), got {self.rate}")
        if self.exponent != 1:
            raise PolymarketFeeError(
                f"feeSchedule.exponent: only the 2026 schedule (exponent 1) is modelled, got {self.exponent}"
            )
        if not Decimal(0) <= self.rebate_rate <= Decimal(1):
            raise PolymarketFeeError(f"feeSchedule.rebateRate must be in [0, 1], got {self.rebate_rate}")

    @classmethod
    def from_market(cls, market: dict[str, object]) -> PolymarketSchedule:
        """From a Gamma market object: ``feesEnabled`` false -> rate 0; else its ``feeSchedule``."""
        if market.get("feesEnabled") is False:
            return cls(Decimal(0))
        schedule = market.get("feeSchedule")
        if not isinstance(schedule, dict):
            raise PolymarketFeeError(
                f"feeSchedule: expected an object on a fee-enabled market, got {type(schedule).__name__}"
            )
        try:
            rate = Decimal(str(schedule.get("rate")))
            exponent = int(str(schedule.get("exponent", 1)))
            rebate = Decimal(str(schedule.get("rebateRate", "0.25")))
        except (InvalidOperation, ValueError):
            raise PolymarketFeeError(f"feeSchedule: malformed {schedule!r}") from None
        return cls(rate, exponent, bool(schedule.get("takerOnly", True)), rebate)


__all__ = [
    "CATEGORY_TAKER_RATES",
    "FEE_QUANTUM",
    "MAKER_REBATE",
    "PolymarketFeeError",
    "PolymarketSchedule",
    "buy_fee_cost",
    "taker_fee",
]
