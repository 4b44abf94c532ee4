"""Constant-product AMM (Uniswap v2 style) as a convex cost, in continuous form.

With base reserve ``X``, quote reserve ``Y`` and ``gamma = 1 - fee`` (fee taken on the input)::

    buy  x > 0:    cost = Y x / (gamma (X - x))
    sell x < 0:    cost = gamma Y x / (X - gamma x)        (negative: proceeds)

The marginal cost at ``x = 0`` jumps from ``gamma P`` to ``P / gamma`` (``P = Y / X``): inside that no-trade
band the prox returns 0; outside it a safeguarded Newton root on one side. Exact integer Uniswap v2 semantics
(``getAmountOut``/``getAmountIn`` rounding) live in ``sdk.amm``; the ADMM model uses this continuous form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sdk.curves.base import CurveInputError, require_finite
from sdk.curves.constant_product import ConstantProductSegments, Segment, buy_cost, sell_cost
from sdk.curves.order_book import optional_bound

DEFAULT_FEE = 0.003
#: Default box: trades that move the pool price at most this factor (far beyond any arbitrage).
DEFAULT_MAX_PRICE_MOVE = 100.0


@dataclass(frozen=True, slots=True)
class ArbitrageTrade:
    """The trade that brings the pool's marginal price (fee included) to ``target_price``.

    ``profit_at_target`` values the base received/given at ``target_price``: ``target * x - cost``.
    """

    x: float
    cost: float
    profit_at_target: float


class ConstantProductCurve(ConstantProductSegments):
    """Cost of trading the base asset against a constant-product pool.

    Parameters
    ----------
    reserve_base, reserve_quote:
        Pool reserves ``X`` and ``Y`` (finite, ``> 0``).
    fee:
        Fraction of the input kept by the pool, ``0 <= fee < 1`` (Uniswap v2: 0.003).
    max_buy, max_sell:
        Box bounds in base units. Defaults: trades that move the pool price by at most 100x
        (``max_buy = 0.9 X``, ``max_sell = 9 X / gamma``); a buy must stay below ``X``.
    """

    __slots__ = ("fee", "reserve_base", "reserve_quote")

    def __init__(
        self,
        reserve_base: float,
        reserve_quote: float,
        *,
        fee: float = DEFAULT_FEE,
        max_buy: float | None = None,
        max_sell: float | None = None,
    ) -> None:
        x = require_finite("reserve_base", float(reserve_base), positive=True)
        y = require_finite("reserve_quote", float(reserve_quote), positive=True)
        fee = require_finite("fee", float(fee), non_negative=True)
        if fee >= 1.0:
            raise CurveInputError(f"fee must be in [0, 1), got {fee!r}")
        gamma = 1.0 - fee
        root = math.sqrt(DEFAULT_MAX_PRICE_MOVE)
        buy_cap = x * (1.0 - 1.0 / root) if max_buy is None else optional_bound("max_buy", max_buy)
        sell_cap = x * (root - 1.0) / gamma if max_sell is None else optional_bound("max_sell", max_sell)
        if buy_cap >= x:
            raise CurveInputError(
                f"max_buy must be < reserve_base {x} (the pool cannot be emptied), got {max_buy!r}"
            )
        self.reserve_base = x
        self.reserve_quote = y
        self.fee = fee
        segments: list[Segment] = []
        if sell_cap > 0.0:
            segments.append(Segment(-sell_cap, 0.0, False, 0.0, x, y))
        if buy_cap > 0.0:
            segments.append(Segment(0.0, buy_cap, True, 0.0, x, y))
        super().__init__(gamma, segments)

    @property
    def price(self) -> float:
        """Pool price ``Y / X`` (quote per base, no fee)."""
        return self.reserve_quote / self.reserve_base

    def arbitrage_to_price(self, target_price: float) -> ArbitrageTrade:
        """Closed-form trade (ignoring the box) after which the marginal price, fees included, is the target.

        Buy when ``target > P / gamma``: ``x = X - sqrt(X Y / (gamma target))``; sell when
        ``target < gamma P``: ``x = (X - sqrt(gamma X Y / target)) / gamma``; else no trade. This maximises
        ``target * x - cost(x)``; it is Uniswap's ``computeProfitMaximizingTrade`` in real numbers.
        """
        p = require_finite("target_price", float(target_price), positive=True)
        x_res, y_res, g = self.reserve_base, self.reserve_quote, self.gamma
        if p > self.price / g:
            x = x_res - math.sqrt(x_res * y_res / (g * p))
            cost = buy_cost(x_res, y_res, g, x)
        elif p < g * self.price:
            x = (x_res - math.sqrt(g * x_res * y_res / p)) / g
            cost = sell_cost(x_res, y_res, g, x)
        else:
            return ArbitrageTrade(0.0, 0.0, 0.0)
        return ArbitrageTrade(x, cost, p * x - cost)
