"""`arbsphere report`: an agent's recorded run over a date range, as a heatmap, window statistics,
realised vs predicted per plan, and CSV and Parquet exports.

The run is the agent's event log (``--events``: the embedded file or ``nats://host:port/agent-<venue>``)
and, with ``--state-dir``, its execution store too (``execution.sqlite``: plans whose events the log
dropped). The tables are computed by ``arbsphere.reports`` (pure); this module reads, writes and prints.
matplotlib and pyarrow are imported only here, when a report is written, so ``arbsphere --help`` stays fast.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from arbsphere.reports import Kind, LogRecord, Report, Row, StoredPlan

EVENTS_FILE = "events.jsonl"
STORE_FILE = "execution.sqlite"


def report(
    *,
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            help="The agent's event log: a file (embedded) or nats://HOST:PORT/agent-VENUE (JetStream). "
            "Default: events.jsonl in --state-dir.",
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="The agent's state directory: its event log and execution store."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="From this ISO date or time (UTC unless it says otherwise).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this ISO time; a date includes that whole day.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder the report is written to (created).")] = Path("report"),
    min_pnl: Annotated[
        str | None,
        typer.Option(help="Window threshold (quote units); default: the one the agent recorded."),
    ] = None,
    grace_s: Annotated[
        float | None,
        typer.Option(help="Window grace period (seconds); default: the one the agent recorded."),
    ] = None,
) -> None:
    """Write heatmap.png, {opportunities,windows,plans}.{csv,parquet} and summary.json; print the summary."""
    from arbsphere.reports import build_report

    since_ms = _when(since, "--since", end_of_day=False)
    until_ms = _when(until, "--until", end_of_day=True)
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        raise typer.BadParameter(f"must be after --since ({since}), got {until!r}", param_hint="--until")
    threshold = _threshold(min_pnl)
    if grace_s is not None and not 0 < grace_s <= 86_400:
        raise typer.BadParameter(f"expected seconds in (0, 86400], got {grace_s}", param_hint="--grace-s")
    url = _log_url(events, state_dir)
    stored = _stored_plans(state_dir / STORE_FILE) if state_dir is not None else []
    result = build_report(
        _records(url),
        since_ms=since_ms,
        until_ms=until_ms,
        min_pnl=threshold,
        grace_ms=None if grace_s is None else max(1, round(grace_s * 1000)),
        stored=stored,
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise typer.BadParameter(f"cannot create {out}: {exc.strerror}", param_hint="--out") from None
    files = _write(result, out, title=_title(result, url, since, until))
    summary = {"event": "report", "log": url, "since": since, "until": until, **result.summary()}
    summary["files"] = {name: str(path) for name, path in files.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(json.dumps(summary, sort_keys=True), flush=True)


def _when(text: str | None, option: str, *, end_of_day: bool) -> int | None:
    from arbsphere.reports import parse_when

    if text is None:
        return None
    try:
        return parse_when(text, end_of_day=end_of_day)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _threshold(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise typer.BadParameter(f"expected a decimal >= 0, got {text!r}", param_hint="--min-pnl")
    return value


def _log_url(events: str | None, state_dir: Path | None) -> str:
    if events is None:
        if state_dir is None:
            raise typer.BadParameter(
                "name the agent's event log (or give --state-dir, which holds events.jsonl)",
                param_hint="--events",
            )
        if not state_dir.is_dir():
            raise typer.BadParameter(f"{state_dir} is not a directory", param_hint="--state-dir")
        events = str(state_dir / EVENTS_FILE)
    if "://" not in events or events.startswith("file://"):
        path = Path(events.removeprefix("file://"))
        if not path.is_file():
            raise typer.BadParameter(f"no event log at {path}", param_hint="--events")
    elif not events.startswith(("nats://", "tls://")):
        raise typer.BadParameter(
            f"expected a file or nats://HOST:PORT/SCOPE, got {events!r}", param_hint="--events"
        )
    return events


def _records(url: str) -> Iterator[LogRecord]:
    from arbsphere.reports import LogRecord
    from registry.events.log import EventLogError, open_log

    try:
        log = open_log(url, scope="default", source="report-cli")
    except EventLogError as exc:
        raise typer.BadParameter(str(exc), param_hint="--events") from None
    try:
        for record in log.read(1):
            yield LogRecord(record.time_ns // 1_000_000, record.event)
    except EventLogError as exc:
        raise typer.BadParameter(str(exc), param_hint="--events") from None
    finally:
        log.close()


def _stored_plans(path: Path) -> list[StoredPlan]:
    """The finished plans of the agent's execution store (none if it has no store)."""
    if not path.is_file():
        return []
    import sqlalchemy as sa

    from agents.persistence import schema
    from arbsphere.reports import StoredPlan

    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(schema.plans).order_by(schema.plans.c.created_ms)).all()
    except sa.exc.SQLAlchemyError as exc:
        raise typer.BadParameter(
            f"{path}: not an execution store ({exc})", param_hint="--state-dir"
        ) from None
    finally:
        engine.dispose()
    return [
        StoredPlan(
            venue=r.venue,
            session_id=r.session_id,
            sequence=int(r.sequence),
            ts_ms=int(r.created_ms),
            status=r.status,
            predicted_profit=Decimal(r.predicted_profit),
            realised_profit=Decimal(r.realised_profit),
        )
        for r in rows
    ]


def _title(result: Report, url: str, since: str | None, until: str | None) -> str:
    venues = sorted({str(o["venue"]) for o in result.opportunities}) or [url]
    span = f"{since or 'start'} .. {until or 'end'}"
    return f"{', '.join(venues)}: opportunities by UTC weekday and hour ({span})"


def _write(result: Report, out: Path, *, title: str) -> dict[str, Path]:
    from arbsphere.reports import OPPORTUNITY_COLUMNS, PLAN_COLUMNS, WINDOW_COLUMNS

    files: dict[str, Path] = {"heatmap": out / "heatmap.png"}
    _heatmap(result, files["heatmap"], title)
    for name, rows, columns in (
        ("opportunities", result.opportunities, OPPORTUNITY_COLUMNS),
        ("windows", result.windows, WINDOW_COLUMNS),
        ("plans", result.plans, PLAN_COLUMNS),
    ):
        files[f"{name}_csv"] = _csv(rows, columns, out / f"{name}.csv")
        files[f"{name}_parquet"] = _parquet(rows, columns, out / f"{name}.parquet")
    return files


def _csv(rows: Sequence[Row], columns: Sequence[tuple[str, Kind]], path: Path) -> Path:
    from arbsphere.reports import cell

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([name for name, _ in columns])
        for row in rows:
            writer.writerow([cell(row.get(name), kind) for name, kind in columns])
    return path


def _parquet(rows: Sequence[Row], columns: Sequence[tuple[str, Kind]], path: Path) -> Path:
    """The same rows as the CSV, typed: integers, booleans, strings, and exact ``decimal128(38, 12)``."""
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type stubs
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from arbsphere.reports import SCALE

    types = {"int": pa.int64(), "str": pa.string(), "bool": pa.bool_(), "decimal": pa.decimal128(38, SCALE)}
    schema = pa.schema([(name, types[kind]) for name, kind in columns])
    data = {name: [row.get(name) for row in rows] for name, _ in columns}
    pq.write_table(pa.table(data, schema=schema), path)
    return path


def _heatmap(result: Report, path: Path, title: str) -> None:
    """Two panels, weekday by hour of day (UTC): how many opportunities, and their summed predicted
    profit. matplotlib's Agg backend: no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from arbsphere.reports import WEEKDAYS

    panels = (
        ("opportunities", [[float(c) for c in row] for row in result.counts], "Blues"),
        ("predicted profit (quote)", [[float(v) for v in row] for row in result.pnl], "RdYlGn"),
    )
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), constrained_layout=True)
    for ax, (label, grid, cmap) in zip(axes, panels, strict=True):
        if cmap == "RdYlGn":
            bound = max((abs(v) for row in grid for v in row), default=0.0) or 1.0
            image = ax.imshow(grid, aspect="auto", cmap=cmap, vmin=-bound, vmax=bound)
        else:
            image = ax.imshow(grid, aspect="auto", cmap=cmap, vmin=0)
        ax.set_yticks(range(len(WEEKDAYS)), WEEKDAYS)
        ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)])
        ax.set_xlabel("hour of day (UTC)")
        ax.set_title(label)
        fig.colorbar(image, ax=ax, label=label)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
