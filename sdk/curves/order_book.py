"""Central-limit order book as a convex cost: walk the asks to buy, the bids to sell, taker fee included.

Only a fraction ``book_usage`` (default 30%) of each displayed level is planned against: displayed depth is
shared with every other taker and vanishes as we trade, so planning on all of it overstates the arbitrage.
Lot size and minimum notional are carried as metadata for execution rounding: they make the feasible set
non-convex, so the convex model leaves them out and the executor rounds the balanced plan afterwards.

Two constructors build the same curve with the same arithmetic (:func:`book_half` per side):
``OrderBookCurve(...)`` checks every level one by one and names the first bad one;
:meth:`OrderBookCurve.from_sorted_levels` is the feed's hot path (a curve per planning tick per book, from
levels a maintained book already checked): it checks the same conditions in bulk on the lists it computes
anyway and hands any doubt to the first. :meth:`OrderBookCurve.with_levels` rebuilds only the side of a book
that moved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from operator import gt, lt
from typing import Literal, NamedTuple, overload

from sdk.curves.base import CurveInputError, require_finite
from sdk.curves.piecewise import Half, PiecewiseLinearCurve, check_knots, join_halves, ladder_side, lower_half

Level = tuple[float, float]

DEFAULT_BOOK_USAGE = 0.30

_INF = math.inf


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


@overload
def book_half(
    levels: Sequence[Level],
    fee: float,
    usage: float,
    cap: float,
    *,
    sell: bool,
    bulk_checked: Literal[False] = ...,
) -> Half: ...
@overload
def book_half(
    levels: Sequence[Level], fee: float, usage: float, cap: float, *, sell: bool, bulk_checked: bool
) -> Half | None: ...
def book_half(
    levels: Sequence[Level], fee: float, usage: float, cap: float, *, sell: bool, bulk_checked: bool = False
) -> Half | None:
    """One half of a book's taker cost (see :data:`~sdk.curves.piecewise.Half`): the asks walked up at
    ``price * (1 + fee)`` (the upper half, buys), or the bids walked down at ``price * (1 - fee)``
    (``sell=True``, the lower half), ``usage`` of each level, out to ``cap`` base units.

    ``bulk_checked=True`` also proves, without a per-level loop, what ``validate_levels`` would check of
    levels read off a maintained book, and returns ``None`` at any doubt: the unit prices must be strictly
    monotone, positive and finite (so the prices are), every size must strictly move the running depth (so
    it is positive and not NaN) and the deepest knot must be finite. Crossing is the caller's check.
    """
    if not levels:
        return [0.0], []
    if sell:
        unit = 1.0 - fee
        prices = [p * unit for p, _ in levels]
        if bulk_checked and not (prices[-1] > 0.0 and prices[0] < _INF and all(map(gt, prices, prices[1:]))):
            return None
        step = -usage
    else:
        unit = 1.0 + fee
        prices = [p * unit for p, _ in levels]
        if bulk_checked and not (prices[0] > 0.0 and prices[-1] < _INF and all(map(lt, prices, prices[1:]))):
            return None
        step = usage
    walked = ladder_side(prices, [q * step for _, q in levels], cap, sell=sell, strict=bulk_checked)
    if walked is None or (bulk_checked and not -_INF < walked[0][-1] < _INF):
        return None
    return lower_half(*walked) if sell else walked


CheckedParams = tuple[float, float, float, float, float, float]
"""``(fee, usage, lot_size, min_notional, max_buy, max_sell)``: fee a fraction, absent bounds ``inf``."""


class BookParams(NamedTuple):
    """An order book curve's parameters as the constructor takes them (unchecked)."""

    taker_fee_bps: float = 0.0
    book_usage: float = DEFAULT_BOOK_USAGE
    lot_size: float = 0.0
    min_notional: float = 0.0
    max_buy: float | None = None
    max_sell: float | None = None

    def checked(self) -> CheckedParams:
        """The parameters checked in the constructor's order; a ``CurveInputError`` names a bad one."""
        fee_bps = require_finite("taker_fee_bps", float(self.taker_fee_bps), non_negative=True)
        if fee_bps >= 10_000.0:
            raise CurveInputError(f"taker_fee_bps must be < 10000, got {fee_bps!r}")
        usage = require_finite("book_usage", float(self.book_usage), positive=True)
        if usage > 1.0:
            raise CurveInputError(f"book_usage must be in (0, 1], got {usage!r}")
        lot = require_finite("lot_size", float(self.lot_size), non_negative=True)
        notional = require_finite("min_notional", float(self.min_notional), non_negative=True)
        return (
            fee_bps / 10_000.0,
            usage,
            lot,
            notional,
            optional_bound("max_buy", self.max_buy),
            optional_bound("max_sell", self.max_sell),
        )


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

    __slots__ = ("_checked", "_params", "asks", "bids", "book_usage", "fee", "lot_size", "min_notional")

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
        params = BookParams(taker_fee_bps, book_usage, lot_size, min_notional, max_buy, max_sell)
        checked = params.checked()
        fee, usage, _, _, cap_buy, cap_sell = checked
        knots, slopes, _ = join_halves(
            book_half(self.bids, fee, usage, cap_sell, sell=True),
            book_half(self.asks, fee, usage, cap_buy, sell=False),
        )
        zero = check_knots(knots, slopes)
        self._adopt(params, checked)
        self._install(knots, slopes, zero)

    def _adopt(self, params: BookParams, checked: CheckedParams) -> None:
        self._params = params
        self._checked = checked
        self.fee, self.book_usage, self.lot_size, self.min_notional, _, _ = checked

    @classmethod
    def from_sorted_levels(
        cls,
        bids: Sequence[Level],
        asks: Sequence[Level],
        *,
        taker_fee_bps: float = 0.0,
        book_usage: float = DEFAULT_BOOK_USAGE,
        lot_size: float = 0.0,
        min_notional: float = 0.0,
        max_buy: float | None = None,
        max_sell: float | None = None,
    ) -> OrderBookCurve:
        """The curve ``OrderBookCurve(bids, asks, ...)`` builds, the same floats, in well under half its time
        from levels as a maintained book holds them: float ``(price, size)`` pairs, bids strictly descending,
        asks strictly ascending, prices finite and > 0, sizes finite and > 0, best bid < best ask.

        Those conditions are checked in bulk instead of level by level (see :func:`book_half`), and any
        doubt (a zero size, a rounding tie, a bad level, a bad parameter) goes through the constructor,
        which names what is wrong or builds the same curve. Many curves with the same parameters:
        :meth:`sorted_levels_builder` checks the parameters once.
        """
        params = BookParams(taker_fee_bps, book_usage, lot_size, min_notional, max_buy, max_sell)
        try:
            checked = params.checked()
        except CurveInputError:
            checked = None  # the constructor reports it, or a bad level it finds first
        return _from_sorted(cls, tuple(bids), tuple(asks), params=params, checked=checked)

    @classmethod
    def sorted_levels_builder(
        cls,
        *,
        taker_fee_bps: float = 0.0,
        book_usage: float = DEFAULT_BOOK_USAGE,
        lot_size: float = 0.0,
        min_notional: float = 0.0,
        max_buy: float | None = None,
        max_sell: float | None = None,
    ) -> Callable[[Sequence[Level], Sequence[Level]], OrderBookCurve]:
        """``(bids, asks) -> from_sorted_levels(bids, asks, **parameters)`` with the parameters checked now,
        once (a ``CurveInputError`` names a bad one): one venue's curve builder for its feed."""
        params = BookParams(taker_fee_bps, book_usage, lot_size, min_notional, max_buy, max_sell)
        checked = params.checked()

        def build(bids: Sequence[Level], asks: Sequence[Level]) -> OrderBookCurve:
            return _from_sorted(cls, tuple(bids), tuple(asks), params=params, checked=checked)

        return build

    def with_levels(
        self, bids: Sequence[Level] | None = None, asks: Sequence[Level] | None = None
    ) -> OrderBookCurve:
        """This curve's parameters on new sorted levels for one side or both (``None`` keeps a side): what
        ``from_sorted_levels`` builds, reusing the kept side's knots instead of walking its levels again
        (a feed update usually moves one side of a book)."""
        return _from_sorted(
            type(self),
            self.bids if bids is None else tuple(bids),
            self.asks if asks is None else tuple(asks),
            params=self._params,
            checked=self._checked,
            previous=self,
        )

    @property
    def mid(self) -> float | None:
        """Displayed mid price, ``None`` for a one-sided or empty book."""
        if not self.bids or not self.asks:
            return None
        return 0.5 * (self.bids[0][0] + self.asks[0][0])

    def round_to_lot(self, x: float) -> float:
        """``x`` rounded toward zero to a whole number of lots (identity when ``lot_size`` is 0)."""
        return round_toward_zero(x, self.lot_size)


def _from_sorted(
    cls: type[OrderBookCurve],
    bids: tuple[Level, ...],
    asks: tuple[Level, ...],
    *,
    params: BookParams,
    checked: CheckedParams | None,
    previous: OrderBookCurve | None = None,
) -> OrderBookCurve:
    """The bulk-checked build (``checked`` is ``None`` for bad parameters); a side whose levels are
    ``previous``'s very tuple reuses ``previous``'s half (same parameters). Any doubt: the constructor."""
    if checked is not None:
        fee, usage, _, _, cap_buy, cap_sell = checked
        try:
            if not bids or not asks or bids[0][0] < asks[0][0]:
                if previous is not None and bids is previous.bids:
                    zero = previous._zero
                    lower: Half | None = (previous._t[: zero + 1], previous._s[:zero])
                else:
                    lower = book_half(bids, fee, usage, cap_sell, sell=True, bulk_checked=True)
                if previous is not None and asks is previous.asks:
                    zero = previous._zero
                    upper: Half | None = (previous._t[zero:], previous._s[zero:])
                else:
                    upper = book_half(asks, fee, usage, cap_buy, sell=False, bulk_checked=True)
                if lower is not None and upper is not None:
                    curve = cls.__new__(cls)
                    curve.bids = bids
                    curve.asks = asks
                    curve._adopt(params, checked)
                    curve._install(*join_halves(lower, upper))
                    return curve
        except (TypeError, ValueError, IndexError):
            pass  # not float pairs: the constructor says what they are
    return cls(bids, asks, **params._asdict())


def round_toward_zero(x: float, lot: float) -> float:
    """``x`` truncated to a multiple of ``lot`` (so a rounded trade never exceeds the planned one)."""
    if lot <= 0.0:
        return x
    return math.copysign(math.floor(abs(x) / lot + 1e-9) * lot, x)
