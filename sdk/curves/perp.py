"""Perpetual future as a convex cost: its order book, plus funding carry over the horizon, inside margin
limits.

Holding ``x`` contracts (base units) for ``horizon_hours`` at an hourly funding rate ``r`` pays
``r * horizon_hours * mark * x`` (longs pay when ``r > 0``): a linear term, so the prox of the book is simply
evaluated at a shifted point, ``prox_{f + c x}(v) = prox_f(v - c / rho)``. Margin caps the position notional,
``|position + x| * mark <= margin * max_leverage``; in one dimension the prox over a smaller interval is the
clipped prox, so the box costs nothing either. A position already beyond the cap may only be reduced.
"""

from __future__ import annotations

import itertools
import math

from sdk.curves.base import CurveInputError, require_finite
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.piecewise import PiecewiseLinearCurve

_INF = math.inf


class PerpetualCurve:
    """Cost of changing a perpetual position by ``x``: taker cost on ``book`` plus funding carry,
    margin-boxed.

    Parameters
    ----------
    book:
        The perpetual's order book (its own fee, usage cap and box apply).
    mark_price:
        Mark price used for funding and margin (``> 0``).
    funding_rate_per_hour:
        Funding rate per hour as a fraction of notional (may be negative).
    horizon_hours:
        How long the hedge is expected to be held (``>= 0``).
    margin:
        Collateral available for this position, in quote (``>= 0``).
    max_leverage:
        Venue / risk leverage cap (``> 0``).
    position:
        Current position in base units (signed).
    """

    __slots__ = (
        "_lower",
        "_upper",
        "book",
        "carry",
        "funding_rate_per_hour",
        "horizon_hours",
        "margin",
        "mark_price",
        "max_leverage",
        "position",
    )

    def __init__(
        self,
        book: OrderBookCurve,
        *,
        mark_price: float,
        funding_rate_per_hour: float = 0.0,
        horizon_hours: float = 8.0,
        margin: float = _INF,
        max_leverage: float = 1.0,
        position: float = 0.0,
    ) -> None:
        if not isinstance(book, OrderBookCurve):
            raise CurveInputError(f"book must be an OrderBookCurve, got {type(book).__name__}")
        mark = require_finite("mark_price", float(mark_price), positive=True)
        rate = require_finite("funding_rate_per_hour", float(funding_rate_per_hour))
        horizon = require_finite("horizon_hours", float(horizon_hours), non_negative=True)
        margin = float(margin)
        if math.isnan(margin) or margin < 0.0:
            raise CurveInputError(f"margin must be >= 0 (inf = unlimited), got {margin!r}")
        leverage = require_finite("max_leverage", float(max_leverage), positive=True)
        pos = require_finite("position", float(position))
        limit = margin * leverage / mark
        self.book = book
        self.mark_price = mark
        self.funding_rate_per_hour = rate
        self.horizon_hours = horizon
        self.carry = rate * horizon * mark
        self.margin = margin
        self.max_leverage = leverage
        self.position = pos
        self._lower = max(book.lower, min(0.0, -limit - pos))
        self._upper = min(book.upper, max(0.0, limit - pos))

    def with_position(self, position: float) -> PerpetualCurve:
        """The same market with ``position`` already held: the margin box then bounds the cumulative
        position ``position + x``, so a later session may hold, grow (up to the cap) or reduce it."""
        return PerpetualCurve(
            self.book,
            mark_price=self.mark_price,
            funding_rate_per_hour=self.funding_rate_per_hour,
            horizon_hours=self.horizon_hours,
            margin=self.margin,
            max_leverage=self.max_leverage,
            position=position,
        )

    @property
    def position_limit(self) -> float:
        """Largest absolute position the margin allows, in base units (``inf`` without a margin)."""
        return self.margin * self.max_leverage / self.mark_price

    @property
    def lower(self) -> float:
        return self._lower

    @property
    def upper(self) -> float:
        return self._upper

    def cost(self, x: float) -> float:
        if math.isnan(x):
            raise CurveInputError("x must be a number, got nan")
        if not self._lower <= x <= self._upper:
            return _INF
        return self.book.cost(x) + self.carry * x

    def marginal(self, x: float) -> tuple[float, float]:
        if not self._lower <= x <= self._upper:
            raise CurveInputError(f"x must be in [{self._lower}, {self._upper}], got {x!r}")
        left, right = self.book.marginal(x)
        left += self.carry
        right += self.carry
        if x == self._lower:
            left = -_INF
        if x == self._upper:
            right = _INF
        return (left, right)

    def prox(self, v: float, rho: float) -> float:
        if not 0.0 < rho < _INF:
            raise CurveInputError(f"rho must be finite and > 0, got {rho!r}")
        x = self.book.prox(v - self.carry / rho, rho)
        return min(max(x, self._lower), self._upper)

    def demand(self, price: float) -> tuple[float, float]:
        """``argmin_x cost(x) - price * x``: the book's response to ``price - carry``, clipped to the margin
        box."""
        lo, hi = self.book.demand(price - self.carry)
        return (min(max(lo, self._lower), self._upper), min(max(hi, self._lower), self._upper))

    def as_piecewise(self) -> PiecewiseLinearCurve:
        """The same cost as a :class:`PiecewiseLinearCurve`: book slopes plus carry, cut to the margin box."""
        knots = [self._lower, *[t for t in self.book.knots if self._lower < t < self._upper]]
        if self._upper > self._lower:
            knots.append(self._upper)
        slopes = [self.book.marginal(0.5 * (a + b))[0] + self.carry for a, b in itertools.pairwise(knots)]
        return PiecewiseLinearCurve(knots, slopes)
