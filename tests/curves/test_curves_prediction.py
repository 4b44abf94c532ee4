"""Prediction markets: per-share Kalshi fee relaxation, complete-set arbitrage, bad probabilities refused."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from sdk.curves.base import CurveInputError
from sdk.curves.prediction import (
    PredictionMarketCurve,
    annualise,
    complete_set_arbitrage,
    complete_set_quote,
    fee_per_share,
)


def test_fee_is_added_to_buys_and_taken_from_sells() -> None:
    curve = PredictionMarketCurve([(0.40, 100.0)], [(0.45, 100.0)], book_usage=1.0)
    assert curve.cost(10.0) == pytest.approx(10 * (0.45 + 0.07 * 0.45 * 0.55))
    assert curve.cost(-10.0) == pytest.approx(-10 * (0.40 - 0.07 * 0.40 * 0.60))
    assert curve.lot_size == 1.0


@pytest.mark.shared
def test_relaxed_fee_is_within_a_cent_of_the_published_kalshi_table(shared_data: Path) -> None:
    """The convex model charges ``0.07 C P (1 - P)``; Kalshi charges that rounded up to the cent."""
    data = json.loads((shared_data / "fees" / "kalshi" / "kalshi_fee_examples.json").read_text())
    table = data["example_table"]
    columns = table["columns"]
    checked = 0
    for row in table["rows"]:
        price = float(row[0])
        for name, value in zip(columns[1:], row[1:], strict=True):
            role, contracts = name.split("_")
            rate = 0.07 if role == "taker" else 0.0175
            relaxed = int(contracts) * fee_per_share(price, rate)
            charged = float(value)
            assert relaxed <= charged + 1e-12
            assert charged < relaxed + 0.01 + 1e-12
            checked += 1
    assert checked == 28


@pytest.mark.shared
def test_kalshi_order_book_becomes_a_curve(shared_data: Path) -> None:
    """Kalshi returns YES and NO bids; a YES ask at ``1 - p`` is a NO bid at ``p`` (as ccxt parses it)."""
    case = json.loads(
        (
            shared_data / "fees" / "kalshi" / "ccxt_orderbook_case" / "kalshi_fetchOrderBook_case.json"
        ).read_text()
    )
    book = case["httpResponse"]["orderbook_fp"]
    yes_bids = sorted(((float(p), float(q)) for p, q in book["yes_dollars"]), reverse=True)
    yes_asks = sorted((round(1.0 - float(p), 4), float(q)) for p, q in book["no_dollars"])
    parsed = case["parsedResponse"]
    assert [a[0] for a in yes_asks] == pytest.approx([float(a[0]) for a in parsed["asks"]])
    assert [b[0] for b in yes_bids] == pytest.approx([float(b[0]) for b in parsed["bids"]])
    curve = PredictionMarketCurve(yes_bids, yes_asks, book_usage=1.0)
    assert curve.upper == pytest.approx(sum(q for _, q in yes_asks))
    assert curve.lower == pytest.approx(-sum(q for _, q in yes_bids))
    best_ask = yes_asks[0][0]
    assert curve.marginal(0.0)[1] == pytest.approx(best_ask + 0.07 * best_ask * (1 - best_ask))


def test_complete_set_quote() -> None:
    q = complete_set_quote({"A": 0.30, "B": 0.30, "C": 0.30}, days_to_resolution=30)
    fees = 3 * 0.02  # exact: round_up(0.07 * 0.3 * 0.7 = 0.0147) = 0.02 per one-contract order
    assert q.cost == pytest.approx(0.90)
    assert q.fees == pytest.approx(fees)
    assert q.edge == pytest.approx(1 - 0.90 - fees)
    ret = q.edge / (0.90 + fees)
    assert q.spread_pct == pytest.approx(100 * ret)
    assert q.apy == pytest.approx((1 + ret) ** (365 / 30) - 1)
    losing = complete_set_quote({"A": 0.5, "B": 0.52}, days_to_resolution=10)
    assert losing.edge < 0 and losing.apy < 0


def test_complete_set_arbitrage_walks_depth_across_venues() -> None:
    asks = {
        "A": {"kalshi": [(0.30, 100.0), (0.35, 100.0)], "poly": [(0.31, 50.0)]},
        "B": {"kalshi": [(0.40, 120.0), (0.50, 500.0)]},
        "C": {"kalshi": [(0.20, 500.0)]},
    }
    plan = complete_set_arbitrage(asks, days_to_resolution=30, fee_rates={"poly": 0.0})
    # unit costs incl. fee: A 0.3147 (kalshi), 0.31 (poly, no fee) -> poly first; B 0.4168; C 0.2112.
    # 50 sets: 0.31 + 0.4168 + 0.2112 = 0.938 < 1; 70 more: 0.3147 + ... = 0.9427 < 1; then B at 0.5175 -> > 1
    assert plan.sets == pytest.approx(120.0)
    # exact fees, one order per fill: A 70 @ 0.30 -> 1.03, B 120 @ 0.40 -> 2.02, C 120 @ 0.20 -> 1.35
    assert plan.fees == pytest.approx(1.03 + 2.02 + 1.35)
    want_profit = 120 - (50 * 0.31 + 70 * 0.30 + 120 * 0.40 + 120 * 0.20) - (1.03 + 2.02 + 1.35)
    assert plan.profit == pytest.approx(want_profit)
    assert plan.profit == pytest.approx(plan.sets - plan.cost - plan.fees)
    by_leg = {(f.outcome, f.venue, f.price): f.size for f in plan.fills}
    assert by_leg == pytest.approx(
        {
            ("A", "poly", 0.31): 50.0,
            ("A", "kalshi", 0.30): 70.0,
            ("B", "kalshi", 0.40): 120.0,
            ("C", "kalshi", 0.20): 120.0,
        }
    )
    assert plan.apy == pytest.approx(annualise(plan.profit / (plan.cost + plan.fees), 30))
    capped = complete_set_arbitrage(asks, days_to_resolution=30, fee_rates={"poly": 0.0}, max_sets=60.0)
    assert capped.sets == pytest.approx(60.0)
    lots = complete_set_arbitrage(asks, days_to_resolution=30, fee_rates={"poly": 0.0}, lot_size=25.0)
    assert lots.sets == pytest.approx(100.0)
    strict = complete_set_arbitrage(asks, days_to_resolution=30, fee_rates={"poly": 0.0}, min_edge=0.06)
    assert strict.sets == pytest.approx(50.0)


def test_no_edge_no_sets() -> None:
    plan = complete_set_arbitrage(
        {"A": {"v": [(0.6, 10.0)]}, "B": {"v": [(0.5, 10.0)]}}, days_to_resolution=1
    )
    assert plan.sets == 0.0 and plan.profit == 0.0 and plan.fills == ()
    missing = complete_set_arbitrage({"A": {"v": [(0.1, 10.0)]}, "B": {}}, days_to_resolution=1)
    assert missing.sets == 0.0


@pytest.mark.parametrize(
    ("bids", "asks", "field"),
    [
        ([(0.4, 1.0)], [(1.2, 1.0)], "asks[0] price must be finite, > 0 and < 1.0"),
        ([(-0.1, 1.0)], [(0.5, 1.0)], "bids[0] price"),
        ([(0.4, 1.0)], [(1.0, 1.0)], "asks[0] price"),
        ([(0.5, 1.0)], [(0.4, 1.0)], "crossed"),
        ([(0.4, -1.0)], [(0.5, 1.0)], "bids[0] size"),
        ([(math.nan, 1.0)], [(0.5, 1.0)], "bids[0] price"),
    ],
)
def test_probability_outside_the_unit_interval_is_refused(
    bids: list[tuple[float, float]], asks: list[tuple[float, float]], field: str
) -> None:
    with pytest.raises(CurveInputError, match=re.escape(field)):
        PredictionMarketCurve(bids, asks)


def test_bad_complete_set_inputs_are_refused() -> None:
    with pytest.raises(CurveInputError, match="probability"):
        complete_set_quote({"A": 1.2, "B": 0.1}, days_to_resolution=1)
    with pytest.raises(CurveInputError, match="days_to_resolution"):
        complete_set_quote({"A": 0.2, "B": 0.1}, days_to_resolution=0)
    with pytest.raises(CurveInputError, match="every outcome"):
        complete_set_quote({"A": 0.2}, days_to_resolution=1)
    with pytest.raises(CurveInputError, match="price"):
        fee_per_share(1.5)
    with pytest.raises(CurveInputError, match="fee_rate"):
        PredictionMarketCurve([], [], fee_rate=1.0)
    with pytest.raises(CurveInputError, match="max_sets"):
        complete_set_arbitrage({"A": {}, "B": {}}, days_to_resolution=1, max_sets=-1.0)
    with pytest.raises(CurveInputError, match=re.escape("asks['A']['v'][0] price")):
        complete_set_arbitrage({"A": {"v": [(2.0, 1.0)]}, "B": {}}, days_to_resolution=1)
