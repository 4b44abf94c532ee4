"""Headless Chromium for the console tests: Debian's ``chromium`` driven by Playwright (no browser download).

Without ``/usr/bin/chromium`` (or the ``playwright`` package) the browser tests skip with the reason on a
user's machine and fail under ``CI=true``, like the suite's other external services. Screenshots go to
``test-artifacts/console/`` (git-ignored; ``ARBSPHERE_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, ROOT

CHROMIUM = Path(os.environ.get("ARBSPHERE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("ARBSPHERE_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "console"


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per module. Not per session: Playwright's sync API keeps an event loop
    running on the main thread while it is open, and every later ``asyncio.run`` in the session (the feed
    and venue tests) would fail with "cannot be called from a running event loop"."""
    if not CHROMIUM.is_file():
        _missing(f"{CHROMIUM} not found (as root: apt-get install -y chromium; `make` does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        # Chromium's sandbox cannot start as root (CI containers): it is the browser's own isolation
        # between its processes, not the pages' origin isolation these tests rely on.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
