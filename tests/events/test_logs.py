"""Structured logs: JSON lines with correlation ids, per context, and secrets that never reach the output."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.events.logs import REDACTED, bind, configure, correlate, redact, register_secret


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure("test", level=logging.INFO, stream=stream)
    yield stream
    logging.getLogger().handlers.clear()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_records_carry_the_correlation_ids_of_their_context(out: io.StringIO) -> None:
    log = logging.getLogger("arbsphere.test")
    with correlate(session="s-1"):
        with correlate(sequence=7, idempotency_key="ab12"):
            log.info("order sent %s", "BTC")
        log.warning("after the plan")
    log.info("outside")
    first, second, third = lines(out)
    assert first["session"] == "s-1" and first["sequence"] == "7" and first["idempotency_key"] == "ab12"
    assert first["message"] == "order sent BTC" and first["level"] == "info" and first["service"] == "test"
    assert second["session"] == "s-1" and "sequence" not in second
    assert "session" not in third


def test_each_thread_binds_its_own_ids(out: io.StringIO) -> None:
    log = logging.getLogger("arbsphere.test")
    bind(session="main")

    def worker() -> None:
        bind(session="worker")
        log.info("in the worker")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    log.info("in main")
    bind(session=None)
    by_message = {str(r["message"]): r for r in lines(out)}
    assert by_message["in the worker"]["session"] == "worker"
    assert by_message["in main"]["session"] == "main"


def test_secrets_are_redacted_in_messages_arguments_and_tracebacks(out: io.StringIO) -> None:
    register_secret("s3cr3t-api-value")
    log = logging.getLogger("arbsphere.test")
    log.warning("auth failed for key %s", "s3cr3t-api-value")
    log.warning("header Authorization: Bearer eyJhbGciOi.x.y and secret=hunter22 password: pa55word")
    try:
        raise RuntimeError("request carried s3cr3t-api-value")
    except RuntimeError:
        log.exception("venue call failed")
    text = out.getvalue()
    assert "s3cr3t-api-value" not in text and "eyJhbGciOi" not in text
    assert "hunter22" not in text and "pa55word" not in text
    assert text.count(REDACTED) >= 5


@given(st.text(max_size=40), st.text(max_size=40))
def test_a_registered_secret_never_survives_redaction(before: str, after: str) -> None:
    secret = "Zq9-registered-secret"
    register_secret(secret)
    assert secret not in redact(before + secret + after)
