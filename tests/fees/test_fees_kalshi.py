"""Kalshi fees: the 28-value table, the news examples (one inconsistent, shown to be), the documented rounding
mechanics, invariants, and refusal of bad input."""

from __future__ import annotations

import json
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.fees.kalshi import (
    CENT,
    MAKER_RATE,
    TAKER_RATE,
    KalshiFill,
    KalshiInputError,
    fill_fee,
    maker_fee,
    order_fees,
    raw_fee,
    taker_fee,
    trading_fee,
)

REL = "fees/kalshi/kalshi_fee_examples.json"
_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _table_params() -> list[Any]:
    path = _SHARED / REL
    if not path.is_file():
        return [pytest.param(-1, "missing", id="vectors-missing")]
    data = json.loads(path.read_text(encoding="utf-8"))
    columns = data["example_table"]["columns"][1:]
    return [
        pytest.param(r, column, id=f"P{row[0]}-{column}")
        for r, row in enumerate(data["example_table"]["rows"])
        for column in columns
    ]


def _load(shared_data: Path) -> Any:
    return json.loads((shared_data / REL).read_text(encoding="utf-8"))


@pytest.mark.shared
@pytest.mark.parametrize(("row_index", "column"), _table_params())
def test_fee_table_value(shared_data: Path, row_index: int, column: str) -> None:
    table = _load(shared_data)["example_table"]
    row = table["rows"][row_index]
    expected = Decimal(row[table["columns"].index(column)])
    role, contracts = column.split("_")
    fee = taker_fee if role == "taker" else maker_fee
    assert fee(int(contracts), row[0]) == expected


@pytest.mark.shared
def test_the_table_has_28_values(shared_data: Path) -> None:
    table = _load(shared_data)["example_table"]
    assert len(table["rows"]) * (len(table["columns"]) - 1) == 28


@pytest.mark.shared
def test_news_taker_example_is_consistent(shared_data: Path) -> None:
    example = _load(shared_data)["worked_examples_from_news"][0]
    assert example["role"] == "taker" and example["verified"] is True
    assert raw_fee(example["C"], example["P"], TAKER_RATE) == Decimal(example["raw"])
    assert taker_fee(example["C"], example["P"]) == Decimal(example["stated_fee"])


@pytest.mark.shared
def test_news_maker_example_is_inconsistent_with_rounding_up(shared_data: Path) -> None:
    """10 contracts at $0.50 as maker: raw 0.04375. Kalshi rounds fees *up*, giving $0.05; the article's $0.04
    is what ordinary rounding (or truncation) gives, so the article rounded the wrong way."""
    example = _load(shared_data)["worked_examples_from_news"][1]
    assert example["role"] == "maker" and example["verified"] is False
    raw = raw_fee(example["C"], example["P"], MAKER_RATE)
    assert raw == Decimal(example["raw"])
    stated = Decimal(example["stated_fee"])
    assert maker_fee(example["C"], example["P"]) == Decimal("0.05") != stated
    assert raw.quantize(CENT, rounding=ROUND_HALF_EVEN) == stated
    assert raw.quantize(CENT, rounding=ROUND_FLOOR) == stated
    # The documented per-fill mechanics agree with rounding up (buyer, whole cents, non-direct member).
    mechanics = fill_fee(-Decimal(example["C"]) * Decimal(example["P"]), raw)
    assert mechanics.net_fee == Decimal("0.05")


@pytest.mark.shared
def test_per_contract_maker_peak_table_is_unrounded_fee_in_cents(shared_data: Path) -> None:
    block = _load(shared_data)["per_contract_peak_table_from_news"]
    for cents, old, new in block["rows"]:
        per_contract_cents = raw_fee(1, Decimal(cents) / 100, MAKER_RATE) * 100
        assert per_contract_cents.quantize(CENT, rounding=ROUND_HALF_UP) == Decimal(new)
        assert Decimal(old) == Decimal("0.25")  # the flat fee the new formula replaced


def test_formula_spot_values() -> None:
    assert taker_fee(100, "0.50") == Decimal("1.75")  # 0.07 * 100 * 0.25 exactly, no rounding
    assert taker_fee(1, "0.01") == Decimal("0.01")  # 0.000693 rounds up to a cent
    assert taker_fee(0, "0.50") == Decimal("0.00")
    assert taker_fee(10, 0) == taker_fee(10, 1) == Decimal("0.00")
    assert trading_fee(3, "0.055", "0.07") == Decimal("0.02")
    assert taker_fee(1, 0.5) == taker_fee(1, "0.5")  # floats go through their shortest repr


cent_prices = st.integers(min_value=1, max_value=99).map(lambda c: Decimal(c) / 100)
sub_prices = st.integers(min_value=1, max_value=9999).map(lambda c: Decimal(c) / 10_000)
whole_contracts = st.integers(min_value=0, max_value=10**6)


@settings(max_examples=300, deadline=None)
@given(
    contracts=whole_contracts,
    price=cent_prices,
    is_buy=st.booleans(),
    rate=st.sampled_from([TAKER_RATE, MAKER_RATE]),
)
def test_official_mechanics_equal_the_classic_formula_at_cent_prices(
    contracts: int, price: Decimal, is_buy: bool, rate: Decimal
) -> None:
    notional = contracts * price
    fee = fill_fee(-notional if is_buy else notional, raw_fee(contracts, price, rate))
    assert fee.net_fee == trading_fee(contracts, price, rate)
    assert fee.balance_change % CENT == 0


@settings(max_examples=300, deadline=None)
@given(
    contracts=st.integers(min_value=0, max_value=10**8).map(lambda c: Decimal(c) / 100),
    price=sub_prices,
    direct=st.booleans(),
)
def test_fee_bounds_symmetry_and_balance_alignment(contracts: Decimal, price: Decimal, direct: bool) -> None:
    raw = raw_fee(contracts, price)
    fee = taker_fee(contracts, price)
    assert raw <= fee < raw + CENT
    assert fee == taker_fee(contracts, 1 - price)  # P * (1 - P) is symmetric
    one_fill = fill_fee(-contracts * price, raw, direct_member=direct)
    quantum = Decimal("0.0001") if direct else CENT
    assert one_fill.balance_change % quantum == 0
    assert 0 <= one_fill.rounding_fee < quantum
    assert one_fill.net_fee >= 0
    assert one_fill.balance_change == -contracts * price - one_fill.net_fee


def test_order_accumulator_converges_to_the_single_fill() -> None:
    # Three fills of 3 contracts at $0.055: each pays 0.0110 trade fee + 0.0040 rounding; once the
    # accumulated rounding (0.012) exceeds a cent, one cent comes back, and the order costs what one
    # 9-contract fill costs (0.0328 trade fee + 0.0022 rounding = 0.035).
    fills = [KalshiFill(Decimal(3), Decimal("0.055"), is_buy=True)] * 3
    fees = order_fees(fills)
    assert [f.trade_fee for f in fees] == [Decimal("0.0110")] * 3
    assert [f.rounding_fee for f in fees] == [Decimal("0.0040")] * 3
    assert [f.rebate for f in fees] == [Decimal(0), Decimal(0), Decimal("0.01")]
    single = order_fees([KalshiFill(Decimal(9), Decimal("0.055"), is_buy=True)])
    assert sum(f.net_fee for f in fees) == single[0].net_fee == Decimal("0.035")
    assert all(f.net_fee >= 0 and f.balance_change % CENT == 0 for f in fees)


def test_one_lot_subpenny_fills_and_direct_members() -> None:
    fills = [KalshiFill(Decimal(1), Decimal("0.055"), is_buy=True)] * 3
    fees = order_fees(fills)
    assert [(f.trade_fee, f.rounding_fee, f.rebate) for f in fees] == [
        (Decimal("0.0037"), Decimal("0.0013"), Decimal(0))
    ] * 3
    assert (
        sum(f.net_fee for f in fees)
        == order_fees([KalshiFill(Decimal(3), Decimal("0.055"), True)])[0].net_fee
    )
    # A direct member's balance keeps centicents: no rounding fee, the fee is the centicent-rounded model fee.
    direct = order_fees(fills, direct_member=True)
    assert all(f.rounding_fee == 0 and f.net_fee == Decimal("0.0037") for f in direct)


def test_maker_fills_use_the_maker_rate() -> None:
    taker, maker = order_fees(
        [
            KalshiFill(Decimal(100), Decimal("0.5"), True, is_maker=False),
            KalshiFill(Decimal(100), Decimal("0.5"), False, is_maker=True),
        ]
    )
    assert taker.net_fee == Decimal("1.75") and maker.net_fee == Decimal("0.44")


@pytest.mark.parametrize(
    ("contracts", "price", "field"),
    [
        (1, "1.01", "price"),
        (1, "-0.01", "price"),
        (1, "NaN", "price"),
        (1, float("nan"), "price"),
        (1, float("inf"), "price"),
        (1, "abc", "price"),
        (1, "0.12345", "price"),
        (1, True, "price"),
        (1, None, "price"),
        (-1, "0.5", "contracts"),
        ("1.001", "0.5", "contracts"),
        (10**13, "0.5", "contracts"),
        ("-Infinity", "0.5", "contracts"),
    ],
)
def test_bad_input_is_refused_naming_the_field(contracts: object, price: object, field: str) -> None:
    with pytest.raises(KalshiInputError, match=field):
        taker_fee(contracts, price)


def test_bad_rate_and_fill_inputs() -> None:
    with pytest.raises(KalshiInputError, match="rate"):
        trading_fee(1, "0.5", "1.5")
    with pytest.raises(KalshiInputError, match="model_fee"):
        fill_fee("-0.5", "-0.01")
    with pytest.raises(KalshiInputError, match=r"fills\[0\].price"):
        order_fees([KalshiFill(Decimal(1), Decimal(2), True)])
    with pytest.raises(KalshiInputError, match="direct_member"):
        fill_fee("-0.5", "0.01", direct_member=1)  # type: ignore[arg-type]
