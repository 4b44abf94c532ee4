"""`arbsphere ledger` through typer's CliRunner: auditor workflows and clear errors on bad input."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FakeClock
from typer.testing import CliRunner

from arbsphere.cli import app
from registry.ledger import Ed25519Signer, Ledger, NoteSigner
from registry.ledger.merkle import verify_consistency, verify_inclusion
from registry.ledger.service import serve
from registry.ledger.signed_note import NoteVerifier, open_checkpoint
from registry.pki import DevCertificateAuthority, SpiffeId, server_credentials, write_bundle

runner = CliRunner()
START_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


@pytest.fixture
def world(tmp_path: Path) -> dict[str, object]:
    """A key file (made by `keygen`), a database with 6 entries, the actor signers."""
    key_file = tmp_path / "keys" / "log.key"
    result = runner.invoke(
        app, ["ledger", "keygen", "--origin", "arbsphere.test/cli", "--out", str(key_file)]
    )
    assert result.exit_code == 0, result.output
    vkey = result.stdout.strip()
    assert key_file.stat().st_mode & 0o777 == 0o600
    db = tmp_path / "ledger.sqlite"
    result = runner.invoke(app, ["ledger", "init", "--key-file", str(key_file), "--db", str(db)])
    assert result.exit_code == 0, result.output
    signers = [Ed25519Signer.from_seed(bytes([i]) * 32) for i in (1, 2)]
    clock = FakeClock(START_MS)
    with Ledger.open(f"sqlite:///{db}", NoteSigner.parse(key_file.read_text()), clock_ms=clock) as led:
        for i in range(6):
            clock.now = START_MS + 10_000 * i
            led.append("JOIN" if i < 2 else "PLAN_COMMITTED", b"entry %d" % i, signers[i % 2])
            led.flush()
    return {"db": str(db), "vkey": vkey, "key_file": key_file, "signers": signers, "tmp": tmp_path}


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["ledger", *args])
    return result.exit_code, result.stdout, result.stderr


def test_checkpoint_verified_with_vkey(world: dict[str, object]) -> None:
    code, out, _ = _run("checkpoint", "--db", str(world["db"]), "--vkey", str(world["vkey"]))
    assert code == 0
    assert out.splitlines()[:2] == ["arbsphere.test/cli", "6"]
    code, _, err = _run(
        "checkpoint", "--db", str(world["db"]), "--vkey", NoteSigner.generate("x").verifier().to_vkey()
    )
    assert code == 2 and "no signature from a trusted key" in err


def test_get_and_query(world: dict[str, object]) -> None:
    code, out, _ = _run("get", "3", "--db", str(world["db"]))
    assert code == 0
    entry = json.loads(out)
    assert entry["kind"] == "PLAN_COMMITTED" and base64.b64decode(entry["payload"]) == b"entry 3"
    signers = world["signers"]
    assert isinstance(signers, list)
    code, out, _ = _run(
        "query", "--db", str(world["db"]), "--kind", "plan_committed", "--actor", signers[0].did
    )
    assert code == 0
    assert [json.loads(line)["index"] for line in out.splitlines()] == [2, 4]
    code, out, _ = _run(
        "query", "--db", str(world["db"]), "--since", "2023-11-14T22:13:40", "--until", str(START_MS + 40_000)
    )
    assert [json.loads(line)["index"] for line in out.splitlines()] == [2, 3]


def test_proofs_verify_against_the_checkpoint(world: dict[str, object]) -> None:
    db, vkey = str(world["db"]), str(world["vkey"])
    _, note, _ = _run("checkpoint", "--db", db)
    root = open_checkpoint(note, NoteVerifier.parse(vkey)).root_hash
    code, out, _ = _run("prove-inclusion", "4", "--db", db)
    assert code == 0
    proof = json.loads(out)
    assert proof["verified_root_hash"] is None
    verify_inclusion(
        proof["index"],
        proof["tree_size"],
        base64.b64decode(proof["leaf_hash"]),
        [base64.b64decode(p) for p in proof["proof"]],
        root,
    )
    code, out, _ = _run("prove-inclusion", "4", "--size", "5", "--db", db, "--vkey", vkey)
    assert code == 0 and json.loads(out)["verified_root_hash"] is not None
    code, out, _ = _run("prove-consistency", "2", "--db", db, "--vkey", vkey)
    assert code == 0
    cons = json.loads(out)
    assert base64.b64decode(cons["verified_root2"]) == root
    verify_consistency(
        2, 6, base64.b64decode(cons["verified_root1"]), root, [base64.b64decode(p) for p in cons["proof"]]
    )
    code, _, err = _run(
        "prove-inclusion", "0", "--db", db, "--vkey", NoteSigner.generate("x").verifier().to_vkey()
    )
    assert code == 2 and "no signature from a trusted key" in err


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_export_then_verify_offline_and_detect_tampering(world: dict[str, object], fmt: str) -> None:
    tmp = world["tmp"]
    assert isinstance(tmp, Path)
    export = tmp / f"export.{fmt}"
    code, _, err = _run("export", "--db", str(world["db"]), "--out", str(export), "--format", fmt)
    assert code == 0 and f"exported to {export}" in err
    vkey_file = tmp / "log.vkey"
    vkey_file.write_text(str(world["vkey"]) + "\n")
    code, out, _ = _run("verify", str(export), "--vkey-file", str(vkey_file))
    assert code == 0 and out.startswith("OK: 6 entries of arbsphere.test/cli verified")
    code, out, _ = _run("verify", str(export), "--vkey-file", str(vkey_file), "--workers", "2")
    assert code == 0 and out.startswith("OK: 6 entries")
    text = export.read_text()
    original = base64.b64encode(b"entry 2").decode()
    export.write_text(text.replace(original, base64.b64encode(b"entry X").decode()))
    code, _, err = _run("verify", str(export), "--vkey", str(world["vkey"]))
    assert code == 1
    assert "FAIL entry 2: payload: SHA-256 of the payload does not match payload_hash" in err
    assert "verification FAILED" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "99"], "no entry 99"),
        (["query", "--kind", "BOGUS"], "unknown kind 'BOGUS'"),
        (["query", "--since", "yesterday"], "--since: expected unix milliseconds or an ISO 8601 time"),
        (["query", "--since", "2000", "--until", "1000"], "is before --since"),
        (["prove-inclusion", "6"], "not below the tree size 6"),
        (["prove-inclusion", "0", "--size", "60"], "beyond the ledger's 6 durable entries"),
        (["prove-consistency", "5", "3"], "expected 0 < size1 <= size2"),
        (["export", "--out", "x", "--format", "xml"], "--format: expected 'jsonl' or 'json'"),
    ],
)
def test_bad_input_gives_a_clear_error(world: dict[str, object], args: list[str], message: str) -> None:
    code, _, err = _run(*args, "--db", str(world["db"]))
    assert code == 2, err
    assert message in err


def test_errors_without_database_or_keys(tmp_path: Path) -> None:
    code, _, err = _run("checkpoint", "--db", str(tmp_path / "missing.sqlite"))
    assert code == 2 and "no ledger database at" in err
    assert not (tmp_path / "missing.sqlite").exists()
    export = tmp_path / "e.jsonl"
    export.write_text("{}\n")
    code, _, err = _run("verify", str(export))
    assert code == 2 and "exactly one of --vkey or --vkey-file" in err
    code, _, err = _run("verify", str(export), "--vkey", "garbage")
    assert code == 2 and "verifier key" in err
    code, _, err = _run(
        "verify", str(tmp_path / "nope.jsonl"), "--vkey", NoteSigner.generate("a").verifier().to_vkey()
    )
    assert code == 2 and "No such file" in err
    code, _, err = _run("init", "--key-file", str(tmp_path / "nokey"), "--db", str(tmp_path / "l.sqlite"))
    assert code == 2 and "key file: cannot read" in err
    (tmp_path / "k").write_text("not a key")
    code, _, err = _run("keygen", "--origin", "a", "--out", str(tmp_path / "k"))
    assert code == 2 and "exists" in err
    code, _, err = _run("keygen", "--origin", "has space", "--out", str(tmp_path / "k2"))
    assert code == 2 and "key name" in err


@pytest.fixture
def remote(world: dict[str, object], tmp_path: Path) -> Iterator[dict[str, object]]:
    """The world's ledger served by the LedgerAuditor service; an auditor and an agent bundle on disk."""
    ca = DevCertificateAuthority.ephemeral("cli.test")
    ledger = Ledger.open(f"sqlite:///{world['db']}", None)
    server, port = serve(
        ledger, "127.0.0.1:0", server_credentials(ca.issue(SpiffeId.registry("cli.test"))), region="cli.test"
    )
    auditor, agent = tmp_path / "auditor", tmp_path / "agent"
    write_bundle(auditor, ca.issue_auditor("carol"))
    write_bundle(agent, ca.issue_agent("kraken"))
    try:
        yield {**world, "server": f"127.0.0.1:{port}", "auditor": str(auditor), "agent": str(agent)}
    finally:
        server.stop(None)
        ledger.close()


def test_auditor_works_remotely_over_mtls(remote: dict[str, object]) -> None:
    over = ["--server", str(remote["server"]), "--bundle", str(remote["auditor"])]
    vkey = str(remote["vkey"])
    code, out, _ = _run("checkpoint", *over, "--vkey", vkey)
    assert code == 0 and out.splitlines()[1] == "6"
    code, out, _ = _run("get", "1", *over)
    assert code == 0 and json.loads(out)["kind"] == "JOIN"
    code, out, _ = _run("query", "--kind", "PLAN_COMMITTED", "--limit", "2", *over)
    assert [json.loads(line)["index"] for line in out.splitlines()] == [2, 3]
    code, out, err = _run("prove-inclusion", "3", *over, "--vkey", vkey)
    assert code == 0, err
    code, out, err = _run("prove-consistency", "1", "6", *over, "--vkey", vkey)
    assert code == 0, err
    tmp = remote["tmp"]
    assert isinstance(tmp, Path)
    code, _, err = _run("export", "--out", str(tmp / "remote.jsonl"), *over)
    assert code == 0, err
    code, out, _ = _run("verify", str(tmp / "remote.jsonl"), "--vkey", vkey)
    assert code == 0 and out.startswith("OK: 6 entries")


def test_remote_errors_are_clear(remote: dict[str, object]) -> None:
    server = str(remote["server"])
    code, _, err = _run("checkpoint", "--server", server)
    assert code == 2 and "--server needs --bundle" in err
    code, _, err = _run("checkpoint", "--server", server, "--bundle", str(remote["agent"]))
    assert code == 2 and "server: PERMISSION_DENIED" in err and "peer role" in err
    code, _, err = _run("get", "42", "--server", server, "--bundle", str(remote["auditor"]))
    assert code == 2 and "server: NOT_FOUND" in err and "no entry 42" in err
    tmp = remote["tmp"]
    assert isinstance(tmp, Path)
    code, _, err = _run("checkpoint", "--server", server, "--bundle", str(tmp / "nowhere"))
    assert code == 2 and "certificate bundle" in err
    code, _, err = _run("export", "--out", "-", "--server", server, "--bundle", str(remote["auditor"]))
    assert code == 2 and "give a file" in err


def test_keygen_force_leaves_a_private_key_and_vkey_prints_the_verifier(world: dict[str, object]) -> None:
    key_file = world["key_file"]
    assert isinstance(key_file, Path)
    key_file.chmod(0o644)  # as an older release or an operator's copy left it
    code, out, _ = _run("keygen", "--origin", "arbsphere.test/cli", "--out", str(key_file), "--force")
    assert code == 0
    assert key_file.stat().st_mode & 0o777 == 0o600
    code, printed, _ = _run("vkey", "--key-file", str(key_file))
    assert code == 0 and printed.strip() == out.strip() != world["vkey"]


def test_key_rotations_are_entries_of_the_log_they_rotate(world: dict[str, object]) -> None:
    """An auditor who pinned the old verifier key learns the new one from the log itself, and the
    coordinator's entry identity hands over to a successor that proves possession of its key."""
    from coordinator.service import entry_key_path

    key_file = world["key_file"]
    assert isinstance(key_file, Path)
    old_vkey = str(world["vkey"])
    code, out, err = _run("rotate-key", "--key-file", str(key_file), "--db", str(world["db"]))
    assert code == 0, err
    new_vkey = out.strip()
    assert new_vkey != old_vkey and key_file.stat().st_mode & 0o777 == 0o600
    code, out, _ = _run("vkey", "--key-file", str(key_file))
    assert out.strip() == new_vkey
    with Ledger.open(f"sqlite:///{world['db']}") as ledger:
        rotation = ledger.get(6)
        body = json.loads(rotation.payload)
        assert body["event"] == "log_key_rotated"
        assert (body["previous_vkey"], body["next_vkey"]) == (old_vkey, new_vkey)
        # the checkpoint that covers the rotation verifies under the key the auditor pinned
        note = ledger.checkpoint().note
    assert open_checkpoint(note, NoteVerifier.parse(old_vkey)).size == 7

    entry_path = entry_key_path(key_file)
    before = Ed25519Signer.from_seed(entry_path.read_bytes()).did
    code, out, err = _run("rotate-key", "--key-file", str(key_file), "--db", str(world["db"]), "--entry")
    assert code == 0, err
    after = out.strip()
    assert after != before and entry_path.stat().st_mode & 0o777 == 0o600
    assert Ed25519Signer.from_seed(entry_path.read_bytes()).did == after
    with Ledger.open(f"sqlite:///{world['db']}") as ledger:
        handover = ledger.get(7)
    body = json.loads(handover.payload)
    assert (body["event"], body["previous"], body["next"]) == ("entry_key_rotated", before, after)
    assert handover.actor_did == before  # signed by the identity that hands over
