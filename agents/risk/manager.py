"""The risk gates. ``check`` is pure (reads state, never changes it); observations and operator commands
change state and emit a RiskEvent to the sink whenever a gate acts. ``box`` is the same gates read the
other way round: the widest per-asset range of trades whose legs ``check`` lets through (one source of
truth for what an agent may plan and what its executor sends).

Hedges and unwinds are not subject to these gates: they reduce risk, and a kill switch must never stop the
agent from closing a naked position. The runner sends them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_FLOOR, Decimal, localcontext

from agents.execution.events import EventSink
from agents.execution.plan import ExecLeg, ExecPlan
from agents.risk.box import DepthLadder, LegShape, largest_within, usage_lots
from agents.risk.events import Decision, Gate, Mode, Refusal, RiskEvent
from agents.risk.limits import RiskLimits
from agents.risk.market import MarketState
from agents.risk.stats import EventWindow, ReturnWindow
from agents.risk.unwind import UnwindRequest, plan_adl_unwind, plan_margin_unwind
from sdk.adapters.events import BookSnapshot
from sdk.adapters.execution import ExecutionInputError, Side, parse_decimal

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
        self._ladder: DepthLadder | None = None
        self.would_box: dict[str, tuple[Decimal, Decimal]] = {}
        """OBSERVE-ONLY: the box ``box`` would have given in ACTIVE mode, at its last call (empty in any
        other mode). The agent plans nothing, so the region is never left exposed by legs it will not
        send, yet the operator still sees the plan it would have traded (``agents.controls``)."""

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
        """Compare a plan's realised *profit* with its predicted profit; too many misses switch to
        OBSERVE-ONLY.

        Profit, not cash flow: a venue's cash flow is about the notional it traded, so a miss larger than
        the whole plan's profit is a fraction of a percent of it and could never fire. A miss is a
        shortfall ``predicted - realised`` beyond ``prediction_error_pct`` of ``|predicted|`` (at least
        ``prediction_error_floor``); doing better than predicted is not a reason to stop trading.
        """
        real = parse_decimal("realised", realised)
        pred = parse_decimal("predicted", predicted)
        scale = max(abs(pred), self.limits.prediction_error_floor)
        shortfall = pred - real
        if shortfall * 100 <= self.limits.prediction_error_pct * scale:
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
            f"{count} plans fell short of their predicted profit by more than "
            f"{self.limits.prediction_error_pct}% within {self.limits.prediction_error_window_ms} ms "
            f"(last: realised {real}, predicted {pred})",
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
        out = [
            Refusal(key, gate, reason)
            for gate, reason in self._book_gates(leg.venue, leg.instrument, book, now_ms)
        ]
        usage = self._usage_gate(leg.side, leg.size, leg.limit_price, book)
        if usage is not None:
            out.append(Refusal(key, Gate.BOOK_USAGE, usage))
        return out

    def _book_gates(
        self, venue: str, instrument: str, book: BookSnapshot[Decimal], now_ms: int
    ) -> list[tuple[Gate, str]]:
        """The gates that refuse every leg on a book whatever its size: staleness and anomaly pauses."""
        out: list[tuple[Gate, str]] = []
        age = now_ms - book.ts_ms
        if age > self.limits.stale_after_ms:
            out.append(
                (
                    Gate.STALENESS,
                    f"book {venue} {instrument} is {age} ms old (limit {self.limits.stale_after_ms} ms)",
                )
            )
        until = self._anomaly_until.get((venue, instrument), 0)
        if now_ms < until:
            out.append((Gate.ANOMALY, f"{venue} {instrument} paused until {until}"))
        return out

    def _usage_allowance(
        self, side: Side, limit_price: Decimal, book: BookSnapshot[Decimal]
    ) -> tuple[Decimal, Decimal]:
        """The most a leg may take (``book_usage_cap`` of the depth within its limit), and that depth."""
        levels = book.side_to_take(side)
        ladder = self._ladder
        if ladder is None or ladder.levels is not levels or ladder.side is not side:
            ladder = self._ladder = DepthLadder(levels, side)  # the box asks one side many times
        depth = ladder.within(limit_price)
        return depth * self.limits.book_usage_cap, depth

    def _usage_gate(
        self, side: Side, size: Decimal, limit_price: Decimal, book: BookSnapshot[Decimal]
    ) -> str | None:
        allowance, depth = self._usage_allowance(side, limit_price, book)
        if size > allowance:
            return (
                f"size {size} exceeds {self.limits.book_usage_cap} of the {depth} available within the "
                "limit price"
            )
        return None

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

    # -- the box: the gates read the other way round ------------------------------------------------
    def box(
        self, venue: str, shapes: Mapping[str, LegShape], market: MarketState, now_ms: int
    ) -> dict[str, tuple[Decimal, Decimal]]:
        """Per asset, the widest ``[lower, upper]`` (lot multiples, containing 0) such that any plan of one
        leg per asset with each quantity inside its box passes ``check`` on ``market`` at ``now_ms``.

        Derived from the gates' own predicates: the mode and daily loss cap (nothing at all), staleness
        and anomaly pauses (nothing on that book), the book-usage cap (pools included: a pool shows its
        box as one level, so at most ``book_usage_cap`` of it) evaluated on the very legs the agent would
        send (``LegShape.limit_price``), the trade rate (at most as many assets trade as trades are left
        in the window: the widest first) and the daily notional (what is left, split evenly over the
        assets that trade, each leg's notional at its own limit price). Time passing only relaxes the
        trade-rate and notional gates; a book that goes stale or jumps afterwards is refused, as it must.
        """
        self.would_box = {}
        if self._mode is Mode.OBSERVE_ONLY:
            self.would_box = self._active_box(venue, shapes, market, now_ms)
        if self._mode is not Mode.ACTIVE:
            return dict.fromkeys(shapes, (Decimal(0), Decimal(0)))
        return self._active_box(venue, shapes, market, now_ms)

    def _active_box(
        self, venue: str, shapes: Mapping[str, LegShape], market: MarketState, now_ms: int
    ) -> dict[str, tuple[Decimal, Decimal]]:
        """``box`` in ACTIVE mode (every gate but the mode's)."""
        zero = (Decimal(0), Decimal(0))
        out = dict.fromkeys(shapes, zero)
        if self.pnl_today(now_ms) <= -self.limits.daily_loss_cap:
            return out
        slots = self.limits.max_trades - self._trades.count(now_ms)
        budget = self.limits.daily_notional_cap - self.notional_used(now_ms)
        if slots <= 0 or budget <= 0:
            return out
        usable: dict[str, tuple[int, int]] = {}
        for asset, shape in sorted(shapes.items()):
            book = market.book(venue, shape.instrument)
            if book is None or self._book_gates(venue, shape.instrument, book, now_ms):
                continue
            sell, buy = (self._usage_lots(shape, book, side) for side in (Side.SELL, Side.BUY))
            if sell or buy:
                usable[asset] = (sell, buy)
        if len(usable) > slots:  # one leg per traded asset: keep the widest boxes
            by_width = sorted(usable, key=lambda a: (-_notional_of(shapes[a], *usable[a]), a))
            usable = {a: usable[a] for a in by_width[:slots]}
        if not usable:
            return out
        with localcontext() as ctx:
            ctx.rounding = ROUND_FLOOR  # the shares never add up to more than the budget
            share = budget / len(usable)
        for asset, (sell_lots, buy_lots) in usable.items():
            shape = shapes[asset]
            buy = largest_within(_buy_notional(shape), share, buy_lots)
            sell = 0
            if sell_lots:
                # A sell's limit falls as it grows, so its notional is at most n lots at the one-lot limit.
                worst = shape.lot * shape.leg_limit(Side.SELL, 1)
                sell = min(sell_lots, int((share / worst).to_integral_value(ROUND_FLOOR)))
            out[asset] = (-sell * shape.lot, buy * shape.lot)
        return out

    def _usage_lots(self, shape: LegShape, book: BookSnapshot[Decimal], side: Side) -> int:
        """Most lots on ``side`` such that every smaller leg passes the book-usage gate."""

        def allowance(n: int) -> Decimal:
            return self._usage_allowance(side, shape.leg_limit(side, n), book)[0]

        return usage_lots(allowance, shape.lot, shape.lots(side), shape.hints(side))


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


def _notional_of(shape: LegShape, sell: int, buy: int) -> Decimal:
    """How much a box lets trade, in quote at the legs' limit prices (ranks assets for the trade rate)."""
    total = Decimal(0)
    if buy:
        total += buy * shape.lot * shape.leg_limit(Side.BUY, buy)
    if sell:
        total += sell * shape.lot * shape.leg_limit(Side.SELL, sell)
    return total


def _buy_notional(shape: LegShape) -> Callable[[int], Decimal]:
    def notional(n: int) -> Decimal:
        return n * shape.lot * shape.leg_limit(Side.BUY, n)

    return notional
