"""The operator consoles in headless Chromium against real processes: a coordinator and two agents over mTLS.

The region console (read-only) shows participants, sessions and convergence and verifies an inclusion proof
in the page; the agent console shows live status and each committed plan within a second, and its buttons
pause, resume, switch to observe-only and kill the running agent, checked at the (paper) venue through the
gateway's trades view. Screenshots of each page go to ``test-artifacts/console/``.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.controls import Scope
from agents.gateway.tokens import TokenIssuer, load_or_create_secret
from registry.pki import SpiffeId, write_bundle
from tests.federation.test_fed_processes import REGION, Region, free_port
from tests.gateway.test_gw_processes import Watched, sent_orders

pytestmark = pytest.mark.slow

WORKING = {"pending", "accepted", "partially_filled"}
PRIVATE = ("legs", "positions", "balances", "inventory", "book", "limit_price", "hedge_targets")


@dataclass
class Running:
    region: Region
    operated: str
    agent: Watched
    coordinator: Watched
    agent_url: str
    region_url: str
    tls: ssl.SSLContext
    admin: str
    region_token: str

    def trades(self) -> httpx.Client:
        return httpx.Client(base_url=self.agent_url, verify=self.tls, timeout=10)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("console")
    region = Region(tmp, 2, ("order_book", "cpmm"))
    try:
        operated = next(v for v in region.venues if v.startswith("order_book"))
        bundle = region.ca.issue(
            SpiffeId.agent(REGION, operated), dns_names=["localhost"], ip_addresses=["127.0.0.1"]
        )
        write_bundle(tmp / operated, bundle)
        agent_secret, region_secret = tmp / "agent-gateway.secret", tmp / "region-gateway.secret"
        port = free_port()
        coordinator = Watched(
            region.coordinator(
                port,
                "--sessions",
                "0",
                "--interval",
                "0.2",
                "--gateway-port",
                "0",
                "--gateway-secret-file",
                str(region_secret),
            )
        )
        region_url = coordinator.wait(lambda: [e["url"] for e in coordinator.since(0, "gateway")])[0]
        common = ("--paper-latency-ms", "50", "--prediction-error-pct", "1000000", "--events", "none")
        gateway = (
            "--gateway-port",
            "0",
            "--gateway-secret-file",
            str(agent_secret),
            "--gateway-audit-url",
            f"{region_url}/console",
        )
        agent = Watched(region.agent(operated, port, 0, *common, *gateway))
        for venue in region.venues:
            if venue != operated:
                region.agent(venue, port, 0, *common)
        agent_url = agent.wait(lambda: [e["url"] for e in agent.since(0, "gateway")])[0]
        yield Running(
            region,
            operated,
            agent,
            coordinator,
            agent_url,
            region_url,
            ssl.create_default_context(cafile=str(tmp / operated / "ca.pem")),
            TokenIssuer(load_or_create_secret(agent_secret)).issue("root", Scope.ADMIN),
            TokenIssuer(load_or_create_secret(region_secret)).issue("auditor", Scope.READ),
        )
    finally:
        region.close()


def open_page(browser: Any, url: str) -> Any:
    # The gateways serve certificates of the test's own region CA, which Chromium does not know.
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 1800})
    return context.new_page()


def test_region_console_shows_the_region_and_verifies_a_proof_in_the_page(
    running: Running, browser: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    tls = ssl.create_default_context(cafile=str(running.region.tmp / "coordinator" / "ca.pem"))
    with httpx.Client(base_url=running.region_url, verify=tls, timeout=10) as client:
        assert client.get("/console").status_code == 200  # the page itself needs no token
        assert client.get("/status").status_code == 401
    running.coordinator.wait(lambda: running.coordinator.since(0, "session"))

    page = open_page(browser, running.region_url)
    page.goto(f"{running.region_url}/console#token={running.region_token}")
    assert "token=" not in page.url  # taken from the fragment into sessionStorage, then dropped
    rows = page.get_by_test_id("participant-row")
    expect(rows).to_have_count(2, timeout=10_000)
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.venue)")) == running.region.venues
    expect(page.get_by_test_id("last-commit")).to_contain_text("plan #", timeout=5_000)
    assert int(page.get_by_test_id("region-sessions").inner_text()) >= 1
    expect(page.locator("[data-testid=convergence-chart] path").first).to_be_attached(timeout=10_000)
    expect(page.locator("[data-testid=latency-chart] path").first).to_be_attached(timeout=10_000)
    expect(page.locator("[data-testid=bound-chart] path").first).to_be_attached(timeout=10_000)

    # The checkpoint's Ed25519 signature and an entry's inclusion proof, both checked by the page itself.
    expect(page.get_by_test_id("checkpoint-signature")).to_have_text("verified", timeout=10_000)
    size = int(page.get_by_test_id("checkpoint-size").inner_text())
    assert size > 1
    page.get_by_test_id("proof-index").fill(str(size // 2))
    page.get_by_test_id("proof-verify").click()
    result = page.get_by_test_id("proof-result")
    expect(result).to_have_attribute("data-verified", "true", timeout=5_000)
    expect(result).to_contain_text("verified in the browser")

    # A proof altered on the way is refused by the page (so the page, not the gateway, verified it).
    def tamper(route: Any) -> None:
        body = route.fetch().json()
        body["path"][0] = ("00" if body["path"][0][:2] != "00" else "11") + body["path"][0][2:]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/ledger/proof/**", tamper)
    page.get_by_test_id("proof-verify").click()
    expect(result).to_have_attribute("data-verified", "false", timeout=5_000)
    expect(result).to_contain_text("FAILED")
    page.unroute("**/ledger/proof/**")
    page.get_by_test_id("ledger-entry").first.get_by_role("button").click()
    expect(result).to_have_attribute("data-verified", "true", timeout=5_000)
    page.screenshot(path=str(artifacts / "region-console.png"), full_page=True)

    # The region's view carries venue ids and aggregates, never an agent's private data.
    headers = {"Authorization": f"Bearer {running.region_token}"}
    with httpx.Client(base_url=running.region_url, verify=tls, timeout=10) as client:
        shown = json.dumps([client.get("/status", headers=headers).json()])
    assert not [word for word in PRIVATE if f'"{word}"' in shown]
    page.context.close()


def test_agent_console_shows_plans_and_its_controls_act_on_the_running_agent(
    running: Running, browser: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    headers = {"Authorization": f"Bearer {running.admin}"}
    page = open_page(browser, running.agent_url)
    page.goto(f"{running.agent_url}/console#token={running.admin}")
    mode = page.get_by_test_id("status-mode")
    expect(mode).to_have_text("active", timeout=1_000)  # live status within a second of loading
    expect(page.get_by_test_id("status-venue")).to_have_text(running.operated)
    expect(page.get_by_test_id("audit-link")).to_have_attribute("href", f"{running.region_url}/console")

    # Each committed plan is on the page within a second of the agent emitting it.
    t0 = time.monotonic()
    plan = running.agent.wait(lambda: running.agent.since(t0, "plan"))[0]
    seen = running.agent.since(0, "plan")
    t_plan = next(t for t, e in running.agent.events if e is plan)
    page.wait_for_function(
        "seq => Number(document.querySelector('[data-testid=last-plan]').dataset.sequence) >= seq",
        arg=plan["sequence"],
        timeout=1_000,
    )
    assert time.monotonic() - t_plan < 1.0, "plan shown later than 1 s after the agent emitted it"
    assert seen
    expect(page.get_by_test_id("pill-connected")).to_contain_text("connected")

    with running.trades() as client:
        running.agent.wait(lambda: sent_orders(client, headers) >= 2)
        expect(page.get_by_test_id("execution-row").first).to_be_attached(timeout=5_000)
        expect(page.get_by_test_id("scatter-point").first).to_be_attached(timeout=5_000)
        expect(page.get_by_test_id("order-row").first).to_be_attached(timeout=5_000)
        expect(page.locator("[data-testid=kpi-capture] path").first).to_be_attached(timeout=5_000)
        expect(page.locator("[data-testid=kpi-solve] path").first).to_be_attached(timeout=10_000)

        # Pause: the page shows it at once and no new order reaches the venue after a second.
        page.get_by_test_id("control-pause").click()
        expect(mode).to_have_text("paused", timeout=1_000)
        time.sleep(1.0)
        before = sent_orders(client, headers)
        time.sleep(2.0)  # several sessions (0.2 s apart)
        assert sent_orders(client, headers) == before

        page.get_by_test_id("control-resume").click()
        expect(mode).to_have_text("active", timeout=1_000)
        running.agent.wait(lambda: sent_orders(client, headers) > before)

        # Observe-only: the plans it would have traded are shown, none is sent.
        page.get_by_test_id("control-observe-only").click()
        expect(mode).to_have_text("observe_only", timeout=1_000)
        time.sleep(1.0)
        before = sent_orders(client, headers)
        would = page.get_by_test_id("would-trade")
        page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=would-trade]').dataset.legs) > 0",
            timeout=30_000,
        )
        expect(would).to_contain_text("observe_only")
        assert sent_orders(client, headers) == before
        page.screenshot(path=str(artifacts / "agent-console-observe-only.png"), full_page=True)

        # Back to trading, then the kill switch: open orders cancelled, nothing sent after, banner shown.
        page.get_by_test_id("control-observe-off").click()
        expect(mode).to_have_text("active", timeout=1_000)
        running.agent.wait(lambda: sent_orders(client, headers) > before)
        page.get_by_test_id("control-kill").click()
        expect(page.get_by_test_id("kill-banner")).to_be_visible(timeout=1_000)
        expect(page.get_by_test_id("control-result")).to_contain_text("cancelled")
        expect(mode).to_have_text("killed", timeout=1_000)
        time.sleep(1.0)
        before = sent_orders(client, headers)
        time.sleep(1.5)
        orders = client.get("/trades", headers=headers, params={"limit": 1000}).json()["orders"]
        assert sent_orders(client, headers) == before
        assert not [o for o in orders if o["status"] in WORKING], "an order is still working after the kill"
        page.screenshot(path=str(artifacts / "agent-console-killed.png"), full_page=True)

    recorded = [(e["action"], e["actor"]) for e in running.agent.since(0, "control")]
    assert recorded == [
        ("pause", "root"),
        ("resume", "root"),
        ("observe-only", "root"),
        ("observe-off", "root"),
        ("kill", "root"),
    ]
    page.context.close()
