"""The gateway's FastAPI application: a thin shell over ``AgentControls`` and a status source.

Every route but ``/healthz`` needs a bearer token (``tokens``): reads need ``read``, control actions the
scope ``controls.REQUIRED_SCOPE`` names (``trade``; ``admin`` for the kill switch and its reset). A missing,
malformed or expired token gets 401, a token without the scope 403, an actor past its control rate 429
with ``Retry-After``. A refused control (pause while killed) is 409 and still recorded by the controls.
``/ws/status`` pushes the status every second to a websocket that presents a ``read`` token as the
``access_token`` query parameter (browsers cannot set headers on a websocket).
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime, and the
# ``Caller`` alias they use is local to ``build_app``.
import asyncio
import math
import time
from typing import Annotated, Any, Protocol

from fastapi import Body, Depends, FastAPI, HTTPException, Query, WebSocket, WebSocketDisconnect, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from agents.controls import REQUIRED_SCOPE, ControlAction, ControlResult, Scope
from agents.gateway.ratelimit import RateLimiter
from agents.gateway.tokens import Principal, TokenError, TokenVerifier

STATUS_PUSH_S = 1.0


class StatusSource(Protocol):
    def status(self) -> dict[str, object]: ...

    def inventory(self) -> dict[str, object]: ...

    def risk(self) -> dict[str, object]: ...

    def trades(self, limit: int = ...) -> dict[str, object]: ...

    def config_view(self) -> dict[str, object]: ...


class Controls(Protocol):
    def apply(self, action: ControlAction | str, actor: str, reason: str = "") -> ControlResult: ...


class ControlRequest(BaseModel):
    reason: Annotated[str, Field(max_length=500)] = ""


_bearer = HTTPBearer(auto_error=False, description="A gateway token (`arbsphere agent token`).")


def build_app(
    controls: Controls,
    status_source: StatusSource,
    token_verifier: TokenVerifier,
    *,
    limiter: RateLimiter | None = None,
    title: str = "ArbSphere agent gateway",
) -> FastAPI:
    """The gateway application; ``limiter`` defaults to 5 control actions per second per actor, burst 10."""
    bucket = limiter if limiter is not None else RateLimiter(5.0, 10)
    app = FastAPI(title=title, version="1", description=__doc__)

    def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a bearer token is required", {"WWW-Authenticate": "Bearer"}
            )
        try:
            return token_verifier.verify(credentials.credentials)
        except TokenError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, str(exc), {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None

    Caller = Annotated[Principal, Depends(principal)]

    def require(caller: Principal, needed: Scope) -> None:
        if not caller.allows(needed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"scope {needed.value!r} required, the token has {caller.scope.value!r}",
            )

    @app.get("/healthz", tags=["status"])
    def healthz() -> dict[str, object]:
        return {"ok": True}

    @app.get("/status", tags=["status"])
    def get_status(caller: Caller) -> dict[str, object]:
        require(caller, Scope.READ)
        return status_source.status()

    @app.get("/inventory", tags=["status"])
    def get_inventory(caller: Caller) -> dict[str, object]:
        require(caller, Scope.READ)
        return status_source.inventory()

    @app.get("/risk", tags=["status"])
    def get_risk(caller: Caller) -> dict[str, object]:
        require(caller, Scope.READ)
        return status_source.risk()

    @app.get("/trades", tags=["status"])
    def get_trades(caller: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, object]:
        require(caller, Scope.READ)
        return status_source.trades(limit)

    @app.get("/config", tags=["status"])
    def get_config(caller: Caller) -> dict[str, object]:
        require(caller, Scope.READ)
        return status_source.config_view()

    @app.post(
        "/controls/{action}",
        tags=["controls"],
        responses={
            401: {"description": "no valid token"},
            403: {"description": "the token lacks the action's scope"},
            409: {"description": "refused in the agent's current mode"},
            429: {"description": "too many control actions; see Retry-After"},
        },
    )
    def post_control(
        action: ControlAction,
        caller: Caller,
        request: Annotated[ControlRequest | None, Body()] = None,
    ) -> dict[str, Any]:
        require(caller, REQUIRED_SCOPE[action])
        wait = bucket.take(caller.actor)
        if wait > 0:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"control rate exceeded for {caller.actor!r}",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        result = controls.apply(action, caller.actor, request.reason if request is not None else "")
        body: dict[str, Any] = {
            "action": result.action.value,
            "actor": result.actor,
            "ok": result.ok,
            "mode": result.mode,
            "ts_ms": result.ts_ms,
            **result.detail,
        }
        if not result.ok:
            raise HTTPException(status.HTTP_409_CONFLICT, {**body, "error": result.error})
        return body

    @app.websocket("/ws/status")
    async def ws_status(websocket: WebSocket, access_token: str = "") -> None:
        try:
            caller = token_verifier.verify(access_token)
        except TokenError:
            await websocket.close(code=1008, reason="a valid read token is required")
            return
        if not caller.allows(Scope.READ):
            await websocket.close(code=1008, reason="scope 'read' required")
            return
        await websocket.accept()
        try:
            while True:
                if caller.expires <= time.time():
                    await websocket.close(code=1008, reason="token expired")
                    return
                await websocket.send_json(await run_in_threadpool(status_source.status))
                await asyncio.sleep(STATUS_PUSH_S)
        except WebSocketDisconnect:
            return

    return app
