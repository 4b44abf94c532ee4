"""The event log on NATS JetStream: one file-backed stream per agent venue or coordinator region.

Stream ``ARBSPHERE_<scope>`` holds subjects ``arbsphere.events.<scope>.<event kind>``; a record's sequence is
the stream sequence JetStream assigns (consecutive while one process writes the stream, as each agent and
coordinator does for its own scope). Every message carries a ``Nats-Msg-Id`` (the writer's boot id and a
counter), so a batch re-sent after a lost acknowledgement is stored once (JetStream's duplicate window).

Durable consumers are JetStream durable pull consumers with ``AckPolicy.ALL`` (an ack covers every earlier
record) acknowledged synchronously. A consumer killed with deliveries outstanding would see them again only
after ``ack_wait``; reopening one that has outstanding deliveries therefore re-creates it at its durable ack
floor, so a restarted consumer resumes at once right after its last acknowledged record.

nats-py is asyncio; this backend runs its own event loop on a daemon thread and exposes the same blocking
interface as the embedded log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from registry.events.log import Consumer, EventLog, EventLogError, Record, check_name, encode_event

T = TypeVar("T")
CONNECT_TIMEOUT_S = 2.0
REQUEST_TIMEOUT_S = 10.0
ACK_WAIT_S = 30.0
READ_BATCH = 512


class _Loop:
    """An asyncio loop on its own daemon thread; ``run`` blocks the caller until a coroutine is done."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="jetstream-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = REQUEST_TIMEOUT_S) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        if not self.thread.is_alive():
            self.loop.close()


def _record(msg: Msg) -> Record:
    try:
        raw = json.loads(msg.data)
        return Record(msg.metadata.sequence.stream, int(raw["ts"]), str(raw["source"]), raw["event"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EventLogError(f"JetStream message {msg.subject}: unreadable record: {exc}") from None


class JetStreamLog(EventLog):
    """An event log in a JetStream stream (see the module docstring)."""

    def __init__(self, server: str, *, scope: str, source: str = "", storage: str = "file") -> None:
        self.server = server
        self.scope = check_name(scope, "scope")
        self.stream = f"ARBSPHERE_{self.scope}"
        self.subjects = f"arbsphere.events.{self.scope}"
        self.url = f"{server}/{self.scope}"
        self.source = source
        self.storage = StorageType(storage)
        self._boot = uuid.uuid4().hex[:12]
        self._counter = 0
        self._loop = _Loop()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- connection ------------------------------------------------------------------------------------
    def _context(self) -> JetStreamContext:
        if self._closed:
            raise EventLogError(f"{self.url}: the log is closed")
        if self._js is None:
            try:
                self._loop.run(self._connect(), CONNECT_TIMEOUT_S * 3)
            except (OSError, TimeoutError, nats.errors.Error) as exc:
                raise EventLogError(f"{self.url}: cannot reach NATS JetStream: {exc!r}") from None
        assert self._js is not None
        return self._js

    async def _connect(self) -> None:
        nc = await nats.connect(
            self.server,
            connect_timeout=CONNECT_TIMEOUT_S,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
        )
        js = nc.jetstream(timeout=REQUEST_TIMEOUT_S)
        config = StreamConfig(
            name=self.stream, subjects=[f"{self.subjects}.>"], storage=self.storage, duplicate_window=120.0
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await js.update_stream(config)  # it exists with other settings: bring them to ours
        self._nc, self._js = nc, js

    # -- writing ---------------------------------------------------------------------------------------
    def append_many(self, events: Iterable[Mapping[str, object]]) -> list[int]:
        bodies = [encode_event(e) for e in events]
        if not bodies:
            return []
        with self._lock:
            js = self._context()
            now = time.time_ns()
            messages = []
            for body in bodies:
                self._counter += 1
                kind = check_subject_token(str(body.get("event", "event")))
                payload = json.dumps(
                    {"ts": now, "source": self.source, "event": body}, separators=(",", ":"), sort_keys=True
                ).encode()
                messages.append((f"{self.subjects}.{kind}", payload, f"{self._boot}-{self._counter}"))
            try:
                return self._loop.run(self._publish(js, messages))
            except (TimeoutError, nats.errors.Error) as exc:
                raise EventLogError(f"{self.url}: append failed: {exc!r}") from None

    async def _publish(self, js: JetStreamContext, messages: list[tuple[str, bytes, str]]) -> list[int]:
        futures = [
            await js.publish_async(subject, payload, headers={"Nats-Msg-Id": msg_id}, stream=self.stream)
            for subject, payload, msg_id in messages
        ]
        acks = await asyncio.wait_for(asyncio.gather(*futures), REQUEST_TIMEOUT_S)
        return [ack.seq for ack in acks]

    # -- reading ---------------------------------------------------------------------------------------
    def last_sequence(self) -> int:
        js = self._context()
        try:
            info = self._loop.run(js.stream_info(self.stream))
        except (TimeoutError, nats.errors.Error) as exc:
            raise EventLogError(f"{self.url}: stream info failed: {exc!r}") from None
        return int(info.state.last_seq)

    def read(self, start: int = 1, limit: int | None = None) -> Iterator[Record]:
        if start < 1:
            raise EventLogError(f"read: start is a sequence >= 1, got {start}")
        last = self.last_sequence()
        if limit is not None:
            last = min(last, start + limit - 1)
        if start > last:
            return
        js = self._context()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        sub = self._loop.run(js.pull_subscribe(f"{self.subjects}.>", stream=self.stream, config=config))
        try:
            seen = start - 1
            while seen < last:
                try:
                    msgs = self._loop.run(sub.fetch(min(READ_BATCH, last - seen), timeout=2.0))
                except nats.errors.TimeoutError:
                    raise EventLogError(f"{self.url}: records {seen + 1}..{last} did not arrive") from None
                for msg in msgs:
                    record = _record(msg)
                    if record.sequence > last:
                        return
                    seen = record.sequence
                    yield record
        finally:
            with contextlib.suppress(Exception):
                self._loop.run(sub.unsubscribe(), 2.0)
            with contextlib.suppress(Exception):
                self._loop.run(js.delete_consumer(self.stream, sub._consumer), 2.0)  # its ephemeral name

    def consumer(self, name: str) -> Consumer:
        return JetStreamConsumer(self, check_name(name, "consumer name"))

    def delete(self) -> None:
        """Delete the stream and everything in it (tests and benchmarks clean up with it)."""
        js = self._context()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            self._loop.run(js.delete_stream(self.stream))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._nc is not None:
                with contextlib.suppress(Exception):
                    self._loop.run(self._nc.drain(), 5.0)
            self._loop.stop()


def check_subject_token(kind: str) -> str:
    """An event kind as one subject token (no dots, wildcards or spaces)."""
    token = "".join(c if c.isalnum() or c in "_-" else "_" for c in kind)
    return token or "event"


class JetStreamConsumer(Consumer):
    """A JetStream durable pull consumer (``AckPolicy.ALL``)."""

    def __init__(self, log: JetStreamLog, name: str) -> None:
        self.name = name
        self.log = log
        js = log._context()
        self._delivered: dict[int, Msg] = {}
        try:
            self._acked, self._sub = log._loop.run(self._open(js))
        except (TimeoutError, nats.errors.Error) as exc:
            raise EventLogError(f"{log.url}: consumer {name!r} cannot be opened: {exc!r}") from None
        self._closed = False

    async def _open(self, js: JetStreamContext) -> tuple[int, JetStreamContext.PullSubscription]:
        log = self.log
        acked = 0
        start: int | None = None
        try:
            info = await js.consumer_info(log.stream, self.name)
        except nats.js.errors.NotFoundError:
            info = None
        if info is not None:
            acked = info.ack_floor.stream_seq if info.ack_floor is not None else 0
            if info.num_ack_pending:  # deliveries of a killed consumer: resume at the ack floor now
                await js.delete_consumer(log.stream, self.name)
                start = acked + 1
        config = ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.ALL,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=-1,
            deliver_policy=DeliverPolicy.ALL if start is None else DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
        )
        sub = await js.pull_subscribe(
            f"{log.subjects}.>", durable=self.name, stream=log.stream, config=config
        )
        return acked, sub

    @property
    def acked(self) -> int:
        return self._acked

    def fetch(self, max_records: int = 256, timeout: float = 1.0) -> list[Record]:
        if self._closed:
            raise EventLogError(f"consumer {self.name!r}: closed")
        try:
            msgs = self.log._loop.run(
                self._sub.fetch(max_records, timeout=timeout), timeout + REQUEST_TIMEOUT_S
            )
        except nats.errors.TimeoutError:
            return []
        except nats.errors.Error as exc:
            raise EventLogError(f"{self.log.url}: consumer {self.name!r}: fetch failed: {exc!r}") from None
        records = []
        for msg in msgs:
            record = _record(msg)
            if record.sequence <= self._acked:
                continue  # already acknowledged (a re-created consumer's first delivery)
            self._delivered[record.sequence] = msg
            records.append(record)
        return records

    def ack(self, sequence: int) -> None:
        if sequence <= self._acked:
            return
        msg = self._delivered.get(sequence)
        if msg is None:
            raise EventLogError(f"consumer {self.name!r}: ack of {sequence}, which was not delivered")
        try:
            self.log._loop.run(msg.ack_sync(timeout=REQUEST_TIMEOUT_S))
        except (TimeoutError, nats.errors.Error) as exc:
            raise EventLogError(f"{self.log.url}: consumer {self.name!r}: ack failed: {exc!r}") from None
        self._acked = sequence
        for seq in [s for s in self._delivered if s <= sequence]:
            del self._delivered[seq]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.log._loop.run(self._sub.unsubscribe(), 2.0)


def reachable(server: str = "nats://127.0.0.1:4222") -> bool:
    """Whether a NATS server answers at ``server`` (tests skip JetStream without one)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(server)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=1.0):
            return True
    except OSError:
        return False


__all__ = ["JetStreamConsumer", "JetStreamLog", "reachable"]
