"""The gateway's HTTP surface (FastAPI TestClient): tokens, scopes, rate limits, secrets, the token CLI."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from agents.agent_config import AgentConfig
from agents.controls import AgentStatus, Scope
from agents.gateway.app import build_app
from agents.gateway.ratelimit import RateLimiter
from agents.gateway.tokens import TokenError, TokenIssuer, TokenVerifier, load_or_create_secret
from agents.runtime import AgentRuntime
from arbsphere.commands.agent import app as agent_cli
from tests.gateway.gw_helpers import controls_for, one_book_runtime


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secret(tmp_path: Path) -> bytes:
    return load_or_create_secret(tmp_path / "gateway.secret")


@pytest.fixture
def gateway(
    tmp_path: Path, secret: bytes
) -> Iterator[tuple[TestClient, AgentRuntime, list[dict[str, object]], FakeClock]]:
    runtime, _ = one_book_runtime(tmp_path / "state")
    controls, events = controls_for(runtime)
    config = AgentConfig.model_validate(
        {
            "venue": "v",
            "exchange": "simulator",
            "source": "simulator",
            "credentials": {"secret_env": "VENUE_SECRET_VAR"},
            "gateway": {"port": 0, "secret_file": str(tmp_path / "gateway.secret")},
        }
    )
    clock = FakeClock()
    app = build_app(
        controls,
        AgentStatus(runtime, config, controls),
        TokenVerifier(secret),
        limiter=RateLimiter(1.0, 2, clock=clock),
    )
    with TestClient(app) as client:
        yield client, runtime, events, clock
    runtime.close()


def bearer(secret: bytes, scope: Scope, actor: str = "alice", **issuer: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {TokenIssuer(secret, **issuer).issue(actor, scope)}"}  # type: ignore[arg-type]


def test_without_a_token_with_a_bad_or_expired_one_everything_is_refused(
    gateway: tuple, secret: bytes
) -> None:
    client, _, events, _ = gateway
    assert client.get("/healthz").status_code == 200
    for path in ("/status", "/inventory", "/risk", "/trades", "/config"):
        refused = client.get(path)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert client.post("/controls/pause").status_code == 401
    assert client.get("/status", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    forged = TokenIssuer(b"x" * 32).issue("mallory", Scope.ADMIN)
    assert client.post("/controls/kill", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = bearer(secret, Scope.ADMIN, clock=lambda: 1_000_000.0)  # issued long ago, 15 min TTL
    response = client.post("/controls/pause", headers=expired)
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert events == []  # nothing reached the controls


def test_scopes_read_trade_admin(gateway: tuple, secret: bytes) -> None:
    client, runtime, events, _ = gateway
    read = bearer(secret, Scope.READ, "reader")
    assert client.get("/status", headers=read).json()["mode"] == "active"
    assert client.post("/controls/pause", headers=read).status_code == 403
    trade = bearer(secret, Scope.TRADE, "trader")
    assert client.post("/controls/kill", headers=trade).status_code == 403  # the kill switch is admin's
    paused = client.post("/controls/pause", headers=trade, json={"reason": "venue maintenance"})
    assert paused.status_code == 200 and paused.json()["mode"] == "paused"
    admin = bearer(secret, Scope.ADMIN, "root")
    killed = client.post("/controls/kill", headers=admin)
    assert killed.status_code == 200 and killed.json()["cancelled"] == []
    refused = client.post("/controls/resume", headers=admin)  # killed: only reset-kill leaves it
    assert refused.status_code == 409 and "reset_kill" in refused.json()["detail"]["error"]
    assert client.post("/controls/no-such-action", headers=admin).status_code == 422
    assert runtime.risk.mode.value == "killed"
    assert [(e["action"], e["actor"], e["ok"]) for e in events] == [
        ("pause", "trader", True),
        ("kill", "root", True),
        ("resume", "root", False),
    ]
    assert events[0]["reason"] == "venue maintenance"


def test_control_endpoints_are_rate_limited_per_actor(gateway: tuple, secret: bytes) -> None:
    client, _, events, clock = gateway
    alice, bob = bearer(secret, Scope.TRADE, "alice"), bearer(secret, Scope.TRADE, "bob")
    assert [client.post("/controls/cancel-all", headers=alice).status_code for _ in range(2)] == [200, 200]
    limited = client.post("/controls/cancel-all", headers=alice)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert client.post("/controls/cancel-all", headers=bob).status_code == 200  # a bucket per actor
    assert client.get("/status", headers=alice).status_code == 200  # reads are not limited
    clock.now += 1.0
    assert client.post("/controls/cancel-all", headers=alice).status_code == 200
    assert len(events) == 4  # the refused request never reached the controls


def test_reads_and_the_config_never_show_secrets(gateway: tuple, secret: bytes) -> None:
    client, _, _, _ = gateway
    read = bearer(secret, Scope.READ)
    bodies = [
        client.get(p, headers=read).text for p in ("/status", "/inventory", "/risk", "/trades", "/config")
    ]
    config = client.get("/config", headers=read).json()
    assert config["credentials"] == {"configured": True}
    assert config["gateway"]["secret_file"] == "<set>"
    for body in bodies:
        assert "VENUE_SECRET_VAR" not in body and "gateway.secret" not in body
        assert secret.decode() not in body


def test_openapi_lists_the_routes_and_bearer_auth(gateway: tuple) -> None:
    client, _, _, _ = gateway
    spec = client.get("/openapi.json").json()
    assert {"/status", "/inventory", "/risk", "/trades", "/config", "/controls/{action}"} <= set(
        spec["paths"]
    )
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_status_websocket_needs_a_read_token(gateway: tuple, secret: bytes) -> None:
    client, _, _, _ = gateway
    token = TokenIssuer(secret).issue("viewer", Scope.READ)
    with client.websocket_connect(f"/ws/status?access_token={token}") as ws:
        assert ws.receive_json()["venue"] == "v"
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/status") as ws:
        ws.receive_json()


def test_token_cli_issues_a_verifiable_short_lived_token(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    result = CliRunner().invoke(
        agent_cli, ["token", "--secret-file", str(path), "--scope", "trade", "--ttl", "60", "--actor", "ops"]
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    principal = TokenVerifier(load_or_create_secret(path)).verify(result.output.strip())
    assert (principal.actor, principal.scope) == ("ops", Scope.TRADE)
    too_long = CliRunner().invoke(agent_cli, ["token", "--secret-file", str(path), "--ttl", "86400"])
    assert too_long.exit_code != 0
    path.chmod(0o644)
    with pytest.raises(TokenError, match="0600"):
        load_or_create_secret(path)
