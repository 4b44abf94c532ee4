"""The embedded event log: one append-only JSON-lines file, the default when no NATS server is configured.

Each line is ``{"seq": n, "ts": ns, "source": ..., "event": {...}}``; line ``n`` holds sequence ``n``, so
the byte offset of every record is found by counting newlines (an index kept in memory and extended as the
file grows, also when another process writes it). One process writes a log at a time (an ``flock`` on
``<log>.lock``); any number read it. A batch is written with one ``write`` and made durable with one
``fsync`` before ``append_many`` returns (group commit: the background appender hands over whatever queued
up meanwhile). A line cut short by a crash is truncated when the next writer opens the file.

Consumer positions live beside the log (``<log>.consumers/<name>.json``), replaced atomically (write,
fsync, rename, fsync of the folder) on every ``ack``; an ``flock`` keeps a name to one live consumer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from registry.events.log import Consumer, EventLog, EventLogError, Record, check_name, encode_event

CHUNK = 1 << 20
POLL_S = 0.02


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(path: Path, what: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EventLogError(f"{what}: already held by another process or consumer ({path})") from None
    return fd


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


class EmbeddedLog(EventLog):
    """An event log in one file (see the module docstring)."""

    def __init__(self, path: Path, *, source: str = "", fsync: bool = True) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self.source = source
        self.fsync = fsync
        self._index = array("Q")  # byte offset of each complete line; record n is at _index[n-1]
        self._scanned = 0  # bytes of complete lines indexed so far
        self._lock = threading.RLock()
        self._grew = threading.Condition(self._lock)
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._closed = False

    # -- writing ---------------------------------------------------------------------------------------
    def _writer(self) -> int:
        if self._closed:
            raise EventLogError(f"{self.path}: the log is closed")
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(self.path.with_name(self.path.name + ".lock"), f"{self.path}: writer")
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            self._repair(fd)
            self._fd = fd
        return self._fd

    def _repair(self, fd: int) -> None:
        """Drop a last line a crash cut short (no newline, or not JSON), so appends continue cleanly."""
        size = os.fstat(fd).st_size
        self._refresh()
        if size > self._scanned:
            os.ftruncate(fd, self._scanned)
            os.fsync(fd)
        if self._index:
            tail = self._line(len(self._index))
            try:
                json.loads(tail)
            except ValueError:
                os.ftruncate(fd, self._index[-1])
                os.fsync(fd)
                self._scanned = self._index.pop()

    def append_many(self, events: Iterable[Mapping[str, object]]) -> list[int]:
        bodies = [encode_event(e) for e in events]
        if not bodies:
            return []
        with self._lock:
            fd = self._writer()
            self._refresh()
            first = len(self._index) + 1
            now = time.time_ns()
            lines = [
                json.dumps(
                    {"seq": first + i, "ts": now, "source": self.source, "event": body},
                    separators=(",", ":"),
                    sort_keys=True,
                ).encode()
                + b"\n"
                for i, body in enumerate(bodies)
            ]
            data = b"".join(lines)
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            if self.fsync:
                os.fsync(fd)
            offset = self._scanned
            for line in lines:
                self._index.append(offset)
                offset += len(line)
            self._scanned = offset
            self._grew.notify_all()
            return list(range(first, first + len(lines)))

    # -- reading ---------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Index the complete lines appended since the last look (by this process or another)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size <= self._scanned:
            return
        with self.path.open("rb") as f:
            f.seek(self._scanned)
            base = line_start = self._scanned
            while chunk := f.read(CHUNK):
                start = 0
                while (nl := chunk.find(b"\n", start)) >= 0:
                    self._index.append(line_start)
                    line_start = base + nl + 1
                    start = nl + 1
                base += len(chunk)
            self._scanned = line_start  # an incomplete last line is indexed once it is complete

    def _line(self, sequence: int) -> bytes:
        start = self._index[sequence - 1]
        end = self._index[sequence] if sequence < len(self._index) else self._scanned
        with self.path.open("rb") as f:
            f.seek(start)
            return f.read(end - start)

    def last_sequence(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._index)

    def read(self, start: int = 1, limit: int | None = None) -> Iterator[Record]:
        if start < 1:
            raise EventLogError(f"read: start is a sequence >= 1, got {start}")
        with self._lock:
            self._refresh()
            last = len(self._index)
            if limit is not None:
                last = min(last, start + limit - 1)
            if start > last:
                return
            begin, end = (
                self._index[start - 1],
                (self._index[last] if last < len(self._index) else self._scanned),
            )
        with self.path.open("rb") as f:
            f.seek(begin)
            remaining = end - begin
            expected = start
            while remaining > 0:
                line = f.readline(remaining)
                remaining -= len(line)
                record = _parse(line, self.path)
                if record.sequence != expected:
                    raise EventLogError(
                        f"{self.path}: expected sequence {expected} on its line, got {record.sequence}"
                    )
                expected += 1
                yield record

    def wait_beyond(self, sequence: int, timeout: float) -> bool:
        """Wait until a record after ``sequence`` exists (appended here or by another process)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self._refresh()
                if len(self._index) > sequence:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._grew.wait(min(left, POLL_S))

    def consumer(self, name: str) -> Consumer:
        return EmbeddedConsumer(self, check_name(name, "consumer name"))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._fd is not None:
                if self.fsync:
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
            if self._lock_fd is not None:
                _unlock(self._lock_fd)
                self._lock_fd = None


def _parse(line: bytes, path: Path) -> Record:
    try:
        raw = json.loads(line)
        return Record(int(raw["seq"]), int(raw["ts"]), str(raw["source"]), raw["event"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EventLogError(f"{path}: unreadable record {line[:80]!r}: {exc}") from None


class EmbeddedConsumer(Consumer):
    """A durable position in an ``EmbeddedLog``, kept in ``<log>.consumers/<name>.json``."""

    def __init__(self, log: EmbeddedLog, name: str) -> None:
        self.name = name
        self.log = log
        folder = log.path.with_name(log.path.name + ".consumers")
        self._file = folder / f"{name}.json"
        self._lock_fd: int | None = _lock(folder / f"{name}.lock", f"consumer {name!r} of {log.path}")
        self._acked = self._load()
        self._delivered = self._acked

    def _load(self) -> int:
        try:
            raw = json.loads(self._file.read_text())
        except FileNotFoundError:
            return 0
        except ValueError as exc:
            raise EventLogError(f"{self._file}: unreadable consumer position: {exc}") from None
        acked = raw.get("acked") if isinstance(raw, dict) else None
        if not isinstance(acked, int) or acked < 0:
            raise EventLogError(f"{self._file}: 'acked': expected an integer >= 0, got {acked!r}")
        return acked

    @property
    def acked(self) -> int:
        return self._acked

    def fetch(self, max_records: int = 256, timeout: float = 1.0) -> list[Record]:
        if self._lock_fd is None:
            raise EventLogError(f"consumer {self.name!r}: closed")
        if not self.log.wait_beyond(self._delivered, timeout):
            return []
        records = list(self.log.read(self._delivered + 1, max_records))
        if records:
            self._delivered = records[-1].sequence
        return records

    def ack(self, sequence: int) -> None:
        if sequence > self._delivered:
            raise EventLogError(
                f"consumer {self.name!r}: ack of {sequence}, but only up to {self._delivered} was delivered"
            )
        if sequence <= self._acked:
            return
        tmp = self._file.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump({"acked": sequence}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._file)
        _fsync_dir(self._file.parent)
        self._acked = sequence

    def close(self) -> None:
        if self._lock_fd is not None:
            _unlock(self._lock_fd)
            self._lock_fd = None
