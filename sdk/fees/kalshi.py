"""Kalshi trading fees in exact decimal arithmetic.

Fee model (Kalshi fee schedule as published since the July 2025 update; see ``../shared/data/fees/kalshi``)::

    taker fee = roundup(0.07   * C * P * (1 - P))   to the next cent
    maker fee = roundup(0.0175 * C * P * (1 - P))   to the next cent (markets that charge makers)

with ``C`` contracts at price ``P`` dollars. :func:`taker_fee` / :func:`maker_fee` / :func:`trading_fee` give
that classic per-order number. Kalshi's documented per-fill mechanics
(``docs.kalshi.com/getting_started/fee_rounding``) are in :func:`fill_fee` and :func:`order_fees`:

1. the model fee is rounded *up* to the centicent ($0.0001);
2. ``balance_change = revenue - trade_fee`` (revenue signed, negative for a buyer);
3. ``balance_change`` is floored toward -inf to the member's balance precision ($0.01, or $0.0001 for
   direct members);
4. ``rounding_fee = balance_change - floor(balance_change)``;

and a per-order accumulator of rounding fees returns whole cents once it exceeds $0.01. For whole-contract
fills at cent prices by a non-direct member, the net fee of a single fill equals the classic formula (tested).

All arithmetic is :class:`~decimal.Decimal` in a private context with ``Inexact`` trapped, so no result is
ever silently rounded; floats are accepted at the boundary only through their shortest ``repr`` (``0.07`` ->
``Decimal("0.07")``), never through binary float arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, Inexact, InvalidOperation

TAKER_RATE = Decimal("0.07")
MAKER_RATE = Decimal("0.0175")
CENT = Decimal("0.01")
CENTICENT = Decimal("0.0001")
PRICE_PLACES = 4  # *_dollars fields: fixed point with up to 4 decimals
CONTRACT_PLACES = 2  # *_fp fields: minimum granularity 0.01 contracts
MAX_CONTRACTS = Decimal(10) ** 12

_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation])


class KalshiInputError(ValueError):
    """A Kalshi price, size or fee input is invalid (NaN, outside [0, 1], negative, too precise...)."""


def to_decimal(name: str, value: object) -> Decimal:
    """Exact ``Decimal`` of ``value`` (``Decimal``, ``int``, ``str`` or ``float`` via its shortest repr)."""
    if isinstance(value, bool):
        raise KalshiInputError(f"{name} must be a number, got bool {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise KalshiInputError(f"{name} must be a decimal number, got {value!r}") from None
    else:
        raise KalshiInputError(f"{name} must be a Decimal, int, str or float, got {type(value).__name__}")
    if not number.is_finite():
        raise KalshiInputError(f"{name} must be finite, got {value!r}")
    return number


def _places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite numbers only reach here
    return max(0, -exponent)


def parse_price(value: object, name: str = "price") -> Decimal:
    """A contract price in dollars: within ``[0, 1]`` with at most 4 decimals."""
    price = to_decimal(name, value)
    if not Decimal(0) <= price <= Decimal(1):
        raise KalshiInputError(f"{name} must be a probability in [0, 1] dollars, got {value!r}")
    if _places(price) > PRICE_PLACES:
        raise KalshiInputError(
            f"{name} has more than {PRICE_PLACES} decimals ($0.0001 is the finest), got {value!r}"
        )
    return price


def parse_contracts(value: object, name: str = "contracts") -> Decimal:
    """A contract count: ``>= 0``, at most 2 decimals (fractional contracts), below 10**12."""
    contracts = to_decimal(name, value)
    if contracts < 0:
        raise KalshiInputError(f"{name} must be >= 0, got {value!r}")
    if contracts >= MAX_CONTRACTS:
        raise KalshiInputError(f"{name} must be < 10**12, got {value!r}")
    if _places(contracts) > CONTRACT_PLACES:
        raise KalshiInputError(
            f"{name} has more than {CONTRACT_PLACES} decimals (0.01 is the finest), got {value!r}"
        )
    return contracts


def _parse_rate(value: object) -> Decimal:
    rate = to_decimal("rate", value)
    if not Decimal(0) <= rate <= Decimal(1):
        raise KalshiInputError(f"rate must be in [0, 1] (0.07 taker), got {value!r}")
    return rate


def raw_fee(contracts: object, price: object, rate: object = TAKER_RATE) -> Decimal:
    """Unrounded model fee ``rate * C * P * (1 - P)`` in dollars, exact."""
    c, p, r = parse_contracts(contracts), parse_price(price), _parse_rate(rate)
    return _EXACT.multiply(_EXACT.multiply(_EXACT.multiply(r, c), p), _EXACT.subtract(Decimal(1), p))


def round_up(amount: Decimal, quantum: Decimal = CENT) -> Decimal:
    """``amount`` rounded toward +inf to a multiple of ``quantum`` (exact)."""
    return amount.quantize(quantum, rounding=ROUND_CEILING, context=Context(prec=60))


def round_down(amount: Decimal, quantum: Decimal = CENT) -> Decimal:
    """``amount`` rounded toward -inf to a multiple of ``quantum`` (exact)."""
    return amount.quantize(quantum, rounding=ROUND_FLOOR, context=Context(prec=60))


def trading_fee(contracts: object, price: object, rate: object = TAKER_RATE) -> Decimal:
    """``roundup(rate * C * P * (1 - P))`` to the next cent, in dollars."""
    return round_up(raw_fee(contracts, price, rate), CENT)


def taker_fee(contracts: object, price: object) -> Decimal:
    """Taker fee of one order: ``roundup(0.07 * C * P * (1 - P))`` to the cent, in dollars."""
    return trading_fee(contracts, price, TAKER_RATE)


def maker_fee(contracts: object, price: object) -> Decimal:
    """Maker fee of one order (where charged): ``roundup(0.0175 * C * P * (1 - P))`` to the cent."""
    return trading_fee(contracts, price, MAKER_RATE)


@dataclass(frozen=True, slots=True)
class FillFee:
    """Fee components of one fill, in dollars; ``net_fee = trade_fee + rounding_fee - rebate``."""

    trade_fee: Decimal
    rounding_fee: Decimal
    rebate: Decimal
    net_fee: Decimal
    balance_change: Decimal


def _balance_precision(direct_member: bool) -> Decimal:
    if not isinstance(direct_member, bool):
        raise KalshiInputError(f"direct_member must be a bool, got {type(direct_member).__name__}")
    return CENTICENT if direct_member else CENT


def fill_fee(revenue: object, model_fee: object, *, direct_member: bool = False) -> FillFee:
    """One fill's fee by the documented rounding mechanics, without the order accumulator (``rebate = 0``).

    ``revenue`` is the signed cash of the fill (``-C*P`` for a buyer); ``model_fee`` the unrounded fee
    (:func:`raw_fee`). The balance then changes by ``balance_change``, aligned to the member's precision.
    """
    rev = to_decimal("revenue", revenue)
    fee = to_decimal("model_fee", model_fee)
    if fee < 0:
        raise KalshiInputError(f"model_fee must be >= 0, got {model_fee!r}")
    precision = _balance_precision(direct_member)
    trade = round_up(fee, CENTICENT)
    change = _EXACT.subtract(rev, trade)
    floored = round_down(change, precision)
    rounding = _EXACT.subtract(change, floored)
    return FillFee(trade, rounding, Decimal(0), _EXACT.add(trade, rounding), floored)


@dataclass(frozen=True, slots=True)
class KalshiFill:
    """One fill of an order: ``contracts`` at ``price``, bought (``is_buy``) or sold, as maker or taker."""

    contracts: Decimal
    price: Decimal
    is_buy: bool
    is_maker: bool = False


def order_fees(
    fills: Sequence[KalshiFill],
    *,
    direct_member: bool = False,
    taker_rate: object = TAKER_RATE,
    maker_rate: object = MAKER_RATE,
) -> tuple[FillFee, ...]:
    """Fees of every fill of one order, with the per-order rounding accumulator.

    The accumulator sums rounding fees across the order's fills (taker and maker alike); once it *exceeds*
    $0.01 (the documentation's word) a one-cent rebate is issued and the accumulator drops by $0.01. The
    documentation also states the net fee is never negative, so a rebate that would make it negative waits
    for a later fill. Kalshi's worked examples were not retrievable, so these two readings are ours.
    """
    precision = _balance_precision(direct_member)
    accumulated = Decimal(0)
    out: list[FillFee] = []
    for i, fill in enumerate(fills):
        contracts = parse_contracts(fill.contracts, f"fills[{i}].contracts")
        price = parse_price(fill.price, f"fills[{i}].price")
        notional = _EXACT.multiply(contracts, price)
        revenue = -notional if fill.is_buy else notional
        model = raw_fee(contracts, price, maker_rate if fill.is_maker else taker_rate)
        base = fill_fee(revenue, model, direct_member=precision == CENTICENT)
        accumulated = _EXACT.add(accumulated, base.rounding_fee)
        rebate = Decimal(0)
        if accumulated > CENT and base.net_fee >= CENT:
            rebate = CENT
            accumulated = _EXACT.subtract(accumulated, CENT)
        out.append(
            FillFee(
                base.trade_fee,
                base.rounding_fee,
                rebate,
                _EXACT.subtract(base.net_fee, rebate),
                _EXACT.add(base.balance_change, rebate),
            )
        )
    return tuple(out)
