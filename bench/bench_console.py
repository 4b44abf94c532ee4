"""Console update latency: from an event emitted in the gateway's process to the browser, p50/p99 (ms).

The real path of ``coordinator serve --gateway-port``: each event goes through the region view and the event
fan-out (``coordinator.gateway``) to the TLS gateway, and from there to the console page in headless
Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright). Two paths are measured:

- ``event``: the ``/ws/events`` stream; the page stamps each event with ``Date.now()`` as it renders it.
- ``status``: the ``/ws/status`` view (checked every 100 ms, pushed on change); a MutationObserver stamps the
  moment the page's session counter shows the new value.

The agent's console uses the same fan-out and the same status loop. Emitter and browser share the host's
wall clock, so latencies are plain differences of ``time.time()`` and ``Date.now()`` (1 ms resolution).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import percentile, print_table, write_results

CHROMIUM = Path(os.environ.get("ARBSPHERE_CHROMIUM", "/usr/bin/chromium"))
EVENTS = 300
EVENT_GAP_S = 0.02
STATUS_CHANGES = 60
STATUS_GAP_S = 0.25


def _session(n: int) -> dict[str, object]:
    return {
        "event": "session",
        "session": f"bench-{n}",
        "strategy": "price",
        "rounds": 3,
        "converged": True,
        "profit": 1.0,
        "elapsed_ms": 5.0,
        "participants": ["a", "b"],
        "dropped": [],
        "sequence": n,
        "committed": ["a", "b"],
        "ledger_size": n,
        "ledger_root": "00" * 32,
    }


def main() -> dict[str, object]:
    if not CHROMIUM.is_file():
        raise RuntimeError(f"{CHROMIUM} not found (as root: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    from coordinator.gateway.server import serve_region_gateway
    from coordinator.gateway.view import RegionView
    from registry.gateway.fanout import EventFanout
    from registry.gateway.tokens import Scope, TokenIssuer, load_or_create_secret
    from registry.pki import DevCertificateAuthority, write_bundle

    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        root = Path(tmp)
        ca = DevCertificateAuthority.create(root / "ca", "bench")
        write_bundle(root / "coordinator", ca.issue_coordinator())
        view = RegionView("bench")
        fanout = EventFanout()

        def emit(event: dict[str, object]) -> None:  # what the CLI's region gateway does per event
            shown = view.observe(event)
            if shown is not None:
                fanout.publish(shown)

        server, _ = serve_region_gateway(
            view, ledger_url=None, secret_file=root / "secret", cert_dir=root / "coordinator", events=fanout
        )
        token = TokenIssuer(load_or_create_secret(root / "secret")).issue("bench", Scope.READ)
        try:
            with sync_playwright() as playwright:
                args = ["--no-sandbox"] if os.geteuid() == 0 else []
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
                page = browser.new_context(ignore_https_errors=True).new_page()
                page.goto(f"{server.url}/console#token={token}")
                page.wait_for_function(
                    "() => document.querySelector('[data-testid=connection]').textContent === 'live'"
                )
                time.sleep(0.5)
                event_ms = _event_latencies(page, emit)
                status_ms = _status_latencies(page, emit)
                browser.close()
        finally:
            server.stop()
    metrics: dict[str, object] = {
        "event_to_browser_p50_ms": percentile(event_ms, 50),
        "event_to_browser_p99_ms": percentile(event_ms, 99),
        "event_to_browser_max_ms": max(event_ms),
        "events": len(event_ms),
        "status_to_browser_p50_ms": percentile(status_ms, 50),
        "status_to_browser_p99_ms": percentile(status_ms, 99),
        "status_to_browser_max_ms": max(status_ms),
        "status_changes": len(status_ms),
        "status_check_interval_ms": 100,
    }
    print_table(
        "Console update latency, event in the gateway's process to the page (ms)",
        ["path", "n", "p50", "p99", "max"],
        [
            [path, len(ms), percentile(ms, 50), percentile(ms, 99), max(ms)]
            for path, ms in (("/ws/events", event_ms), ("/ws/status", status_ms))
        ],
    )
    write_results("console", metrics)
    return metrics


def _event_latencies(page: Any, emit: Any) -> list[float]:
    sent: dict[int, float] = {}
    base = 1_000_000
    for i in range(EVENTS):
        sequence = base + i
        sent[sequence] = time.time() * 1000
        emit(_session(sequence))
        time.sleep(EVENT_GAP_S)
    page.wait_for_timeout(1000)
    received = page.evaluate(
        "b => window.consoleReceived.filter(r => r.event === 'session' && !r.replayed && r.seq >= b)", base
    )
    if len(received) < EVENTS * 0.95:
        raise RuntimeError(f"the page received {len(received)} of {EVENTS} events")
    return [float(r["at"]) - sent[int(r["seq"])] for r in received]


def _status_latencies(page: Any, emit: Any) -> list[float]:
    page.evaluate(
        """() => {
        window.sessionsShown = [];
        const el = document.querySelector('[data-testid=region-sessions]');
        new MutationObserver(() => window.sessionsShown.push([Number(el.textContent), Date.now()]))
          .observe(el, {childList: true, characterData: true, subtree: true});
      }"""
    )
    counter = "document.querySelector('[data-testid=region-sessions]')"
    start = view_completed = int(page.evaluate(f"() => Number({counter}.textContent) || 0"))
    sent: dict[int, float] = {}
    for i in range(1, STATUS_CHANGES + 1):
        sent[start + i] = time.time() * 1000
        emit(_session(10_000_000 + i))
        view_completed = start + i
        time.sleep(STATUS_GAP_S)
    page.wait_for_timeout(1000)
    shown = page.evaluate("() => window.sessionsShown")
    first: dict[int, float] = {}
    for value, at in shown:
        first.setdefault(int(value), float(at))
    latencies = [first[n] - sent[n] for n in sent if n in first]
    if len(latencies) < STATUS_CHANGES * 0.95 or view_completed not in first:
        raise RuntimeError(f"the page showed {len(latencies)} of {STATUS_CHANGES} status changes")
    return latencies


if __name__ == "__main__":
    main()
