"""A one-minute soak of ``coordinator serve --sessions 0`` under seeded agent churn (real processes, mTLS).

The same code as ``python -m bench.soak_coordinator --minutes 30``, for a bounded time
(``ARBSPHERE_SOAK_S`` seconds, default 60): agents leave, are SIGKILLed and come back while the coordinator
runs; it must still be up at the end, have committed plans, and have left a ledger that verifies offline with
no (venue, sequence) committed or executed twice and no executed plan missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.soak_coordinator import SoakConfig, soak

SOAK_S = float(os.environ.get("ARBSPHERE_SOAK_S", "60"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(int(SOAK_S) + 240)]


def test_the_coordinator_survives_a_minute_of_agent_churn(tmp_path: Path) -> None:
    config = SoakConfig(duration_s=SOAK_S, agents=4, seed=3, gap_s=(1.0, 6.0), absence_s=(0.5, 5.0))
    report = soak(tmp_path, config, log=lambda line: None)
    metrics = report.metrics()
    print(
        f"{SOAK_S:g} s soak: chaos {dict(report.actions)}; {metrics['sessions_completed']} sessions "
        f"({metrics['sessions_abandoned']} abandoned), {report.committed_plans} plans committed, "
        f"{metrics['plans_executed_by_agents']} executed; ledger {report.ledger}"
    )
    assert report.coordinator_alive_at_end, report.problems
    assert report.actions["kill"] + report.actions["leave"] >= 3, report.actions
    assert report.committed_plans > 0 and report.agents_executed
    assert report.ledger["verify_ok"], report.ledger
    assert report.ledger.get("consistency_ok"), report.ledger
    assert not report.problems, report.problems
