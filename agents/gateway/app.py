"""The gateway's FastAPI application: a thin shell over ``AgentControls`` and a status source.

Every route but ``/healthz`` needs a bearer token (``tokens``): reads need ``read``, control actions the
scope ``controls.REQUIRED_SCOPE`` names (``trade``; ``admin`` for the kill switch and its reset). A missing,
malformed or expired token gets 401, a token without the scope 403, an actor past its control rate 429
with ``Retry-After``. A refused control (pause while killed) is 409 and still recorded by the controls.
``/ws/status`` pushes the status as soon as it changes and ``/ws/events`` each event as it is emitted, to a
websocket that presents a ``read`` token as the ``access_token`` query parameter. ``/console`` is the
operator's web console (``agents.gateway.console``): static files, loaded without a token; the page asks for
one and uses it on every call. The token checks, the streams and the console's serving are the web shell
shared with the region's gateway (``registry.gateway.web``).
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime, and the
# ``Caller`` alias they use is local to ``build_app``.
import math
from typing import Annotated, Any, Protocol

from fastapi import Body, Depends, FastAPI, HTTPException, Query, status
from pydantic import BaseModel, Field

from agents.controls import REQUIRED_SCOPE, ControlAction, ControlResult, Scope
from agents.gateway.console import ISSUED_BY, console_routes
from agents.gateway.ratelimit import RateLimiter
from agents.gateway.tokens import Principal, TokenVerifier
from registry.gateway.fanout import EventFanout
from registry.gateway.web import EVENTS_REPLAYED, bearer_principal, require_scope, stream_routes


class StatusSource(Protocol):
    def status(self) -> dict[str, object]: ...

    def inventory(self) -> dict[str, object]: ...

    def risk(self) -> dict[str, object]: ...

    def trades(self, limit: int = ...) -> dict[str, object]: ...

    def config_view(self) -> dict[str, object]: ...

    def opportunities(self, limit: int = ...) -> dict[str, object]: ...

    def windows(self, limit: int = ...) -> dict[str, object]: ...


class Controls(Protocol):
    def apply(self, action: ControlAction | str, actor: str, reason: str = "") -> ControlResult: ...


class ControlRequest(BaseModel):
    reason: Annotated[str, Field(max_length=500)] = ""


def build_app(
    controls: Controls,
    status_source: StatusSource,
    token_verifier: TokenVerifier,
    *,
    limiter: RateLimiter | None = None,
    events: EventFanout | None = None,
    audit_url: str | None = None,
    title: str = "ArbSphere agent gateway",
) -> FastAPI:
    """The gateway application; ``limiter`` defaults to 5 control actions per second per actor, burst 10.
    ``events`` is what the agent emits, pushed to ``/ws/events`` (none: that stream stays silent);
    ``audit_url`` the region's console, which the agent's console links to for the audit view (an agent
    holds no ledger)."""
    bucket = limiter if limiter is not None else RateLimiter(5.0, 10)
    feed = events if events is not None else EventFanout()
    app = FastAPI(title=title, version="1", description=__doc__)
    app.include_router(console_routes(title=title.replace("gateway", "console"), audit_url=audit_url))
    app.include_router(stream_routes(token_verifier, status_source.status, feed))
    principal = bearer_principal(token_verifier, issued_by=ISSUED_BY)
    Caller = Annotated[Principal, Depends(principal)]

    @app.get("/healthz", tags=["status"])
    def healthz() -> dict[str, object]:
        return {"ok": True}

    @app.get("/status", tags=["status"])
    def get_status(caller: Caller) -> dict[str, object]:
        require_scope(caller, Scope.READ)
        return status_source.status()

    @app.get("/inventory", tags=["status"])
    def get_inventory(caller: Caller) -> dict[str, object]:
        require_scope(caller, Scope.READ)
        return status_source.inventory()

    @app.get("/risk", tags=["status"])
    def get_risk(caller: Caller) -> dict[str, object]:
        require_scope(caller, Scope.READ)
        return status_source.risk()

    @app.get("/trades", tags=["status"])
    def get_trades(caller: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, object]:
        require_scope(caller, Scope.READ)
        return status_source.trades(limit)

    @app.get("/config", tags=["status"])
    def get_config(caller: Caller) -> dict[str, object]:
        require_scope(caller, Scope.READ)
        return status_source.config_view()

    @app.get("/opportunities", tags=["status"])
    def get_opportunities(
        caller: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> dict[str, object]:
        require_scope(caller, Scope.READ)
        return status_source.opportunities(limit)

    @app.get("/windows", tags=["status"])
    def get_windows(caller: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, object]:
        require_scope(caller, Scope.READ)
        return status_source.windows(limit)

    @app.get("/events", tags=["status"])
    def get_events(
        caller: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = EVENTS_REPLAYED
    ) -> dict[str, object]:
        require_scope(caller, Scope.READ)
        return {"events": feed.recent(limit)}

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
        require_scope(caller, REQUIRED_SCOPE[action])
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

    return app
