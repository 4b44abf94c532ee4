"""The event log's one interface: append JSON events, read them back from any sequence, consume durably.

An agent or a coordinator appends every event it emits (plans, executions, sessions, rounds...) to one log;
the store writer, the metrics and the console read it. Two backends implement the same contract and run the
same behavioural suite (``tests/events/``): ``EmbeddedLog`` (an append-only JSON-lines file, the default)
and ``JetStreamLog`` (a NATS JetStream stream, for deployments that run NATS).

The contract:

- ``append_many`` returns only once its events are durable (fsync'd, or acknowledged by JetStream), with
  their sequence numbers: consecutive, starting at 1, never reused.
- ``read(start)`` yields every record from ``start`` up to the last one appended when the call began.
- ``consumer(name)`` is a durable cursor: ``fetch`` delivers records after the last one delivered, ``ack``
  (cumulative) makes the position durable. A consumer that is killed and reopened resumes right after its
  last acknowledged record: it loses no event and gets none it acknowledged again (unacknowledged ones come
  again: at-least-once, so a consumer's writes must be idempotent on the sequence).
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SCOPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DISABLED = frozenset({"none", "off"})


class EventLogError(RuntimeError):
    """The log cannot be opened, written or read; the message names the log."""


@dataclass(frozen=True, slots=True)
class Record:
    """One event as the log keeps it: its sequence, when and by whom it was appended, and the event."""

    sequence: int
    time_ns: int
    source: str
    event: Mapping[str, object]

    @property
    def kind(self) -> str:
        return str(self.event.get("event", ""))

    def to_json(self) -> dict[str, object]:
        return {"seq": self.sequence, "ts": self.time_ns, "source": self.source, "event": dict(self.event)}


def encode_event(event: Mapping[str, object]) -> dict[str, object]:
    """A JSON-ready copy of ``event``, refused early (``TypeError``/``ValueError``) if it is not JSON."""
    if not isinstance(event, Mapping):
        raise TypeError(f"event: expected a mapping, got {type(event).__name__}")
    copy: dict[str, object] = json.loads(json.dumps(event, allow_nan=False))
    return copy


class Consumer(abc.ABC):
    """A durable, named position in one log (see the module docstring for the delivery contract)."""

    name: str

    @abc.abstractmethod
    def fetch(self, max_records: int = 256, timeout: float = 1.0) -> list[Record]:
        """The next records after the last one delivered (at most ``max_records``); waits up to
        ``timeout`` seconds for the first one, then returns what there is (possibly nothing)."""

    @abc.abstractmethod
    def ack(self, sequence: int) -> None:
        """Acknowledge every delivered record up to ``sequence``; durable when this returns."""

    @property
    @abc.abstractmethod
    def acked(self) -> int:
        """The last acknowledged sequence (0: none)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the consumer (its acknowledged position stays)."""

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventLog(abc.ABC):
    """An append-only, replayable log of JSON events."""

    url: str
    source: str

    def append(self, event: Mapping[str, object]) -> int:
        """Append one event; its sequence once durable."""
        return self.append_many([event])[0]

    @abc.abstractmethod
    def append_many(self, events: Iterable[Mapping[str, object]]) -> list[int]:
        """Append events in order, durably as one batch; their sequences."""

    @abc.abstractmethod
    def read(self, start: int = 1, limit: int | None = None) -> Iterator[Record]:
        """Records from ``start`` on (at most ``limit``), up to the last one appended when called."""

    @abc.abstractmethod
    def last_sequence(self) -> int:
        """The sequence of the last record (0: empty)."""

    @abc.abstractmethod
    def consumer(self, name: str) -> Consumer:
        """The durable consumer ``name`` (created at the log's start if new)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release the log."""

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_name(value: str, what: str) -> str:
    if not SCOPE.match(value):
        raise EventLogError(f"{what}: expected 1-64 of [A-Za-z0-9_-], got {value!r}")
    return value


def scope_of(text: str) -> str:
    """``text`` made a valid scope (stream or consumer name): other characters become ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64]
    return cleaned or "default"


def open_log(url: str, *, scope: str, source: str = "") -> EventLog:
    """The log at ``url``: ``nats://host:port[/scope]`` (JetStream; ``scope`` names the stream unless the
    URL does) or a file path (the embedded log; ``file://`` accepted)."""
    if url.startswith(("nats://", "tls://")):
        from registry.events.jetstream import JetStreamLog

        parts = urlsplit(url)
        named = parts.path.strip("/")
        server = f"{parts.scheme}://{parts.netloc}"
        return JetStreamLog(
            server, scope=check_name(named, "event log URL path") if named else scope, source=source
        )
    from registry.events.embedded import EmbeddedLog

    path = Path(url.removeprefix("file://"))
    return EmbeddedLog(path, source=source)
