"""``arbsphere.reports``: the report's tables computed from event records (pure, no files)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbsphere.reports import (
    OPPORTUNITY_COLUMNS,
    PLAN_COLUMNS,
    WINDOW_COLUMNS,
    LogRecord,
    StoredPlan,
    build_report,
    cell,
    parse_when,
)

D = Decimal
MON_9H = int(datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp() * 1000)  # a Monday, 09:00 UTC


def opportunity(ts: int, pnl: str, seq: int, *, assets: dict[str, str] | None = None) -> LogRecord:
    event = {
        "event": "opportunity",
        "venue": "v",
        "session_id": f"s{seq}",
        "sequence": seq,
        "ts_ms": ts,
        "predicted_pnl": pnl,
        "direction": "buy",
        "assets": assets or {"SOL": "1"},
        "source": "plan",
    }
    return LogRecord(ts, event)


def execution(ts: int, seq: int, *, realised: str | None, pnl_vs_plan: str, fills: int = 1) -> LogRecord:
    event: dict[str, object] = {
        "event": "execution",
        "venue": "v",
        "session": f"s{seq}",
        "sequence": seq,
        "status": "FILLED" if fills else "REFUSED",
        "fees": "0.1",
        "pnl_vs_plan": pnl_vs_plan,
        "fills": [{"size": "1"}] * fills,
    }
    if realised is not None:
        event["predicted_profit"] = str(D(realised) - D(pnl_vs_plan))
        event["realised_profit"] = realised
    return LogRecord(ts + 5, event)


def window_open(min_pnl: str, grace_ms: int) -> LogRecord:
    return LogRecord(0, {"event": "window_open", "min_pnl": min_pnl, "grace_ms": grace_ms})


def test_windows_plans_and_heatmap_of_a_small_run() -> None:
    hour = 3_600_000
    records = [
        window_open("1", 60_000),
        opportunity(MON_9H, "2", 1),
        execution(MON_9H, 1, realised="2.5", pnl_vs_plan="0.5"),
        opportunity(MON_9H + 30_000, "0.5", 2),  # under the recorded threshold: no signal
        opportunity(MON_9H + 50_000, "4", 3),
        execution(MON_9H + 50_000, 3, realised=None, pnl_vs_plan="-1", fills=2),  # older event shape
        opportunity(MON_9H + 26 * hour, "3", 4),  # Tuesday 11:00
        LogRecord(MON_9H + 26 * hour, {"event": "opportunity", "ts_ms": "x"}),  # malformed: skipped
    ]
    report = build_report(records)
    assert report.min_pnl == D(1) and report.grace_ms == 60_000 and report.skipped == 1
    assert [o["window_id"] for o in report.opportunities] == [
        f"v:{MON_9H}",
        "",
        f"v:{MON_9H}",
        f"v:{MON_9H + 26 * hour}",
    ]
    first, second = report.windows
    assert first["signals"] == 2 and first["trades"] == 3 and first["open"] is False
    assert first["max_pnl"] == D(4) and first["mean_pnl"] == D(3) and first["duration_s"] == D(50)
    assert first["realised_pnl"] == D("2.5") + D(3)  # the old event's realised: predicted + pnl_vs_plan
    assert second["open"] is True and second["end_ms"] is None and second["realised_pnl"] is None
    assert [p["sequence"] for p in report.plans] == [1, 3]
    assert report.plans[1]["predicted_profit"] == D(4) and report.plans[1]["realised_profit"] == D(3)
    assert report.counts[0][9] == 3 and report.counts[1][11] == 1 and sum(map(sum, report.counts)) == 4
    assert report.pnl[0][9] == D("6.5")
    summary = report.summary()
    assert summary["windows"] == 2 and summary["open_windows"] == 1 and summary["signals"] == 3
    assert summary["predicted_profit"] == "6.000000000000" and summary["realised_profit"] == "5.500000000000"


def test_the_range_and_the_asked_parameters_win() -> None:
    records = [window_open("1", 60_000)] + [opportunity(MON_9H + i * 1000, "2", i + 1) for i in range(10)]
    report = build_report(records, since_ms=MON_9H + 2000, until_ms=MON_9H + 5000, grace_ms=500, min_pnl=D(0))
    assert [o["sequence"] for o in report.opportunities] == [3, 4, 5]
    assert len(report.windows) == 3  # 1 s apart, 0.5 s grace: one window each
    assert all(w["open"] is False for w in report.windows[:-1])


def test_plans_the_log_dropped_come_from_the_store() -> None:
    stored = [
        StoredPlan("v", "s1", 1, MON_9H, "filled", D(2), D("2.5")),  # in the log too: the log's row
        StoredPlan("v", "s9", 9, MON_9H + 10, "leg_out", D(1), D(-1)),
        StoredPlan("v", "s10", 10, MON_9H + 20, "open", D(1), D(0)),  # not finished: left out
    ]
    records = [opportunity(MON_9H, "2", 1), execution(MON_9H, 1, realised="2.5", pnl_vs_plan="0.5")]
    report = build_report(records, stored=stored)
    assert [(p["sequence"], p["source"]) for p in report.plans] == [(1, "log"), (9, "store")]
    assert report.plans[1]["pnl_vs_plan"] == D(-2) and report.plans[1]["status"] == "LEG_OUT"


def test_every_row_has_exactly_its_columns() -> None:
    records = [opportunity(MON_9H, "2", 1), execution(MON_9H, 1, realised="2.5", pnl_vs_plan="0.5")]
    report = build_report(records)
    for rows, columns in (
        (report.opportunities, OPPORTUNITY_COLUMNS),
        (report.windows, WINDOW_COLUMNS),
        (report.plans, PLAN_COLUMNS),
    ):
        assert rows and all(list(r) == [name for name, _ in columns] for r in rows)
    assert cell(None, "decimal") == "" and cell(True, "bool") == "true"
    assert cell(D("1.50"), "decimal") == "1.50"


def test_when_parses_dates_and_times_and_says_what_it_expected() -> None:
    day = int(datetime(2026, 12, 8, tzinfo=UTC).timestamp() * 1000)
    assert parse_when("2026-12-08") == day
    assert parse_when("2026-12-08", end_of_day=True) == day + 86_400_000
    assert parse_when("2026-12-08T01:30") == day + 90 * 60_000
    assert parse_when("2026-12-08T01:30Z") == day + 90 * 60_000
    assert parse_when("2026-12-08T02:30+01:00") == day + 90 * 60_000
    with pytest.raises(ValueError, match="expected an ISO date"):
        parse_when("tomorrow")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10 * 86_400_000), st.integers(-500, 500)), max_size=40))
def test_the_heatmap_counts_every_opportunity_once(points: list[tuple[int, int]]) -> None:
    records = [opportunity(MON_9H + ts, str(D(p) / 100), i + 1) for i, (ts, p) in enumerate(sorted(points))]
    report = build_report(records)
    assert sum(map(sum, report.counts)) == len(points) == len(report.opportunities)
    assert sum(map(sum, report.pnl), D(0)) == sum((D(p) / 100 for _, p in points), D(0))
    assert sum(int(str(w["signals"])) for w in report.windows) == sum(1 for _, p in points if p > 0)
