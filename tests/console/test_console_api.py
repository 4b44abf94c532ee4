"""The consoles' server side without a browser: static pages, new routes, the region view, the ledger view.

The coordinator gateway runs over a real SQLite ledger; its inclusion proofs are checked here with the
ledger's own verifier (the browser test checks the page's JavaScript verifier against the same answers).
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from agents.agent_config import AgentConfig
from agents.controls import AgentStatus
from agents.gateway.app import build_app as build_agent_app
from arbsphere.commands.coordinator import app as coordinator_cli
from coordinator.gateway.app import build_app as build_region_app
from coordinator.gateway.ledger_view import LedgerView
from coordinator.gateway.view import ROUNDS_KEPT, RegionView, thin
from registry.gateway.fanout import EventFanout
from registry.gateway.tokens import Scope, TokenIssuer, TokenVerifier, load_or_create_secret
from registry.ledger import Ed25519Signer, Ledger, NoteSigner
from registry.ledger.merkle import hash_leaf, verify_inclusion
from tests.gateway.gw_helpers import controls_for, one_book_runtime


def session_event(n: int, **extra: object) -> dict[str, object]:
    return {
        "event": "session",
        "session": f"r-{n}",
        "strategy": "price",
        "rounds": 3,
        "converged": True,
        "profit": 1.5,
        "elapsed_ms": 12.0,
        "participants": ["a", "b", "c"],
        "dropped": ["c"],
        "sequence": n,
        "committed": ["a", "b"],
        "ledger_size": 10 * n,
        "ledger_root": "00" * 32,
        **extra,
    }


def test_region_view_keeps_venue_ids_and_aggregates_only() -> None:
    view = RegionView("eu", clock_ms=lambda: 1000)
    view.observe({"event": "listening", "host": "127.0.0.1", "port": 5, "region": "eu", "bounds": {}})
    for r in range(1, 4):
        shown = view.observe(
            {"event": "round", "round": r, "responders": 3, "imbalance_lots": 1 / r, "gap": 0.1}
        )
        assert shown is not None and shown["event"] == "round"
    # A field outside the whitelist (here a venue's legs, which no coordinator event carries) never shows.
    pushed = view.observe(session_event(1, legs=[{"size": "1"}], positions={"SOL": "3"}))
    assert pushed is not None and "legs" not in pushed and "positions" not in pushed
    assert view.observe({"event": "plan", "legs": []}) is None  # not a region event: nothing pushed
    status = view.status()
    assert "legs" not in str(status) and "positions" not in str(status)
    assert [p["venue"] for p in status["participants"]] == ["a", "b", "c"]  # type: ignore[index]
    by_venue = {p["venue"]: p for p in status["participants"]}  # type: ignore[index, union-attr]
    assert by_venue["a"]["committed"] == 1 and by_venue["c"]["dropped"] == 1
    assert status["connected"] == ["a", "b"]
    recent = status["sessions"]["recent"]  # type: ignore[index]
    assert [p["round"] for p in recent[0]["convergence"]] == [1, 2, 3]
    assert status["last_commit"] == {
        "session": "r-1",
        "sequence": 1,
        "committed": ["a", "b"],
        "profit": 1.5,
        "ledger_size": 10,
        "ledger_root": "00" * 32,
        "ts_ms": 1000,
    }
    view.observe(
        {"event": "abandoned", "session": "r-2", "reason": "x", "members": ["a"], "connected": ["a"]}
    )
    view.observe({"event": "evicted", "venue": "a", "reason": "silent", "sits_out_s": 5})
    status = view.status()
    assert status["sessions"]["abandoned"] == 1 and status["connected"] == []  # type: ignore[index]


def test_thin_keeps_the_last_round() -> None:
    points = [{"round": i} for i in range(5000)]
    kept = thin(points, ROUNDS_KEPT)
    assert len(kept) == ROUNDS_KEPT and kept[0]["round"] == 0 and kept[-1]["round"] == 4999


def test_fanout_never_blocks_and_a_slow_subscriber_loses_its_oldest() -> None:
    fanout = EventFanout(recent=3)
    loop = asyncio.new_event_loop()
    try:
        sub = fanout.subscribe(loop)
        for i in range(1200):  # nobody runs the loop: the subscriber falls behind
            fanout.publish({"event": "tick", "i": i})
        loop.run_until_complete(asyncio.sleep(0))
        assert sub.dropped == 200 and sub.queue.qsize() == 1000
        first = loop.run_until_complete(sub.get())
        assert first["i"] == 200
        assert [e["i"] for e in fanout.recent()] == [1197, 1198, 1199]
    finally:
        loop.close()
    fanout.publish({"event": "after"})  # a closed loop's subscriber is dropped, the publisher unharmed
    assert fanout.subscribers == 0


@pytest.fixture
def ledger_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    signer = Ed25519Signer.generate()
    with Ledger.open(url, NoteSigner.generate("arbsphere.test.log")) as ledger:
        for i in range(7):
            ledger.append("CONFIG_CHANGE", f'{{"i": {i}}}'.encode(), signer)
        ledger.flush()
    yield url


@pytest.fixture
def region(tmp_path: Path, ledger_url: str) -> Iterator[tuple[TestClient, bytes, EventFanout]]:
    secret = load_or_create_secret(tmp_path / "region.secret")
    view = RegionView("eu")
    view.observe(session_event(1))
    events = EventFanout()
    ledger = LedgerView(ledger_url)
    with TestClient(build_region_app(view, ledger, TokenVerifier(secret), events=events)) as client:
        yield client, secret, events
    ledger.close()


def test_region_gateway_serves_the_console_freely_and_data_only_with_a_token(
    region: tuple[TestClient, bytes, EventFanout], tmp_path: Path
) -> None:
    client, secret, _ = region
    page = client.get("/console")
    assert page.status_code == 200 and 'data-testid="participants-table"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("app.js", "merkle.js", "charts.js", "style.css"):
        assert client.get(f"/console/{asset}").status_code == 200
    assert client.get("/console/../app.py").status_code == 404
    for path in ("/status", "/ledger/checkpoint", "/ledger/entries", "/ledger/proof/0"):
        assert client.get(path).status_code == 401
    other = TokenIssuer(load_or_create_secret(tmp_path / "agent.secret")).issue("x", Scope.ADMIN)
    assert client.get("/status", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    expired = TokenIssuer(secret, clock=lambda: 1_000.0).issue("x", Scope.READ)
    assert client.get("/status", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    token = TokenIssuer(secret).issue("auditor", Scope.READ)
    status = client.get("/status", headers={"Authorization": f"Bearer {token}"}).json()
    assert status["region"] == "eu" and status["sessions"]["completed"] == 1


def test_region_gateway_ledger_answers_verify_against_the_signed_checkpoint(
    region: tuple[TestClient, bytes, EventFanout],
) -> None:
    client, secret, _ = region
    headers = {"Authorization": f"Bearer {TokenIssuer(secret).issue('auditor', Scope.READ)}"}
    checkpoint = client.get("/ledger/checkpoint", headers=headers).json()
    text = checkpoint["note"].split("\n\n")[0].split("\n")
    assert text[0] == "arbsphere.test.log" and int(text[1]) == checkpoint["size"] == 7
    root = base64.b64decode(text[2])
    assert root.hex() == checkpoint["root_hash"]
    page = client.get("/ledger/entries", headers=headers, params={"limit": 3}).json()
    assert [e["index"] for e in page["entries"]] == [4, 5, 6] and page["entries"][0]["payload"] == {"i": 4}
    for index in range(7):
        proof = client.get(f"/ledger/proof/{index}", headers=headers, params={"size": 7}).json()
        leaf = hash_leaf(bytes.fromhex(proof["leaf_data"]))
        assert leaf.hex() == proof["leaf_hash"]
        verify_inclusion(index, 7, leaf, [bytes.fromhex(h) for h in proof["path"]], root)
    assert client.get("/ledger/proof/7", headers=headers).status_code == 400
    assert client.get("/ledger/proof/0", headers=headers, params={"size": 99}).status_code == 400


def test_region_gateway_without_a_ledger_yet_answers_503(tmp_path: Path) -> None:
    secret = load_or_create_secret(tmp_path / "s")
    ledger = LedgerView(f"sqlite:///{tmp_path / 'missing' / 'ledger.sqlite'}")
    with TestClient(build_region_app(RegionView("eu"), ledger, TokenVerifier(secret))) as client:
        headers = {"Authorization": f"Bearer {TokenIssuer(secret).issue('a', Scope.READ)}"}
        assert client.get("/ledger/checkpoint", headers=headers).status_code == 503


def test_region_event_stream_replays_then_pushes(region: tuple[TestClient, bytes, EventFanout]) -> None:
    client, secret, events = region
    events.publish({"event": "session", "session": "r-9"})
    token = TokenIssuer(secret).issue("auditor", Scope.READ)
    with client.websocket_connect(f"/ws/events?access_token={token}") as ws:
        assert ws.receive_json() == {"event": "session", "session": "r-9", "replayed": True}
        threading.Timer(0.05, events.publish, args=({"event": "round", "round": 1},)).start()
        assert ws.receive_json() == {"event": "round", "round": 1}
    with client.websocket_connect(f"/ws/status?access_token={token}") as ws:
        assert ws.receive_json()["region"] == "eu"
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/events") as ws:
        ws.receive_json()


def test_agent_gateway_console_opportunities_windows_and_event_stream(tmp_path: Path) -> None:
    runtime, _ = one_book_runtime(tmp_path / "state")
    controls, _ = controls_for(runtime)
    config = AgentConfig.model_validate(
        {"venue": "v", "exchange": "simulator", "source": "simulator"},
    )
    secret = load_or_create_secret(tmp_path / "gateway.secret")
    events = EventFanout()
    app = build_agent_app(
        controls,
        AgentStatus(runtime, config, controls),
        TokenVerifier(secret),
        events=events,
        audit_url="https://region.example/console",
    )
    try:
        with TestClient(app) as client:
            page = client.get("/console")
            assert page.status_code == 200 and 'data-testid="kill-banner"' in page.text
            assert client.get("/console/config.json").json()["audit_url"] == "https://region.example/console"
            assert client.get("/opportunities").status_code == 401
            headers = {"Authorization": f"Bearer {TokenIssuer(secret).issue('viewer', Scope.READ)}"}
            assert isinstance(client.get("/opportunities", headers=headers).json()["opportunities"], list)
            assert isinstance(client.get("/windows", headers=headers).json()["windows"], list)
            events.publish({"event": "plan", "sequence": 1, "legs": []})
            assert client.get("/events", headers=headers).json()["events"][-1]["sequence"] == 1
            token = headers["Authorization"].removeprefix("Bearer ")
            with client.websocket_connect(f"/ws/events?access_token={token}") as ws:
                assert ws.receive_json()["replayed"] is True
                threading.Timer(0.05, events.publish, args=({"event": "control", "action": "pause"},)).start()
                assert ws.receive_json() == {"event": "control", "action": "pause"}
    finally:
        runtime.close()


def test_coordinator_token_cli_issues_a_read_token(tmp_path: Path) -> None:
    path = tmp_path / "region.secret"
    result = CliRunner().invoke(coordinator_cli, ["token", "--secret-file", str(path), "--actor", "auditor"])
    assert result.exit_code == 0, result.output
    principal = TokenVerifier(load_or_create_secret(path)).verify(result.output.strip())
    assert principal.actor == "auditor" and principal.scope is Scope.READ
    assert oct(path.stat().st_mode & 0o777) == "0o600"
