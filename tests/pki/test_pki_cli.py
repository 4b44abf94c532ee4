"""`arbsphere pki init / issue / inspect` through the real CLI entry point."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from arbsphere.cli import app
from registry.pki import SpiffeId, read_bundle, verify_leaf

runner = CliRunner()


def _ok(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict)
    return payload


def test_init_issue_inspect(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    init = _ok(["pki", "init", "--dir", str(ca_dir), "--region", "eu-west"])
    assert init["region"] == "eu-west"

    agent = _ok(["pki", "issue", "--dir", str(ca_dir), "--venue", "binance", "--ttl", "600"])
    assert agent["spiffe_id"] == "spiffe://eu-west/agent/binance"
    bundle_dir = Path(str(agent["directory"]))
    assert bundle_dir == ca_dir / "issued" / "agent-binance"
    assert stat.S_IMODE((bundle_dir / "key.pem").stat().st_mode) == 0o600
    bundle = read_bundle(bundle_dir)
    assert (bundle.not_after - bundle.not_before).total_seconds() == 660  # 600 s + 60 s skew
    assert verify_leaf(bundle.cert_pem, bundle.ca_pem, now=datetime.now(UTC)) == SpiffeId.agent(
        "eu-west", "binance"
    )

    coord = _ok(["pki", "issue", "--dir", str(ca_dir), "--role", "coordinator", "--out", str(tmp_path / "c")])
    assert coord["spiffe_id"] == "spiffe://eu-west/coordinator"
    auditor = _ok(["pki", "issue", "--dir", str(ca_dir), "--role", "auditor", "--name", "alice"])
    assert auditor["spiffe_id"] == "spiffe://eu-west/auditor/alice"

    shown = _ok(["pki", "inspect", str(bundle_dir)])
    assert shown["spiffe_id"] == "spiffe://eu-west/agent/binance"
    assert shown["renewal_due"] is False


def test_errors_exit_2_with_reason(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    assert runner.invoke(app, ["pki", "init", "--dir", str(ca_dir), "--region", "EU"]).exit_code == 2
    _ok(["pki", "init", "--dir", str(ca_dir), "--region", "eu"])
    cases = [
        (["pki", "init", "--dir", str(ca_dir), "--region", "eu"], "refusing to overwrite"),
        (["pki", "issue", "--dir", str(ca_dir)], "role agent needs --venue"),
        (["pki", "issue", "--dir", str(ca_dir), "--venue", "Binance"], "lower-case"),
        (["pki", "issue", "--dir", str(ca_dir), "--venue", "x", "--ttl", "0"], "ttl: expected between"),
        (["pki", "issue", "--dir", str(ca_dir), "--role", "root"], "role: expected one of"),
        (["pki", "issue", "--dir", str(ca_dir), "--role", "coordinator", "--venue", "x"], "neither"),
        (["pki", "issue", "--dir", str(tmp_path / "none"), "--venue", "x"], "found nothing"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
