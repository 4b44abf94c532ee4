"""Central-limit order book as a convex cost: walk the asks to buy, the bids to sell, taker fee included.

Only a fraction ``book_usage`` (default 30%) of each displayed level is planned against: displayed depth is
shared with every other taker and vanishes as we trade, so planning on all of it overstates the arbitrage.
Lot size and minimum notional are carried as metadata for execution rounding: they make the feasible set
non-convex, so the convex model leaves them out and the executor rounds the balanced plan afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from sdk.curves.base import CurveInputError, require_finite
from sdk.curves.piecewise import PiecewiseLinearCurve, ladder_knots

Level = tuple[float, float]

DEFAULT_BOOK_USAGE = 0.30


def validate_levels(
    name: str, levels: Iterable[Sequence[float]], *, descending: bool, price_max: float = math.inf
) -> tuple[Level, ...]:
    """Check a ladder of ``(price, size)`` levels: finite, ``0 < price < price_max``, ``size >= 0``, strictly
    sorted (ascending for asks, descending for bids). Returns it as a tuple of float pairs."""
    out: list[Level] = []
    for i, level in enumerate(levels):
        if len(level) != 2:
            raise CurveInputError(f"{name}[{i}] must be a (price, size) pair, got {level!r}")
        price, size = float(level[0]), float(level[1])
        if not math.isfinite(price) or not 0.0 < price < price_max:
            bound = "" if math.isinf(price_max) else f" and < {price_max}"
            raise CurveInputError(f"{name}[{i}] price must be finite, > 0{bound}, got {price!r}")
        if not math.isfinite(size) or size < 0.0:
            raise CurveInputError(f"{name}[{i}] size must be finite and >= 0, got {size!r}")
        if out and (price >= out[-1][0] if descending else price <= out[-1][0]):
            order = "descending" if descending else "ascending"
            raise CurveInputError(
                f"{name} prices must be strictly {order}, got {out[-1][0]} then {price} at [{i}]"
            )
        out.append((price, size))
    return tuple(out)


def check_not_crossed(bids: Sequence[Level], asks: Sequence[Level]) -> None:
    if bids and asks and bids[0][0] >= asks[0][0]:
        raise CurveInputError(f"book is crossed or locked: best bid {bids[0][0]} >= best ask {asks[0][0]}")


def optional_bound(name: str, value: float | None) -> float:
    """A box bound in base units: ``None`` means unbounded, otherwise finite and ``>= 0``."""
    if value is None:
        return math.inf
    return require_finite(name, float(value), non_negative=True)


class OrderBookCurve(PiecewiseLinearCurve):
    """Taker cost of one asset on one order book: buys walk the asks at ``price * (1 + fee)``, sells walk the
    bids at ``price * (1 - fee)``, each level capped at ``book_usage`` of its displayed size.

    Parameters
    ----------
    bids, asks:
        ``(price, size)`` levels, bids strictly descending, asks strictly ascending; either may be empty.
    taker_fee_bps:
        Taker fee in basis points of notional, ``0 <= fee < 10000``.
    book_usage:
        Fraction of each displayed level we may take, in ``(0, 1]``.
    lot_size, min_notional:
        Execution metadata (``>= 0``; ``0`` = none); not part of the convex model.
    max_buy, max_sell:
        Extra box bounds in base units (liquidity budget, inventory); ``None`` = only the book limits.
    """

    __slots__ = ("asks", "bids", "book_usage", "fee", "lot_size", "min_notional")

    def __init__(
        self,
        bids: Iterable[Sequence[float]],
        asks: Iterable[Sequence[float]],
        *,
        taker_fee_bps: float = 0.0,
        book_usage: float = DEFAULT_BOOK_USAGE,
        lot_size: float = 0.0,
        min_notional: float = 0.0,
        max_buy: float | None = None,
        max_sell: float | None = None,
    ) -> None:
        self.bids = validate_levels("bids", bids, descending=True)
        self.asks = validate_levels("asks", asks, descending=False)
        check_not_crossed(self.bids, self.asks)
        fee_bps = require_finite("taker_fee_bps", float(taker_fee_bps), non_negative=True)
        if fee_bps >= 10_000.0:
            raise CurveInputError(f"taker_fee_bps must be < 10000, got {fee_bps!r}")
        usage = require_finite("book_usage", float(book_usage), positive=True)
        if usage > 1.0:
            raise CurveInputError(f"book_usage must be in (0, 1], got {usage!r}")
        self.fee = fee_bps / 10_000.0
        self.book_usage = usage
        self.lot_size = require_finite("lot_size", float(lot_size), non_negative=True)
        self.min_notional = require_finite("min_notional", float(min_notional), non_negative=True)
        knots, slopes = ladder_knots(
            [(p * (1.0 + self.fee), q * usage) for p, q in self.asks],
            [(p * (1.0 - self.fee), q * usage) for p, q in self.bids],
            max_buy=optional_bound("max_buy", max_buy),
            max_sell=optional_bound("max_sell", max_sell),
        )
        super().__init__(knots, slopes)

    @property
    def mid(self) -> float | None:
        """Displayed mid price, ``None`` for a one-sided or empty book."""
        if not self.bids or not self.asks:
            return None
        return 0.5 * (self.bids[0][0] + self.asks[0][0])

    def round_to_lot(self, x: float) -> float:
        """``x`` rounded toward zero to a whole number of lots (identity when ``lot_size`` is 0)."""
        return round_toward_zero(x, self.lot_size)


def round_toward_zero(x: float, lot: float) -> float:
    """``x`` truncated to a multiple of ``lot`` (so a rounded trade never exceeds the planned one)."""
    if lot <= 0.0:
        return x
    return math.copysign(math.floor(abs(x) / lot + 1e-9) * lot, x)
