"""`arbsphere demo --case prediction` as a real process: spread%, APY, fees and realised PnL printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_prediction_demo_case_prints_the_whole_loop() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "arbsphere.cli", "demo", "--case", "prediction"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for expected in (
        "1. match",
        "spread %",
        "APY %",
        "fees (exact)",
        "realised PnL",
        "prediction demo passed",
    ):
        assert expected in out, out
