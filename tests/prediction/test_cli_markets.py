"""`arbsphere markets match`: JSON lines of MARKET_MATCH records from two metadata files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arbsphere.cli import app
from tests.prediction.labelled import FIXTURE


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    """The labelled set written as one Kalshi ``GET /markets`` page and one list of Polymarket payloads."""
    raw = json.loads(FIXTURE.read_text())
    kalshi = {
        "markets": [
            dict(e["market"], **({"category": e["event"]["category"]} if e["event"] else {}))
            for e in raw["kalshi"]
        ],
        "cursor": "",
    }
    poly: list[object] = []
    for entry in raw["polymarket"]:
        payload = entry["payload"]
        poly.extend(payload if isinstance(payload, list) else [payload])
    k, p = tmp_path / "kalshi.json", tmp_path / "polymarket.json"
    k.write_text(json.dumps(kalshi))
    p.write_text(json.dumps(poly))
    return k, p


def test_match_prints_one_record_per_decision(files: tuple[Path, Path]) -> None:
    k, p = files
    result = CliRunner().invoke(app, ["markets", "match", "--kalshi", str(k), "--polymarket", str(p)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"')]
    records = [r for r in records if "schema" in r]
    assert len(records) == 10
    assert all(r["decision"] == "match" and r["kind"] == "MARKET_MATCH" for r in records)
    assert [r["confidence"] for r in records] == sorted((r["confidence"] for r in records), reverse=True)
    pairs = {(r["markets"][0]["market_id"], r["markets"][1]["title"]) for r in records}
    assert ("KXBTC-25MAR15-B100000", "Will the price of Bitcoin be above $64,000 on March 11?") not in pairs


def test_all_includes_rejections_and_cross_listings_apply(files: tuple[Path, Path]) -> None:
    k, p = files
    every = CliRunner().invoke(app, ["markets", "match", "--kalshi", str(k), "--polymarket", str(p), "--all"])
    decisions = [json.loads(x)["decision"] for x in every.stdout.splitlines() if '"schema"' in x]
    assert decisions.count("match") == 10 and decisions.count("reject") > 10
    strict = CliRunner().invoke(
        app,
        [
            "markets",
            "match",
            "--kalshi",
            str(k),
            "--polymarket",
            str(p),
            "--accept",
            "0.999",
            "--review",
            "0.5",
        ],
    )
    assert '"pending_approval"' in strict.stdout


def test_bad_input_names_the_option(tmp_path: Path, files: tuple[Path, Path]) -> None:
    k, _ = files
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = CliRunner().invoke(app, ["markets", "match", "--kalshi", str(k), "--polymarket", str(broken)])
    assert result.exit_code != 0
    assert "--polymarket" in result.output
    listing = CliRunner().invoke(
        app, ["markets", "match", "--kalshi", str(k), "--polymarket", str(k), "--cross-listing", "KX=0x1"]
    )
    assert listing.exit_code != 0 and "--cross-listing" in listing.output
