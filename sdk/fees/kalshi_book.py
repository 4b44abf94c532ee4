"""Kalshi REST order book -> one outcome's bids and asks in probability units.

Kalshi's ``GET /markets/{ticker}/orderbook`` returns only resting *bids*, for YES and for NO. A NO bid at
``p`` is an offer to sell YES at ``1 - p``, so one outcome's book is its own bids plus the other side's bids
reflected: ``asks(YES) = [(1 - p, q) for (p, q) in bids(NO)]``. This is the convention ccxt uses for its
unified ``fetchOrderBook`` (checked against its recorded case in ``../shared/data/fees/kalshi``).

Accepted payloads: the fixed-point form ``{"orderbook_fp": {"yes_dollars": [["0.0800", "444.32"], ...],
"no_dollars": [...]}}`` and the legacy integer form ``{"orderbook": {"yes": [[8, 444], ...], "no": [...]}}``
(cents, whole contracts). A missing or ``null`` side is an empty side. Every level is validated: price a
finite probability in ``[0, 1]``, quantity finite and ``>= 0`` (zero-size levels are dropped), no duplicate
price within a side, and the resulting book must not be crossed (best bid below best ask).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sdk.fees.kalshi import KalshiInputError, parse_price, to_decimal

Level = tuple[Decimal, Decimal]
_ONE = Decimal(1)
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class KalshiOrderBook:
    """One outcome's book of ``(price, quantity)`` levels: bids highest first, asks lowest first."""

    outcome: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


def _levels(raw: object, field: str, cents: bool) -> list[Level]:
    if raw is None:
        return []
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise KalshiInputError(f"{field} must be a list of [price, quantity] pairs, got {type(raw).__name__}")
    levels: list[Level] = []
    seen: set[Decimal] = set()
    for i, entry in enumerate(raw):
        name = f"{field}[{i}]"
        if isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence) or len(entry) != 2:
            raise KalshiInputError(f"{name} must be a [price, quantity] pair, got {entry!r}")
        price_raw, qty_raw = entry
        if cents:
            price = parse_price(to_decimal(f"{name}.price_cents", price_raw) / _HUNDRED, f"{name}.price")
        else:
            price = parse_price(price_raw, f"{name}.price")
        quantity = to_decimal(f"{name}.quantity", qty_raw)
        if quantity < 0:
            raise KalshiInputError(f"{name}.quantity must be >= 0, got {qty_raw!r}")
        if price in seen:
            raise KalshiInputError(f"{name}.price {price} appears twice in {field}")
        seen.add(price)
        if quantity > 0:
            levels.append((price, quantity))
    return levels


def _sides(payload: Mapping[str, object]) -> tuple[list[Level], list[Level]]:
    """``(yes_bids, no_bids)`` from either payload form."""
    if not isinstance(payload, Mapping):
        raise KalshiInputError(f"payload must be a mapping, got {type(payload).__name__}")
    book = payload.get("orderbook_fp")
    if book is not None:
        if not isinstance(book, Mapping):
            raise KalshiInputError(f"orderbook_fp must be a mapping, got {type(book).__name__}")
        return (
            _levels(book.get("yes_dollars"), "orderbook_fp.yes_dollars", cents=False),
            _levels(book.get("no_dollars"), "orderbook_fp.no_dollars", cents=False),
        )
    book = payload.get("orderbook")
    if book is not None:
        if not isinstance(book, Mapping):
            raise KalshiInputError(f"orderbook must be a mapping, got {type(book).__name__}")
        if "yes_dollars" in book or "no_dollars" in book:
            return (
                _levels(book.get("yes_dollars"), "orderbook.yes_dollars", cents=False),
                _levels(book.get("no_dollars"), "orderbook.no_dollars", cents=False),
            )
        return (
            _levels(book.get("yes"), "orderbook.yes", cents=True),
            _levels(book.get("no"), "orderbook.no", cents=True),
        )
    raise KalshiInputError(
        f"payload needs an 'orderbook_fp' or 'orderbook' object, got keys {sorted(payload)}"
    )


def parse_kalshi_orderbook(
    payload: Mapping[str, object], side: Literal["yes", "no"] = "yes", outcome: str | None = None
) -> KalshiOrderBook:
    """The book of the ``side`` outcome (YES by default) from a Kalshi REST order-book payload.

    ``outcome`` labels the result (e.g. ``"KXELONMARS-99:YES"``); it defaults to ``side.upper()``.
    """
    if side not in ("yes", "no"):
        raise KalshiInputError(f"side must be 'yes' or 'no', got {side!r}")
    yes_bids, no_bids = _sides(payload)
    own, other = (yes_bids, no_bids) if side == "yes" else (no_bids, yes_bids)
    bids = tuple(sorted(own, key=lambda level: level[0], reverse=True))
    asks = tuple(sorted(((_ONE - p, q) for p, q in other), key=lambda level: level[0]))
    if bids and asks and bids[0][0] >= asks[0][0]:
        raise KalshiInputError(
            f"crossed book: best {side.upper()} bid {bids[0][0]} >= best ask {asks[0][0]} "
            f"(YES bid + NO bid must be < 1)"
        )
    return KalshiOrderBook(outcome=outcome if outcome is not None else side.upper(), bids=bids, asks=asks)
