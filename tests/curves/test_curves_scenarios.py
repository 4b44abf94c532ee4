"""Scenario generator: deterministic by seed, nested across sizes, mixed kinds, documented shape."""

from __future__ import annotations

import pytest

from sdk.curves.base import CostCurve, CurveInputError
from sdk.scenarios import DEFAULT_KINDS, EVENT_OUTCOMES, NO_TRADE, Scenario, generate_scenario


def fingerprint(scenario: Scenario) -> list[tuple[str, str, float, float, float, float]]:
    """What a venue's market looks like from outside: bounds, costs and a prox per curve."""
    out = []
    for venue, curves in scenario.curves().items():
        for asset, c in curves.items():
            out.append((venue, asset, c.lower, c.upper, c.cost(c.upper / 3), c.prox(c.upper, 1e-3)))
    return out


def test_same_seed_same_markets_other_seed_other_markets() -> None:
    assert fingerprint(generate_scenario(9, 42)) == fingerprint(generate_scenario(9, 42))
    assert fingerprint(generate_scenario(9, 42)) != fingerprint(generate_scenario(9, 43))


def test_venue_i_does_not_depend_on_the_number_of_venues() -> None:
    small, large = generate_scenario(5, 3), generate_scenario(50, 3)
    assert fingerprint(small) == fingerprint(large)[: len(fingerprint(small))]


def test_mixed_kinds_with_metadata() -> None:
    scenario = generate_scenario(8, 1)
    kinds = [v.kind for v in scenario.venues.values()]
    assert kinds == [DEFAULT_KINDS[i % 4] for i in range(8)]
    assert scenario.assets == ("BTC", "ETH", "SOL")
    for venue_id, venue in scenario.venues.items():
        assert venue_id.startswith(venue.kind)
        assert set(venue.curves) == set(scenario.assets)
        assert all(isinstance(c, CostCurve) for c in venue.curves.values())
        assert all(lot > 0 for lot in venue.lot_sizes.values())
        assert venue.latency_budget_ms > 0 and venue.budget_quote > 0
        # per-asset boxes keep the whole plan within the notional budget
        notional = sum(max(-c.lower, c.upper) * scenario.mids[a] for a, c in venue.curves.items())
        assert notional <= venue.budget_quote * (1 + 1e-9)
        for asset, offset in venue.mid_offsets_bps.items():
            assert abs(offset) < 200.0, (asset, offset)
    assert set(scenario.lot_sizes()) == set(scenario.venues)
    assert set(scenario.latency_budgets()) == set(scenario.budgets()) == set(scenario.venues)


def test_curves_quote_around_the_common_mid() -> None:
    scenario = generate_scenario(40, 11)
    for venue in scenario.venues.values():
        for asset, curve in venue.curves.items():
            left, right = curve.marginal(0.0)
            mid = scenario.mids[asset]
            assert 0.97 * mid < right and left < 1.03 * mid


def test_prediction_venues_trade_the_event_outcomes() -> None:
    scenario = generate_scenario(6, 2, kinds=("order_book", "prediction"))
    assert scenario.assets == ("BTC", "ETH", "SOL", *EVENT_OUTCOMES)
    predictions = [v for v in scenario.venues.values() if v.kind == "prediction"]
    assert len(predictions) == 3
    for venue in predictions:
        assert set(venue.curves) == set(EVENT_OUTCOMES)
    assert 0.5 < sum(scenario.mids[o] for o in EVENT_OUTCOMES) < 1.5
    dense = scenario.dense_curves()
    assert dense["order_book-0000"]["EVT-A"] is NO_TRADE
    assert (NO_TRADE.lower, NO_TRADE.upper) == (0.0, 0.0)
    assert all(set(curves) == set(scenario.assets) for curves in dense.values())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_venues": 0, "seed": 1}, "n_venues"),
        ({"n_venues": 2, "seed": -1}, "seed"),
        ({"n_venues": 2, "seed": 1, "kinds": ()}, "kinds"),
        ({"n_venues": 2, "seed": 1, "kinds": ("dark_pool",)}, "kinds"),
        ({"n_venues": 2, "seed": 1, "assets": ("DOGE",)}, "mids['DOGE']"),
        ({"n_venues": 2, "seed": 1, "mispricing_bps": -1.0}, "mispricing_bps"),
        ({"n_venues": 2, "seed": 1, "book_levels": 0}, "book_levels"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(CurveInputError, match=field.replace("[", r"\[").replace("]", r"\]")):
        generate_scenario(**kwargs)  # type: ignore[arg-type]


def test_custom_assets_and_mids() -> None:
    scenario = generate_scenario(
        4, 0, assets=("DOGE",), mids={"DOGE": 0.1}, mispricing_bps=0.0, book_levels=5
    )
    assert scenario.assets == ("DOGE",)
    for venue in scenario.venues.values():
        assert venue.mid_offsets_bps["DOGE"] == 0.0
