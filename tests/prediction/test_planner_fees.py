"""Exact fees in the complete-set planner (issue 14).

- Kalshi: every value of the 28-value fee table is what the planner's own cost curve charges
  (``PredictionMarketCurve.exact_cost`` on a one-level book, and ``complete_set_arbitrage``'s fees).
- Polymarket: the fee model reproduces all 21 real on-chain taker fills (truncation to 0.00001 USDC) and the
  schedule is read from the market object.
- The issue's case (one contract each at 0.10 / 0.10 / 0.77) is not recommended.
- Property: a complete set the planner buys pays out more than it cost after every fee, recomputed
  independently from the fills with the venues' fee functions, for every generated book (Kalshi and
  Polymarket venues mixed).
"""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdk.curves.base import CurveInputError
from sdk.curves.prediction import (
    FeeModel,
    KalshiFees,
    PolymarketFees,
    PredictionMarketCurve,
    complete_set_arbitrage,
)
from sdk.fees import polymarket as pm
from sdk.fees.kalshi import trading_fee

KALSHI_TABLE = "fees/kalshi/kalshi_fee_examples.json"
POLY_FILLS = (
    "recordings/prediction_markets/polymarket/nautilus_trader_index/"
    + "crates__chain_order_filled_taker_fees.json"
)
ISSUE_ASKS = {"A": 0.10, "B": 0.10, "C": 0.77}


@pytest.mark.shared
def test_kalshi_table_is_reproduced_by_the_planners_cost_curve(shared_data: Path) -> None:
    table = json.loads((shared_data / KALSHI_TABLE).read_text())["example_table"]
    checked = 0
    for row in table["rows"]:
        price = float(row[0])
        for name, value in zip(table["columns"][1:], row[1:], strict=True):
            role, contracts = name.split("_")
            fees = KalshiFees(0.07 if role == "taker" else 0.0175)
            c = float(contracts)
            curve = PredictionMarketCurve(
                [(price - 0.01, 500.0)], [(price, 500.0)], book_usage=1.0, fees=fees
            )
            fee_paid = Decimal(repr(curve.exact_cost(c))) - Decimal(contracts) * Decimal(row[0])
            assert fee_paid.quantize(Decimal("0.0001")) == Decimal(value), (name, row[0])
            assert fees.exact_buy(c, price) == Decimal(value)
            checked += 1
            if role == "taker":
                # the complete-set planner charges the same fee for the same order
                plan = complete_set_arbitrage(
                    {"Y": {"k": [(price, c)]}, "N": {"k": [(0.01, c)]}},
                    days_to_resolution=30,
                    min_edge=-1.0,
                    max_sets=c,
                )
                if plan.sets:
                    expected = Decimal(value) + trading_fee(Decimal(contracts), "0.01")
                    assert Decimal(repr(plan.fees)).quantize(Decimal("0.0001")) == expected
    assert checked == 28


def test_issue_case_is_not_recommended() -> None:
    asks = {outcome: {"kalshi": [(price, 1.0)]} for outcome, price in ISSUE_ASKS.items()}
    plan = complete_set_arbitrage(asks, days_to_resolution=30)
    assert plan.sets == 0.0 and plan.fills == ()
    # the relaxed fee would have shown +0.005; the exact one is 0.01 + 0.01 + 0.02
    assert sum(KalshiFees().exact_buy(1.0, p) for p in ISSUE_ASKS.values()) == Decimal("0.04")
    # with the 0.77 leg on Polymarket (politics, 0.04: 0.04 * 0.77 * 0.23 / 0.77 = 0.0092 withheld) the set
    # earns 1 - 0.97 - 0.02 - 0.0092 = +0.0008 exactly, and is recommended at that profit
    mixed = {o: {"poly" if o == "C" else "kalshi": [(p, 1.0)]} for o, p in ISSUE_ASKS.items()}
    plan = complete_set_arbitrage(mixed, days_to_resolution=30, fee_models={"poly": PolymarketFees(0.04)})
    assert plan.sets == 1.0
    assert plan.fees == pytest.approx(0.0292, abs=1e-12) and plan.profit == pytest.approx(0.0008, abs=1e-12)


@pytest.mark.shared
def test_polymarket_fee_model_reproduces_real_onchain_fills(shared_data: Path) -> None:
    fills = json.loads((shared_data / POLY_FILLS).read_text())
    assert len(fills) == 21
    for i, fill in enumerate(fills):
        shares_mantissa = (
            fill["taker_amount_filled"] if fill["side"] == "BUY" else fill["maker_amount_filled"]
        )
        shares = Decimal(shares_mantissa) / Decimal(10**6)
        fee = pm.taker_fee(shares, fill["price"], fill["fee_rate"])
        assert fee == Decimal(fill["fee"]) / Decimal(10**6), (i, fill)
        if fill["side"] == "SELL":
            assert (
                PolymarketFees(float(fill["fee_rate"])).exact_sell(float(shares), float(fill["price"])) == fee
            )


@pytest.mark.shared
def test_polymarket_schedule_is_read_from_the_market(shared_data: Path) -> None:
    docs = json.loads(
        (
            shared_data / "recordings/prediction_markets/polymarket/fees/polymarket_fee_schedule_docs.json"
        ).read_text()
    )
    example = docs["market_object_fields"]["gamma_feeSchedule_example_real"]
    schedule = pm.PolymarketSchedule.from_market(example)
    assert schedule.rate == Decimal("0.04") and schedule.rebate_rate == Decimal("0.25")
    assert pm.PolymarketSchedule.from_market({"feesEnabled": False}).rate == 0
    published = {
        c["category"].lower(): Decimal(str(c["taker_fee_rate"]))
        for c in docs["versions"][0]["categories_seen_on_official_page"]
    }
    assert {k: v for k, v in pm.CATEGORY_TAKER_RATES.items() if k in published} == published


def test_polymarket_buy_fee_is_valued_in_withheld_shares() -> None:
    fee = pm.taker_fee("100", "0.5", "0.04")
    assert fee == Decimal("1.00000")
    assert pm.buy_fee_cost("100", "0.5", "0.04") == Decimal("2.00000")  # 2 shares withheld, worth <= 1 each
    assert pm.taker_fee("7.57", "0.65", "0.05") == Decimal("0.08610")  # truncated, not rounded (0.0861087..)
    with pytest.raises(pm.PolymarketFeeError, match="price"):
        pm.taker_fee("1", "1.5", "0.04")
    with pytest.raises(pm.PolymarketFeeError, match="shares"):
        pm.taker_fee("1.0000001", "0.5", "0.04")
    with pytest.raises(pm.PolymarketFeeError, match=r"feeSchedule\.exponent"):
        pm.PolymarketSchedule(Decimal("0.25"), exponent=2)
    with pytest.raises(CurveInputError, match=r"PolymarketFees\.rate"):
        PolymarketFees(1.5)


def test_polymarket_curve_exact_cost_never_below_its_relaxed_cost() -> None:
    curve = PredictionMarketCurve(
        [(0.60, 40.0), (0.55, 40.0)], [(0.62, 40.0), (0.65, 40.0)], book_usage=1.0, fees=PolymarketFees(0.07)
    )
    for x in (1.0, 7.5, 40.0, 63.25, 80.0, -1.0, -55.5):
        assert curve.exact_cost(x) >= curve.cost(x) - 1e-4 * abs(x)


# -- the property -------------------------------------------------------------------------------------

_VENUES: dict[str, FeeModel] = {
    "kalshi": KalshiFees(0.07),
    "kalshi_maker": KalshiFees(0.0175),
    "poly": PolymarketFees(0.04),
}


@st.composite
def _books(draw: st.DrawFn) -> dict[str, dict[str, list[tuple[float, float]]]]:
    n_outcomes = draw(st.integers(min_value=2, max_value=4))
    asks: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for k in range(n_outcomes):
        by_venue: dict[str, list[tuple[float, float]]] = {}
        for venue in draw(st.lists(st.sampled_from(sorted(_VENUES)), min_size=1, max_size=3, unique=True)):
            cents = sorted(draw(st.sets(st.integers(1, 99), min_size=1, max_size=4)))
            sizes = draw(st.lists(st.integers(1, 400), min_size=len(cents), max_size=len(cents)))
            by_venue[venue] = [(c / 100.0, float(q)) for c, q in zip(cents, sizes, strict=True)]
        asks[f"O{k}"] = by_venue
    return asks


def _independent_cost(fills: tuple[object, ...]) -> Decimal:
    """Cash paid for the fills plus every fee, from the venues' own fee functions (not the planner's)."""
    total = Decimal(0)
    for fill in fills:
        venue, price, size = fill.venue, Decimal(repr(fill.price)), Decimal(repr(fill.size))  # type: ignore[attr-defined]
        total += size * price
        if venue == "poly":
            shares = size.quantize(Decimal("0.000001"), rounding=ROUND_CEILING)
            total += pm.buy_fee_cost(shares, price, "0.04")
        else:
            contracts = size.quantize(Decimal("0.01"), rounding=ROUND_CEILING)
            total += trading_fee(contracts, price, "0.07" if venue == "kalshi" else "0.0175")
    return total


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_books(), st.sampled_from([0.0, 1.0]), st.sampled_from([0.0, 0.002]))
def test_a_bought_complete_set_always_pays_more_than_it_cost(
    asks: dict[str, dict[str, list[tuple[float, float]]]], lot: float, min_edge: float
) -> None:
    plan = complete_set_arbitrage(
        asks, days_to_resolution=10, fee_models=_VENUES, lot_size=lot, min_edge=min_edge
    )
    if plan.sets == 0:
        assert plan.fills == () and plan.profit == 0
        return
    cost = _independent_cost(plan.fills)
    payout = Decimal(repr(plan.sets))
    assert payout > cost, (plan, cost)
    assert plan.profit == pytest.approx(float(payout - cost), abs=1e-9)
    for outcome, venues in asks.items():  # every outcome bought exactly `sets` times, within the depth shown
        bought = sum(f.size for f in plan.fills if f.outcome == outcome)
        assert bought == pytest.approx(plan.sets)
        for f in plan.fills:
            if f.outcome == outcome:
                assert (f.price, f.size) in [(p, q) for p, q in venues[f.venue]] or any(
                    p == f.price and f.size <= q + 1e-9 for p, q in venues[f.venue]
                )
