"""Fixtures of the event-log suite: one factory per backend, so every behavioural test runs on both.

JetStream tests need the NATS server on 127.0.0.1:4222 (started with ``-js``): without it they skip with the
reason on a user's machine and fail under ``CI=true``, as ``tests/conftest.py`` does for PostgreSQL.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry.events.log import EventLog, open_log
from tests.conftest import IN_CI

NATS_SERVER = "nats://127.0.0.1:4222"
LogFactory = Callable[[], EventLog]


def _nats_or_skip() -> None:
    from registry.events.jetstream import reachable

    if not reachable(NATS_SERVER):
        reason = f"NATS JetStream is not reachable on {NATS_SERVER}"
        if IN_CI:
            pytest.fail(f"{reason} (required under CI=true)")
        pytest.skip(reason)


@pytest.fixture(params=["embedded", "jetstream"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "jetstream":
        _nats_or_skip()
    return str(request.param)


@pytest.fixture
def log_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh log's URL on the backend under test (a JetStream stream is deleted afterwards)."""
    if backend == "embedded":
        yield str(tmp_path / "log" / "events.jsonl")
        return
    scope = f"test-{uuid.uuid4().hex[:12]}"
    url = f"{NATS_SERVER}/{scope}"
    yield url
    from registry.events.jetstream import JetStreamLog

    log = JetStreamLog(NATS_SERVER, scope=scope)
    with contextlib.suppress(Exception):
        log.delete()
    log.close()


@pytest.fixture
def open_events(log_url: str) -> Iterator[LogFactory]:
    """Opens the log under test (again and again: a reopened log is the process restarted); closes all."""
    opened: list[EventLog] = []

    def make() -> EventLog:
        log = open_log(log_url, scope="unused", source="test")
        opened.append(log)
        return log

    yield make
    for log in opened:
        with contextlib.suppress(Exception):
            log.close()
