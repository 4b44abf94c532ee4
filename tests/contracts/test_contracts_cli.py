"""`arbsphere registry` through typer's CliRunner: exit codes, printed violations, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from contracts_protos import BASE, compile_proto
from typer.testing import CliRunner

from arbsphere.cli import app

BROKEN = BASE.replace("int64 size = 3;", "string size = 3;")
EXTRA = BASE.replace("  int64 size = 3;\n", "  int64 size = 3;\n  string venue = 4;\n")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for label, source in (("base", BASE), ("broken", BROKEN), ("extra", EXTRA)):
        (tmp_path / f"{label}.pb").write_bytes(compile_proto(source))
    for version, ir_range in (("1.0.0", ">=1.0,<2.0"), ("1.1.0", ">=1.0,<3.0"), ("2.0.0", ">=2.0,<3.0")):
        document = {
            "name": "demo",
            "version": version,
            "venue_kind": "order_book",
            "capabilities": ["books"],
            "ir_range": ir_range,
        }
        (tmp_path / f"m{version}.json").write_text(json.dumps(document))
    return tmp_path


def run(workdir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        [
            "registry",
            "--db",
            f"sqlite:///{workdir / 'registry.db'}",
            "--verdict-log",
            str(workdir / "verdicts.jsonl"),
            *args,
        ],
    )
    return result.exit_code, result.stdout, result.stderr


def register(workdir: Path, version: str, descriptor: str, *extra: str) -> tuple[int, str, str]:
    return run(
        workdir,
        "register",
        "--manifest",
        str(workdir / f"m{version}.json"),
        "--descriptor-set",
        str(workdir / f"{descriptor}.pb"),
        *extra,
    )


def test_register_accept_then_refuse_with_the_violation_named(workdir: Path) -> None:
    code, out, _ = register(workdir, "1.0.0", "base")
    assert code == 0 and "ACCEPTED" in out
    code, out, _ = register(workdir, "1.1.0", "broken")
    assert code == 1
    assert "REFUSED" in out and "FIELD_TYPE_CHANGED" in out and "demo.v1.Quote.size" in out
    verdicts = [json.loads(line) for line in (workdir / "verdicts.jsonl").read_text().splitlines()]
    assert [v["payload"]["accepted"] for v in verdicts] == [True, False]


def test_check_is_a_dry_run(workdir: Path) -> None:
    register(workdir, "1.0.0", "base")
    code, out, _ = run(
        workdir,
        "check",
        "--manifest",
        str(workdir / "m1.1.0.json"),
        "--descriptor-set",
        str(workdir / "broken.pb"),
    )
    assert code == 1 and "would be REFUSED" in out
    code, out, _ = run(
        workdir,
        "check",
        "--manifest",
        str(workdir / "m1.1.0.json"),
        "--descriptor-set",
        str(workdir / "extra.pb"),
        "--json",
    )
    assert code == 0 and json.loads(out)["accepted"] is True
    code, out, _ = run(workdir, "list", "--json")
    assert [row["version"] for row in json.loads(out)] == ["1.0.0"]


def test_queries(workdir: Path) -> None:
    assert register(workdir, "1.0.0", "base")[0] == 0
    assert register(workdir, "1.1.0", "extra")[0] == 0
    assert register(workdir, "2.0.0", "extra")[0] == 0
    code, out, _ = run(workdir, "list")
    assert code == 0 and "1.1.0" in out and "order_book" in out
    code, out, _ = run(workdir, "compatible", "--ir", "2.1", "--json")
    assert code == 0
    assert [a["version"] for a in json.loads(out)["adapters"]] == ["1.1.0", "2.0.0"]
    code, out, _ = run(workdir, "compatible", "--ir", "1.0")
    assert code == 0 and "1.0.0" in out
    code, out, _ = run(workdir, "upgrade-path", "demo", "1.0.0", "2.0.0")
    assert code == 0 and out.strip() == "demo: 1.0.0 -> 1.1.0 -> 2.0.0"
    code, out, _ = run(workdir, "upgrade-path", "demo", "1.0.0", "2.0.0", "--json")
    assert json.loads(out) == {"name": "demo", "path": ["1.0.0", "1.1.0", "2.0.0"]}
    code, out, _ = run(workdir, "graph", "--ir", "1.5")
    assert (
        code == 0
        and {"kind": "speaks", "source": "adapter:demo@1.0.0", "target": "ir:1.5.0"}
        in json.loads(out)["edges"]
    )
    code, out, _ = run(workdir, "verdicts", "--name", "demo")
    assert code == 0 and all(v["on_ledger"] for v in json.loads(out))


def test_failures_exit_non_zero_with_a_message(workdir: Path) -> None:
    register(workdir, "1.0.0", "base")
    code, _, err = run(workdir, "upgrade-path", "demo", "1.0.0", "9.9.9")
    assert code == 1 and "not registered" in err
    code, _, err = run(workdir, "compatible", "--ir", "one")
    assert code == 2 and "--ir" in err
    code, _, err = run(workdir, "register", "--manifest", str(workdir / "missing.json"))
    assert code == 2 and "cannot read manifest" in err
    (workdir / "bad.json").write_text("{not json")
    code, _, err = run(workdir, "register", "--manifest", str(workdir / "bad.json"))
    assert code == 2 and "not JSON" in err
    (workdir / "nodesc.json").write_text(json.dumps({"name": "demo", "version": "1.0.1"}))
    code, _, err = run(workdir, "register", "--manifest", str(workdir / "nodesc.json"))
    assert code == 2 and "invalid input" in err and "venue_kind" in err
    code, _, err = register(workdir, "1.0.0", "base")
    assert code == 1


def test_register_json_output_is_the_verdict(workdir: Path) -> None:
    code, out, _ = register(workdir, "1.0.0", "base", "--json")
    document = json.loads(out)
    assert code == 0 and document["accepted"] is True and document["format"] == "arbsphere.registry.verdict/1"
