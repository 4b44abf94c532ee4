"""`arbsphere --help` stays fast: the command line imports its heavy dependencies inside the commands.

A fresh interpreter imports ``arbsphere.cli`` and renders the help of the app, of every group and of every
command; none of that may load the heavy libraries (each costs a noticeable part of a second, together
several seconds). The facts the help text restates without importing their owners must stay equal to them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (pydantic is not listed: typer itself uses it to convert parameters.)
HEAVY = (
    "grpc",
    "cvxpy",
    "ccxt",
    "cryptofeed",
    "scipy",
    "sqlalchemy",
    "numpy",
    "google.protobuf",
    "cryptography",
)

PROBE = """
import json, sys

import typer.main
from typer.testing import CliRunner

from arbsphere.cli import app

loaded_by_import = sorted(m for m in HEAVY if m in sys.modules)


def paths(command, prefix):
    yield prefix
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from paths(sub, [*prefix, name])


runner = CliRunner()
helped = []
for path in paths(typer.main.get_command(app), []):
    result = runner.invoke(app, [*path, "--help"])
    if result.exit_code != 0:
        raise SystemExit(f"{path} --help exited {result.exit_code}: {result.output}")
    helped.append(" ".join(path))
print(json.dumps({
    "import": loaded_by_import,
    "help": sorted(m for m in HEAVY if m in sys.modules),
    "helped": helped,
}))
"""


def _probe() -> dict[str, list[str]]:
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr or done.stdout
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_cli_help_imports_no_heavy_module() -> None:
    result = _probe()
    assert result["import"] == []
    assert result["help"] == []
    # Every group and every command rendered its help (so each command module was really exercised).
    assert {"", "ledger", "registry", "coordinator", "agent", "pki", "ledger query"} <= set(result["helped"])


def test_help_facts_restated_by_the_cli_match_their_owners() -> None:
    from arbsphere.commands import coordinator as coordinator_cli
    from arbsphere.commands import ledger as ledger_cli
    from arbsphere.commands import pki as pki_cli
    from coordinator.session import STRATEGIES
    from registry.ledger.entry import kind_names
    from registry.ledger.ledger import DEFAULT_DB_PATH
    from registry.pki.certificates import MAX_LEAF_TTL, MIN_LEAF_TTL

    assert ledger_cli.DEFAULT_DB_PATH == DEFAULT_DB_PATH
    assert list(ledger_cli.KIND_NAMES) == kind_names()
    assert (pki_cli.MIN_LEAF_TTL, pki_cli.MAX_LEAF_TTL) == (MIN_LEAF_TTL, MAX_LEAF_TTL)
    assert tuple(STRATEGIES) == coordinator_cli.STRATEGY_NAMES
