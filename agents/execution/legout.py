"""Leg-out handling: when some legs of a plan filled and others did not, restore the plan's balance at once.

The core is one pure function, ``decide_leg_out``: given every leg's and hedge's progress, hedge venues' books
and the time, it returns which orders to cancel, which marketable IOC hedges to send, which re-plan requests
to raise and the LegOutEvents to record. ``LegOutMonitor`` is the thin stateful shell that feeds it events.

Per asset of a plan group the exposure still to cover is

    gap = planned - filled(legs) - remaining(live legs) - filled(hedges) - remaining(working hedges)

where a leg is *live* while its order works and its deadline has not passed. Live legs are trusted to fill;
a leg that finished short (IOC partial) or reached its deadline is *legged out* and its shortfall shows up in
``gap`` immediately. Working legs past their deadline are cancelled; if they still fill, ``gap`` turns the
other way and is hedged back. For a full delta-neutral plan ``planned`` is 0 per asset and ``gap`` is minus
the net position; for one venue's legs it is the venue's unfilled obligation. ``gap > 0`` means buy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from agents.execution.book import depth_within
from agents.execution.events import EventSink, HedgeOrderSpec, LegOutEvent
from agents.keys import derive_key
from sdk.adapters.events import BookSnapshot
from sdk.adapters.execution import (
    BPS,
    ExecutionEvent,
    ExecutionInputError,
    FillEvent,
    OrderEvent,
    OrderRequest,
    Side,
    parse_decimal,
)


@dataclass(frozen=True, slots=True)
class LegProgress:
    """What is known about one order of a plan group (a planned leg or a hedge)."""

    key: str  # client order id
    venue: str
    instrument: str
    asset: str
    side: Side
    size: Decimal
    filled: Decimal
    deadline_ms: int
    working: bool  # still live at the venue (sent, not yet in a terminal state)
    sent: bool = True  # False: refused by a risk gate, never reached a venue

    @property
    def signed_size(self) -> Decimal:
        return self.side.sign * self.size

    @property
    def signed_filled(self) -> Decimal:
        return self.side.sign * self.filled

    @property
    def signed_remaining(self) -> Decimal:
        return self.side.sign * (self.size - self.filled)


@dataclass(frozen=True, slots=True)
class HedgeQuote:
    """A venue that can take a hedge: its current book and its lot and tick sizes for ``instrument``."""

    venue: str
    instrument: str
    asset: str
    book: BookSnapshot[Decimal]
    lot_size: Decimal
    tick_size: Decimal

    def __post_init__(self) -> None:
        parse_decimal("lot_size", self.lot_size, positive=True)
        parse_decimal("tick_size", self.tick_size, positive=True)


@dataclass(frozen=True, slots=True)
class LegOutPolicy:
    """How hard to hedge: price tolerance, hedge order lifetime, rounds before asking for a re-plan."""

    hedge_slippage_bps: Decimal = Decimal(50)
    hedge_timeout_ms: int = 2_000
    max_hedge_rounds: int = 3
    prefer_replan: bool = False  # True: never hedge, always ask the coordinator to re-plan the residual

    def __post_init__(self) -> None:
        parse_decimal("hedge_slippage_bps", self.hedge_slippage_bps, non_negative=True)
        if self.hedge_timeout_ms <= 0:
            raise ExecutionInputError(f"hedge_timeout_ms must be > 0, got {self.hedge_timeout_ms}")
        if self.max_hedge_rounds < 0:
            raise ExecutionInputError(f"max_hedge_rounds must be >= 0, got {self.max_hedge_rounds}")


@dataclass(frozen=True, slots=True)
class ReplanRequest:
    """Ask the coordinator to re-plan ``size`` of ``asset`` (``side`` from our view) without these venues."""

    plan_id: str
    asset: str
    side: Side
    size: Decimal
    exclude_venues: tuple[str, ...]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class LegOutDecision:
    cancels: tuple[str, ...] = ()
    hedges: tuple[HedgeOrderSpec, ...] = ()
    replans: tuple[ReplanRequest, ...] = ()
    events: tuple[LegOutEvent, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.cancels or self.hedges or self.replans or self.events)


def exposure_gaps(
    legs: Sequence[LegProgress], hedges: Sequence[LegProgress], now_ms: int
) -> dict[str, Decimal]:
    """Per-asset ``gap`` (see module docstring); zero for assets in balance.

    Legs refused by risk (never sent) count when the group holds the whole plan for that asset (planned
    sizes sum to zero): then ``gap`` is the real net exposure, and a refused leg next to a filled one must be
    hedged. In a partial view (one venue's legs) the gap is an obligation, and the obligation of a refused
    leg is not ours to force through: the refusal is reported, not hedged.
    """
    planned: dict[str, Decimal] = {}
    for leg in legs:
        planned[leg.asset] = planned.get(leg.asset, Decimal(0)) + leg.signed_size
    gaps: dict[str, Decimal] = {}
    for leg in legs:
        if not leg.sent and planned[leg.asset] != 0:
            continue
        live = leg.working and now_ms < leg.deadline_ms
        covered = leg.signed_filled + (leg.signed_remaining if live else Decimal(0))
        gaps[leg.asset] = gaps.get(leg.asset, Decimal(0)) + leg.signed_size - covered
    for hedge in hedges:
        covered = hedge.signed_filled + (hedge.signed_remaining if hedge.working else Decimal(0))
        gaps[hedge.asset] = gaps.get(hedge.asset, Decimal(0)) - covered
    return gaps


def decide_leg_out(
    plan_id: str,
    legs: Sequence[LegProgress],
    hedges: Sequence[LegProgress],
    *,
    quotes: Sequence[HedgeQuote],
    now_ms: int,
    policy: LegOutPolicy,
) -> LegOutDecision:
    """Pure leg-out decision for one plan group at ``now_ms``."""
    cancels = tuple(leg.key for leg in legs if leg.working and now_ms >= leg.deadline_ms)
    out_hedges: list[HedgeOrderSpec] = []
    replans: list[ReplanRequest] = []
    events: list[LegOutEvent] = []
    for asset, gap in sorted(exposure_gaps(legs, hedges, now_ms).items()):
        if gap == 0:
            continue
        side = Side.of_signed(gap)
        legged = tuple(
            leg.key
            for leg in legs
            if leg.asset == asset and leg.filled < leg.size and not (leg.working and now_ms < leg.deadline_ms)
        )
        excluded = _excluded_venues(asset, side, legs, hedges, now_ms)
        rounds_used = sum(1 for h in hedges if h.asset == asset)
        chosen: list[HedgeOrderSpec] = []
        remaining = abs(gap)
        if not policy.prefer_replan and rounds_used < policy.max_hedge_rounds:
            chosen, remaining = _allocate(
                plan_id,
                asset=asset,
                side=side,
                size=remaining,
                quotes=quotes,
                excluded=excluded,
                rounds_used=rounds_used,
                now_ms=now_ms,
                policy=policy,
            )
        lot = _smallest_lot(asset, quotes)
        dust = 0 < remaining < lot  # below every venue's lot size: nothing can trade it
        if dust and not chosen:
            continue
        if remaining > 0 and not dust:
            replans.append(ReplanRequest(plan_id, asset, side, remaining, tuple(sorted(excluded)), now_ms))
        action = "hedge" if chosen and remaining == 0 else ("hedge+replan" if chosen else "replan")
        out_hedges.extend(chosen)
        events.append(LegOutEvent(plan_id, asset, gap, legged, action, tuple(chosen), remaining, now_ms))
    return LegOutDecision(cancels, tuple(out_hedges), tuple(replans), tuple(events))


def _excluded_venues(
    asset: str, side: Side, legs: Sequence[LegProgress], hedges: Sequence[LegProgress], now_ms: int
) -> set[str]:
    """Venues that already failed to give this asset on this side (legged-out legs, short hedges)."""
    out: set[str] = set()
    for leg in legs:
        done = not (leg.working and now_ms < leg.deadline_ms)
        if leg.asset == asset and leg.side is side and done and leg.filled < leg.size:
            out.add(leg.venue)
    for hedge in hedges:
        if hedge.asset == asset and hedge.side is side and not hedge.working and hedge.filled < hedge.size:
            out.add(hedge.venue)
    return out


def _allocate(
    plan_id: str,
    *,
    asset: str,
    side: Side,
    size: Decimal,
    quotes: Sequence[HedgeQuote],
    excluded: set[str],
    rounds_used: int,
    now_ms: int,
    policy: LegOutPolicy,
) -> tuple[list[HedgeOrderSpec], Decimal]:
    """Marketable IOC hedges, most liquid venue first, until ``size`` is covered or venues run out."""
    candidates: list[tuple[Decimal, HedgeQuote, Decimal]] = []
    for quote in quotes:
        if quote.asset != asset or quote.venue in excluded:
            continue
        levels = quote.book.side_to_take(side)
        if not levels:
            continue
        cap = _cap(side, levels[0][0], quote.tick_size, policy.hedge_slippage_bps)
        depth = depth_within(levels, side, cap)
        if depth > 0:
            candidates.append((depth, quote, cap))
    best_first = sorted(
        candidates,
        key=lambda c: (-c[0], c[2] if side is Side.BUY else -c[2], c[1].venue, c[1].instrument),
    )
    chosen: list[HedgeOrderSpec] = []
    remaining = size
    for depth, quote, cap in best_first:
        take = _floor_to(min(depth, remaining), quote.lot_size)
        if take <= 0:
            continue
        index = rounds_used + len(chosen)
        chosen.append(
            HedgeOrderSpec(
                plan_id=plan_id,
                idempotency_key=derive_key(plan_id, "hedge", asset, index, quote.venue, quote.instrument),
                venue=quote.venue,
                instrument=quote.instrument,
                asset=asset,
                side=side,
                size=take,
                limit_price=cap,
                deadline_ms=now_ms + policy.hedge_timeout_ms,
            )
        )
        remaining -= take
        if remaining == 0:
            break
    return chosen, remaining


def _cap(side: Side, best: Decimal, tick: Decimal, slippage_bps: Decimal) -> Decimal:
    """Worst acceptable hedge price: best price moved by the slippage, on the tick grid, never inside best."""
    if side is Side.BUY:
        return max(best, _floor_to(best * (1 + slippage_bps / BPS), tick))
    return min(best, (best * (1 - slippage_bps / BPS) / tick).to_integral_value(ROUND_CEILING) * tick)


def _floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def _smallest_lot(asset: str, quotes: Sequence[HedgeQuote]) -> Decimal:
    lots = [q.lot_size for q in quotes if q.asset == asset]
    return min(lots) if lots else Decimal(0)


@dataclass
class _Group:
    legs: dict[str, OrderRequest] = field(default_factory=dict)
    hedges: dict[str, OrderRequest] = field(default_factory=dict)
    filled: dict[str, Decimal] = field(default_factory=dict)
    working: dict[str, bool] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    unsent: set[str] = field(default_factory=set)
    replans: list[ReplanRequest] = field(default_factory=list)


class LegOutMonitor:
    """Tracks every plan group's orders from execution events and applies ``decide_leg_out`` on ``tick``.

    The caller sends the returned hedges and cancels and then calls ``track_hedge`` for each hedge order;
    LegOutEvents go to the sink as they are decided.
    """

    def __init__(self, policy: LegOutPolicy, sink: EventSink) -> None:
        self.policy = policy
        self._sink = sink
        self._groups: dict[str, _Group] = {}
        self._open: set[str] = set()  # groups ``tick`` still decides for (closed once complete)
        self._by_cid: dict[str, str] = {}
        self._fills_seen: set[str] = set()

    def track_leg(self, order: OrderRequest) -> None:
        self._track(order, hedge=False)

    def track_hedge(self, order: OrderRequest) -> None:
        self._track(order, hedge=True)

    def track_refused(self, order: OrderRequest) -> None:
        """A leg a risk gate refused: part of the plan, never sent (see ``exposure_gaps``)."""
        self._track(order, hedge=False)
        self._groups[order.plan_id].working[order.client_order_id] = False
        self._groups[order.plan_id].unsent.add(order.client_order_id)

    def _track(self, order: OrderRequest, *, hedge: bool) -> None:
        group = self._groups.setdefault(order.plan_id, _Group())
        target = group.hedges if hedge else group.legs
        if order.client_order_id in self._by_cid:
            return  # re-tracking after a restart is harmless
        target[order.client_order_id] = order
        group.filled[order.client_order_id] = Decimal(0)
        group.working[order.client_order_id] = True
        self._by_cid[order.client_order_id] = order.plan_id
        self._open.add(order.plan_id)

    def on_event(self, event: ExecutionEvent) -> None:
        plan_id = self._by_cid.get(event.client_order_id)
        if plan_id is None:
            return
        group = self._groups[plan_id]
        self._open.add(plan_id)  # a late report reopens a closed group
        if isinstance(event, FillEvent):
            if event.fill_id not in self._fills_seen:
                self._fills_seen.add(event.fill_id)
                group.filled[event.client_order_id] += event.size
        elif isinstance(event, OrderEvent) and event.status.terminal:
            group.working[event.client_order_id] = False

    def progress(self, plan_id: str) -> tuple[list[LegProgress], list[LegProgress]]:
        group = self._groups[plan_id]
        return (
            [self._progress(group, o) for o in group.legs.values()],
            [self._progress(group, o) for o in group.hedges.values()],
        )

    @staticmethod
    def _progress(group: _Group, order: OrderRequest) -> LegProgress:
        cid = order.client_order_id
        return LegProgress(
            key=cid,
            venue=order.venue,
            instrument=order.instrument,
            asset=order.asset,
            side=order.side,
            size=order.size,
            filled=group.filled[cid],
            deadline_ms=order.deadline_ms,
            working=group.working[cid],
            sent=cid not in group.unsent,
        )

    def tick(self, now_ms: int, quotes: Sequence[HedgeQuote]) -> LegOutDecision:
        """Decide for every open group; returns the union of decisions (cancels not yet sent only)."""
        cancels: list[str] = []
        hedges: list[HedgeOrderSpec] = []
        replans: list[ReplanRequest] = []
        events: list[LegOutEvent] = []
        for plan_id in sorted(self._open):
            group = self._groups[plan_id]
            legs, hedge_progress = self.progress(plan_id)
            decision = decide_leg_out(
                plan_id, legs, hedge_progress, quotes=quotes, now_ms=now_ms, policy=self.policy
            )
            new_cancels = [c for c in decision.cancels if c not in group.cancelled]
            group.cancelled.update(new_cancels)
            cancels.extend(new_cancels)
            hedges.extend(decision.hedges)
            fresh_replans = [r for r in decision.replans if not _already_asked(group.replans, r)]
            group.replans.extend(fresh_replans)
            replans.extend(fresh_replans)
            for event in decision.events:
                if event.hedges or any(r.asset == event.asset for r in fresh_replans):
                    self._sink.record(event)
                    events.append(event)
        return LegOutDecision(tuple(cancels), tuple(hedges), tuple(replans), tuple(events))

    def gaps(self, plan_id: str, now_ms: int) -> Mapping[str, Decimal]:
        legs, hedges = self.progress(plan_id)
        return exposure_gaps(legs, hedges, now_ms)

    def complete(self, plan_id: str, now_ms: int) -> bool:
        """Every order finished and every asset back in balance."""
        legs, hedges = self.progress(plan_id)
        if any(p.working for p in (*legs, *hedges)):
            return False
        return all(g == 0 for g in exposure_gaps(legs, hedges, now_ms).values())

    def plan_ids(self) -> Iterable[str]:
        """Every group ever tracked."""
        return tuple(self._groups)

    def open_plan_ids(self) -> Iterable[str]:
        """Groups not yet closed (see ``close``)."""
        return tuple(sorted(self._open))

    def close(self, plan_id: str) -> None:
        """Stop deciding for a complete group (keeps its state; any later event reopens it)."""
        self._open.discard(plan_id)

    def order(self, client_order_id: str) -> OrderRequest | None:
        plan_id = self._by_cid.get(client_order_id)
        if plan_id is None:
            return None
        group = self._groups[plan_id]
        return group.legs.get(client_order_id) or group.hedges.get(client_order_id)


def _already_asked(previous: Sequence[ReplanRequest], request: ReplanRequest) -> bool:
    return any(
        p.asset == request.asset and p.side is request.side and p.size == request.size for p in previous
    )
