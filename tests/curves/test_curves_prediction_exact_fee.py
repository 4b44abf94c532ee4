"""Issue 14: complete sets are recommended on Kalshi's exact fee, never on the relaxed one alone.

Kalshi charges ``round_up(0.07 C P (1 - P))`` to the cent per order; the convex curve charges it unrounded.
The planner and the quote must price the exact fee, and whatever the planner recommends must earn money with
it.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.curves.base import CurveInputError
from sdk.curves.prediction import (
    PredictionMarketCurve,
    complete_set_arbitrage,
    complete_set_quote,
    exact_order_fee,
)
from sdk.fees.kalshi import taker_fee, trading_fee

ISSUE_ASKS = {"A": 0.10, "B": 0.10, "C": 0.77}


def _exact_profit(plan_sets: float, fills: list[tuple[float, float, float]]) -> Decimal:
    """Independent exact PnL: ``sets - sum(C P + round_up(rate C P (1 - P)))`` over ``(C, P, rate)`` fills."""
    total = Decimal(repr(plan_sets))
    for contracts, price, rate in fills:
        c = Decimal(repr(contracts)).quantize(Decimal("0.01"))
        assert c == Decimal(repr(contracts)), "the property books trade whole contracts"
        total -= c * Decimal(repr(price)) + trading_fee(c, repr(price), repr(rate))
    return total


def test_issue_case_one_contract_each_is_not_recommended() -> None:
    asks = {o: {"kalshi": [(p, 1.0)]} for o, p in ISSUE_ASKS.items()}
    plan = complete_set_arbitrage(asks, days_to_resolution=30)
    assert plan.sets == 0.0 and plan.profit == 0.0 and plan.fills == ()
    # the relaxed fee would have said +0.005; the exact fee says -0.01
    relaxed_edge = 1 - sum(p + 0.07 * p * (1 - p) for p in ISSUE_ASKS.values())
    assert relaxed_edge == pytest.approx(0.005, abs=1e-4)
    exact = sum((taker_fee(1, repr(p)) for p in ISSUE_ASKS.values()), Decimal(0))
    assert exact == Decimal("0.04")
    assert Decimal(1) - sum(Decimal(repr(p)) for p in ISSUE_ASKS.values()) - exact == Decimal("-0.01")


def test_issue_case_quote_shows_the_exact_loss() -> None:
    q = complete_set_quote(ISSUE_ASKS, days_to_resolution=30)
    assert q.fees == pytest.approx(0.04)
    assert q.edge == pytest.approx(-0.01)
    assert q.spread_pct < 0 and q.apy < 0
    # at 100 sets the rounding is amortised: 0.63 + 0.63 + 1.24 = 2.50, i.e. 0.025 a set, edge +0.005
    big = complete_set_quote(ISSUE_ASKS, days_to_resolution=30, sets=100)
    assert big.fees == pytest.approx(0.025)
    assert big.edge == pytest.approx(0.005)


def test_issue_prices_with_depth_are_recommended_at_their_exact_profit() -> None:
    asks = {o: {"kalshi": [(p, 100.0)]} for o, p in ISSUE_ASKS.items()}
    plan = complete_set_arbitrage(asks, days_to_resolution=30)
    assert plan.sets == pytest.approx(100.0)
    assert plan.fees == pytest.approx(2.50)
    assert plan.profit == pytest.approx(0.50)
    assert plan.profit == pytest.approx(plan.sets - plan.cost - plan.fees)


def test_planner_drops_sets_whose_exact_rounding_loses() -> None:
    """A one-contract second level: its relaxed edge is positive but its own order's rounding costs more than
    it earns, so the plan stops before it (and on a tie, too: fewer sets for the same profit)."""
    for second, extra in ((0.365, Decimal("-0.005")), (0.36, Decimal(0))):
        asks = {"A": {"k": [(0.30, 100.0), (second, 1.0)]}, "B": {"k": [(0.60, 101.0)]}}
        relaxed_edge = 1 - (second + 0.07 * second * (1 - second)) - (0.60 + 0.07 * 0.60 * 0.40)
        assert relaxed_edge > 0
        # 100 sets: fees A 1.47, B 1.68 -> 100 - 90 - 3.15 = 6.85. The 101st set grosses 1 - 0.60 - second
        # but opens a 0.02 order on A and lifts B's fee from 1.68 to 1.70.
        by_count = {
            n: complete_set_arbitrage(asks, days_to_resolution=10, max_sets=n).profit for n in (100, 101)
        }
        assert by_count[100] == pytest.approx(6.85)
        gross = Decimal(1) - Decimal("0.60") - Decimal(repr(second))
        assert gross - Decimal("0.04") == extra
        plan = complete_set_arbitrage(asks, days_to_resolution=10)
        assert plan.sets == pytest.approx(100.0)
        assert plan.profit == pytest.approx(6.85)
        assert all(f.price != second for f in plan.fills)
    # with a fatter margin on the second level the extra set pays and is taken
    asks = {"A": {"k": [(0.30, 100.0), (0.31, 1.0)]}, "B": {"k": [(0.60, 101.0)]}}
    plan = complete_set_arbitrage(asks, days_to_resolution=10)
    assert plan.sets == pytest.approx(101.0)
    assert plan.profit == pytest.approx(6.85 + 0.09 - 0.04)


def test_min_edge_is_applied_to_exact_profit() -> None:
    asks = {o: {"kalshi": [(p, 100.0)]} for o, p in ISSUE_ASKS.items()}
    # relaxed and exact edge are both 0.005 a set at 100 sets: min_edge 0.0049 passes, 0.0051 does not
    assert complete_set_arbitrage(asks, days_to_resolution=30, min_edge=0.0049).sets == pytest.approx(100.0)
    assert complete_set_arbitrage(asks, days_to_resolution=30, min_edge=0.0051).sets == 0.0
    # one contract: exact loss, refused whatever min_edge (even a negative one) says
    one = {o: {"kalshi": [(p, 1.0)]} for o, p in ISSUE_ASKS.items()}
    assert complete_set_arbitrage(one, days_to_resolution=30, min_edge=-0.5).sets == 0.0


def test_off_grid_prices_are_refused_for_the_exact_fee() -> None:
    with pytest.raises(CurveInputError, match="decimals"):
        complete_set_arbitrage(
            {"A": {"k": [(0.123456, 1.0)]}, "B": {"k": [(0.5, 1.0)]}}, days_to_resolution=1
        )
    with pytest.raises(CurveInputError, match="decimals"):
        exact_order_fee(1.0, 0.123456)


def test_exact_order_fee_rounds_fractional_residue_up() -> None:
    assert exact_order_fee(100.0, 0.5) == Decimal("1.75")
    # 66.69999999999999 (float residue) is charged as 66.70 contracts, never less
    assert exact_order_fee(100.0 - 33.3, 0.5) == trading_fee(Decimal("66.70"), "0.5")


# -- property: whatever is recommended earns money with exact fees -------------------------------------------

_PRICE = st.integers(1, 99).map(lambda c: c / 100.0)
_RATE = st.sampled_from([0.07, 0.0175, 0.0])


@st.composite
def _books(draw: st.DrawFn) -> tuple[dict[str, dict[str, list[tuple[float, float]]]], dict[str, float]]:
    outcomes = draw(st.integers(2, 4))
    venues = ["kalshi", "other"][: draw(st.integers(1, 2))]
    rates = {v: draw(_RATE) for v in venues}
    # centre prices on a fair split so that complete sets are often near the money
    asks: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for o in range(outcomes):
        by_venue: dict[str, list[tuple[float, float]]] = {}
        for v in venues:
            prices = sorted(set(draw(st.lists(_PRICE, min_size=1, max_size=3))))
            by_venue[v] = [(p, float(draw(st.integers(1, 150)))) for p in prices]
        asks[f"O{o}"] = by_venue
    return asks, rates


def _scaled(
    asks: dict[str, dict[str, list[tuple[float, float]]]], scale: float
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Pull each outcome's prices toward ``1 / outcomes`` so sums land near 1 (where the bug lives)."""
    target = 1.0 / len(asks)
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for o, venues in asks.items():
        out[o] = {}
        for v, levels in venues.items():
            moved = sorted({min(max(round(target + (p - 0.5) * scale, 2), 0.01), 0.99) for p, _ in levels})
            sizes = [q for _, q in levels]
            out[o][v] = [(p, sizes[i]) for i, p in enumerate(moved)]
    return out


@settings(max_examples=300, deadline=None)
@given(
    book=_books(),
    scale=st.sampled_from([0.02, 0.05, 0.1, 0.3]),
    lot=st.sampled_from([0.0, 1.0, 5.0]),
    min_edge=st.sampled_from([0.0, 0.005, -0.01]),
    max_sets=st.sampled_from([math.inf, 1.0, 3.0, 40.0]),
)
def test_recommended_plans_never_lose_with_exact_fees(
    book: tuple[dict[str, dict[str, list[tuple[float, float]]]], dict[str, float]],
    scale: float,
    lot: float,
    min_edge: float,
    max_sets: float,
) -> None:
    raw, rates = book
    asks = _scaled(raw, scale)
    plan = complete_set_arbitrage(
        asks, days_to_resolution=7, fee_rates=rates, lot_size=lot, min_edge=min_edge, max_sets=max_sets
    )
    fills = [(f.size, f.price, rates[f.venue]) for f in plan.fills]
    exact = _exact_profit(plan.sets, fills)
    assert exact >= 0
    if plan.sets > 0:
        assert exact > 0
        assert plan.profit == pytest.approx(float(exact), abs=1e-9)
        assert plan.profit == pytest.approx(plan.sets - plan.cost - plan.fees, abs=1e-9)
        assert plan.sets <= max_sets
        for outcome in asks:
            assert sum(f.size for f in plan.fills if f.outcome == outcome) == pytest.approx(plan.sets)
    else:
        assert plan.fills == () and plan.profit == 0.0


def _reference_best(
    asks: dict[str, dict[str, list[tuple[float, float]]]], rates: dict[str, float]
) -> Decimal:
    """Brute force (min_edge 0, whole contracts): the best exact profit over every set count the relaxed walk
    allows, each outcome filled cheapest relaxed unit cost first, each level its own order."""
    ladders = []
    for venues in asks.values():
        rungs = sorted(
            (p + rates[v] * p * (1 - p), p, q, v, rates[v]) for v, levels in venues.items() for p, q in levels
        )
        units: list[tuple[float, float, str, float]] = []  # one entry per contract
        for unit, p, q, v, r in rungs:
            units.extend([(unit, p, v, r)] * int(q))
        ladders.append(units)
    depth = min(len(lad) for lad in ladders)
    best = Decimal(0)
    for n in range(1, depth + 1):
        if 1 - sum(lad[n - 1][0] for lad in ladders) <= 0:
            break
        fills: list[tuple[float, float, float]] = []
        for lad in ladders:
            counts: dict[tuple[float, str, float], int] = {}
            for _, p, v, r in lad[:n]:
                counts[(p, v, r)] = counts.get((p, v, r), 0) + 1
            fills.extend((float(c), p, r) for (p, _, r), c in counts.items())
        best = max(best, _exact_profit(float(n), fills))
    return best


@settings(max_examples=150, deadline=None)
@given(book=_books(), scale=st.sampled_from([0.02, 0.05, 0.1]))
def test_planner_finds_the_best_exact_count(
    book: tuple[dict[str, dict[str, list[tuple[float, float]]]], dict[str, float]], scale: float
) -> None:
    raw, rates = book
    asks = _scaled(raw, scale)
    plan = complete_set_arbitrage(asks, days_to_resolution=7, fee_rates=rates)
    assert plan.profit == pytest.approx(float(_reference_best(asks, rates)), abs=1e-9)


# -- the convex curve keeps the relaxed fee; exact_cost is the check before committing --------------------


@st.composite
def _cent_curves(draw: st.DrawFn) -> PredictionMarketCurve:
    mid = draw(st.integers(5, 95))
    bids = [(c / 100.0, float(draw(st.integers(1, 200)))) for c in range(mid - 1, max(mid - 4, 0), -1)]
    asks = [(c / 100.0, float(draw(st.integers(1, 200)))) for c in range(mid + 1, min(mid + 4, 100))]
    return PredictionMarketCurve(bids, asks, book_usage=draw(st.sampled_from([1.0, 0.5])))


@settings(max_examples=200, deadline=None)
@given(curve=_cent_curves(), frac=st.floats(-1.0, 1.0))
def test_exact_cost_is_never_below_the_relaxed_cost(curve: PredictionMarketCurve, frac: float) -> None:
    x = frac * (curve.upper if frac > 0 else -curve.lower)
    exact = curve.exact_cost(x)
    assert exact >= curve.cost(x) - 1e-9
    # the relaxation understates by under a cent per level touched
    levels = len(curve.asks if x > 0 else curve.bids)
    assert exact - curve.cost(x) < 0.01 * levels + 1e-9


def test_exact_cost_issue_case_and_depth() -> None:
    curve = PredictionMarketCurve([(0.76, 5.0)], [(0.77, 5.0)], book_usage=1.0)
    assert curve.cost(1.0) == pytest.approx(0.77 + 0.07 * 0.77 * 0.23)
    assert curve.exact_cost(1.0) == pytest.approx(0.79)
    assert curve.exact_cost(-1.0) == pytest.approx(-(0.76 - 0.02))
    with pytest.raises(CurveInputError, match="depth"):
        curve.exact_cost(6.0)


# -- outside vectors ---------------------------------------------------------------------------------------


@pytest.mark.shared
def test_exact_order_fee_reproduces_the_published_table(shared_data: Path) -> None:
    data = json.loads((shared_data / "fees" / "kalshi" / "kalshi_fee_examples.json").read_text())
    table = data["example_table"]
    checked = 0
    for row in table["rows"]:
        for name, value in zip(table["columns"][1:], row[1:], strict=True):
            role, contracts = name.split("_")
            rate = 0.07 if role == "taker" else 0.0175
            assert exact_order_fee(float(contracts), float(row[0]), rate) == Decimal(value)
            checked += 1
    assert checked == 28
    news = data["worked_examples_from_news"][0]
    assert exact_order_fee(float(news["C"]), float(news["P"])) == Decimal(news["stated_fee"])


@pytest.mark.shared
def test_quote_fee_matches_the_table_per_set(shared_data: Path) -> None:
    """A two-outcome quote at ``P`` and ``1 - P`` for 1 or 100 sets charges the table's taker fees."""
    table = json.loads((shared_data / "fees" / "kalshi" / "kalshi_fee_examples.json").read_text())[
        "example_table"
    ]
    taker = {row[0]: (Decimal(row[1]), Decimal(row[2])) for row in table["rows"]}
    for price, (one, hundred) in taker.items():
        other = str(Decimal(1) - Decimal(price))
        if other not in taker:
            continue
        q1 = complete_set_quote({"Y": float(price), "N": float(other)}, days_to_resolution=30)
        assert q1.fees == pytest.approx(float(one + taker[other][0]))
        q100 = complete_set_quote({"Y": float(price), "N": float(other)}, days_to_resolution=30, sets=100)
        assert q100.fees == pytest.approx(float(hundred + taker[other][1]) / 100)
