"""Every runnable command in the README runs as written: each ``sh`` block, in order, in one fresh folder
that holds a copy of ``examples/`` and sees ``../shared`` as the README assumes (the CLI from this checkout
on PATH). ``toml`` blocks are checked as configs, ``text`` blocks are illustrations (remote hosts, real
exchanges) and ``console`` blocks are the make targets CI itself runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agents.agent_config import parse_config
from tests.conftest import ROOT

BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(kind: str) -> list[str]:
    return [body for lang, body in BLOCK.findall((ROOT / "README.md").read_text()) if lang == kind]


def test_readme_has_runnable_blocks() -> None:
    assert len(blocks("sh")) >= 3


def test_readme_config_blocks_are_valid_configs() -> None:
    for body in blocks("toml"):
        parse_config(tomllib.loads(body))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_readme_sh_blocks_run_as_written(tmp_path: Path, shared_data: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    (tmp_path / "shared").symlink_to(shared_data.parent)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for index, body in enumerate(blocks("sh")):
        script = "set -euo pipefail\n" + body
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, (
            f"README sh block {index} failed:\n{body}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    assert (work / "ledger.sqlite").exists()
