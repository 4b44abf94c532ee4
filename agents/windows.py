"""Opportunities and opportunity windows: what an agent saw at each session, grouped into bursts.

An *opportunity* is one venue's view of one federated session: the committed plan's predicted profit on
this venue (its trades valued at the session's prices: ``agents.runtime.valued``), the signed quantity per
asset, the net direction, and whether it traded (at least one fill). Observe-only sessions produce one too
(the ``would_trade`` the agent shows), never traded. Arbitrage comes in bursts (a dislocation opens, is
traded down, closes), so opportunities are grouped into *windows*:

- a *signal* is an opportunity whose predicted profit is above ``min_pnl`` (the others are recorded, but
  neither open nor extend a window);
- a window opens at a signal when none is open, is extended by every signal at most ``grace_ms`` after the
  window's last one, and closes once time passes ``last + grace_ms`` without one (its ``end_ms`` is then
  that last signal's time).

Everything here is pure and deterministic on the opportunities' own timestamps (never the wall clock):
``WindowTracker`` consumes them in time order and returns the events to emit (``opportunity``,
``window_open``, ``window_close``); the running agent's shell (``agents.service``) feeds it and emits, and
``arbsphere report`` replays the same tracker over a recorded event log. Window statistics are kept
incrementally (an agent runs for months) and always equal ``window_stats`` recomputed from the members.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

Direction = Literal["buy", "sell", "flat"]
DIRECTIONS: tuple[Direction, ...] = ("buy", "sell", "flat")
SOURCES = ("plan", "would_trade")
KEEP = 2000
"""Opportunities and windows a running tracker keeps for its views (the event log keeps them all)."""


def direction_of(assets: Mapping[str, Decimal], prices: Mapping[str, Decimal] | None = None) -> Direction:
    """Net buy or sell of the venue's assets: the sign of their net quote value at ``prices`` (so a venue
    trading several assets is judged in one unit), of their summed quantities where a price is missing."""
    values = prices or {}
    if assets and all(a in values for a in assets):
        net = sum((q * values[a] for a, q in assets.items()), Decimal(0))
    else:
        net = sum(assets.values(), Decimal(0))
    return "buy" if net > 0 else "sell" if net < 0 else "flat"


def _dec(value: object, what: str) -> Decimal:
    try:
        out = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{what}: expected a decimal, got {value!r}") from None
    if not out.is_finite():
        raise ValueError(f"{what}: expected a finite decimal, got {value!r}")
    return out


@dataclass(frozen=True, slots=True)
class Opportunity:
    """One venue's view of one session (see the module docstring)."""

    venue: str
    session_id: str
    sequence: int
    """The plan's sequence (0: an observe-only ``would_trade``, which commits no plan)."""
    ts_ms: int
    predicted_pnl: Decimal
    assets: Mapping[str, Decimal]
    """asset -> signed quantity (positive: buy)."""
    direction: Direction
    source: str = "plan"
    fills: int = 0
    realised_pnl: Decimal | None = None
    """The plan's realised profit once its execution is reported (None before, or never traded)."""

    def __post_init__(self) -> None:
        if self.ts_ms < 0:
            raise ValueError(f"ts_ms: expected >= 0, got {self.ts_ms}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction: expected one of {DIRECTIONS}, got {self.direction!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source: expected one of {SOURCES}, got {self.source!r}")
        if not self.predicted_pnl.is_finite():
            raise ValueError(f"predicted_pnl: expected a finite decimal, got {self.predicted_pnl}")

    @property
    def key(self) -> tuple[str, int]:
        return (self.session_id, self.sequence)

    @property
    def traded(self) -> bool:
        return self.fills > 0

    def view(self) -> dict[str, object]:
        """The JSON shape the gateway serves."""
        return {
            "session_id": self.session_id,
            "sequence": self.sequence,
            "ts_ms": self.ts_ms,
            "predicted_pnl": format(self.predicted_pnl, "f"),
            "direction": self.direction,
            "assets": {a: format(q, "f") for a, q in sorted(self.assets.items())},
            "traded": self.traded,
            "source": self.source,
            "fills": self.fills,
            "realised_pnl": None if self.realised_pnl is None else format(self.realised_pnl, "f"),
        }

    def event(self) -> dict[str, object]:
        """The ``opportunity`` event (emitted when seen: ``traded`` comes later, with the execution)."""
        view = self.view()
        for later in ("traded", "fills", "realised_pnl"):
            view.pop(later)
        return {"event": "opportunity", "venue": self.venue, **view}

    @classmethod
    def from_event(cls, event: Mapping[str, object]) -> Opportunity:
        """Parse an ``opportunity`` event back (``ValueError`` naming the field if it is malformed)."""
        assets = event.get("assets") or {}
        if not isinstance(assets, Mapping):
            raise ValueError(f"assets: expected an object, got {assets!r}")
        raw = str(event.get("direction", "flat"))
        direction = next((d for d in DIRECTIONS if d == raw), None)
        if direction is None:
            raise ValueError(f"direction: expected one of {DIRECTIONS}, got {raw!r}")
        return cls(
            venue=str(event.get("venue", "")),
            session_id=str(event.get("session_id", "")),
            sequence=int(str(event.get("sequence", 0))),
            ts_ms=int(str(event.get("ts_ms"))),
            predicted_pnl=_dec(event.get("predicted_pnl"), "predicted_pnl"),
            assets={str(a): _dec(q, f"assets.{a}") for a, q in assets.items()},
            direction=direction,
            source=str(event.get("source", "plan")),
        )


@dataclass(frozen=True, slots=True)
class WindowStats:
    """What one window held: its signals, their fills, dominant direction, predicted and realised PnL."""

    signals: int
    trades: int
    direction: Direction
    max_pnl: Decimal
    mean_pnl: Decimal
    realised_pnl: Decimal | None
    """Summed realised profit of its traded signals (None: none traded)."""


def dominant(buys: int, sells: int) -> Direction:
    """The direction most signals took; ``flat`` when neither side has a majority."""
    return "buy" if buys > sells else "sell" if sells > buys else "flat"


def window_stats(signals: Iterable[Opportunity]) -> WindowStats:
    """A window's statistics recomputed from its signals (the reference ``WindowTracker`` agrees with)."""
    members = list(signals)
    if not members:
        raise ValueError("signals: a window holds at least one signal")
    pnls = [s.predicted_pnl for s in members]
    traded = [s.realised_pnl for s in members if s.traded and s.realised_pnl is not None]
    return WindowStats(
        signals=len(members),
        trades=sum(s.fills for s in members),
        direction=dominant(
            sum(s.direction == "buy" for s in members), sum(s.direction == "sell" for s in members)
        ),
        max_pnl=max(pnls),
        mean_pnl=sum(pnls, Decimal(0)) / len(pnls),
        realised_pnl=sum(traded, Decimal(0)) if traded else None,
    )


@dataclass(slots=True)
class _Acc:
    """A window's running statistics (updated per signal and per execution, never recomputed)."""

    signals: int = 0
    buys: int = 0
    sells: int = 0
    pnl_sum: Decimal = Decimal(0)
    pnl_max: Decimal | None = None
    trades: int = 0
    realised_sum: Decimal = Decimal(0)
    realised_n: int = 0

    def add(self, opp: Opportunity) -> None:
        self.signals += 1
        self.buys += opp.direction == "buy"
        self.sells += opp.direction == "sell"
        self.pnl_sum += opp.predicted_pnl
        self.pnl_max = opp.predicted_pnl if self.pnl_max is None else max(self.pnl_max, opp.predicted_pnl)
        self.executed(opp, None)

    def executed(self, opp: Opportunity, before: Opportunity | None) -> None:
        """``opp`` replaces ``before`` (its earlier state, None when new): take the old one's share out."""
        for sign, o in ((-1, before), (1, opp)):
            if o is None:
                continue
            self.trades += sign * o.fills
            if o.traded and o.realised_pnl is not None:
                self.realised_sum += sign * o.realised_pnl
                self.realised_n += sign

    def stats(self) -> WindowStats:
        assert self.pnl_max is not None
        return WindowStats(
            signals=self.signals,
            trades=self.trades,
            direction=dominant(self.buys, self.sells),
            max_pnl=self.pnl_max,
            mean_pnl=self.pnl_sum / self.signals,
            realised_pnl=self.realised_sum if self.realised_n else None,
        )


@dataclass(frozen=True, slots=True)
class Window:
    """A window as shown: ``end_ms`` is None while it is open."""

    window_id: str
    venue: str
    start_ms: int
    last_ms: int
    end_ms: int | None
    stats: WindowStats

    @property
    def open(self) -> bool:
        return self.end_ms is None

    def view(self) -> dict[str, object]:
        s = self.stats
        return {
            "window_id": self.window_id,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "last_ms": self.last_ms,
            "signals": s.signals,
            "trades": s.trades,
            "direction": s.direction,
            "max_pnl": format(s.max_pnl, "f"),
            "mean_pnl": format(s.mean_pnl, "f"),
            "realised_pnl": None if s.realised_pnl is None else format(s.realised_pnl, "f"),
            "open": self.open,
        }


@dataclass(slots=True)
class _Open:
    window_id: str
    start_ms: int
    last_ms: int
    acc: _Acc


class WindowTracker:
    """Opportunities in, windows out, for one venue (pure: the caller emits the returned events).

    Time is the opportunities' own: ``observe`` and ``advance`` must not go back in time (``ValueError``);
    ``advance(now_ms)`` closes the open window once ``now_ms > last + grace_ms``.
    """

    def __init__(self, venue: str, *, min_pnl: Decimal, grace_ms: int, keep: int = KEEP) -> None:
        if grace_ms < 0:
            raise ValueError(f"grace_ms: expected >= 0, got {grace_ms}")
        if not min_pnl.is_finite():
            raise ValueError(f"min_pnl: expected a finite decimal, got {min_pnl}")
        if keep < 1:
            raise ValueError(f"keep: expected >= 1, got {keep}")
        self.venue = venue
        self.min_pnl = min_pnl
        self.grace_ms = grace_ms
        self.now_ms = 0
        self._opps: OrderedDict[tuple[str, int], Opportunity] = OrderedDict()
        self._window_of: dict[tuple[str, int], _Open] = {}
        self._open: _Open | None = None
        self._closed: deque[_Open] = deque(maxlen=keep)
        self._keep = keep

    # -- time -------------------------------------------------------------------------------------------
    def _tick(self, now_ms: int) -> None:
        if now_ms < self.now_ms:
            raise ValueError(f"now_ms: time goes forward, got {now_ms} after {self.now_ms}")
        self.now_ms = now_ms

    def advance(self, now_ms: int) -> list[dict[str, object]]:
        """Move time to ``now_ms``: a ``window_close`` event if the open window's grace ran out."""
        self._tick(now_ms)
        current = self._open
        if current is None or now_ms - current.last_ms <= self.grace_ms:
            return []
        self._open = None
        self._closed.append(current)
        return [{"event": "window_close", "venue": self.venue, **self._window(current, closed=True).view()}]

    # -- input ------------------------------------------------------------------------------------------
    def is_signal(self, opp: Opportunity) -> bool:
        return opp.predicted_pnl > self.min_pnl

    def observe(self, opp: Opportunity) -> list[dict[str, object]]:
        """Record ``opp`` at its ``ts_ms``; the events it causes, in order: ``window_close`` (the previous
        window's grace ran out before it), ``opportunity``, ``window_open`` (it opened one)."""
        if opp.venue != self.venue:
            raise ValueError(f"venue: expected {self.venue!r}, got {opp.venue!r}")
        if opp.key in self._opps:
            raise ValueError(f"opportunity {opp.key}: already observed")
        events = self.advance(opp.ts_ms)
        events.append(opp.event())
        self._opps[opp.key] = opp
        while len(self._opps) > self._keep:
            old, _ = self._opps.popitem(last=False)
            self._window_of.pop(old, None)
        if not self.is_signal(opp):
            return events
        current = self._open
        if current is None:
            current = self._open = _Open(f"{self.venue}:{opp.ts_ms}", opp.ts_ms, opp.ts_ms, _Acc())
            current.acc.add(opp)
            self._window_of[opp.key] = current
            events.append(
                {
                    "event": "window_open",
                    "venue": self.venue,
                    "min_pnl": format(self.min_pnl, "f"),
                    "grace_ms": self.grace_ms,
                    "session_id": opp.session_id,
                    **self._window(current, closed=False).view(),
                }
            )
            return events
        current.last_ms = opp.ts_ms
        current.acc.add(opp)
        self._window_of[opp.key] = current
        return events

    def executed(self, session_id: str, sequence: int, *, fills: int, realised_pnl: Decimal) -> bool:
        """Record how a plan's execution ended (its fills and realised profit); False if the opportunity
        is unknown (never seen, or no longer kept). Its window's statistics follow, open or closed."""
        key = (session_id, sequence)
        before = self._opps.get(key)
        if before is None:
            return False
        if fills < 0:
            raise ValueError(f"fills: expected >= 0, got {fills}")
        after = replace(before, fills=fills, realised_pnl=realised_pnl if fills else None)
        self._opps[key] = after
        window = self._window_of.get(key)
        if window is not None:
            window.acc.executed(after, before)
        return True

    # -- views ------------------------------------------------------------------------------------------
    def _window(self, w: _Open, *, closed: bool) -> Window:
        return Window(
            w.window_id, self.venue, w.start_ms, w.last_ms, w.last_ms if closed else None, w.acc.stats()
        )

    def opportunities(self, limit: int | None = None) -> list[Opportunity]:
        """The kept opportunities, oldest first (the newest ``limit``)."""
        out = list(self._opps.values())
        return out if limit is None else out[-limit:] if limit > 0 else []

    def windows(self, limit: int | None = None) -> list[Window]:
        """The kept windows, oldest first, the open one (if any) last (the newest ``limit``)."""
        out = [self._window(w, closed=True) for w in self._closed]
        if self._open is not None:
            out.append(self._window(self._open, closed=False))
        return out if limit is None else out[-limit:] if limit > 0 else []

    def seen(self, key: tuple[str, int]) -> bool:
        """Whether the opportunity (session, sequence) was observed (and is still kept)."""
        return key in self._opps

    def window_of(self, session_id: str, sequence: int) -> str | None:
        """The id of the window an opportunity belongs to (None: not a signal, or not kept)."""
        w = self._window_of.get((session_id, sequence))
        return None if w is None else w.window_id


def replay(
    opportunities: Iterable[Opportunity],
    *,
    min_pnl: Decimal,
    grace_ms: int,
    now_ms: int | None = None,
    executions: Mapping[tuple[str, int], tuple[int, Decimal]] | None = None,
) -> tuple[list[Opportunity], list[Window]]:
    """Every opportunity (with its execution applied) and every window of a recorded run, by replaying
    ``WindowTracker`` over the opportunities in time order; ``now_ms`` (default: the last one's time)
    decides which window is still open. ``executions``: (session, sequence) -> (fills, realised)."""
    ordered = sorted(opportunities, key=lambda o: (o.ts_ms, o.session_id, o.sequence))
    if not ordered:
        return [], []
    tracker = WindowTracker(ordered[0].venue, min_pnl=min_pnl, grace_ms=grace_ms, keep=len(ordered))
    done = executions or {}
    for opp in ordered:
        tracker.observe(opp)
        if opp.key in done:
            fills, realised = done[opp.key]
            tracker.executed(opp.session_id, opp.sequence, fills=fills, realised_pnl=realised)
    tracker.advance(max(tracker.now_ms, now_ms if now_ms is not None else tracker.now_ms))
    return tracker.opportunities(), tracker.windows()
