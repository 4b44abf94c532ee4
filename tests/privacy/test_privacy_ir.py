"""Accountant state <-> IR PrivacyBudget (pydantic model and protobuf)."""

from __future__ import annotations

import pytest

from agents.privacy import (
    InvalidRelease,
    PrivacyAccountant,
    PrivacyPolicy,
    accountant_from_budget,
    budget_model,
    budget_proto,
    epsilon_for_rho,
)
from energibridge import CURRENT, IrValidationError, IrVersion
from energibridge.v1 import ir_pb2

NOW = 1_750_000_000_000


def _used() -> PrivacyAccountant:
    acc = PrivacyAccountant("bitstamp", PrivacyPolicy(0.4, 300, delta=1e-7), clock=lambda: NOW)
    acc.release([1.0, 2.0], 1.0, 0.15)
    return acc


def test_to_proto_carries_the_state() -> None:
    acc = _used()
    msg = budget_proto(acc)
    assert isinstance(msg, ir_pb2.PrivacyBudget)
    assert msg.agent_id == "bitstamp"
    assert msg.window_start_unix_ms == NOW - NOW % 300_000 and msg.window_seconds == 300
    assert msg.zcdp_rho == 0.4 and msg.spent_zcdp_rho == acc.spent_zcdp_rho
    assert msg.delta == 1e-7 and msg.epsilon == epsilon_for_rho(0.4, 1e-7)
    assert msg.mechanism == ir_pb2.PRIVACY_MECHANISM_GAUSSIAN
    assert (msg.ir_version.major, msg.ir_version.minor) == (CURRENT.major, CURRENT.minor)
    assert budget_model(acc, ir_version=IrVersion(major=1, minor=0)).ir_version.minor == 0


def test_round_trip_restores_the_spend_and_continues_the_fold() -> None:
    acc = _used()
    restored = accountant_from_budget(budget_proto(acc), clock=lambda: NOW)
    assert restored.spent_zcdp_rho == acc.spent_zcdp_rho
    assert restored.window_start_unix_ms == acc.window_start_unix_ms
    acc.release([0.0], 1.0, 0.1)
    restored.release([0.0], 1.0, 0.1)
    assert restored.spent_zcdp_rho == acc.spent_zcdp_rho
    assert accountant_from_budget(budget_model(acc), clock=lambda: NOW).spent_zcdp_rho == acc.spent_zcdp_rho
    # Restored after the window ended: a fresh window.
    later = accountant_from_budget(budget_proto(acc), clock=lambda: NOW + 300_000)
    assert later.spent_zcdp_rho == 0.0


def test_restore_refusals_name_the_field() -> None:
    msg = budget_proto(_used())
    bad_eps = ir_pb2.PrivacyBudget()
    bad_eps.CopyFrom(msg)
    bad_eps.epsilon = msg.epsilon * 1.01
    with pytest.raises(InvalidRelease, match="epsilon: expected"):
        accountant_from_budget(bad_eps, clock=lambda: NOW)
    laplace = ir_pb2.PrivacyBudget()
    laplace.CopyFrom(msg)
    laplace.mechanism = ir_pb2.PRIVACY_MECHANISM_LAPLACE
    with pytest.raises(InvalidRelease, match="mechanism: expected GAUSSIAN"):
        accountant_from_budget(laplace, clock=lambda: NOW)
    overspent = ir_pb2.PrivacyBudget()
    overspent.CopyFrom(msg)
    overspent.spent_zcdp_rho = 0.5
    with pytest.raises(IrValidationError, match="spent_zcdp_rho"):
        accountant_from_budget(overspent, clock=lambda: NOW)
    zero_delta = ir_pb2.PrivacyBudget()
    zero_delta.CopyFrom(msg)
    zero_delta.delta = 0.0
    with pytest.raises(InvalidRelease, match="delta"):
        accountant_from_budget(zero_delta, clock=lambda: NOW)
