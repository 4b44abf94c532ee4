"""The risk gates. ``check`` is pure (reads state, never changes it); observations and operator commands
change state and emit a RiskEvent to the sink whenever a gate acts.

Hedges and unwinds are not subject to these gates: they reduce risk, and a kill switch must never stop the
agent from closing a naked position. The runner sends them directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from agents.execution.book import depth_within
from agents.execution.events import EventSink
from agents.execution.model import ExecutionInputError, parse_decimal
from agents.execution.plan import ExecLeg, ExecPlan
from agents.risk.events import Decision, Gate, Mode, Refusal, RiskEvent
from agents.risk.limits import RiskLimits
from agents.risk.market import MarketState
from agents.risk.stats import EventWindow, ReturnWindow
from agents.risk.unwind import UnwindRequest, plan_adl_unwind, plan_margin_unwind

DAY_MS = 86_400_000


def day_of(ts_ms: int) -> int:
    """UTC day index: daily caps reset at 00:00 UTC."""
    return ts_ms // DAY_MS


class RiskManager:
    """All risk gates of one agent; inject ``now`` everywhere (no hidden clock)."""

    def __init__(self, limits: RiskLimits, sink: EventSink | None = None, mode: Mode = Mode.ACTIVE) -> None:
        self.limits = limits
        self._sink = sink
        self._mode = mode
        self._mode_reason = ""
        self._notional: dict[int, Decimal] = {}
        self._pnl: dict[int, Decimal] = {}
        self._trades = EventWindow(limits.trades_window_ms)
        self._prediction_breaches = EventWindow(limits.prediction_error_window_ms)
        self._returns: dict[tuple[str, str], ReturnWindow] = {}
        self._anomaly_until: dict[tuple[str, str], int] = {}

    # -- state ---------------------------------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        return self._mode

    def notional_used(self, now_ms: int) -> Decimal:
        return self._notional.get(day_of(now_ms), Decimal(0))

    def pnl_today(self, now_ms: int) -> Decimal:
        return self._pnl.get(day_of(now_ms), Decimal(0))

    def _emit(self, event: RiskEvent) -> RiskEvent:
        if self._sink is not None:
            self._sink.record(event)
        return event

    def _set_mode(self, mode: Mode, gate: Gate, action: str, reason: str, now_ms: int) -> RiskEvent:
        previous = self._mode
        self._mode = mode
        self._mode_reason = reason
        return self._emit(RiskEvent(gate, action, reason, now_ms, {"from": previous.value, "to": mode.value}))

    # -- operator commands ---------------------------------------------------------------------------
    def observe_only(self, reason: str, now_ms: int) -> RiskEvent:
        self._refuse_if_killed("observe_only")
        return self._set_mode(Mode.OBSERVE_ONLY, Gate.OBSERVE_ONLY, "observe_only", reason, now_ms)

    def pause(self, reason: str, now_ms: int) -> RiskEvent:
        self._refuse_if_killed("pause")
        return self._set_mode(Mode.PAUSED, Gate.PAUSE, "pause", reason, now_ms)

    def resume(self, reason: str, now_ms: int) -> RiskEvent:
        """Leave PAUSED or OBSERVE_ONLY; a killed agent needs ``reset_kill``."""
        self._refuse_if_killed("resume")
        return self._set_mode(Mode.ACTIVE, Gate.PAUSE, "resume", reason, now_ms)

    def kill(self, reason: str, now_ms: int) -> RiskEvent:
        return self._set_mode(Mode.KILLED, Gate.KILL_SWITCH, "kill", reason, now_ms)

    def reset_kill(self, reason: str, now_ms: int) -> RiskEvent:
        """Explicit operator reset after a kill: back to OBSERVE_ONLY, never straight to trading."""
        if self._mode is not Mode.KILLED:
            raise ExecutionInputError(f"reset_kill needs mode killed, got {self._mode.value}")
        return self._set_mode(Mode.OBSERVE_ONLY, Gate.KILL_SWITCH, "reset", reason, now_ms)

    def _refuse_if_killed(self, command: str) -> None:
        if self._mode is Mode.KILLED:
            raise ExecutionInputError(f"{command} is not allowed while killed; call reset_kill first")

    # -- observations --------------------------------------------------------------------------------
    def record_submitted(self, legs: Sequence[ExecLeg], now_ms: int) -> None:
        """Count orders sent (trade rate) and their worst-case notional (daily cap)."""
        day = day_of(now_ms)
        self._notional[day] = self._notional.get(day, Decimal(0)) + sum(
            (leg.notional for leg in legs), Decimal(0)
        )
        self._trades.prune(now_ms)
        self._trades.add(now_ms, len(legs))

    def record_pnl(self, realised: Decimal, now_ms: int) -> RiskEvent | None:
        """Add realised PnL; crossing the daily loss cap pauses trading for the rest of the UTC day."""
        amount = parse_decimal("realised", realised)
        day = day_of(now_ms)
        before = self._pnl.get(day, Decimal(0))
        self._pnl[day] = before + amount
        cap = self.limits.daily_loss_cap
        if before > -cap >= self._pnl[day]:
            return self._emit(
                RiskEvent(
                    Gate.DAILY_LOSS,
                    "pause",
                    f"daily loss {-self._pnl[day]} reached the cap {cap}",
                    now_ms,
                    {"pnl_today": str(self._pnl[day]), "cap": str(cap)},
                )
            )
        return None

    def record_outcome(
        self, plan_id: str, realised: Decimal, predicted: Decimal, now_ms: int
    ) -> RiskEvent | None:
        """Compare a plan's realised PnL with its prediction; too many misses switch to OBSERVE-ONLY."""
        real = parse_decimal("realised", realised)
        pred = parse_decimal("predicted", predicted)
        scale = max(abs(pred), self.limits.prediction_error_floor)
        error_pct = abs(real - pred) / scale * 100
        if error_pct <= self.limits.prediction_error_pct:
            return None
        self._prediction_breaches.prune(now_ms)
        self._prediction_breaches.add(now_ms)
        count = self._prediction_breaches.count(now_ms)
        if count < self.limits.prediction_error_count or self._mode in (Mode.OBSERVE_ONLY, Mode.KILLED):
            return None
        event = self._set_mode(
            Mode.OBSERVE_ONLY,
            Gate.PREDICTION_ERROR,
            "observe_only",
            f"{count} plans missed their predicted PnL by more than {self.limits.prediction_error_pct}% "
            f"within {self.limits.prediction_error_window_ms} ms",
            now_ms,
        )
        return event

    def observe_price(self, venue: str, instrument: str, price: Decimal, now_ms: int) -> RiskEvent | None:
        """Feed a mid price; a jump beyond ``anomaly_sigma`` pauses that instrument for the cooldown."""
        value = float(parse_decimal("price", price, positive=True))
        key = (venue, instrument)
        window = self._returns.setdefault(key, ReturnWindow(self.limits.anomaly_window_ms))
        sigmas, samples = window.jump_sigmas(value)
        window.add(now_ms, value)
        if samples >= self.limits.anomaly_min_samples and sigmas > self.limits.anomaly_sigma:
            self._anomaly_until[key] = now_ms + self.limits.anomaly_cooldown_ms
            return self._emit(
                RiskEvent(
                    Gate.ANOMALY,
                    "pause",
                    f"{venue} {instrument} jumped {sigmas:.1f} sigma (limit {self.limits.anomaly_sigma})",
                    now_ms,
                    {
                        "venue": venue,
                        "instrument": instrument,
                        "price": str(price),
                        "until_ms": str(self._anomaly_until[key]),
                    },
                )
            )
        return None

    def observe_margin(
        self,
        venue: str,
        margin_ratio: Decimal,
        positions: Mapping[tuple[str, str], Decimal],
        now_ms: int,
    ) -> tuple[UnwindRequest, ...]:
        """Margin ratio (equity / maintenance requirement) below the floor: unwind both sides and stop."""
        ratio = parse_decimal("margin_ratio", margin_ratio, non_negative=True)
        if ratio >= self.limits.min_margin_ratio:
            return ()
        reason = f"{venue} margin ratio {ratio} below {self.limits.min_margin_ratio}"
        unwinds = plan_margin_unwind(positions, venue, reason)
        self._emit(RiskEvent(Gate.MARGIN, "unwind", reason, now_ms, _unwind_details(unwinds)))
        self.kill(reason, now_ms)
        return unwinds

    def observe_adl(
        self,
        venue: str,
        asset: str,
        reduced: Decimal,
        positions: Mapping[tuple[str, str], Decimal],
        now_ms: int,
    ) -> tuple[UnwindRequest, ...]:
        """The venue auto-deleveraged our perp by ``reduced`` (signed): unwind the opposite leg and stop."""
        change = parse_decimal("reduced", reduced)
        reason = f"{venue} auto-deleveraged {asset} by {change}"
        unwinds = plan_adl_unwind(positions, venue, asset, change, reason)
        self._emit(RiskEvent(Gate.AUTO_DELEVERAGE, "unwind", reason, now_ms, _unwind_details(unwinds)))
        self.kill(reason, now_ms)
        return unwinds

    # -- the gate ------------------------------------------------------------------------------------
    def check(self, plan: ExecPlan | Sequence[ExecLeg], market: MarketState, now_ms: int) -> Decision:
        """Pure: which legs of ``plan`` may be sent now, and why the others may not."""
        legs = tuple(plan.legs if isinstance(plan, ExecPlan) else plan)
        plan_id = legs[0].plan_id if legs else ""
        mode_gate = {
            Mode.KILLED: Gate.KILL_SWITCH,
            Mode.OBSERVE_ONLY: Gate.OBSERVE_ONLY,
            Mode.PAUSED: Gate.PAUSE,
        }.get(self._mode)
        if mode_gate is not None:
            reason = f"mode is {self._mode.value}" + (f" ({self._mode_reason})" if self._mode_reason else "")
            return self._refuse_all(legs, mode_gate, reason, plan_id, now_ms)
        if self.pnl_today(now_ms) <= -self.limits.daily_loss_cap:
            return self._refuse_all(
                legs, Gate.DAILY_LOSS, f"daily loss cap {self.limits.daily_loss_cap} reached", plan_id, now_ms
            )
        refused: list[Refusal] = []
        for leg in legs:
            refused.extend(self._leg_refusals(leg, market, now_ms))
        refused.extend(self._plan_refusals(legs, now_ms))
        refused_keys = {r.leg_key for r in refused}
        if refused and self.limits.all_or_nothing:
            refused.extend(
                Refusal(leg.idempotency_key, Gate.ALL_OR_NOTHING, "another leg of the plan was refused")
                for leg in legs
                if leg.idempotency_key not in refused_keys
            )
            refused_keys = {leg.idempotency_key for leg in legs}
        allowed = tuple(leg for leg in legs if leg.idempotency_key not in refused_keys)
        events = _events_for(refused, plan_id, now_ms)
        return Decision(allowed, tuple(refused), self._mode, events)

    def enforce(self, plan: ExecPlan | Sequence[ExecLeg], market: MarketState, now_ms: int) -> Decision:
        """``check``, then record its events and count the allowed legs as submitted."""
        decision = self.check(plan, market, now_ms)
        for event in decision.events:
            self._emit(event)
        if decision.allowed:
            self.record_submitted(decision.allowed, now_ms)
        return decision

    def _refuse_all(
        self, legs: Sequence[ExecLeg], gate: Gate, reason: str, plan_id: str, now_ms: int
    ) -> Decision:
        refused = tuple(Refusal(leg.idempotency_key, gate, reason) for leg in legs)
        return Decision(
            (),
            refused,
            self._mode,
            _events_for(refused, plan_id, now_ms),
            cancel_all=self._mode is Mode.KILLED,
        )

    def _leg_refusals(self, leg: ExecLeg, market: MarketState, now_ms: int) -> list[Refusal]:
        key = leg.idempotency_key
        book = market.book(leg.venue, leg.instrument)
        if book is None:
            return [Refusal(key, Gate.STALENESS, f"no book for {leg.venue} {leg.instrument}")]
        out: list[Refusal] = []
        age = now_ms - book.ts_ms
        if age > self.limits.stale_after_ms:
            out.append(
                Refusal(
                    key,
                    Gate.STALENESS,
                    f"book {leg.venue} {leg.instrument} is {age} ms old "
                    f"(limit {self.limits.stale_after_ms} ms)",
                )
            )
        until = self._anomaly_until.get((leg.venue, leg.instrument), 0)
        if now_ms < until:
            out.append(Refusal(key, Gate.ANOMALY, f"{leg.venue} {leg.instrument} paused until {until}"))
        depth = depth_within(book.side_to_take(leg.side), leg.side, leg.limit_price)
        usable = depth * self.limits.book_usage_cap
        if leg.size > usable:
            out.append(
                Refusal(
                    key,
                    Gate.BOOK_USAGE,
                    f"size {leg.size} exceeds {self.limits.book_usage_cap} of the "
                    f"{depth} available within the limit price",
                )
            )
        return out

    def _plan_refusals(self, legs: Sequence[ExecLeg], now_ms: int) -> list[Refusal]:
        out: list[Refusal] = []
        used = self._trades.count(now_ms)
        if used + len(legs) > self.limits.max_trades:
            reason = (
                f"{used} trades in the last {self.limits.trades_window_ms} ms + {len(legs)} would exceed "
                f"{self.limits.max_trades}"
            )
            out.extend(Refusal(leg.idempotency_key, Gate.TRADE_RATE, reason) for leg in legs)
        notional = sum((leg.notional for leg in legs), Decimal(0))
        spent = self.notional_used(now_ms)
        if spent + notional > self.limits.daily_notional_cap:
            reason = f"notional {spent} today + {notional} would exceed {self.limits.daily_notional_cap}"
            out.extend(Refusal(leg.idempotency_key, Gate.DAILY_NOTIONAL, reason) for leg in legs)
        return out


def _events_for(refused: Sequence[Refusal], plan_id: str, now_ms: int) -> tuple[RiskEvent, ...]:
    """One 'refuse' event per gate that refused something in this plan."""
    by_gate: dict[Gate, list[Refusal]] = {}
    for r in refused:
        if r.gate is not Gate.ALL_OR_NOTHING:
            by_gate.setdefault(r.gate, []).append(r)
    return tuple(
        RiskEvent(
            gate,
            "refuse",
            rs[0].reason,
            now_ms,
            {"plan_id": plan_id, "legs": ",".join(r.leg_key for r in rs)},
        )
        for gate, rs in by_gate.items()
    )


def _unwind_details(unwinds: Sequence[UnwindRequest]) -> dict[str, str]:
    return {f"unwind[{i}]": f"{u.venue} {u.asset} {u.quantity}" for i, u in enumerate(unwinds)}
