"""Kalshi order book parsing: the recorded ccxt case, both payload forms, the YES/NO mirror, bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.fees.kalshi import KalshiInputError
from sdk.fees.kalshi_book import parse_kalshi_orderbook

REL = "fees/kalshi/ccxt_orderbook_case/kalshi_fetchOrderBook_case.json"


def _case(shared_data: Path) -> Any:
    return json.loads((shared_data / REL).read_text(encoding="utf-8"))


def _levels(raw: list[list[float]]) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((Decimal(repr(p)), Decimal(repr(q))) for p, q in raw)


@pytest.mark.shared
def test_ccxt_recorded_case_is_reproduced(shared_data: Path) -> None:
    case = _case(shared_data)
    book = parse_kalshi_orderbook(case["httpResponse"], "yes", outcome=case["input_symbol"])
    expected = case["parsedResponse"]
    assert book.outcome == expected["outcome"]
    assert book.bids == _levels(expected["bids"])
    assert book.asks == _levels(expected["asks"])
    assert all(Decimal(0) <= p <= Decimal(1) for p, _ in (*book.bids, *book.asks))
    # The ticker from the same file quotes bid 0.08 / ask 0.12 with these sizes.
    assert book.bids[0] == (Decimal("0.08"), Decimal("444.32"))
    assert book.asks[0] == (Decimal("0.12"), Decimal("1967.33"))


@pytest.mark.shared
def test_no_side_mirrors_the_yes_side(shared_data: Path) -> None:
    payload = _case(shared_data)["httpResponse"]
    yes, no = parse_kalshi_orderbook(payload, "yes"), parse_kalshi_orderbook(payload, "no")
    assert no.outcome == "NO"
    assert no.bids == tuple((1 - p, q) for p, q in yes.asks)
    assert no.asks == tuple((1 - p, q) for p, q in yes.bids)
    assert no.asks[0][0] == Decimal("0.92")


def test_legacy_integer_cent_payload() -> None:
    legacy = {"orderbook": {"yes": [[8, 444], [7, 3195]], "no": [[88, 1967], [1, 13553]]}}
    fixed = {
        "orderbook_fp": {
            "yes_dollars": [["0.0800", "444"], ["0.0700", "3195"]],
            "no_dollars": [["0.8800", "1967"], ["0.0100", "13553"]],
        }
    }
    assert parse_kalshi_orderbook(legacy) == parse_kalshi_orderbook(fixed)
    assert parse_kalshi_orderbook(legacy).asks == (
        (Decimal("0.12"), Decimal(1967)),
        (Decimal("0.99"), Decimal(13553)),
    )


def test_empty_and_null_sides() -> None:
    book = parse_kalshi_orderbook({"orderbook_fp": {"yes_dollars": None, "no_dollars": [["0.4", "5"]]}})
    assert book.bids == () and book.asks == ((Decimal("0.6"), Decimal(5)),)
    assert parse_kalshi_orderbook({"orderbook_fp": {}}).bids == ()
    # Zero-size levels carry no liquidity and are dropped.
    assert parse_kalshi_orderbook({"orderbook_fp": {"yes_dollars": [["0.4", "0"]]}}).bids == ()


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (
            {"orderbook_fp": {"yes_dollars": [["1.5", "10"]]}},
            r"yes_dollars\[0\].price must be a probability in \[0, 1\]",
        ),
        ({"orderbook_fp": {"no_dollars": [["-0.1", "10"]]}}, r"no_dollars\[0\].price must be a probability"),
        ({"orderbook_fp": {"yes_dollars": [["0.1", "-3"]]}}, r"yes_dollars\[0\].quantity must be >= 0"),
        ({"orderbook_fp": {"yes_dollars": [["0.1", "NaN"]]}}, r"yes_dollars\[0\].quantity must be finite"),
        ({"orderbook_fp": {"yes_dollars": [["nan", "1"]]}}, r"price must be finite"),
        ({"orderbook_fp": {"yes_dollars": [["0.1"]]}}, r"must be a \[price, quantity\] pair"),
        ({"orderbook_fp": {"yes_dollars": "0.1,5"}}, r"must be a list"),
        ({"orderbook_fp": {"yes_dollars": [["0.1", "1"], ["0.10", "2"]]}}, r"appears twice"),
        ({"orderbook_fp": {"yes_dollars": [["0.6", "1"]], "no_dollars": [["0.5", "1"]]}}, r"crossed book"),
        ({"orderbook_fp": {"yes_dollars": [["0.5", "1"]], "no_dollars": [["0.5", "1"]]}}, r"crossed book"),
        ({"orderbook": {"yes": [[150, 1]]}}, r"orderbook.yes\[0\].price must be a probability"),
        ({"markets": []}, r"needs an 'orderbook_fp' or 'orderbook'"),
        ({"orderbook_fp": [1, 2]}, r"orderbook_fp must be a mapping"),
    ],
)
def test_bad_books_are_refused(payload: dict[str, Any], match: str) -> None:
    with pytest.raises(KalshiInputError, match=match):
        parse_kalshi_orderbook(payload)


def test_bad_side() -> None:
    with pytest.raises(KalshiInputError, match="side"):
        parse_kalshi_orderbook({"orderbook_fp": {}}, "maybe")  # type: ignore[arg-type]


levels = st.lists(
    st.tuples(st.integers(min_value=1, max_value=49), st.integers(min_value=1, max_value=10**6)),
    max_size=10,
    unique_by=lambda level: level[0],
)


@settings(max_examples=200, deadline=None)
@given(yes=levels, no=levels)
def test_parsed_books_are_sorted_uncrossed_and_mirror(
    yes: list[tuple[int, int]], no: list[tuple[int, int]]
) -> None:
    # Bids below 50c on both sides can never cross (YES bid + NO bid < 1).
    payload = {
        "orderbook_fp": {
            "yes_dollars": [[f"{p / 100:.4f}", f"{q}.00"] for p, q in yes],
            "no_dollars": [[f"{p / 100:.4f}", f"{q}.00"] for p, q in no],
        }
    }
    book = parse_kalshi_orderbook(payload)
    prices_bid = [p for p, _ in book.bids]
    prices_ask = [p for p, _ in book.asks]
    assert prices_bid == sorted(prices_bid, reverse=True)
    assert prices_ask == sorted(prices_ask)
    assert not book.bids or not book.asks or book.bids[0][0] < book.asks[0][0]
    assert sorted(q for _, q in book.asks) == sorted(Decimal(q) for _, q in no)
    assert parse_kalshi_orderbook(payload, "no").bids == tuple((1 - p, q) for p, q in book.asks)
