"""Prometheus metrics derived from the event log, served at ``/metrics`` by agents and coordinators.

``EventMetrics.observe`` turns one record into metric updates; ``MetricsFeed`` is the consumer that reads
the process's own log from where it stood at start (a slow or failed feed never touches the orders: it only
lags, and catches up from the log), and ``serve_metrics`` exposes the registry over HTTP.

What each event gives (names carry their units; every metric starts with ``arbsphere_``):

- coordinator ``session``: sessions by strategy and convergence, rounds per session, session solve latency,
  profit at commit and against the certified bound, participants, committed and dropped members, ledger
  size and append latency; the last ``round`` before it gives imbalance (lots) and gap at commit.
  ``round``: rounds, latest imbalance and gap, the round trip to every member (``gather_ms``) and the
  delta merge of the aggregate into the next prices (``merge_ms``). ``abandoned``: abandoned sessions.
- agent ``plan``: plans, planned orders (legs) by side, predicted profit. ``execution``: executions by status
  (``REFUSED`` is a reject, ``HEDGED`` a hedge), fills by side, filled notional, fees, realised and predicted
  PnL, PnL vs plan, risk gates that fired, plan-to-orders latency. ``hedge``: hedge take-overs.
  ``trading_paused``/``trading_resumed``: per-asset feed gate state. ``recovered``: orders recovered.
  ``feed_health`` (periodic): per feed, message rate, staleness and websocket reconnects.
  ``session_stats`` (one per session): local solve latency per round, inventory drift per asset.
- the appender itself: events appended, dropped, append failures, append latency.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from registry.events.log import EventLog, Record

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ROUND_BUCKETS = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584)
APPEND_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


def _num(value: object) -> float:
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return 0.0


class EventMetrics:
    """The metric families and how events move them (see the module docstring)."""

    def __init__(self, role: str, registry: CollectorRegistry | None = None) -> None:
        self.role = role
        self.registry = registry or CollectorRegistry()
        r = self.registry
        p = "arbsphere_"
        self.events = Counter(p + "events", "Events seen in the log, by kind.", ["kind"], registry=r)
        self.log_position = Gauge(p + "event_log_position", "Last log sequence this feed read.", registry=r)
        # coordinator
        self.sessions = Counter(p + "sessions", "Completed sessions.", ["strategy", "converged"], registry=r)
        self.sessions_abandoned = Counter(p + "sessions_abandoned", "Abandoned sessions.", registry=r)
        self.rounds = Counter(p + "rounds", "Aggregation rounds reported.", registry=r)
        self.session_rounds = Histogram(
            p + "session_rounds", "Rounds per completed session.", buckets=ROUND_BUCKETS, registry=r
        )
        self.session_seconds = Histogram(
            p + "session_solve_seconds",
            "Session solve latency (first round to commit).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.session_profit = Gauge(
            p + "session_profit_quote", "Profit of the last committed plan.", registry=r
        )
        self.profit_total = Counter(
            p + "committed_profit_quote", "Sum of committed plans' profit.", registry=r
        )
        self.participants = Gauge(p + "session_participants", "Members of the last session.", registry=r)
        self.committed = Counter(p + "session_commits", "Members that acknowledged a commit.", registry=r)
        self.dropped = Counter(p + "session_dropped_members", "Members dropped from sessions.", registry=r)
        self.round_imbalance = Gauge(p + "round_imbalance_lots", "Imbalance of the last round.", registry=r)
        self.round_gap = Gauge(p + "round_gap", "Gap of the last round.", registry=r)
        self.commit_imbalance = Gauge(
            p + "commit_imbalance_lots",
            "Imbalance (lots) of the last round before the last commit.",
            registry=r,
        )
        self.commit_gap = Gauge(p + "commit_gap", "Gap of the last round before the last commit.", registry=r)
        self.ledger_size = Gauge(p + "ledger_size_entries", "Entries on the governance ledger.", registry=r)
        self.execution_reports = Counter(
            p + "execution_reports_recorded", "Execution reports recorded on the ledger.", registry=r
        )
        # agent
        self.plans = Counter(p + "plans", "Committed plans received.", registry=r)
        self.orders = Counter(p + "orders", "Orders planned (one per leg).", ["side"], registry=r)
        self.predicted_profit = Counter(
            p + "plan_expected_profit_quote", "Sum of committed plans' expected profit.", registry=r
        )
        self.executions = Counter(p + "executions", "Plan executions by outcome.", ["status"], registry=r)
        self.rejects = Counter(
            p + "rejects", "Plan executions refused (by a risk gate or the venue).", registry=r
        )
        self.hedges = Counter(p + "hedges", "Hedged executions and hedge take-overs.", ["kind"], registry=r)
        self.fills = Counter(p + "fills", "Fills.", ["side"], registry=r)
        self.filled_notional = Counter(p + "filled_notional_quote", "Quote notional filled.", registry=r)
        self.fees = Counter(p + "fees_quote", "Fees paid.", registry=r)
        self.realised = Gauge(p + "realised_pnl_quote", "Cumulative realised PnL (cash flow).", registry=r)
        self.predicted = Gauge(p + "predicted_pnl_quote", "Cumulative predicted PnL (cash flow).", registry=r)
        self.pnl_vs_plan = Gauge(p + "pnl_vs_plan_quote", "Cumulative realised minus predicted.", registry=r)
        self.risk_gates = Counter(p + "risk_gate_trips", "Risk gates that fired.", ["gate"], registry=r)
        self.trading_paused = Gauge(
            p + "trading_paused", "1 while the feed gate pauses an asset.", ["asset"], registry=r
        )
        self.plan_to_orders = Histogram(
            p + "plan_to_orders_seconds", "Commit to orders sent.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.tick_to_orders = Histogram(
            p + "tick_to_orders_seconds", "Feed tick to orders sent.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.recovered_orders = Counter(p + "recovered_orders", "Orders recovered at start.", registry=r)
        self.feed_rate = Gauge(
            p + "feed_messages_per_second", "Feed messages per second.", ["feed"], registry=r
        )
        self.feed_staleness = Gauge(
            p + "feed_staleness_seconds", "Time since the feed's last message.", ["feed"], registry=r
        )
        self.feed_reconnects = Counter(
            p + "feed_reconnects", "Websocket reconnects of the feed.", ["feed"], registry=r
        )
        self.local_solve = Histogram(
            p + "local_solve_seconds",
            "The agent's local step per round (its private solve).",
            buckets=APPEND_BUCKETS,
            registry=r,
        )
        self.inventory_drift = Gauge(
            p + "inventory_drift",
            "Held minus expected inventory (base units) after the session's executions.",
            ["asset"],
            registry=r,
        )
        # coordinator rounds and the ledger
        self.round_gather = Histogram(
            p + "round_gather_seconds",
            "A round's wall time from broadcast to the aggregate of every member.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.delta_merge = Histogram(
            p + "delta_merge_seconds",
            "Merging a round's aggregate into the next prices (the coordinator's own step).",
            buckets=APPEND_BUCKETS,
            registry=r,
        )
        self.certified_bound = Gauge(
            p + "session_certified_bound_quote",
            "Upper bound on the last session's optimal profit (profit + certified gap).",
            registry=r,
        )
        self.profit_vs_bound = Gauge(
            p + "session_profit_over_bound_ratio",
            "Committed profit over the certified bound, last session.",
            registry=r,
        )
        self.ledger_append = Histogram(
            p + "ledger_append_seconds",
            "Latency of the session's ledger appends (write-ahead commit entry).",
            buckets=APPEND_BUCKETS,
            registry=r,
        )
        self._feed_reconnects: dict[str, int] = {}
        # the log itself
        self.appended = Counter(p + "event_log_appended", "Events appended to the log.", registry=r)
        self.dropped_events = Counter(
            p + "event_log_dropped", "Events dropped (queue full or log away).", registry=r
        )
        self.append_seconds = Histogram(
            p + "event_log_append_seconds", "Latency of one batch append.", buckets=APPEND_BUCKETS, registry=r
        )
        self.append_batch = Histogram(
            p + "event_log_append_batch_events",
            "Events per appended batch.",
            buckets=ROUND_BUCKETS,
            registry=r,
        )
        self._last_round: Mapping[str, Any] = {}
        self._realised = Decimal(0)
        self._predicted = Decimal(0)
        self._vs_plan = Decimal(0)

    def observe(self, record: Record) -> None:
        event = record.event
        kind = record.kind
        self.events.labels(kind or "unknown").inc()
        self.log_position.set(record.sequence)
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            try:
                handler(event)
            except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
                # a malformed event must not stop the feed
                log.warning("metrics: event %s (%s) not counted: %s", record.sequence, kind, exc)

    # -- coordinator -----------------------------------------------------------------------------------
    def _on_round(self, e: Mapping[str, Any]) -> None:
        self.rounds.inc()
        self._last_round = e
        self.round_imbalance.set(_num(e.get("imbalance_lots", 0)))
        self.round_gap.set(_num(e.get("gap", 0)))
        if "gather_ms" in e:
            self.round_gather.observe(_num(e["gather_ms"]) / 1e3)
        if "merge_ms" in e:
            self.delta_merge.observe(_num(e["merge_ms"]) / 1e3)

    def _on_session(self, e: Mapping[str, Any]) -> None:
        self.sessions.labels(str(e.get("strategy", "")), str(bool(e.get("converged"))).lower()).inc()
        self.session_rounds.observe(int(e.get("rounds", 0)))
        self.session_seconds.observe(_num(e.get("elapsed_ms", 0)) / 1e3)
        profit = _num(e.get("profit", 0))
        self.session_profit.set(profit)
        if profit > 0:
            self.profit_total.inc(profit)
        self.participants.set(len(e.get("participants") or ()))
        self.committed.inc(len(e.get("committed") or ()))
        self.dropped.inc(len(e.get("dropped") or ()))
        self.execution_reports.inc(int(e.get("execution_reports") or 0))
        if "ledger_size" in e:
            self.ledger_size.set(int(e["ledger_size"]))
        if "ledger_append_ms" in e:
            self.ledger_append.observe(_num(e["ledger_append_ms"]) / 1e3)
        if "bound" in e:
            bound = _num(e["bound"])
            self.certified_bound.set(bound)
            if bound > 0:
                self.profit_vs_bound.set(profit / bound)
        if self._last_round:
            self.commit_imbalance.set(_num(self._last_round.get("imbalance_lots", 0)))
            self.commit_gap.set(_num(self._last_round.get("gap", 0)))
        self._last_round = {}

    def _on_abandoned(self, e: Mapping[str, Any]) -> None:
        self.sessions_abandoned.inc()
        self._last_round = {}

    # -- agent -----------------------------------------------------------------------------------------
    def _on_plan(self, e: Mapping[str, Any]) -> None:
        self.plans.inc()
        for leg in e.get("legs") or ():
            self.orders.labels(str(leg.get("side", ""))).inc()
        profit = _num(e.get("expected_profit", 0))
        if profit > 0:
            self.predicted_profit.inc(profit)

    def _on_execution(self, e: Mapping[str, Any]) -> None:
        status = str(e.get("status", ""))
        self.executions.labels(status).inc()
        if status == "REFUSED":
            self.rejects.inc()
        if status == "HEDGED":
            self.hedges.labels("execution").inc()
        for fill in e.get("fills") or ():
            self.fills.labels(str(fill.get("side", ""))).inc()
            self.filled_notional.inc(abs(_num(fill.get("price", 0)) * _num(fill.get("size", 0))))
        fees = _num(e.get("fees", 0))
        if fees > 0:
            self.fees.inc(fees)
        self._realised += Decimal(str(e.get("realised_pnl", "0")))
        self._predicted += Decimal(str(e.get("predicted_pnl", "0")))
        self._vs_plan += Decimal(str(e.get("pnl_vs_plan", "0")))
        self.realised.set(float(self._realised))
        self.predicted.set(float(self._predicted))
        self.pnl_vs_plan.set(float(self._vs_plan))
        for gate in e.get("risk_gates") or ():
            self.risk_gates.labels(str(gate)).inc()
        orders_ns, plan_ns, tick_ns = (int(e.get(k) or 0) for k in ("orders_ns", "plan_ns", "tick_ns"))
        if orders_ns and plan_ns and orders_ns >= plan_ns:
            self.plan_to_orders.observe((orders_ns - plan_ns) / 1e9)
        if orders_ns and tick_ns and orders_ns >= tick_ns:
            self.tick_to_orders.observe((orders_ns - tick_ns) / 1e9)

    def _on_hedge(self, e: Mapping[str, Any]) -> None:
        self.hedges.labels("takeover").inc()

    def _on_trading_paused(self, e: Mapping[str, Any]) -> None:
        self.trading_paused.labels(str(e.get("asset", ""))).set(1)

    def _on_trading_resumed(self, e: Mapping[str, Any]) -> None:
        self.trading_paused.labels(str(e.get("asset", ""))).set(0)

    def _on_recovered(self, e: Mapping[str, Any]) -> None:
        self.recovered_orders.inc(int(e.get("orders") or 0))

    def _on_feed_health(self, e: Mapping[str, Any]) -> None:
        for feed, health in (e.get("feeds") or {}).items():
            name = str(feed)
            self.feed_rate.labels(name).set(_num(health.get("rate_per_s", 0)))
            staleness = health.get("staleness_ms")
            if staleness is not None:
                self.feed_staleness.labels(name).set(_num(staleness) / 1e3)
            total = int(health.get("reconnects") or 0)
            seen = self._feed_reconnects.get(name, 0)
            if total > seen:  # the feed reports a running total: count what is new
                self.feed_reconnects.labels(name).inc(total - seen)
            self._feed_reconnects[name] = total

    def _on_session_stats(self, e: Mapping[str, Any]) -> None:
        for ms in e.get("solve_ms") or ():
            self.local_solve.observe(_num(ms) / 1e3)
        for asset, drift in (e.get("inventory_drift") or {}).items():
            self.inventory_drift.labels(str(asset)).set(_num(drift))

    # -- the appender ------------------------------------------------------------------------------------
    def appended_batch(self, size: int, seconds: float) -> None:
        self.appended.inc(size)
        self.append_seconds.observe(seconds)
        self.append_batch.observe(size)


class MetricsFeed:
    """Reads ``event_log`` from ``start`` into ``metrics`` on a daemon thread, never writing anything."""

    def __init__(self, event_log: EventLog, metrics: EventMetrics, *, start: int | None = None) -> None:
        self.log = event_log
        self.metrics = metrics
        self.next = (event_log.last_sequence() if start is None else start - 1) + 1
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff = 0.05
        while not self.stop.is_set():
            try:
                progressed = False
                if self.log.last_sequence() < self.next:  # cheap on both backends; read() is not on JetStream
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, 0.5)
                    continue
                for record in self.log.read(self.next, 1000):
                    self.metrics.observe(record)
                    self.next = record.sequence + 1
                    progressed = True
                backoff = 0.05 if progressed else min(backoff * 2, 0.5)
            except Exception as exc:  # the log is away: lag, retry, never raise
                log.debug("metrics feed: %s", exc)
                backoff = min(backoff * 2, 2.0)
            self.stop.wait(backoff)

    def close(self, timeout: float = 2.0) -> None:
        self.stop.set()
        self._thread.join(timeout)


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> tuple[Any, int]:
    """Serve ``registry`` at ``http://host:port/metrics`` (port 0: a free one); (server, bound port)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, int(server.server_address[1])
