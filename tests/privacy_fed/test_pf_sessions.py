"""Private federated sessions: exact balance, budgets enforced before release, refusals as dropouts,
and spend records that add up to the accountant's total and to OpenDP's own composition."""

# OpenDP's Measurement.map carries no annotations.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import math
from dataclasses import replace

import opendp.prelude as dp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.privacy import (
    PrivacyAccountant,
    PrivacyPolicy,
    PrivacySpendRecord,
    calibrate_gaussian,
    compose_rho,
    epsilon_for_rho,
)
from agents.privacy.opendp_bridge import vector_space
from agents.private_release import AgentPrivacy, PrivacyRefusal, SessionPrivacy
from coordinator.engine.config import AdmmConfig
from coordinator.engine.price_space import PriceSpace
from coordinator.session import SessionDriver
from tests.privacy_fed.pf_helpers import (
    DELTA,
    RefusalAwareLink,
    assert_balanced_within_budgets,
    committed_plans,
    fixed_clock,
    private_region,
)

PRIVATE_STOP = AdmmConfig(gap_tol_rel=0.05, max_rounds=300, max_missed_rounds=2)
"""Noise costs more than Boyd-tight tolerances allow: private sessions stop within 5% of the profit."""


@pytest.mark.parametrize("strategy", ["price", "admm"])
def test_private_session_commits_an_exactly_balanced_plan(strategy: str) -> None:
    # A $100 resolution keeps private plans profitable, so the coordinator's safety gate commits them.
    _scenario, agents, infos = private_region(5, 7, epsilon=1.0, resolution_usd=100.0)
    link = RefusalAwareLink(agents, secure=True)
    result = SessionDriver(link, infos, strategy=strategy, config=PRIVATE_STOP).run()
    assert not link.refusals and not result.dropped
    assert_balanced_within_budgets(link, agents)
    assert committed_plans(link)
    for agent in agents.values():
        assert agent.privacy is not None
        records = agent.privacy_records(result.session_id)
        assert 1 <= len(records) <= agent.privacy.session.max_releases
        assert agent.privacy.accountant.spent_zcdp_rho <= agent.privacy.session.zcdp_rho


@pytest.mark.parametrize("strategy", ["price", "admm"])
def test_unprofitable_private_plan_is_refused_not_committed(strategy: str) -> None:
    """The commit gate: a private plan is committed only with a positive balanced profit (at epsilon=1 and
    a $1,000 resolution, private ADMM loses money); otherwise nothing is applied anywhere."""
    _scenario, agents, infos = private_region(5, 7, epsilon=1.0)
    link = RefusalAwareLink(agents, secure=True)
    result = SessionDriver(link, infos, strategy=strategy, config=PRIVATE_STOP).run()
    if result.profit > 0:
        assert result.committed and committed_plans(link)
        assert_balanced_within_budgets(link, agents)
    else:
        assert not result.committed and not committed_plans(link)
        assert all(agent.plan_state.sequence == 0 for agent in agents.values())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 4),
    seed=st.integers(0, 40),
    epsilon=st.sampled_from([0.3, 1.0, 10.0]),
    resolution=st.sampled_from([None, 100.0, 10_000.0]),
    releases=st.integers(1, 12),
    strategy=st.sampled_from(["price", "admm"]),
)
def test_any_privacy_setting_keeps_the_plan_balanced_and_the_budget(
    n: int, seed: int, epsilon: float, resolution: float | None, releases: int, strategy: str
) -> None:
    """Balance and budgets hold whatever the noise does to the plan (full-range noise included)."""
    _scenario, agents, infos = private_region(
        n, seed, epsilon=epsilon, resolution_usd=resolution, max_releases=releases
    )
    link = RefusalAwareLink(agents, secure=False)
    config = AdmmConfig(gap_tol_rel=0.05, max_rounds=120)
    result = SessionDriver(link, infos, strategy=strategy, config=config).run()
    assert result.rounds <= 120 and not link.refusals
    assert_balanced_within_budgets(link, agents)
    for agent in agents.values():
        assert agent.privacy is not None
        assert len(agent.privacy_records()) <= releases
        session_rho = agent.privacy.session.zcdp_rho
        assert agent.privacy.accountant.spent_zcdp_rho <= session_rho
        assert epsilon_for_rho(agent.privacy.accountant.spent_zcdp_rho, DELTA) <= epsilon


def _nearly_spent(venue: str, session: SessionPrivacy, shares: float) -> PrivacyAccountant:
    """A window (of one session's budget) with only ``shares`` of the session's releases left."""
    window = session.zcdp_rho
    spent = window - shares * session.rho_per_release()
    policy = PrivacyPolicy(window, 3600, delta=DELTA)
    return PrivacyAccountant(venue, policy, clock=fixed_clock, spent_zcdp_rho=spent)


def test_an_exhausted_agent_refuses_and_the_session_completes_without_it() -> None:
    _scenario, agents, infos = private_region(5, 7, epsilon=1.0)
    victim = sorted(agents)[1]
    privacy = agents[victim].privacy
    assert privacy is not None
    accountant = _nearly_spent(victim, privacy.session, 2.5)
    agents[victim].privacy = AgentPrivacy(accountant, privacy.session)
    link = RefusalAwareLink(agents, secure=True)
    result = SessionDriver(link, infos, config=PRIVATE_STOP).run()

    assert victim in result.dropped and victim not in link.committed
    refused_rounds = [r for r, venue, _ in link.refusals if venue == victim]
    # Refused from the first release it could not afford until the coordinator dropped it (3 misses).
    assert refused_rounds == list(range(refused_rounds[0], refused_rounds[0] + 3))
    assert all("privacy budget exhausted" in m for _, v, m in link.refusals if v == victim)
    assert accountant.spent_zcdp_rho <= accountant.policy.zcdp_rho_per_window
    assert len(agents[victim].privacy_records()) == 2
    assert_balanced_within_budgets(link, agents)
    assert set(committed_plans(link)) <= set(agents) - {victim}


def test_a_refusal_is_final_for_the_session() -> None:
    _scenario, agents, infos = private_region(3, 5, epsilon=1.0)
    venue = sorted(agents)[0]
    agent = agents[venue]
    privacy = agent.privacy
    assert privacy is not None
    accountant = _nearly_spent(venue, privacy.session, 1.5)
    agent.privacy = AgentPrivacy(accountant, privacy.session)
    driver = SessionDriver(RefusalAwareLink(agents), infos)
    strategy = PriceSpace("s", driver.assets(), infos, driver.scales())
    agent.start_session("s", driver.assets(), secure=False)
    first = strategy.configure_round()
    agent.answer_round(first)  # the one release the window still affords
    spent = accountant.spent_zcdp_rho
    moved = replace(first, round_id=2, prices=first.prices * 1.001, accepted_previous=frozenset({venue}))
    with pytest.raises(PrivacyRefusal, match="privacy budget exhausted") as refused:
        agent.answer_round(moved)
    assert refused.value.cause.remaining_rho < refused.value.cause.cost_rho
    with pytest.raises(PrivacyRefusal):  # even prices it could answer from what it released: it is out
        agent.answer_round(replace(first, round_id=3))
    assert len(agent.privacy_records()) == 1
    assert accountant.spent_zcdp_rho == spent  # refusals charge nothing
    rounded = agent.round_plan()  # its counted plan (a post-processing): the rounding sum stays whole
    assert rounded.shape == (len(driver.assets()) + 1,)


def test_an_agent_out_of_budget_before_the_session_is_dropped() -> None:
    _scenario, agents, infos = private_region(4, 3, epsilon=3.0)
    broke = sorted(agents)[0]
    privacy = agents[broke].privacy
    assert privacy is not None
    rho = privacy.session.zcdp_rho
    empty = PrivacyAccountant(
        broke, PrivacyPolicy(rho, 3600, delta=DELTA), clock=fixed_clock, spent_zcdp_rho=rho
    )
    agents[broke].privacy = AgentPrivacy(empty, privacy.session)
    link = RefusalAwareLink(agents, secure=True)
    result = SessionDriver(link, infos, config=PRIVATE_STOP).run()
    assert broke in result.dropped and broke not in link.committed
    assert {v for _, v, _ in link.refusals} == {broke}
    assert agents[broke].privacy_records() == ()
    assert_balanced_within_budgets(link, agents)


def test_spend_records_add_up_to_the_accountant_and_to_opendp() -> None:
    """Two sessions in one window: the records fold (as OpenDP composes) to the accountant's total, each
    record is OpenDP's own Gaussian at the stated sensitivity, and the epsilon is OpenDP's conversion."""
    _scenario, agents, infos = private_region(3, 11, epsilon=3.0, max_releases=6)
    ledger: dict[str, list[PrivacySpendRecord]] = {v: [] for v in agents}
    for venue, agent in agents.items():
        assert agent.privacy is not None
        accountant = PrivacyAccountant(
            venue,
            agent.privacy.accountant.policy,
            clock=fixed_clock,
            on_spend=ledger[venue].append,
        )
        agent.privacy = AgentPrivacy(accountant, agent.privacy.session)
    driver = SessionDriver(RefusalAwareLink(agents), infos, config=PRIVATE_STOP)
    first, second = driver.run(), driver.run()

    for venue, agent in agents.items():
        assert agent.privacy is not None
        accountant = agent.privacy.accountant
        records = agent.privacy_records()
        assert list(records) == ledger[venue]  # the ledger hook saw every spend, in order
        assert records == agent.privacy_records(first.session_id) + agent.privacy_records(second.session_id)
        assert [r.sequence for r in records] == list(range(1, len(records) + 1))
        charges = [r.rho_charged for r in records]
        total = compose_rho(charges)
        assert total == accountant.spent_zcdp_rho == records[-1].spent_zcdp_rho
        for session_id in (first.session_id, second.session_id):
            in_session = [r.rho_charged for r in agent.privacy_records(session_id)]
            assert compose_rho(in_session) <= agent.privacy.session.zcdp_rho
        for record in records:
            meas, scale, charge = calibrate_gaussian(
                record.l2_sensitivity, record.rho_requested, record.dimension
            )
            assert (scale, charge) == (record.noise_scale, record.rho_charged)
            assert meas.map(record.l2_sensitivity) == record.rho_charged
            assert record.rho_requested == agent.privacy.session.rho_per_release()
        composed = dp.c.make_adaptive_composition(
            *vector_space(), dp.zero_concentrated_divergence(), d_in=1.0, d_mids=list(reversed(charges))
        )
        assert composed.map(1.0) == total
        opendp_epsilon = dp.c.make_zCDP_to_approxDP(composed).map(1.0).epsilon(DELTA)
        assert accountant.epsilon_spent() == opendp_epsilon
        assert opendp_epsilon <= epsilon_for_rho(2 * agent.privacy.session.zcdp_rho, DELTA)
        assert math.isfinite(opendp_epsilon)
