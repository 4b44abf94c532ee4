"""Issuing certificates and credentials, and checking adapters, leave entries on the ledger."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from arbsphere.cli import app
from registry.contracts import ir_descriptor_set
from registry.identity import check_join
from registry.identity.did_key import did_key_from_public_key
from registry.ledger import Ledger, NoteSigner, verify_export
from registry.pki import SpiffeId
from registry.pki.announcements import IDENTITY_FILE, load_or_create_identity


def run(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


def payloads(url: str, kind: str) -> list[dict[str, object]]:
    with Ledger.open(url) as ledger:
        return [json.loads(e.payload) for e in ledger.query(kind=kind)]


def test_pki_issue_records_certificate_issued(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    key = str(tmp_path / "log.key")
    run("pki", "init", "--dir", str(tmp_path / "ca"), "--region", "gov")
    first = run(
        "pki", "issue", "--dir", str(tmp_path / "ca"), "--venue", "alpha", "--ledger-url", url,
        "--ledger-key-file", key,
    )  # fmt: skip
    second = run(
        "pki", "issue", "--dir", str(tmp_path / "ca"), "--role", "coordinator", "--ledger-url", url,
        "--ledger-key-file", key,
    )  # fmt: skip
    run("pki", "issue", "--dir", str(tmp_path / "ca"), "--venue", "beta")  # no ledger: nothing recorded
    assert (first["ledger_index"], second["ledger_index"]) == (0, 1)
    entries = payloads(url, "CERTIFICATE_ISSUED")
    assert [e["spiffe_id"] for e in entries] == ["spiffe://gov/agent/alpha", "spiffe://gov/coordinator"]
    for entry, issued in zip(entries, (first, second), strict=True):
        assert entry["event"] == "certificate_issued"
        for field in ("serial_number", "fingerprint_sha256", "not_after", "spiffe_id"):
            assert entry[field] == issued[field]
        assert not any("PRIVATE" in str(v) for v in entry.values())
    signer_key = tmp_path / "ca" / "ledger-signer.key"
    assert stat.S_IMODE(signer_key.stat().st_mode) == 0o600
    with Ledger.open(url) as ledger:
        assert len({e.actor_did for e in ledger.query(kind="CERTIFICATE_ISSUED")}) == 1  # one CA identity
        export = tmp_path / "export.jsonl"
        with export.open("w") as out:
            ledger.export(out)
    assert verify_export(export, NoteSigner.parse(Path(key).read_text()).verifier()).ok


def test_issue_credential_binds_the_agents_identity_and_records_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    registry = [
        "registry", "--db", f"sqlite:///{tmp_path / 'reg.db'}", "--ledger-url", url,
        "--ledger-key-file", str(tmp_path / "log.key"), "--signer-key-file", str(tmp_path / "issuer.key"),
    ]  # fmt: skip
    state = tmp_path / "state-alpha"
    out = tmp_path / "alpha" / "credential.jwt"
    issued = run(
        *registry, "issue-credential", "--venue", "alpha", "--region", "gov", "--adapter",
        "synthetic-market", "--adapter-version", "0.1.0", "--agent-state-dir", str(state), "--out", str(out),
    )  # fmt: skip
    identity = load_or_create_identity(state / IDENTITY_FILE)  # the key the agent will sign with
    subject = did_key_from_public_key(identity.public_key())
    assert issued["subject"] == subject
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / IDENTITY_FILE).stat().st_mode) == 0o600
    verified = check_join(
        out.read_text(),
        trusted_issuers=[str(issued["issuer"])],
        peer=SpiffeId.agent("gov", "alpha"),
        now=datetime.now(UTC),
        venue="alpha",
    )
    assert verified.claims.subject_did == subject
    assert verified.claims.adapter == "synthetic-market"

    [entry] = payloads(url, "CREDENTIAL_ISSUED")
    assert (entry["subject"], entry["spiffe_id"], entry["issuer"]) == (
        subject,
        "spiffe://gov/agent/alpha",
        issued["issuer"],
    )
    assert entry["expiration_date"] == issued["expiration_date"]
    assert out.read_text() not in json.dumps(entry)  # the token itself is not on the ledger

    result = CliRunner().invoke(
        app,
        [*registry, "issue-credential", "--venue", "alpha", "--region", "gov", "--adapter", "a",
         "--adapter-version", "1.0.0", "--subject-did", subject, "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2 and "--out" in result.output and "exists" in result.output
    result = CliRunner().invoke(
        app,
        [*registry, "issue-credential", "--venue", "alpha", "--region", "gov", "--adapter", "a",
         "--adapter-version", "1.0.0", "--subject-did", "did:key:nonsense", "--out", str(tmp_path / "x")],
    )  # fmt: skip
    assert result.exit_code == 2 and "subject_did" in result.output
    assert not (tmp_path / "x").exists()


def test_registry_check_verdicts_are_recorded_as_dry_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    (tmp_path / "ir.pb").write_bytes(ir_descriptor_set())
    manifest = {
        "name": "synthetic-market",
        "version": "0.1.0",
        "venue_kind": "order_book",
        "capabilities": ["books"],
        "ir_range": ">=1.0,<2.0",
    }
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(
        app,
        ["registry", "--db", f"sqlite:///{tmp_path / 'reg.db'}", "--ledger-url", url, "--ledger-key-file",
         str(tmp_path / "log.key"), "--signer-key-file", str(tmp_path / "r.key"), "check", "--manifest",
         str(tmp_path / "m.json"), "--descriptor-set", str(tmp_path / "ir.pb")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [verdict] = payloads(url, "REGISTRY_VERDICT")
    assert verdict["dry_run"] is True and verdict["accepted"] is True
    assert verdict["adapter"] == "synthetic-market"
