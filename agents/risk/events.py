"""What the risk gates say: RiskEvents for the ledger and the Decision returned by ``check``."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from agents.execution.plan import ExecLeg


class Mode(enum.StrEnum):
    ACTIVE = "active"
    OBSERVE_ONLY = "observe_only"  # plans are computed and recorded, no order is sent
    PAUSED = "paused"
    KILLED = "killed"  # stop everything and cancel open orders; only an explicit reset leaves it


class Gate(enum.StrEnum):
    OBSERVE_ONLY = "observe_only"
    PAUSE = "pause"
    KILL_SWITCH = "kill_switch"
    DAILY_NOTIONAL = "daily_notional"
    DAILY_LOSS = "daily_loss"
    TRADE_RATE = "trade_rate"
    BOOK_USAGE = "book_usage"
    PREDICTION_ERROR = "prediction_error"
    STALENESS = "staleness"
    ANOMALY = "anomaly"
    MARGIN = "margin"
    AUTO_DELEVERAGE = "auto_deleverage"
    ALL_OR_NOTHING = "all_or_nothing"


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """A gate acted; ``action`` is e.g. ``"refuse"``, ``"pause"``, ``"resume"``, ``"kill"``, ``"unwind"``."""

    gate: Gate
    action: str
    reason: str
    ts_ms: int
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def audit_kind(self) -> str:
        return "AUDIT_KIND_RISK_HALT"

    def payload(self) -> Mapping[str, object]:
        return {
            "gate": self.gate.value,
            "action": self.action,
            "reason": self.reason,
            "ts_ms": self.ts_ms,
            "details": dict(sorted(self.details.items())),
        }


@dataclass(frozen=True, slots=True)
class Refusal:
    leg_key: str
    gate: Gate
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Which legs may be sent; refusals carry the gate and a human-readable reason."""

    allowed: tuple[ExecLeg, ...]
    refused: tuple[Refusal, ...]
    mode: Mode
    events: tuple[RiskEvent, ...] = ()
    cancel_all: bool = False

    @property
    def ok(self) -> bool:
        return not self.refused

    def reasons(self) -> list[str]:
        return [f"{r.leg_key}: {r.gate.value}: {r.reason}" for r in self.refused]
