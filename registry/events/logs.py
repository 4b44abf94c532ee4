"""Structured logs: one JSON object per line, with the correlation ids of the work at hand, secrets redacted.

``configure`` installs the formatter on the root logger (the CLI calls it for ``agent run`` and ``coordinator
serve``). ``correlate(session=..., sequence=..., idempotency_key=...)`` binds ids to the current context
(a ``contextvars`` context: each thread and task has its own, so a worker binds what it works on) and every
record logged inside carries them, which joins a log line to its session, its plan and the venue order it
is about. ``register_secret`` names values that must never appear in a log (API secrets, tokens): they
are replaced wherever they show up, in the message, its arguments or the traceback, and so are bearer
tokens and ``secret=``/``password=``/``token=`` assignments whatever their value.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import IO

REDACTED = "[redacted]"
_EMPTY: Mapping[str, str] = MappingProxyType({})
_ids: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("arbsphere_log_ids", default=_EMPTY)
_secrets: set[str] = set()
_lock = threading.Lock()
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)((?:api[_-]?)?(?:secret|password|passphrase|token|private[_-]?key)[\"']?\s*[=:]\s*[\"']?)[^\s\"',}&]+"
    ),
)
MIN_SECRET_CHARS = 6
"""Shorter values are not registered: replacing them everywhere would mangle ordinary text."""


def register_secret(value: str | bytes | None) -> None:
    """Never log ``value`` (ignored when shorter than ``MIN_SECRET_CHARS``)."""
    if value is None:
        return
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    if len(text) >= MIN_SECRET_CHARS:
        with _lock:
            _secrets.add(text)


def redact(text: str) -> str:
    """``text`` with every registered secret and every recognisable credential replaced."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


@contextlib.contextmanager
def correlate(**ids: object) -> Iterator[None]:
    """Bind correlation ids (``session``, ``sequence``, ``idempotency_key``...) to records logged inside."""
    token = _ids.set(MappingProxyType({**_ids.get(), **{k: str(v) for k, v in ids.items() if v is not None}}))
    try:
        yield
    finally:
        _ids.reset(token)


def bind(**ids: object) -> None:
    """Bind ids for the rest of the current context (a worker thread's loop, say); ``None`` unbinds."""
    current = dict(_ids.get())
    for key, value in ids.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = str(value)
    _ids.set(MappingProxyType(current))


def current_ids() -> dict[str, str]:
    return dict(_ids.get())


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, correlation ids, exception; redacted."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": self.service,
            "message": redact(record.getMessage()),
            **_ids.get(),
        }
        if record.exc_info:
            body["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(body, sort_keys=True, default=str)


def configure(service: str, *, level: int = logging.WARNING, stream: IO[str] | None = None) -> None:
    """JSON lines on ``stream`` (stderr) for every logger of the process, at ``level``."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
