"""What the region's operator may see, projected from the coordinator's own events (pure, no I/O).

The coordinator already says everything an operator acts on as events (``listening``, ``round``, ``session``,
``abandoned``, ``evicted``, ``waiting``); the view is one more consumer of them, so the gateway needs no hook
into the session loop. Every field it keeps is copied by name from a whitelist: venue ids, counts,
convergence (imbalance in lots, certified gap), the region's committed profit and ledger size. Nothing an
agent keeps private (books, positions, its legs) reaches the coordinator, and nothing outside the whitelist
reaches the console even if a future event carried it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

SESSIONS_KEPT = 200
ROUNDS_KEPT = 400
"""Convergence points kept per session (longer sessions are thinned evenly)."""

Event = Mapping[str, object]

_ROUND_FIELDS = ("round", "responders", "imbalance_lots", "gap", "profit", "gather_ms", "merge_ms")
_SESSION_FIELDS = (
    "session",
    "strategy",
    "rounds",
    "converged",
    "profit",
    "elapsed_ms",
    "participants",
    "dropped",
    "sequence",
    "committed",
    "hedge",
    "execution_reports",
    "ledger_size",
    "ledger_root",
    "ledger_append_ms",
    "bound",
)
_ABANDONED_FIELDS = ("session", "reason", "members", "connected")
_EVICTED_FIELDS = ("venue", "reason", "sits_out_s")


def _pick(event: Event, names: tuple[str, ...]) -> dict[str, object]:
    return {name: event[name] for name in names if name in event}


def _venues(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def thin(points: list[dict[str, object]], limit: int) -> list[dict[str, object]]:
    """At most ``limit`` points, evenly spaced, always keeping the last (the committed round)."""
    if len(points) <= limit:
        return points
    step = len(points) / (limit - 1)
    return [points[int(i * step)] for i in range(limit - 1)] + [points[-1]]


@dataclass
class Participant:
    venue: str
    sessions: int = 0
    committed: int = 0
    dropped: int = 0
    last_session: str = ""
    last_seen_ms: int = 0
    evicted: str = ""

    def view(self, connected: bool) -> dict[str, object]:
        return {
            "venue": self.venue,
            "connected": connected,
            "sessions": self.sessions,
            "committed": self.committed,
            "dropped": self.dropped,
            "last_session": self.last_session,
            "last_seen_ms": self.last_seen_ms,
            "evicted": self.evicted,
        }


class RegionView:
    """The region as its operator sees it: ``observe`` every coordinator event, read ``status``.

    Thread-safe: the session loop observes while the gateway's threads read."""

    def __init__(self, region: str, *, clock_ms: Callable[[], int] | None = None) -> None:
        self.region = region
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._lock = threading.Lock()
        self._listening: dict[str, object] = {}
        self._participants: dict[str, Participant] = {}
        self._connected: set[str] = set()
        self._rounds: list[dict[str, object]] = []
        self._sessions: deque[dict[str, object]] = deque(maxlen=SESSIONS_KEPT)
        self._last_commit: dict[str, object] | None = None
        self.completed = 0
        self.abandoned = 0
        self.rounds_total = 0

    def observe(self, event: Event) -> dict[str, object] | None:
        """Take in one coordinator event; returns what the console may be pushed of it (``None``: nothing)."""
        kind = event.get("event")
        now = self._clock_ms()
        with self._lock:
            if kind == "listening":
                self._listening = _pick(event, ("host", "port", "region", "bounds"))
                return {"event": "listening", **self._listening}
            if kind == "round":
                point = _pick(event, _ROUND_FIELDS)
                self._rounds.append(point)
                self.rounds_total += 1
                return {"event": "round", **point}
            if kind == "session":
                return self._on_session(event, now)
            if kind == "abandoned":
                self.abandoned += 1
                out = {"event": "abandoned", **_pick(event, _ABANDONED_FIELDS), "ts_ms": now}
                self._sessions.append({**out, "status": "abandoned", "convergence": self._take_rounds()})
                self._connected = set(_venues(event.get("connected")))
                return out
            if kind == "evicted":
                picked = _pick(event, _EVICTED_FIELDS)
                venue = str(picked.get("venue", ""))
                if venue:
                    self._participant(venue).evicted = str(picked.get("reason", ""))
                    self._connected.discard(venue)
                return {"event": "evicted", **picked}
            if kind == "waiting":
                self._connected = set(_venues(event.get("connected")))
                return {"event": "waiting", "connected": sorted(self._connected)}
            return None

    def _participant(self, venue: str) -> Participant:
        if venue not in self._participants:
            self._participants[venue] = Participant(venue)
        return self._participants[venue]

    def _take_rounds(self) -> list[dict[str, object]]:
        rounds, self._rounds = self._rounds, []
        return thin(rounds, ROUNDS_KEPT)

    def _on_session(self, event: Event, now: int) -> dict[str, object]:
        picked = _pick(event, _SESSION_FIELDS)
        participants = _venues(event.get("participants"))
        committed = set(_venues(event.get("committed")))
        dropped = set(_venues(event.get("dropped")))
        for venue in sorted(set(participants) | dropped):
            member = self._participant(venue)
            member.sessions += 1
            member.committed += venue in committed
            member.dropped += venue in dropped
            member.last_session = str(picked.get("session", ""))
            member.last_seen_ms = now
            if venue in participants:
                member.evicted = ""
        self._connected = set(participants) - dropped
        self.completed += 1
        summary = {"event": "session", **picked, "ts_ms": now, "status": "committed"}
        self._sessions.append({**summary, "convergence": self._take_rounds()})
        if committed:
            self._last_commit = {
                name: picked[name]
                for name in ("session", "sequence", "committed", "profit", "ledger_size", "ledger_root")
                if name in picked
            }
            self._last_commit["ts_ms"] = now
        return summary

    def status(self, *, sessions: int = 20, convergence: int = 3) -> dict[str, object]:
        """The region now: participants by venue id, recent sessions (the last ``convergence`` of them with
        their rounds), the rounds of the session under way, the last commit."""
        with self._lock:
            recent = list(self._sessions)[-sessions:] if sessions > 0 else []
            keep = len(recent) - convergence
            recent = [
                s if i >= keep else {k: v for k, v in s.items() if k != "convergence"}
                for i, s in enumerate(recent)
            ]
            return {
                "region": self.region,
                "listening": dict(self._listening),
                "participants": [
                    p.view(p.venue in self._connected) for _, p in sorted(self._participants.items())
                ],
                "connected": sorted(self._connected),
                "sessions": {
                    "completed": self.completed,
                    "abandoned": self.abandoned,
                    "recent": recent,
                },
                "rounds_total": self.rounds_total,
                "current_rounds": thin(list(self._rounds), ROUNDS_KEPT),
                "last_commit": dict(self._last_commit) if self._last_commit is not None else None,
                "ts_ms": self._clock_ms(),
            }
