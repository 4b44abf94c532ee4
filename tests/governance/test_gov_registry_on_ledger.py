"""Registry verdicts are recorded on the governance ledger and verify offline."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from arbsphere.cli import app
from registry.contracts import ir_descriptor_set
from registry.ledger import Ledger, NoteSigner, verify_export


def test_verdicts_land_on_the_ledger(tmp_path: Path) -> None:
    (tmp_path / "ir.pb").write_bytes(ir_descriptor_set())
    manifest = {
        "name": "arbsphere-ir",
        "version": "1.1.0",
        "venue_kind": "order_book",
        "capabilities": ["books"],
        "ir_range": ">=1.0,<2.0",
    }
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    result = CliRunner().invoke(
        app,
        [
            "registry",
            "--db",
            f"sqlite:///{tmp_path / 'registry.db'}",
            "--ledger-url",
            ledger_url,
            "--ledger-key-file",
            str(tmp_path / "log.key"),
            "--signer-key-file",
            str(tmp_path / "registry.key"),
            "register",
            "--manifest",
            str(tmp_path / "m.json"),
            "--descriptor-set",
            str(tmp_path / "ir.pb"),
        ],
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    signer = NoteSigner.parse((tmp_path / "log.key").read_text())
    with Ledger.open(ledger_url) as ledger:
        entries = ledger.query(kind="REGISTRY_VERDICT")
        assert len(entries) == 1
        assert json.loads(entries[0].payload)["accepted"] is True
        export = tmp_path / "export.jsonl"
        with export.open("w") as out:
            ledger.export(out)
    report = verify_export(export, signer.verifier())
    assert report.ok, report
