"""Funding booked on perpetual positions: the sum over events, the sign convention, recorded history."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from agents.perps.funding import (
    FundingEvent,
    FundingInputError,
    PerpPositions,
    funding_amount,
    hyperliquid_funding,
)

quantities = st.decimals(min_value=Decimal("-5"), max_value=Decimal("5"), places=4)
rates = st.decimals(min_value=Decimal("-0.01"), max_value=Decimal("0.01"), places=8)
marks = st.decimals(min_value=Decimal("100"), max_value=Decimal("100000"), places=2)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), quantities),
        st.tuples(st.just("funding"), st.tuples(rates, marks)),
    ),
    max_size=60,
)


@given(steps)
def test_funding_is_mark_size_rate_summed_over_the_events_a_position_was_open_through(
    script: list[tuple[str, object]],
) -> None:
    book = PerpPositions()
    held = Decimal(0)
    expected = Decimal(0)
    for t, (kind, value) in enumerate(script):
        if kind == "fill":
            assert isinstance(value, Decimal)
            held += value
            book.fill("BTC-PERP", value, time_ms=t)
        else:
            rate, mark = value  # type: ignore[misc]
            expected -= held * mark * rate
            paid = book.settle(FundingEvent("BTC-PERP", t, rate, mark))
            assert (paid is None) == (held == 0)
    assert book.position("BTC-PERP") == held
    assert book.funding_pnl("BTC-PERP") == expected
    assert book.funding_pnl() == sum((p.amount for p in book.payments), Decimal(0))


def test_shorts_receive_positive_rates_and_longs_pay_them() -> None:
    assert funding_amount(Decimal("-2"), Decimal("30000"), Decimal("0.0001")) == Decimal("6.0000")
    assert funding_amount(Decimal("2"), Decimal("30000"), Decimal("0.0001")) == Decimal("-6.0000")
    assert funding_amount(Decimal("2"), Decimal("30000"), Decimal("-0.0001")) == Decimal("6.0000")


def test_events_out_of_time_order_and_bad_inputs_are_refused_naming_the_field() -> None:
    book = PerpPositions()
    book.fill("BTC", Decimal(1), time_ms=10)
    with pytest.raises(FundingInputError, match=r"funding\.time_ms"):
        book.settle(FundingEvent("BTC", 5, Decimal("0.0001"), Decimal(1)))
    with pytest.raises(FundingInputError, match="mark"):
        FundingEvent("BTC", 5, Decimal("0.0001"), Decimal(0))
    with pytest.raises(FundingInputError, match=r"rows\[0\].fundingRate"):
        hyperliquid_funding([{"coin": "BTC", "fundingRate": "x", "time": 1}], Decimal(1))
    with pytest.raises(FundingInputError, match=r"rows\[0\].time"):
        hyperliquid_funding([{"coin": "BTC", "fundingRate": "0.1", "time": "1"}], Decimal(1))


def _history(shared_data: Path) -> list[dict[str, object]]:
    path = shared_data / "recordings/hyperliquid-python-sdk/test_get_funding_history[None].yaml"
    cassette = yaml.safe_load(path.read_text())
    rows = json.loads(cassette["interactions"][-1]["response"]["body"]["string"])
    assert isinstance(rows, list)
    return rows


@pytest.mark.shared
def test_recorded_hyperliquid_funding_history_books_exactly(shared_data: Path) -> None:
    """A 0.5 BTC short held through the recorded hourly BTC funding rows (1038 of them) at a fixed mark
    receives mark * size * rate summed over the rows, to the last digit; flat stretches book nothing."""
    rows = _history(shared_data)
    assert len(rows) == 1038
    mark = Decimal("27000")
    events = hyperliquid_funding(rows, mark)
    book = PerpPositions()
    book.fill("BTC", Decimal("-0.5"), time_ms=events[0].time_ms - 1)
    half = len(events) // 2
    for event in events[:half]:
        book.settle(event)
    book.fill("BTC", Decimal("0.5"), time_ms=events[half].time_ms - 1)  # flat for the rest
    for event in events[half:]:
        assert book.settle(event) is None
    expected = sum((Decimal("0.5") * mark * Decimal(str(r["fundingRate"])) for r in rows[:half]), Decimal(0))
    assert book.funding_pnl("BTC") == expected
    assert len(book.payments) == half
