"""MARKET_MATCH on the ledger: `arbsphere markets match --ledger-url` appends every decision with its
evidence, `markets decide` an operator's verdict on a pending one (once: a decided match is refused)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from arbsphere.cli import app
from energibridge.v1 import ir_pb2
from registry.ledger import Ledger
from tests.prediction.test_cli_markets import files  # noqa: F401  (the fixture)


def test_decisions_and_operator_verdicts_go_on_the_ledger(files: tuple[Path, Path], tmp_path: Path) -> None:  # noqa: F811
    k, p = files
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    keys = ["--ledger-key-file", str(tmp_path / "log.key"), "--signer-key-file", str(tmp_path / "m.key")]
    args = ["markets", "match", "--kalshi", str(k), "--polymarket", str(p), "--all", "--accept", "0.97"]
    result = CliRunner().invoke(app, [*args, "--ledger-url", url, *keys])
    assert result.exit_code == 0, result.output
    printed = [json.loads(x) for x in result.stdout.splitlines() if '"schema"' in x]
    pending = [r for r in printed if r["decision"] == "pending_approval"]
    assert pending and any(r["decision"] == "reject" for r in printed)
    with Ledger.open(url) as ledger:
        entries = ledger.query(kind=ir_pb2.AUDIT_KIND_MARKET_MATCH, limit=10_000)
    assert [json.loads(e.payload) for e in entries] == printed  # every decision, evidence included
    assert all("evidence" in json.loads(e.payload) for e in entries)
    target = pending[0]["match_id"]
    verdict = CliRunner().invoke(
        app,
        [
            "markets",
            "decide",
            "--match-id",
            target,
            "--operator",
            "alice",
            "--approve",
            "--note",
            "same race",
            "--ledger-url",
            url,
            *keys,
        ],
    )
    assert verdict.exit_code == 0, verdict.output
    recorded = json.loads(verdict.stdout)
    assert recorded["decision"] == "approved" and recorded["operator"] == "alice"
    assert (
        recorded["answers_index"]
        == entries[[json.loads(e.payload)["match_id"] for e in entries].index(target)].index
    )
    again = CliRunner().invoke(
        app,
        [
            "markets",
            "decide",
            "--match-id",
            target,
            "--operator",
            "bob",
            "--reject",
            "--ledger-url",
            url,
            *keys,
        ],
    )
    assert again.exit_code == 2 and "got 'approved'" in again.output  # already decided
    with Ledger.open(url) as ledger:
        last = ledger.query(kind="MARKET_MATCH", limit=10_000)[-1]
    assert json.loads(last.payload)["decision"] == "approved" and last.index == recorded["ledger_index"]
