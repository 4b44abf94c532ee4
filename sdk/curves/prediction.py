"""Prediction-market outcome shares: convex cost with the Kalshi fee, and complete-set arbitrage.

A share of one outcome pays 1 if it resolves YES, so prices lie in ``(0, 1)``. Kalshi charges the taker
``round_up(0.07 * C * P * (1 - P))`` to the cent per order (:func:`sdk.fees.kalshi.trading_fee`).

**Two fee models, on purpose.** The exact fee is a step function of ``C`` (a cent jumps in every
``1 / (100 rate P (1 - P))`` contracts), so a cost that includes it is not convex and cannot go into the
federated ADMM solve. :class:`PredictionMarketCurve` therefore keeps the *relaxed* per-share fee
``rate * P * (1 - P)``: buying at ``P`` costs ``P + rate P (1 - P)`` a share, selling yields
``P - rate P (1 - P)``; both rise with ``P`` on ``(0, 1)``, so walking the ladders stays convex. The
relaxation understates the fee by under a cent per order, enough to turn a thin trade into a loss (one
contract each at 0.10 / 0.10 / 0.77 earns +0.005 relaxed but loses 0.01 exactly). So nothing here *recommends*
a trade on the relaxed fee alone: :func:`complete_set_quote` and :func:`complete_set_arbitrage` price fees
with the exact schedule (every ladder level taken is charged as its own order, which never understates
Kalshi's per-order fee), and :meth:`PredictionMarketCurve.exact_cost` gives the exact cash of the trade the
convex solve chose, for an exact-fee profitability check before it is committed.

**Venues.** Each venue's fee is a :class:`FeeModel`: :class:`KalshiFees` (the default, per-order round-up to
the cent) or :class:`PolymarketFees` (``C * rate * p * (1 - p)`` truncated to 0.00001 USDC, a buy's fee taken
in shares and so valued at ``fee / p``, see :mod:`sdk.fees.polymarket`). The curve's convex ladder uses the
model's relaxed per-share fee; ``exact_cost`` and the complete-set planner's recommendation use its exact
order fee.

Complete-set arbitrage: in an event whose outcomes are mutually exclusive and exhaustive, one share of every
outcome pays exactly 1 at resolution, so buying the set for less than 1 (fees included) locks in the
difference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Context, Decimal
from typing import Protocol

from sdk.curves.base import CurveInputError, require_finite
from sdk.curves.order_book import (
    DEFAULT_BOOK_USAGE,
    Level,
    check_not_crossed,
    optional_bound,
    validate_levels,
)
from sdk.curves.piecewise import PiecewiseLinearCurve, ladder_knots
from sdk.fees import polymarket as polymarket_fees
from sdk.fees.kalshi import CENT, KalshiInputError, round_up, to_decimal, trading_fee

KALSHI_FEE_RATE = 0.07
DAYS_PER_YEAR = 365.0
MAX_EXACT_CANDIDATES = 4096
"""Most set counts :func:`complete_set_arbitrage` prices exactly while looking for the best one."""

_WIDE = Context(prec=120)
"""Exact for sums and products of a few float reprs (17 significant digits each)."""


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


def exact_order_fee(contracts: float, price: float, fee_rate: float = KALSHI_FEE_RATE) -> Decimal:
    """Kalshi's fee of one order of ``contracts`` at ``price``, exactly:
    ``round_up(rate * C * P * (1 - P))`` to the cent, by :func:`sdk.fees.kalshi.trading_fee`.

    Kalshi trades contracts in steps of 0.01, so a finer ``contracts`` (float residue of a walk) is rounded
    *up* to 0.01 first; the fee never falls as ``C`` grows, so the result never understates. Prices must lie
    on Kalshi's $0.0001 grid.
    """
    try:
        c = round_up(to_decimal("contracts", contracts), CENT)
        return trading_fee(c, price, fee_rate)
    except KalshiInputError as exc:
        raise CurveInputError(str(exc)) from None


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


class FeeModel(Protocol):
    """A venue's taker fee as the planner prices it: a relaxed per-share fee (convex in the walk and the
    curve) and the exact fee cost of one order (what the recommendation is judged on)."""

    @property
    def rate(self) -> float: ...

    def relaxed_buy(self, price: float) -> float:
        """Per-share fee cost of buying at ``price`` (continuous, no rounding)."""
        ...

    def relaxed_sell(self, price: float) -> float:
        """Per-share fee of selling at ``price``."""
        ...

    def exact_buy(self, contracts: float, price: float) -> Decimal:
        """Exact fee cost of one taker buy order, never understated."""
        ...

    def exact_sell(self, contracts: float, price: float) -> Decimal:
        """Exact fee of one taker sell order, never understated."""
        ...


@dataclass(frozen=True, slots=True)
class KalshiFees:
    """Kalshi: ``round_up(rate * C * P * (1 - P))`` to the cent per order, both sides (0.07 taker; 0.0175 for
    makers on the series that charge them)."""

    rate: float = KALSHI_FEE_RATE

    def __post_init__(self) -> None:
        _check_fee_rate("KalshiFees.rate", self.rate)

    def relaxed_buy(self, price: float) -> float:
        return self.rate * price * (1.0 - price)

    def relaxed_sell(self, price: float) -> float:
        return self.rate * price * (1.0 - price)

    def exact_buy(self, contracts: float, price: float) -> Decimal:
        return exact_order_fee(contracts, price, self.rate)

    def exact_sell(self, contracts: float, price: float) -> Decimal:
        return exact_order_fee(contracts, price, self.rate)


_MICRO = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class PolymarketFees:
    """Polymarket: ``C * rate * p * (1 - p)`` truncated to 0.00001 USDC (:mod:`sdk.fees.polymarket`); a buy's
    fee is taken in shares, valued at their maximum payout (``fee / p``, so ``rate * (1 - p)`` per share
    relaxed); a sell's fee in USDC. ``rate`` comes from the market's ``feeSchedule`` (0 if fees are off)."""

    rate: float

    def __post_init__(self) -> None:
        _check_fee_rate("PolymarketFees.rate", self.rate)

    def relaxed_buy(self, price: float) -> float:
        return self.rate * (1.0 - price)

    def relaxed_sell(self, price: float) -> float:
        return self.rate * price * (1.0 - price)

    def _shares(self, contracts: float) -> Decimal:
        # on-chain amounts have 6 decimals; a finer float residue is rounded up (never understates)
        return _dec(contracts).quantize(_MICRO, rounding=ROUND_CEILING, context=_WIDE)

    def exact_buy(self, contracts: float, price: float) -> Decimal:
        try:
            return polymarket_fees.buy_fee_cost(self._shares(contracts), _dec(price), _dec(self.rate))
        except KalshiInputError as exc:
            raise CurveInputError(str(exc)) from None

    def exact_sell(self, contracts: float, price: float) -> Decimal:
        try:
            return polymarket_fees.taker_fee(self._shares(contracts), _dec(price), _dec(self.rate))
        except KalshiInputError as exc:
            raise CurveInputError(str(exc)) from None


class PredictionMarketCurve(PiecewiseLinearCurve):
    """Cost of buying (``x > 0``) or selling YES shares of one outcome on one venue, per-share fee included.

    Parameters
    ----------
    bids, asks:
        ``(price, size)`` levels with ``0 < price < 1``; bids strictly descending, asks strictly ascending.
    fee_rate:
        Taker fee coefficient (Kalshi general: 0.07) when ``fees`` is not given.
    fees:
        The venue's :class:`FeeModel` (:class:`KalshiFees` by default, :class:`PolymarketFees`); the convex
        ladder uses its relaxed per-share fee and :meth:`exact_cost` its exact order fee.
    book_usage:
        Fraction of each displayed level we may take, in ``(0, 1]``.
    lot_size:
        Contract size for execution rounding (Kalshi: 1 contract); metadata only.
    max_buy, max_sell:
        Box bounds in shares.
    """

    __slots__ = ("asks", "bids", "book_usage", "fee_rate", "fees", "lot_size")

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
        fees: FeeModel | None = None,
    ) -> None:
        self.bids = validate_levels("bids", bids, descending=True, price_max=1.0)
        self.asks = validate_levels("asks", asks, descending=False, price_max=1.0)
        check_not_crossed(self.bids, self.asks)
        self.fees: FeeModel = KalshiFees(_check_fee_rate("fee_rate", fee_rate)) if fees is None else fees
        self.fee_rate = self.fees.rate
        usage = require_finite("book_usage", float(book_usage), positive=True)
        if usage > 1.0:
            raise CurveInputError(f"book_usage must be in (0, 1], got {usage!r}")
        self.book_usage = usage
        self.lot_size = require_finite("lot_size", float(lot_size), non_negative=True)
        model = self.fees
        knots, slopes = ladder_knots(
            [(p + model.relaxed_buy(p), q * usage) for p, q in self.asks],
            [(p - model.relaxed_sell(p), q * usage) for p, q in self.bids],
            max_buy=optional_bound("max_buy", max_buy),
            max_sell=optional_bound("max_sell", max_sell),
        )
        super().__init__(knots, slopes)

    def exact_cost(self, x: float) -> float:
        """Cash paid (``x > 0``, buying) or received (negative, ``x < 0``, selling) for ``|x|`` shares with
        the venue's exact fee (``self.fees``): the usable depth of each level is walked best first and every
        level taken is charged as its own order (for Kalshi ``round_up(rate * C * P * (1 - P))`` to the
        cent, never less than Kalshi charges one order sweeping those levels).

        ``cost(x)`` is the convex relaxation the solver optimises and ``exact_cost(x) >= cost(x)``; a trade
        the solve chose should be committed only if it still pays with ``exact_cost``.
        """
        x = require_finite("x", float(x))
        levels = self.asks if x > 0.0 else self.bids
        left = abs(x)
        cash = Decimal(0)
        for price, size in levels:
            if left <= 0.0:
                break
            take = min(left, size * self.book_usage)
            if take <= 0.0:
                continue
            fee = self.fees.exact_buy(take, price) if x > 0.0 else self.fees.exact_sell(take, price)
            notional = _WIDE.multiply(_dec(take), _dec(price))
            cash = _WIDE.add(cash, _WIDE.add(notional, fee) if x > 0.0 else _WIDE.subtract(fee, notional))
            left -= take
        if left > 1e-9 * max(1.0, abs(x)):
            side = "asks" if x > 0.0 else "bids"
            raise CurveInputError(f"x={x!r} exceeds the usable depth of the {side}")
        return float(cash)


@dataclass(frozen=True, slots=True)
class CompleteSetQuote:
    """Economics of complete sets at the best asks: all amounts per set, in quote units; ``fees`` exact."""

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
    """The most profitable complete sets to buy against the given depth, and what they earn.

    ``fees`` is exact (Kalshi's per-order round-up to the cent, each fill its own order);
    ``profit = sets - cost - fees`` is therefore what the plan earns, and is ``> 0`` whenever ``sets > 0``.
    ``spread_pct`` and ``apy`` are the return on ``cost + fees``.
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
    best_asks: Mapping[str, float],
    days_to_resolution: float,
    *,
    fee_rate: float = KALSHI_FEE_RATE,
    sets: float = 1.0,
) -> CompleteSetQuote:
    """Cost, fees, edge ``1 - cost - fees``, spread% and APY per set of buying ``sets`` shares of every
    outcome at its best ask, one order per outcome.

    ``fees`` is exact: Kalshi's ``round_up(rate * sets * P * (1 - P))`` to the cent per order, divided by
    ``sets``. One set at 0.10 / 0.10 / 0.77 pays 0.04 of fees, not the relaxed 0.025, and loses 0.01.
    """
    rate = _check_fee_rate("fee_rate", fee_rate)
    days = _check_days(days_to_resolution)
    n = require_finite("sets", float(sets), positive=True)
    if len(best_asks) < 2:
        raise CurveInputError(f"best_asks must list every outcome of the event (>= 2), got {len(best_asks)}")
    cost = 0.0
    fees = Decimal(0)
    for outcome, price in best_asks.items():
        p = require_finite(f"best_asks[{outcome!r}]", float(price))
        if not 0.0 < p < 1.0:
            raise CurveInputError(f"best_asks[{outcome!r}] must be a probability in (0, 1), got {p!r}")
        cost += p
        fees += exact_order_fee(n, p, rate)
    fee = float(fees) / n
    edge = 1.0 - cost - fee
    ret = edge / (cost + fee)
    return CompleteSetQuote(cost, fee, edge, 100.0 * ret, annualise(ret, days))


_Rung = tuple[float, float, float, str, FeeModel]
"""One ask level in an outcome's merged ladder: ``(relaxed unit cost, price, size, venue, fee model)``."""


def complete_set_arbitrage(
    asks: Mapping[str, Mapping[str, Sequence[Sequence[float]]]],
    days_to_resolution: float,
    *,
    fee_rates: Mapping[str, float] | None = None,
    default_fee_rate: float = KALSHI_FEE_RATE,
    min_edge: float = 0.0,
    max_sets: float = math.inf,
    lot_size: float = 0.0,
    fee_models: Mapping[str, FeeModel] | None = None,
) -> CompleteSetPlan:
    """Buy complete sets against real depth, cheapest shares first: the set count that earns the most with
    Kalshi's *exact* fees, among those the relaxed walk allows. Never a plan that loses money.

    ``asks[outcome][venue]`` is that venue's ask ladder for the outcome; every outcome of the event must
    appear. ``fee_models[venue]`` is that venue's :class:`FeeModel` (:class:`PolymarketFees` for
    Polymarket); a venue without one is charged Kalshi's schedule at ``fee_rates[venue]`` or
    ``default_fee_rate``.

    1. *Relaxed walk.* Each outcome's ladders are merged across venues by relaxed fee-inclusive unit cost
       ``P + rate P (1 - P)``; sets are bought in chunks while each extra set still earns more than
       ``min_edge`` on that cost, up to ``max_sets`` (rounded down to whole ``lot_size`` lots, the least
       profitable sets going first). This bounds the set count from above.
    2. *Exact check.* The relaxed fee understates Kalshi's ``round_up(rate C P (1 - P))`` to the cent by
       under a cent per order, which can turn a thin plan into a loss. Every ladder level taken is charged as
       its own order with :func:`exact_order_fee` (never less than one order sweeping the levels would pay),
       and the set count is chosen among the walk's count and smaller whole lots (whole contracts when
       ``lot_size`` is 0) to maximise exact profit, ties going to fewer sets. Only a count whose exact profit
       is ``> 0`` and ``> min_edge * sets`` is recommended; otherwise the plan is empty. The search stops once
       the relaxed profit (an upper bound of the exact one) can no longer beat the best found, or after
       :data:`MAX_EXACT_CANDIDATES` counts.

    The plan's ``fees`` and ``profit`` are the exact ones.
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
    models: dict[str, FeeModel] = {v: KalshiFees(r) for v, r in rates.items()}
    models.update(fee_models or {})
    default_model = KalshiFees(default_rate)
    ladders: list[tuple[str, list[_Rung]]] = []
    for outcome, venues in asks.items():
        merged: list[_Rung] = []
        for venue, levels in venues.items():
            model = models.get(venue, default_model)
            for p, q in validate_levels(
                f"asks[{outcome!r}][{venue!r}]", levels, descending=False, price_max=1.0
            ):
                if q > 0.0:
                    model.exact_buy(q, p)  # refuse prices off the venue's grid up front
                    merged.append((p + model.relaxed_buy(p), p, q, venue, model))
        merged.sort(key=lambda rung: rung[:4])
        ladders.append((outcome, merged))
    walk = _walk_sets(ladders, min_edge, max_sets)
    if lot > 0.0 and walk.sets > 0.0:
        walk = _walk_sets(ladders, min_edge, math.floor(walk.sets / lot + 1e-9) * lot)
    best = _best_exact(ladders, walk, min_edge, max_sets, lot)
    if best is None:
        return CompleteSetPlan(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, ())
    plan, exact_fees, exact_profit = best
    fees = float(exact_fees)
    capital = plan.cost + fees
    ret = float(exact_profit) / capital
    return CompleteSetPlan(
        plan.sets, plan.cost, fees, float(exact_profit), 100.0 * ret, annualise(ret, days), plan.fills
    )


@dataclass(frozen=True, slots=True)
class _Walk:
    sets: float
    cost: float
    relaxed_fees: float
    fills: tuple[CompleteSetFill, ...]
    models: tuple[FeeModel, ...]
    """Fee model of each fill's venue."""


def _exact_pnl(walk: _Walk) -> tuple[Decimal, Decimal]:
    """``(exact fees, exact profit)`` of a walk, each fill its own order."""
    fees = Decimal(0)
    profit = _dec(walk.sets)
    for fill, model in zip(walk.fills, walk.models, strict=True):
        fee = model.exact_buy(fill.size, fill.price)
        fees = _WIDE.add(fees, fee)
        profit = _WIDE.subtract(profit, _WIDE.add(_WIDE.multiply(_dec(fill.size), _dec(fill.price)), fee))
    return fees, profit


def _best_exact(
    ladders: list[tuple[str, list[_Rung]]], walk: _Walk, min_edge: float, max_sets: float, lot: float
) -> tuple[_Walk, Decimal, Decimal] | None:
    """The walk of at most ``walk.sets`` sets with the highest exact profit (``> 0`` and
    ``> min_edge * sets``), ties to fewer sets; ``None`` if there is none. See
    :func:`complete_set_arbitrage`."""
    if walk.sets <= 0.0:
        return None
    step = lot if lot > 0.0 else 1.0
    # Relaxed profit is concave in the set count and rises up to ``peak``; below it, it bounds the exact
    # profit of every smaller count, so the search may stop there once it cannot beat the best found.
    peak = _walk_sets(ladders, max(min_edge, 0.0), min(max_sets, walk.sets)).sets
    best: tuple[_Walk, Decimal, Decimal] | None = None
    top = math.floor(walk.sets / step + 1e-9)
    if top * step >= walk.sets - 1e-9 * max(1.0, walk.sets):
        top -= 1  # ``walk.sets`` is a whole number of steps: it is the first candidate already
    counts = [walk.sets, *(k * step for k in range(top, 0, -1))]
    for i, count in enumerate(counts):
        if i >= MAX_EXACT_CANDIDATES:
            break
        candidate = walk if i == 0 else _walk_sets(ladders, min_edge, count)
        relaxed = candidate.sets - candidate.cost - candidate.relaxed_fees
        if candidate.sets <= peak + 1e-9 and best is not None and relaxed < float(best[2]) - 1e-9:
            break
        if candidate.sets <= peak + 1e-9 and relaxed <= 0.0:
            break
        fees, profit = _exact_pnl(candidate)
        if profit <= 0 or profit <= _WIDE.multiply(_dec(min_edge), _dec(candidate.sets)):
            continue
        if best is None or profit >= best[2]:
            best = (candidate, fees, profit)
    return best


def _walk_sets(ladders: list[tuple[str, list[_Rung]]], min_edge: float, max_sets: float) -> _Walk:
    idx = [0] * len(ladders)
    left = [ladder[0][2] if ladder else 0.0 for _, ladder in ladders]
    sets = cost = fees = 0.0
    fills: dict[tuple[str, str, float], float] = {}
    fill_models: dict[tuple[str, str, float], FeeModel] = {}
    while sets < max_sets and all(i < len(lad) for i, (_, lad) in zip(idx, ladders, strict=True)):
        levels = [lad[i] for i, (_, lad) in zip(idx, ladders, strict=True)]
        if 1.0 - sum(level[0] for level in levels) <= min_edge:
            break
        chunk = min(*left, max_sets - sets)
        for j, ((outcome, lad), level) in enumerate(zip(ladders, levels, strict=True)):
            unit, price, _, venue, model = level
            cost += price * chunk
            fees += (unit - price) * chunk
            key = (outcome, venue, price)
            fills[key] = fills.get(key, 0.0) + chunk
            fill_models[key] = model
            left[j] -= chunk
            if left[j] <= 0.0:
                idx[j] += 1
                left[j] = lad[idx[j]][2] if idx[j] < len(lad) else 0.0
        sets += chunk
    out = tuple(CompleteSetFill(o, v, p, q) for (o, v, p), q in fills.items())
    return _Walk(sets, cost, fees, out, tuple(fill_models[key] for key in fills))


__all__ = [
    "KALSHI_FEE_RATE",
    "CompleteSetFill",
    "CompleteSetPlan",
    "CompleteSetQuote",
    "FeeModel",
    "KalshiFees",
    "Level",
    "PolymarketFees",
    "PredictionMarketCurve",
    "annualise",
    "complete_set_arbitrage",
    "complete_set_quote",
    "exact_order_fee",
    "fee_per_share",
]
