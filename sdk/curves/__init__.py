"""Market cost curves: every venue kind as a convex cost with ``cost``, ``marginal``, ``prox`` and ``demand``.

See :mod:`sdk.curves.base` for the contract. cvxpy forms live in :mod:`sdk.curves.cvx` (imported on demand).
"""

from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.clmm import ConcentratedLiquidityCurve
from sdk.curves.cpmm import ArbitrageTrade, ConstantProductCurve
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.perp import PerpetualCurve
from sdk.curves.piecewise import PiecewiseLinearCurve
from sdk.curves.prediction import (
    CompleteSetPlan,
    CompleteSetQuote,
    PredictionMarketCurve,
    complete_set_arbitrage,
    complete_set_quote,
)

__all__ = [
    "ArbitrageTrade",
    "CompleteSetPlan",
    "CompleteSetQuote",
    "ConcentratedLiquidityCurve",
    "ConstantProductCurve",
    "CostCurve",
    "CurveInputError",
    "OrderBookCurve",
    "PerpetualCurve",
    "PiecewiseLinearCurve",
    "PredictionMarketCurve",
    "complete_set_arbitrage",
    "complete_set_quote",
]
