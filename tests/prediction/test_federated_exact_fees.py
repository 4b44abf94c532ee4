"""The federated plan on prediction markets is priced with the venues' exact fees, not the relaxation.

A region of prediction-market venues (the seeded scenario's three-outcome event on a cent grid with the
Kalshi fee) solves in process with secure aggregation; whatever it commits, the cash every venue pays at
its exact per-order fees sums to less than zero (a profit), equal to the session's reported profit.
"""

from __future__ import annotations

import math

import pytest

from agents.market.simulated import agent_for
from arbsphere.inprocess import InProcessLink
from arbsphere.simulation import venue_info
from coordinator.session import SessionDriver
from sdk.curves.prediction import PredictionMarketCurve
from sdk.scenarios import generate_scenario


@pytest.mark.parametrize(("seed", "mispricing_bps"), [(3, 200), (7, 200), (11, 500), (19, 1500)])
def test_committed_prediction_plans_pay_after_exact_fees(seed: int, mispricing_bps: float) -> None:
    scenario = generate_scenario(3, seed, kinds=("prediction",), mispricing_bps=mispricing_bps)
    agents = {v: agent_for(scenario, v, latency_budget_ms=600_000) for v in scenario.venues}
    infos = {v: venue_info(a, scenario) for v, a in agents.items()}
    link = InProcessLink(agents, secure=True)
    result = SessionDriver(link, infos, strategy="price").run()
    assert result.acks, f"seed {seed}: nothing committed at {mispricing_bps} bp"
    cash = 0.0
    for venue, plan in link.committed.items():
        curves = agents[venue].curves
        for asset, quantity in plan.trades.items():
            curve = curves[asset]
            assert isinstance(curve, PredictionMarketCurve)
            exact = curve.exact_cost(float(quantity))
            assert exact >= curve.cost(float(quantity)) - 1e-9  # the relaxation never overstates cost
            cash += exact
    assert math.isfinite(cash)
    assert cash < 0, f"committed a plan that loses {cash} after exact fees"
    assert result.profit == pytest.approx(-cash, abs=1e-6)
