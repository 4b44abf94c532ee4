"""``arbsphere report`` on a real recorded run: a coordinator and two agents (real processes, mutual TLS)
serve a few sessions, then the report runs as a subprocess on each agent's log: alpha's embedded log (its
state directory) and beta's JetStream stream.

Alpha runs from a config with a short window grace period, so its windows close between sessions and its
log holds ``window_close`` events: the report's windows, recomputed from the logged opportunities, must be
the ones the running agent emitted.
"""

from __future__ import annotations

import contextlib
import csv
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from arbsphere.cli import app
from arbsphere.reports import OPPORTUNITY_COLUMNS, PLAN_COLUMNS, WINDOW_COLUMNS, cell
from registry.events.log import open_log
from registry.pki import DevCertificateAuthority, write_bundle
from tests.conftest import IN_CI, ROOT
from tests.events.conftest import NATS_SERVER

SESSIONS = 4
CONFIG = """
venue = "alpha"
exchange = "simulator"
source = "simulator"

[simulator]
plays = "order_book-0000"
venues = 2
kinds = "order_book,order_book"

[windows]
min_pnl = 0
grace_s = 0.05
"""


def cli(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "arbsphere.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def finish(process: subprocess.Popen[str], what: str, timeout: float = 120) -> str:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, f"{what} exited {process.returncode}:\n{out[-2000:]}\n{err[-3000:]}"
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class RecordedRun:
    root: Path
    beta_events: str | None
    """Agent beta's JetStream log (None: NATS is not reachable, beta logged to its state directory)."""


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordedRun]:
    """A coordinator and two agents serve ``SESSIONS`` sessions and exit: alpha logs to the embedded log
    in its state directory, beta to JetStream when NATS runs here."""
    from registry.events.jetstream import JetStreamLog, reachable

    tmp_path = tmp_path_factory.mktemp("run")
    scope = f"agent-beta-{uuid.uuid4().hex[:8]}"
    beta_events = f"{NATS_SERVER}/{scope}" if reachable(NATS_SERVER) else None
    ca = DevCertificateAuthority.create(tmp_path / "ca", "report")
    write_bundle(tmp_path / "coordinator", ca.issue_coordinator())
    for venue in ("alpha", "beta"):
        write_bundle(tmp_path / venue, ca.issue_agent(venue))
    port_file = tmp_path / "port"
    coordinator = cli(
        "coordinator", "serve",
        "--cert-dir", str(tmp_path / "coordinator"),
        "--region", "report",
        "--port", "0",
        "--port-file", str(port_file),
        "--expect", "2",
        "--sessions", str(SESSIONS),
        "--interval", "0.3",
        "--ledger-url", f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        "--log-key-file", str(tmp_path / "log.key"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert coordinator.poll() is None, coordinator.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the coordinator never wrote its port"
            time.sleep(0.1)
        target = f"127.0.0.1:{port_file.read_text().strip()}"
        (tmp_path / "alpha.toml").write_text(CONFIG)
        alpha = cli(
            "agent", "run",
            "--config", str(tmp_path / "alpha.toml"),
            "--cert-dir", str(tmp_path / "alpha"),
            "--target", target,
            "--sessions", str(SESSIONS),
            "--state-dir", str(tmp_path / "state-alpha"),
        )  # fmt: skip
        beta = cli(
            "agent", "run",
            "--venue", "beta",
            "--plays", "order_book-0001",
            "--kinds", "order_book,order_book",
            "--cert-dir", str(tmp_path / "beta"),
            "--target", target,
            "--sessions", str(SESSIONS),
            "--state-dir", str(tmp_path / "state-beta"),
            *(["--events", beta_events] if beta_events else []),
        )  # fmt: skip
        finish(alpha, "agent alpha")
        finish(beta, "agent beta")
        finish(coordinator, "coordinator")
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
            coordinator.communicate(timeout=10)
    yield RecordedRun(tmp_path, beta_events)
    if beta_events is not None:
        log = JetStreamLog(NATS_SERVER, scope=scope)
        with contextlib.suppress(Exception):
            log.delete()
        log.close()


def check_exports(out: Path, opportunities: int, windows: int, plans: int) -> None:
    """The heatmap is a real PNG; each CSV has its rows and its Parquet twin holds exactly its values."""
    png = out / "heatmap.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 400
    for name, columns, rows_expected in (
        ("opportunities", OPPORTUNITY_COLUMNS, opportunities),
        ("windows", WINDOW_COLUMNS, windows),
        ("plans", PLAN_COLUMNS, plans),
    ):
        rows = read_csv(out / f"{name}.csv")
        assert len(rows) == rows_expected, name
        table = pq.read_table(out / f"{name}.parquet")
        assert table.column_names == [c for c, _ in columns]
        as_text = [{c: cell(row[c], kind) for c, kind in columns} for row in table.to_pylist()]
        assert as_text == rows, name


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_report_of_a_recorded_run_writes_a_heatmap_csv_and_parquet(recorded_run: RecordedRun) -> None:
    state = recorded_run.root / "state-alpha"
    with open_log(str(state / "events.jsonl"), scope="t") as log:
        logged = [dict(r.event) for r in log.read(1)]
    opportunities = [e for e in logged if e["event"] == "opportunity"]
    closed = {e["window_id"]: e for e in logged if e["event"] == "window_close"}
    assert len(opportunities) == SESSIONS and closed  # one per session; windows closed between them

    out = recorded_run.root / "report-alpha"
    report = cli("report", "--state-dir", str(state), "--out", str(out))
    summary = json.loads(finish(report, "report").strip().splitlines()[-1])
    assert summary["event"] == "report" and summary["opportunities"] == SESSIONS
    assert summary["plans"] == SESSIONS and summary["windows"] == len(closed) + 1  # the last one still open
    check_exports(out, SESSIONS, len(closed) + 1, SESSIONS)

    windows = {w["window_id"]: w for w in read_csv(out / "windows.csv")}
    for window_id, event in closed.items():  # recomputed from the log = what the running agent emitted
        row = windows[window_id]
        assert int(row["signals"]) == event["signals"] and int(row["trades"]) == event["trades"]
        assert int(row["start_ms"]) == event["start_ms"] and int(row["end_ms"]) == event["end_ms"]
        assert row["direction"] == event["direction"] and row["open"] == "false"
        assert float(row["max_pnl"]) == pytest.approx(float(str(event["max_pnl"])), abs=1e-12)
    plans = read_csv(out / "plans.csv")
    assert all(p["source"] == "log" and p["status"] for p in plans)
    by_session = {o["session_id"]: o for o in read_csv(out / "opportunities.csv")}
    for plan in plans:  # the opportunity predicted what the execution predicted
        assert by_session[plan["session_id"]]["predicted_pnl"] == plan["predicted_profit"]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_report_reads_a_run_recorded_on_jetstream(recorded_run: RecordedRun) -> None:
    if recorded_run.beta_events is None:
        reason = f"NATS JetStream is not reachable on {NATS_SERVER}"
        if IN_CI:
            pytest.fail(f"{reason} (required under CI=true)")
        pytest.skip(reason)
    out = recorded_run.root / "report-beta"
    report = cli("report", "--events", recorded_run.beta_events, "--out", str(out), "--since", "2020-01-01")
    summary = json.loads(finish(report, "report").strip().splitlines()[-1])
    assert summary["opportunities"] == SESSIONS and summary["plans"] == SESSIONS
    check_exports(out, SESSIONS, int(summary["windows"]), SESSIONS)
    assert {o["venue"] for o in read_csv(out / "opportunities.csv")} == {"beta"}


def test_bad_options_are_refused_naming_the_option(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text("")
    for args, option in (
        ([], "--events"),
        (["--events", str(tmp_path / "missing.jsonl")], "--events"),
        (["--state-dir", str(tmp_path), "--since", "yesterday"], "--since"),
        (["--state-dir", str(tmp_path), "--since", "2026-12-09", "--until", "2026-12-08"], "--until"),
        (["--state-dir", str(tmp_path), "--min-pnl", "-1"], "--min-pnl"),
        (["--state-dir", str(tmp_path), "--grace-s", "0"], "--grace-s"),
    ):
        result = CliRunner().invoke(app, ["report", *args])
        assert result.exit_code == 2 and option in result.output, (args, result.output)
