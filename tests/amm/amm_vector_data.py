"""Collection-time access to the external vectors, so every vector case becomes its own test id.

Parametrization needs the case list before fixtures run, so the files are read here directly; the tests still
request the ``shared_data`` fixture, which skips (or fails under CI) with the reason when the data is absent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def load_json(path: Path) -> Any:
    """Parse one vector file."""
    return json.loads(path.read_text(encoding="utf-8"))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")[:70]


def case_params(relative: str, extract: Callable[[Any], list[Any]], label: Callable[[Any], str]) -> list[Any]:
    """One ``pytest.param(index, id=...)`` per case of ``relative``; a placeholder if the file is absent."""
    path = SHARED_DATA / relative
    if not path.is_file():
        return [pytest.param(-1, id="vectors-missing")]
    cases = extract(load_json(path))
    return [pytest.param(i, id=f"{i:03d}-{_slug(label(case))}") for i, case in enumerate(cases)]
