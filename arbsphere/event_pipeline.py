"""What the CLI wraps around a service's ``emit``: JSON lines on stdout, the event log, and ``/metrics``.

Every event an agent or coordinator emits is printed and handed to a ``BackgroundAppender`` (bounded queue,
never blocks, drops counted); the metrics are a consumer of the same log (``MetricsFeed``), served over HTTP
when ``--metrics-port`` is given. With the log turned off (``--events none``) the metrics see the events
directly. The services themselves know nothing of this: they only call ``emit``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.events.log import DISABLED, Record, scope_of

if TYPE_CHECKING:
    from registry.events.appender import BackgroundAppender
    from registry.events.log import EventLog
    from registry.events.metrics import EventMetrics, MetricsFeed

log = logging.getLogger(__name__)


def _print(event: dict[str, object]) -> None:
    print(json.dumps(event, sort_keys=True), flush=True)


class EventPipeline:
    """Print, log and measure the events of one process (see the module docstring)."""

    def __init__(
        self,
        *,
        role: str,
        name: str,
        events: str | None,
        default_path: Path | None,
        metrics_port: int | None,
        metrics_host: str = "127.0.0.1",
    ) -> None:
        self.role = role
        self.source = f"{role}:{name}"
        self.scope = scope_of(f"{role}-{name}")
        self._lock = threading.Lock()
        self._temporary: Path | None = None
        self.log: EventLog | None = None
        self.appender: BackgroundAppender | None = None
        self.metrics: EventMetrics | None = None
        self.feed: MetricsFeed | None = None
        self._server: Any = None
        self._direct_sequence = 0
        self.notices: list[dict[str, object]] = []
        self._notices_due = False
        url = events
        if url is None:
            if default_path is None:
                self._temporary = Path(tempfile.mkdtemp(prefix=f"arbsphere-events-{self.scope}-"))
                default_path = self._temporary / "events.jsonl"
                self.notices.append(
                    {
                        "event": "notice",
                        "detail": f"event log in {default_path} (removed at exit; "
                        "--events or state_dir keeps it)",
                    }
                )
            url = str(default_path)
        if url.lower() not in DISABLED:
            from registry.events.appender import BackgroundAppender
            from registry.events.log import open_log

            self.log = open_log(url, scope=self.scope, source=self.source)
            self.appender = BackgroundAppender(self.log, on_batch=self._appended)
        if metrics_port is not None:
            from registry.events.metrics import EventMetrics, MetricsFeed, serve_metrics

            self.metrics = EventMetrics(role)
            if self.log is not None:
                start = 1
                try:
                    start = self.log.last_sequence() + 1
                except Exception as exc:  # the log is away: the feed catches up once it is back
                    log.warning("event log %s: %s", self.log.url, exc)
                self.feed = MetricsFeed(self.log, self.metrics, start=start)
            self._server, port = serve_metrics(self.metrics.registry, metrics_port, metrics_host)
            self.notices.append(
                {"event": "metrics", "url": f"http://{metrics_host}:{port}/metrics", "port": port}
            )
        if self.log is not None:
            self.notices.append({"event": "event_log", "url": self.log.url, "source": self.source})

    def _appended(self, size: int, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.appended_batch(size, seconds)

    def start(self) -> None:
        """Say what the pipeline itself has to say (where the log is, where the metrics are) right after
        the service's own first event, so that event (``listening``, say) stays the first line."""
        self._notices_due = True

    def emit(self, event: dict[str, object]) -> None:
        """The services' ``emit``: print, then queue for the log (never blocks, never raises)."""
        self._emit(event)
        if self._notices_due:
            self._notices_due = False
            for notice in self.notices:
                self._emit(notice)

    def _emit(self, event: dict[str, object]) -> None:
        with self._lock:
            _print(event)
        if self.appender is not None:
            dropped = self.appender.stats.dropped
            self.appender.submit(event)
            if self.metrics is not None and self.appender.stats.dropped > dropped:
                self.metrics.dropped_events.inc(self.appender.stats.dropped - dropped)
        elif self.metrics is not None:
            with self._lock:
                self._direct_sequence += 1
                record = Record(self._direct_sequence, time.time_ns(), self.source, event)
                self.metrics.observe(record)

    def close(self) -> None:
        if self.appender is not None:
            self.appender.close()
        if self.feed is not None:
            self.feed.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.log is not None:
            self.log.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
