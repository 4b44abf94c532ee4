"""What ``arbsphere report`` computes from a recorded run: pure, deterministic tables and a heatmap grid.

Input is an agent's event log (``opportunity``, ``window_open``, ``execution`` events; see
``agents.windows``) and, optionally, the plans its execution store kept (they fill in plans whose events
the log dropped: appends never block an order, so a log may miss some). Output is four tables, each a list
of rows with a fixed column schema shared by the CSV and Parquet writers:

- ``opportunities``: every opportunity in the range, with its execution (fills, realised profit) and the
  window it belongs to;
- ``windows``: the windows recomputed by replaying ``agents.windows.WindowTracker`` over those
  opportunities, with the threshold and grace period the agent recorded (or the ones asked for);
- ``plans``: realised vs predicted profit per executed plan;
- ``heatmap``: opportunity counts and summed predicted profit per UTC weekday and hour of day.

Decimals are quantized to ``QUANTUM`` (the runtime's profit quantum), so the CSV's text and the Parquet's
``decimal128`` hold the same numbers exactly. Time is the events' own (``ts_ms``), UTC.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from agents.windows import Opportunity, Window, replay

QUANTUM = Decimal("1e-12")
SCALE = 12
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Kind = Literal["int", "str", "decimal", "bool"]

OPPORTUNITY_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("venue", "str"),
    ("session_id", "str"),
    ("sequence", "int"),
    ("ts_ms", "int"),
    ("time_utc", "str"),
    ("source", "str"),
    ("direction", "str"),
    ("assets", "str"),
    ("predicted_pnl", "decimal"),
    ("traded", "bool"),
    ("fills", "int"),
    ("realised_pnl", "decimal"),
    ("window_id", "str"),
)
WINDOW_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("venue", "str"),
    ("window_id", "str"),
    ("start_ms", "int"),
    ("end_ms", "int"),
    ("start_utc", "str"),
    ("duration_s", "decimal"),
    ("open", "bool"),
    ("signals", "int"),
    ("trades", "int"),
    ("direction", "str"),
    ("max_pnl", "decimal"),
    ("mean_pnl", "decimal"),
    ("realised_pnl", "decimal"),
)
PLAN_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("venue", "str"),
    ("session_id", "str"),
    ("sequence", "int"),
    ("ts_ms", "int"),
    ("status", "str"),
    ("fills", "int"),
    ("predicted_profit", "decimal"),
    ("realised_profit", "decimal"),
    ("pnl_vs_plan", "decimal"),
    ("fees", "decimal"),
    ("source", "str"),
)
Row = dict[str, object]


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """One plan as the agent's execution store keeps it (``exec_plans``)."""

    venue: str
    session_id: str
    sequence: int
    ts_ms: int
    status: str
    predicted_profit: Decimal
    realised_profit: Decimal


@dataclass(frozen=True, slots=True)
class LogRecord:
    """What the report reads of one log record: when it was appended and the event."""

    ts_ms: int
    event: Mapping[str, object]


@dataclass
class Report:
    opportunities: list[Row] = field(default_factory=list)
    windows: list[Row] = field(default_factory=list)
    plans: list[Row] = field(default_factory=list)
    counts: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in WEEKDAYS])
    """[weekday][hour] opportunities (UTC)."""
    pnl: list[list[Decimal]] = field(default_factory=lambda: [[Decimal(0)] * 24 for _ in WEEKDAYS])
    """[weekday][hour] summed predicted profit (UTC)."""
    min_pnl: Decimal = Decimal(0)
    grace_ms: int = 0
    skipped: int = 0
    """Malformed ``opportunity`` events left out."""

    def summary(self) -> dict[str, object]:
        """The printed summary: counts, window statistics, realised vs predicted totals."""
        windows = self.windows
        durations = [_d(w["duration_s"]) for w in windows]
        means = [_d(w["mean_pnl"]) for w in windows]
        predicted = sum((_d(p["predicted_profit"]) for p in self.plans), Decimal(0))
        realised = sum((_d(p["realised_profit"]) for p in self.plans), Decimal(0))
        return {
            "opportunities": len(self.opportunities),
            "signals": sum(int(str(w["signals"])) for w in windows),
            "traded": sum(bool(o["traded"]) for o in self.opportunities),
            "windows": len(windows),
            "open_windows": sum(bool(w["open"]) for w in windows),
            "window_min_pnl": _text(self.min_pnl),
            "window_grace_s": self.grace_ms / 1000,
            "mean_window_duration_s": _text(_mean(durations)),
            "max_window_duration_s": _text(max(durations, default=Decimal(0))),
            "mean_signals_per_window": _text(_mean([Decimal(int(str(w["signals"]))) for w in windows])),
            "mean_window_pnl": _text(_mean(means)),
            "max_window_pnl": _text(max((_d(w["max_pnl"]) for w in windows), default=Decimal(0))),
            "plans": len(self.plans),
            "predicted_profit": _text(predicted),
            "realised_profit": _text(realised),
            "skipped_events": self.skipped,
        }


def _d(value: object) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _q(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM)


def _text(value: Decimal) -> str:
    return format(_q(value), "f")


def _mean(values: list[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values) if values else Decimal(0)


def utc(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


def _iso(ts_ms: int) -> str:
    return utc(ts_ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int(value: object, default: int = 0) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def build_report(
    records: Iterable[LogRecord],
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    min_pnl: Decimal | None = None,
    grace_ms: int | None = None,
    stored: Iterable[StoredPlan] = (),
) -> Report:
    """The report of one recorded run over ``[since_ms, until_ms)`` (see the module docstring).

    ``min_pnl``/``grace_ms`` default to what the log's first ``window_open`` recorded, else 0 and 10 s
    (the agent's defaults). Records must come in log order (an execution after its plan)."""
    opportunities: list[Opportunity] = []
    executions: dict[tuple[str, str, int], tuple[int, Mapping[str, object]]] = {}
    recorded: tuple[Decimal, int] | None = None
    skipped = 0
    last_ms = 0
    for record in records:
        event = record.event
        kind = event.get("event")
        last_ms = max(last_ms, record.ts_ms)
        if kind == "opportunity":
            try:
                opportunities.append(Opportunity.from_event(event))
            except (ValueError, TypeError):
                skipped += 1
        elif kind in ("execution", "recovered_execution"):
            key = (str(event.get("venue", "")), str(event.get("session", "")), _int(event.get("sequence")))
            executions[key] = (record.ts_ms, event)
        elif kind == "window_open" and recorded is None:
            try:
                recorded = (Decimal(str(event.get("min_pnl"))), int(str(event.get("grace_ms"))))
            except (ArithmeticError, ValueError):
                recorded = None
    threshold = min_pnl if min_pnl is not None else recorded[0] if recorded else Decimal(0)
    grace = grace_ms if grace_ms is not None else recorded[1] if recorded else 10_000

    def inside(ts_ms: int) -> bool:
        return (since_ms is None or ts_ms >= since_ms) and (until_ms is None or ts_ms < until_ms)

    report = Report(min_pnl=threshold, grace_ms=grace, skipped=skipped)
    chosen = [o for o in opportunities if inside(o.ts_ms)]
    now_ms = min(until_ms, last_ms) if until_ms is not None else last_ms
    by_venue: dict[str, list[Opportunity]] = {}
    for o in chosen:
        by_venue.setdefault(o.venue, []).append(o)
    opportunity_of: dict[tuple[str, str, int], tuple[int, Decimal]] = {}
    for venue, group in sorted(by_venue.items()):
        done: dict[tuple[str, int], tuple[int, Decimal]] = {}
        for o in group:
            found = executions.get((venue, o.session_id, o.sequence))
            if found is not None and o.sequence:
                try:
                    done[o.key] = (_fills(found[1]), _realised_profit(found[1], o.predicted_pnl))
                except ArithmeticError:
                    continue
        seen, windows = replay(
            group, min_pnl=threshold, grace_ms=grace, now_ms=max(now_ms, group[-1].ts_ms), executions=done
        )
        owner = _owners(seen, windows, threshold)
        for o in seen:
            opportunity_of[(venue, o.session_id, o.sequence)] = (o.ts_ms, o.predicted_pnl)
            report.opportunities.append(_opportunity_row(o, owner.get(o.key, "")))
            when = utc(o.ts_ms)
            report.counts[when.weekday()][when.hour] += 1
            report.pnl[when.weekday()][when.hour] += o.predicted_pnl
        report.windows.extend(_window_row(w) for w in windows)
    report.plans = _plans(executions, opportunity_of, stored, inside)
    return report


def _fills(event: Mapping[str, object]) -> int:
    fills = event.get("fills")
    return len(fills) if isinstance(fills, list) else 0


def _realised_profit(event: Mapping[str, object], predicted: Decimal) -> Decimal:
    """The execution's realised profit; from ``pnl_vs_plan`` (realised minus predicted profit) in events
    written before ``realised_profit`` was recorded."""
    if event.get("realised_profit") is not None:
        return Decimal(str(event["realised_profit"]))
    return predicted + Decimal(str(event.get("pnl_vs_plan", "0")))


def _owners(seen: list[Opportunity], windows: list[Window], threshold: Decimal) -> dict[tuple[str, int], str]:
    out: dict[tuple[str, int], str] = {}
    for o in seen:
        if o.predicted_pnl > threshold:
            for w in windows:
                if w.start_ms <= o.ts_ms <= w.last_ms:
                    out[o.key] = w.window_id
                    break
    return out


def _opportunity_row(o: Opportunity, window_id: str) -> Row:
    return {
        "venue": o.venue,
        "session_id": o.session_id,
        "sequence": o.sequence,
        "ts_ms": o.ts_ms,
        "time_utc": _iso(o.ts_ms),
        "source": o.source,
        "direction": o.direction,
        "assets": json.dumps({a: format(q, "f") for a, q in sorted(o.assets.items())}, separators=(",", ":")),
        "predicted_pnl": _q(o.predicted_pnl),
        "traded": o.traded,
        "fills": o.fills,
        "realised_pnl": None if o.realised_pnl is None else _q(o.realised_pnl),
        "window_id": window_id,
    }


def _window_row(w: Window) -> Row:
    s = w.stats
    return {
        "venue": w.venue,
        "window_id": w.window_id,
        "start_ms": w.start_ms,
        "end_ms": w.end_ms,
        "start_utc": _iso(w.start_ms),
        "duration_s": _q(Decimal(w.last_ms - w.start_ms) / 1000),
        "open": w.open,
        "signals": s.signals,
        "trades": s.trades,
        "direction": s.direction,
        "max_pnl": _q(s.max_pnl),
        "mean_pnl": _q(s.mean_pnl),
        "realised_pnl": None if s.realised_pnl is None else _q(s.realised_pnl),
    }


def _plans(
    executions: Mapping[tuple[str, str, int], tuple[int, Mapping[str, object]]],
    opportunity_of: Mapping[tuple[str, str, int], tuple[int, Decimal]],
    stored: Iterable[StoredPlan],
    inside: Callable[[int], bool],
) -> list[Row]:
    """Realised vs predicted per plan: the log's executions (at their opportunity's time, whose
    prediction stands in for events written before ``predicted_profit`` was), then the store's plans the
    log lacks."""
    rows: dict[tuple[str, str, int], Row] = {}
    for key, (logged_ms, event) in executions.items():
        ts_ms, foreseen = opportunity_of.get(key, (logged_ms, None))
        if not inside(ts_ms):
            continue
        try:
            raw = event.get("predicted_profit")
            predicted = Decimal(str(raw)) if raw is not None else foreseen
            gap = Decimal(str(event.get("pnl_vs_plan", "0")))
            realised = _realised_profit(event, predicted) if predicted is not None else None
            fees = _q(Decimal(str(event.get("fees", "0"))))
        except ArithmeticError:
            continue  # not written by an agent: left out
        rows[key] = {
            "venue": key[0],
            "session_id": key[1],
            "sequence": key[2],
            "ts_ms": ts_ms,
            "status": str(event.get("status", "")),
            "fills": _fills(event),
            "predicted_profit": None if predicted is None else _q(predicted),
            "realised_profit": None if realised is None else _q(realised),
            "pnl_vs_plan": _q(gap),
            "fees": fees,
            "source": "log",
        }
    for plan in stored:
        key = (plan.venue, plan.session_id, plan.sequence)
        if key in rows or not inside(plan.ts_ms) or plan.status == "open":
            continue
        rows[key] = {
            "venue": plan.venue,
            "session_id": plan.session_id,
            "sequence": plan.sequence,
            "ts_ms": plan.ts_ms,
            "status": plan.status.upper(),
            "fills": None,
            "predicted_profit": _q(plan.predicted_profit),
            "realised_profit": _q(plan.realised_profit),
            "pnl_vs_plan": _q(plan.realised_profit - plan.predicted_profit),
            "fees": None,
            "source": "store",
        }
    return sorted(
        rows.values(), key=lambda r: (int(str(r["ts_ms"])), str(r["venue"]), int(str(r["sequence"])))
    )


def cell(value: object, kind: Kind) -> str:
    """A row's value as CSV text (empty: none)."""
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "decimal":
        return format(Decimal(str(value)), "f")
    return str(value)


def parse_when(text: str, *, end_of_day: bool = False) -> int:
    """``--since``/``--until`` as unix ms: an ISO date (``2026-12-08``; with ``end_of_day`` the next
    midnight, so the day is included) or date and time (``2026-12-08T13:00``, ``...Z``, ``...+01:00``;
    without an offset it is UTC). ``ValueError`` says what was expected."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = datetime.fromisoformat(raw).replace(tzinfo=UTC)
            ms = int(day.timestamp() * 1000)
            return ms + 86_400_000 if end_of_day else ms
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expected an ISO date (2026-12-08) or date and time (2026-12-08T13:00Z), got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)
