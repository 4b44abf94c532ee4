"""Prediction-market outcome shares: convex cost with the Kalshi fee, and complete-set arbitrage.

A share of one outcome pays 1 if it resolves YES, so prices lie in ``(0, 1)``. Kalshi charges the taker
``ceil(0.07 * C * P * (1 - P))`` to the cent per order. For the convex ADMM model the fee is relaxed to a
per-share cost ``rate * P * (1 - P)``: buying at ``P`` costs ``P + rate P (1 - P)`` a share, selling yields
``P - rate P (1 - P)``; both rise with ``P`` on ``(0, 1)``, so walking the ladders stays convex. Execution
rounds to the cent with the exact schedule in ``sdk.fees.kalshi``; the relaxation understates the fee by under
a cent per order.

Complete-set arbitrage: in an event whose outcomes are mutually exclusive and exhaustive, one share of every
outcome pays exactly 1 at resolution, so buying the set for less than 1 (fees included) locks in the
difference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sdk.curves.base import CurveInputError, require_finite
from sdk.curves.order_book import (
    DEFAULT_BOOK_USAGE,
    Level,
    check_not_crossed,
    optional_bound,
    validate_levels,
)
from sdk.curves.piecewise import PiecewiseLinearCurve, ladder_knots

KALSHI_FEE_RATE = 0.07
DAYS_PER_YEAR = 365.0


def _check_fee_rate(name: str, rate: float) -> float:
    rate = require_finite(name, float(rate), non_negative=True)
    if rate >= 1.0:
        raise CurveInputError(f"{name} must be in [0, 1), got {rate!r}")
    return rate


def fee_per_share(price: float, fee_rate: float = KALSHI_FEE_RATE) -> float:
    """Continuous per-share taker fee ``fee_rate * P * (1 - P)`` (Kalshi's formula before rounding to the
    cent)."""
    p = require_finite("price", float(price))
    if not 0.0 <= p <= 1.0:
        raise CurveInputError(f"price must be a probability in [0, 1], got {p!r}")
    return fee_rate * p * (1.0 - p)


class PredictionMarketCurve(PiecewiseLinearCurve):
    """Cost of buying (``x > 0``) or selling YES shares of one outcome on one venue, per-share fee included.

    Parameters
    ----------
    bids, asks:
        ``(price, size)`` levels with ``0 < price < 1``; bids strictly descending, asks strictly ascending.
    fee_rate:
        Taker fee coefficient (Kalshi general: 0.07).
    book_usage:
        Fraction of each displayed level we may take, in ``(0, 1]``.
    lot_size:
        Contract size for execution rounding (Kalshi: 1 contract); metadata only.
    max_buy, max_sell:
        Box bounds in shares.
    """

    __slots__ = ("asks", "bids", "book_usage", "fee_rate", "lot_size")

    def __init__(
        self,
        bids: Iterable[Sequence[float]],
        asks: Iterable[Sequence[float]],
        *,
        fee_rate: float = KALSHI_FEE_RATE,
        book_usage: float = DEFAULT_BOOK_USAGE,
        lot_size: float = 1.0,
        max_buy: float | None = None,
        max_sell: float | None = None,
    ) -> None:
        self.bids = validate_levels("bids", bids, descending=True, price_max=1.0)
        self.asks = validate_levels("asks", asks, descending=False, price_max=1.0)
        check_not_crossed(self.bids, self.asks)
        self.fee_rate = _check_fee_rate("fee_rate", fee_rate)
        usage = require_finite("book_usage", float(book_usage), positive=True)
        if usage > 1.0:
            raise CurveInputError(f"book_usage must be in (0, 1], got {usage!r}")
        self.book_usage = usage
        self.lot_size = require_finite("lot_size", float(lot_size), non_negative=True)
        r = self.fee_rate
        knots, slopes = ladder_knots(
            [(p + r * p * (1.0 - p), q * usage) for p, q in self.asks],
            [(p - r * p * (1.0 - p), q * usage) for p, q in self.bids],
            max_buy=optional_bound("max_buy", max_buy),
            max_sell=optional_bound("max_sell", max_sell),
        )
        super().__init__(knots, slopes)


@dataclass(frozen=True, slots=True)
class CompleteSetQuote:
    """Economics of one complete set at the best asks: all amounts per set, in quote units."""

    cost: float
    fees: float
    edge: float
    spread_pct: float
    apy: float


@dataclass(frozen=True, slots=True)
class CompleteSetFill:
    outcome: str
    venue: str
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class CompleteSetPlan:
    """The most complete sets worth buying against the given depth, and what they earn.

    ``profit = sets - cost - fees``; ``spread_pct`` and ``apy`` are the return on ``cost + fees``.
    """

    sets: float
    cost: float
    fees: float
    profit: float
    spread_pct: float
    apy: float
    fills: tuple[CompleteSetFill, ...]


def _check_days(days_to_resolution: float) -> float:
    return require_finite("days_to_resolution", float(days_to_resolution), positive=True)


def annualise(ret: float, days_to_resolution: float) -> float:
    """Compounded annual yield of a return ``ret`` earned over ``days_to_resolution`` days."""
    days = _check_days(days_to_resolution)
    if ret <= -1.0:
        return -1.0
    try:
        return math.expm1(math.log1p(ret) * DAYS_PER_YEAR / days)
    except OverflowError:
        return math.inf


def complete_set_quote(
    best_asks: Mapping[str, float], days_to_resolution: float, *, fee_rate: float = KALSHI_FEE_RATE
) -> CompleteSetQuote:
    """Cost, fees, edge ``1 - cost - fees``, spread% and APY of buying one share of every outcome at its best
    ask."""
    rate = _check_fee_rate("fee_rate", fee_rate)
    days = _check_days(days_to_resolution)
    if len(best_asks) < 2:
        raise CurveInputError(f"best_asks must list every outcome of the event (>= 2), got {len(best_asks)}")
    cost = fees = 0.0
    for outcome, price in best_asks.items():
        p = require_finite(f"best_asks[{outcome!r}]", float(price))
        if not 0.0 < p < 1.0:
            raise CurveInputError(f"best_asks[{outcome!r}] must be a probability in (0, 1), got {p!r}")
        cost += p
        fees += rate * p * (1.0 - p)
    edge = 1.0 - cost - fees
    ret = edge / (cost + fees)
    return CompleteSetQuote(cost, fees, edge, 100.0 * ret, annualise(ret, days))


def complete_set_arbitrage(
    asks: Mapping[str, Mapping[str, Sequence[Sequence[float]]]],
    days_to_resolution: float,
    *,
    fee_rates: Mapping[str, float] | None = None,
    default_fee_rate: float = KALSHI_FEE_RATE,
    min_edge: float = 0.0,
    max_sets: float = math.inf,
    lot_size: float = 0.0,
) -> CompleteSetPlan:
    """Buy complete sets against real depth, cheapest shares first, while each extra set still earns
    more than ``min_edge``.

    ``asks[outcome][venue]`` is that venue's ask ladder for the outcome; every outcome of the event must
    appear. Each outcome's ladders are merged across venues by fee-inclusive unit cost; sets are bought in
    chunks as long as ``1 - sum(unit costs) > min_edge``. ``fee_rates[venue]`` overrides ``default_fee_rate``.
    With ``lot_size`` the number of sets is rounded down to whole lots (the least profitable sets go first).
    """
    days = _check_days(days_to_resolution)
    if len(asks) < 2:
        raise CurveInputError(f"asks must list every outcome of the event (>= 2), got {len(asks)}")
    min_edge = require_finite("min_edge", float(min_edge))
    max_sets = float(max_sets)
    if math.isnan(max_sets) or max_sets < 0.0:
        raise CurveInputError(f"max_sets must be >= 0, got {max_sets!r}")
    lot = require_finite("lot_size", float(lot_size), non_negative=True)
    default_rate = _check_fee_rate("default_fee_rate", default_fee_rate)
    rates = {v: _check_fee_rate(f"fee_rates[{v!r}]", r) for v, r in (fee_rates or {}).items()}
    ladders: list[tuple[str, list[tuple[float, float, float, str]]]] = []
    for outcome, venues in asks.items():
        merged: list[tuple[float, float, float, str]] = []  # (unit cost, price, size, venue)
        for venue, levels in venues.items():
            rate = rates.get(venue, default_rate)
            for p, q in validate_levels(
                f"asks[{outcome!r}][{venue!r}]", levels, descending=False, price_max=1.0
            ):
                if q > 0.0:
                    merged.append((p + rate * p * (1.0 - p), p, q, venue))
        merged.sort()
        ladders.append((outcome, merged))
    plan = _walk_sets(ladders, min_edge, max_sets)
    if lot > 0.0 and plan[0] > 0.0:
        plan = _walk_sets(ladders, min_edge, math.floor(plan[0] / lot + 1e-9) * lot)
    sets, cost, fees, fills = plan
    capital = cost + fees
    ret = (sets - capital) / capital if capital > 0.0 else 0.0
    return CompleteSetPlan(sets, cost, fees, sets - capital, 100.0 * ret, annualise(ret, days), fills)


def _walk_sets(
    ladders: list[tuple[str, list[tuple[float, float, float, str]]]], min_edge: float, max_sets: float
) -> tuple[float, float, float, tuple[CompleteSetFill, ...]]:
    idx = [0] * len(ladders)
    left = [ladder[0][2] if ladder else 0.0 for _, ladder in ladders]
    sets = cost = fees = 0.0
    fills: dict[tuple[str, str, float], float] = {}
    while sets < max_sets and all(i < len(lad) for i, (_, lad) in zip(idx, ladders, strict=True)):
        levels = [lad[i] for i, (_, lad) in zip(idx, ladders, strict=True)]
        if 1.0 - sum(level[0] for level in levels) <= min_edge:
            break
        chunk = min(*left, max_sets - sets)
        for j, ((outcome, lad), level) in enumerate(zip(ladders, levels, strict=True)):
            unit, price, _, venue = level
            cost += price * chunk
            fees += (unit - price) * chunk
            key = (outcome, venue, price)
            fills[key] = fills.get(key, 0.0) + chunk
            left[j] -= chunk
            if left[j] <= 0.0:
                idx[j] += 1
                left[j] = lad[idx[j]][2] if idx[j] < len(lad) else 0.0
        sets += chunk
    out = tuple(CompleteSetFill(o, v, p, q) for (o, v, p), q in fills.items())
    return sets, cost, fees, out


__all__ = [
    "KALSHI_FEE_RATE",
    "CompleteSetFill",
    "CompleteSetPlan",
    "CompleteSetQuote",
    "Level",
    "PredictionMarketCurve",
    "annualise",
    "complete_set_arbitrage",
    "complete_set_quote",
    "fee_per_share",
]
