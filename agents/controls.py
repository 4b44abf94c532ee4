"""The operator's controls on a running agent, and what the operator may read of it.

``AgentControls`` owns every control action against the runtime: observe-only on and off, pause and resume,
the kill switch (open orders cancelled, nothing sent until an explicit reset), cancel all, and the emergency
hedge of the venue's net position. Each action, accepted or refused, is emitted as a ``control`` event
naming its actor, so the event log holds who did what and when. The gateway (``agents.gateway``) is a thin
HTTP shell over this class; nothing here knows about HTTP, tokens or rate limits.

Observe-only keeps planning without exposing the region: the agent still joins every session but plans
nothing (a plan it would not execute would leave the other venues of the plan holding legs), and at each
session start ``observe`` turns the box the gates would give in ACTIVE mode (``RiskManager.would_box``)
into the trades the agent would make at the region's last consensus prices, emitted as ``would_trade``.

The emergency hedge uses the federation's own residual path (``agents.hedge``): the venue's net position
(what its fills added up to, minus what earlier emergency hedges already handed over) is recorded as an
open residual, so the next session brings it as a hedge target and the other venues trade it away. The
gates do not apply to hedges: a paused or killed agent can still be flattened.
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from agents.agent import leg_limit_price
from agents.agent_config import AgentConfig
from agents.hedge import owed
from agents.opportunities import OpportunityFeed
from agents.persistence.store import Residual
from agents.risk.events import Mode
from agents.runtime import AgentRuntime, BoxedCurve, unboxed
from registry.gateway.tokens import Scope as Scope  # noqa: PLC0414 (re-exported: shared with the coordinator)
from sdk.adapters.execution import ExecutionInputError, Side
from sdk.curves.base import CostCurve, settled_cost
from sdk.reference_solver import demand_interval

Emit = Callable[[dict[str, object]], None]
EMERGENCY_REASON = "emergency_hedge"
TRADES_SHOWN = 200
"""Most orders and fills ``AgentStatus.trades`` returns (the newest)."""


class ControlAction(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    OBSERVE_ONLY = "observe-only"
    OBSERVE_OFF = "observe-off"
    KILL = "kill"
    RESET_KILL = "reset-kill"
    CANCEL_ALL = "cancel-all"
    EMERGENCY_HEDGE = "emergency-hedge"


REQUIRED_SCOPE: Mapping[ControlAction, Scope] = {
    ControlAction.PAUSE: Scope.TRADE,
    ControlAction.RESUME: Scope.TRADE,
    ControlAction.OBSERVE_ONLY: Scope.TRADE,
    ControlAction.OBSERVE_OFF: Scope.TRADE,
    ControlAction.CANCEL_ALL: Scope.TRADE,
    ControlAction.EMERGENCY_HEDGE: Scope.TRADE,
    ControlAction.KILL: Scope.ADMIN,
    ControlAction.RESET_KILL: Scope.ADMIN,
}
"""The scope each control needs: the kill switch and its reset are the administrator's."""


@dataclass(frozen=True)
class ControlResult:
    action: ControlAction
    actor: str
    ok: bool
    mode: str
    ts_ms: int
    detail: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def event(self, venue: str, reason: str) -> dict[str, object]:
        out: dict[str, object] = {
            "event": "control",
            "venue": venue,
            "action": self.action.value,
            "actor": self.actor,
            "reason": reason,
            "ok": self.ok,
            "mode": self.mode,
            "ts_ms": self.ts_ms,
        }
        out.update(self.detail)
        if self.error:
            out["error"] = self.error
        return out


def would_trade(
    curves: Mapping[str, CostCurve],
    boxes: Mapping[str, tuple[Decimal, Decimal]],
    prices: Mapping[str, float],
    lots: Mapping[str, Decimal],
) -> dict[str, Decimal]:
    """Per asset, the trade a venue would make at ``prices`` within ``boxes``: its best response (the
    point of the argmin nearest zero), on its lot grid toward zero. Assets without a price or a box, or
    whose trade is under one lot, are left out."""
    out: dict[str, Decimal] = {}
    for asset, (lower, upper) in sorted(boxes.items()):
        price = prices.get(asset)
        curve = curves.get(asset)
        lot = lots.get(asset)
        if price is None or curve is None or lot is None or not math.isfinite(price) or lower == upper:
            continue
        lo, hi = demand_interval(BoxedCurve(unboxed(curve), float(lower), float(upper)), price)
        best = min(max(0.0, lo), hi)
        lots_traded = (Decimal(repr(best)) / lot).to_integral_value(ROUND_DOWN)
        if lots_traded != 0:
            out[asset] = lots_traded * lot
    return out


class AgentControls:
    """The control actions on one running agent (thread-safe: one action at a time)."""

    def __init__(self, runtime: AgentRuntime, *, emit: Emit) -> None:
        self.runtime = runtime
        self.venue = runtime.venue
        self._emit = emit
        self._lock = threading.Lock()
        self.last_would_trade: dict[str, object] | None = None
        """The last ``would_trade`` event (observe-only), for the status view."""

    @property
    def mode(self) -> Mode:
        return self.runtime.risk.mode

    def apply(self, action: ControlAction | str, actor: str, reason: str = "") -> ControlResult:
        """Run one control action for ``actor``; the result (accepted or refused) is emitted as a
        ``control`` event. Raises ``ValueError`` for an unknown action or an empty actor."""
        command = ControlAction(action)
        if not actor.strip():
            raise ValueError("actor: expected who asked for the action, got an empty name")
        why = reason or f"{command.value} by {actor}"
        with self._lock:
            now = self.runtime.clock.now_ms()
            detail: dict[str, Any] = {}
            error = ""
            try:
                detail = self._run(command, why, now)
            except ExecutionInputError as exc:
                error = str(exc)
            result = ControlResult(command, actor, not error, self.mode.value, now, detail, error)
            self._emit(result.event(self.venue, why))
            return result

    def _run(self, action: ControlAction, reason: str, now: int) -> dict[str, Any]:
        risk = self.runtime.risk
        if action is ControlAction.PAUSE:
            risk.pause(reason, now)
        elif action is ControlAction.RESUME:
            risk.resume(reason, now)
        elif action is ControlAction.OBSERVE_ONLY:
            risk.observe_only(reason, now)
        elif action is ControlAction.OBSERVE_OFF:
            if risk.mode is not Mode.OBSERVE_ONLY:
                raise ExecutionInputError(f"observe-off needs mode observe_only, got {risk.mode.value}")
            risk.resume(reason, now)
        elif action is ControlAction.KILL:
            risk.kill(reason, now)
            return {"cancelled": self.runtime.cancel_open()}
        elif action is ControlAction.RESET_KILL:
            risk.reset_kill(reason, now)
        elif action is ControlAction.CANCEL_ALL:
            return {"cancelled": self.runtime.cancel_open()}
        elif action is ControlAction.EMERGENCY_HEDGE:
            return {"hedge": {a: format(q, "f") for a, q in self._emergency_hedge(now).items()}}
        return {}

    def _emergency_hedge(self, now: int) -> dict[str, Decimal]:
        """Record the venue's unhedged net position as open residuals; returns them (signed owed)."""
        runtime = self.runtime
        instruments = runtime.agent.config.instruments
        runtime.writer.flush()
        position: dict[str, Decimal] = {}
        for row in runtime.store.positions():
            if row.venue == self.venue and row.asset in instruments:
                position[row.asset] = position.get(row.asset, Decimal(0)) + row.quantity
        handed: dict[str, Decimal] = {}
        for residual in runtime.residuals(state=None):
            if residual.reason == EMERGENCY_REASON:
                signed = residual.size if residual.side is Side.BUY else -residual.size
                handed[residual.asset] = handed.get(residual.asset, Decimal(0)) + signed
        owed: dict[str, Decimal] = {}
        for asset in sorted(set(position) | set(handed)):
            debt = -position.get(asset, Decimal(0)) - handed.get(asset, Decimal(0))
            if debt == 0:
                continue
            owed[asset] = debt
            runtime.writer.residual(
                Residual(
                    plan_id=f"emergency-hedge/{now}",
                    asset=asset,
                    venue=self.venue,
                    side=Side.of_signed(debt),
                    size=abs(debt),
                    reason=EMERGENCY_REASON,
                    ts_ms=now,
                    exclude_venues=(self.venue,),
                )
            )
        runtime.writer.barrier()
        return owed

    # -- observe-only ---------------------------------------------------------------------------------
    def observe(self, prices_from: str, prices: Mapping[str, float]) -> dict[str, object] | None:
        """Observe-only, at a session start (after ``constrain``): emit the trades the agent would make at
        the region's last consensus ``prices`` (from session ``prices_from``) within the box the gates
        would give it; ``None`` (nothing emitted) in any other mode or without prices."""
        risk = self.runtime.risk
        if risk.mode is not Mode.OBSERVE_ONLY or not prices:
            return None
        agent = self.runtime.agent
        instruments = agent.config.instruments
        curves = {a: unboxed(c) for a, c in agent.curves.items()}
        lots = {a: s.lot_size for a, s in instruments.items()}
        trades = would_trade(curves, risk.would_box, prices, lots)
        profit = sum(
            (prices[a] * float(q) - curves[a].cost(float(q)) for a, q in trades.items()),
            0.0,
        )
        event: dict[str, object] = {
            "event": "would_trade",
            "venue": self.venue,
            "prices_from": prices_from,
            "mode": risk.mode.value,
            "expected_profit": format(Decimal(repr(profit)), "f") if math.isfinite(profit) else "0",
            "legs": [
                {
                    "instrument": instruments[a].symbol,
                    "side": Side.of_signed(q).name,
                    "size": format(abs(q), "f"),
                    "limit_price": format(leg_limit_price(curves[a], q, instruments[a].tick_size), "f"),
                }
                for a, q in trades.items()
            ],
        }
        self.last_would_trade = event
        self._emit(event)
        return event


class AgentStatus:
    """What the gateway shows of an agent: JSON-ready views of its runtime and config (secrets redacted)."""

    def __init__(
        self,
        runtime: AgentRuntime,
        config: AgentConfig,
        controls: AgentControls | None = None,
        *,
        sessions: Callable[[], int] = lambda: 0,
        opportunities: OpportunityFeed | None = None,
    ) -> None:
        self.runtime = runtime
        self.config = config
        self.controls = controls
        self._sessions = sessions
        self.feed = opportunities
        """The running agent's opportunities and windows (``agents.windows``); None: none recorded."""

    def opportunities(self, limit: int = 200) -> dict[str, object]:
        """The newest ``limit`` opportunities, oldest first: one per session this venue planned (or, in
        observe-only, would have traded), with its predicted profit and whether it traded."""
        shown = self.feed.opportunities(max(0, limit)) if self.feed is not None else []
        return {"venue": self.runtime.venue, "opportunities": shown}

    def windows(self, limit: int = 200) -> dict[str, object]:
        """The newest ``limit`` opportunity windows, oldest first (the open one, if any, last)."""
        shown = self.feed.windows(max(0, limit)) if self.feed is not None else []
        return {"venue": self.runtime.venue, "windows": shown}

    def status(self) -> dict[str, object]:
        runtime = self.runtime
        return {
            "venue": runtime.venue,
            "mode": runtime.risk.mode.value,
            "sessions": self._sessions(),
            "open_plans": runtime.open_plans(),
            "plans_done": len(runtime.outcomes),
            "hedge_targets": {a: format(q, "f") for a, q in sorted(runtime.agent.hedge_targets.items())},
            "would_trade": self.controls.last_would_trade if self.controls is not None else None,
            "ts_ms": runtime.clock.now_ms(),
        }

    def inventory(self) -> dict[str, object]:
        runtime = self.runtime
        residuals = runtime.residuals()  # flushes the store writer: once per view
        return {
            "venue": runtime.venue,
            "balances": {a: format(q, "f") for a, q in sorted(runtime.inventory().items())},
            "positions": {
                row.asset: {"quantity": format(row.quantity, "f"), "realised": format(row.realised, "f")}
                for row in runtime.store.positions()
                if row.venue == runtime.venue
            },
            "open_residuals": [_residual(r) for r in residuals],
            "rebalance": self.rebalance_plan(residuals),
        }

    def rebalance_plan(self, residuals: Iterable[Residual]) -> list[dict[str, object]]:
        """Per asset the venue owes the region, what flattening it on this venue's own book would cost now:
        the trade, the quote cash at the current curve (exact fees where the curve has them) and that
        cost beyond the mid (slippage and fees). The region normally trades it elsewhere (a hedge
        session); this is the operator's yardstick for an emergency hedge here."""
        runtime = self.runtime
        plan = []
        for asset, quantity in sorted(owed(residuals).items()):
            if quantity == 0:
                continue
            curve = runtime.agent.curves.get(asset)
            mid = runtime.agent.reference_prices.get(asset)
            cost = settled_cost(unboxed(curve), float(quantity)) if curve is not None else math.inf
            row: dict[str, object] = {"asset": asset, "trade": format(quantity, "f"), "cost_quote": None,
                                      "beyond_mid_quote": None}  # fmt: skip
            if math.isfinite(cost):
                row["cost_quote"] = round(cost, 8)
                if mid:
                    row["beyond_mid_quote"] = round(cost - float(quantity) * mid, 8)
            plan.append(row)
        return plan

    def risk(self) -> dict[str, object]:
        risk = self.runtime.risk
        now = self.runtime.clock.now_ms()
        return {
            "mode": risk.mode.value,
            "notional_today": format(risk.notional_used(now), "f"),
            "pnl_today": format(risk.pnl_today(now), "f"),
            "limits": {k: str(v) for k, v in asdict(risk.limits).items()},
            "boxes": {a: [format(lo, "f"), format(hi, "f")] for a, (lo, hi) in self.runtime.boxes.items()},
            "would_box": {a: [format(lo, "f"), format(hi, "f")] for a, (lo, hi) in risk.would_box.items()},
        }

    def trades(self, limit: int = TRADES_SHOWN) -> dict[str, object]:
        runtime = self.runtime
        runtime.writer.flush()
        orders = [o for o in runtime.store.orders() if o.venue == runtime.venue][-limit:]
        fills = [f for f in runtime.store.fills() if f.venue == runtime.venue][-limit:]
        return {
            "orders": [
                {
                    "client_order_id": o.client_order_id,
                    "plan_id": o.plan_id,
                    "instrument": o.instrument,
                    "side": o.side.name,
                    "size": format(o.size, "f"),
                    "limit_price": format(o.limit_price, "f"),
                    "status": o.status,
                    "filled": format(o.filled, "f"),
                }
                for o in orders
            ],
            "fills": [
                {
                    "client_order_id": f.client_order_id,
                    "plan_id": f.plan_id,
                    "instrument": f.instrument,
                    "side": f.side.name,
                    "price": format(f.price, "f"),
                    "size": format(f.size, "f"),
                    "fee": format(f.fee, "f"),
                    "ts_ms": f.ts_ms,
                }
                for f in fills
            ],
        }

    def config_view(self) -> dict[str, object]:
        return redacted_config(self.config)


def redacted_config(config: AgentConfig) -> dict[str, object]:
    """The config as the operator may see it: where credentials come from is reduced to whether any are
    configured, and secret files are named as set or not, never shown (nor their paths)."""
    data: dict[str, object] = config.model_dump(mode="json")
    credentials = config.credentials
    data["credentials"] = {
        "configured": any(
            v is not None
            for v in (
                credentials.api_key_env,
                credentials.secret_env,
                credentials.password_env,
                credentials.file,
            )
        )
    }
    gateway = data.get("gateway")
    if isinstance(gateway, dict) and gateway.get("secret_file") is not None:
        gateway["secret_file"] = "<set>"  # noqa: S105 (a placeholder shown instead of the path)
    return data


def _residual(residual: Residual) -> dict[str, object]:
    return {
        "plan_id": residual.plan_id,
        "asset": residual.asset,
        "side": residual.side.name,
        "size": format(residual.size, "f"),
        "reason": residual.reason,
        "state": residual.state,
    }
