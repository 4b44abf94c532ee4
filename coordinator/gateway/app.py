"""The coordinator gateway's FastAPI application: status, ledger and a status stream, all read-only.

Every route but ``/healthz`` and the console's static files needs a bearer token with scope ``read``
(``registry.gateway.tokens``): none, malformed or expired is 401. ``/ws/status`` pushes the region's status
whenever it changes and ``/ws/events`` each projected event, to a websocket presenting its token as the
``access_token`` query parameter. The gateway has no control endpoint: a region is steered by its config.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime.
import asyncio
import time
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Query, WebSocket, WebSocketDisconnect, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coordinator.gateway.console import console_routes
from coordinator.gateway.ledger_view import MAX_PAGE, PAGE, LedgerUnavailable, LedgerView
from coordinator.gateway.view import RegionView
from registry.gateway.fanout import EventFanout
from registry.gateway.tokens import Principal, Scope, TokenError, TokenVerifier
from registry.ledger import LedgerError, LedgerNotFound

STATUS_PUSH_S = 1.0
STATUS_CHECK_S = 0.1
EVENTS_REPLAYED = 200

_bearer = HTTPBearer(auto_error=False, description="A gateway token (`arbsphere coordinator token`).")


def build_app(
    view: RegionView,
    ledger: LedgerView | None,
    token_verifier: TokenVerifier,
    *,
    events: EventFanout | None = None,
    title: str = "ArbSphere region console",
) -> FastAPI:
    """The region's gateway; ``ledger`` none: the ledger routes answer 503."""
    feed = events if events is not None else EventFanout()
    app = FastAPI(title=title, version="1", description=__doc__)
    app.include_router(console_routes(title=title))

    def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a bearer token is required", {"WWW-Authenticate": "Bearer"}
            )
        try:
            caller = token_verifier.verify(credentials.credentials)
        except TokenError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, str(exc), {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None
        if not caller.allows(Scope.READ):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "scope 'read' required")
        return caller

    Reader = Annotated[Principal, Depends(principal)]

    def ledger_call(work: str, *args: int | None) -> dict[str, object]:
        if ledger is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "this gateway serves no ledger")
        try:
            if work == "checkpoint":
                return ledger.checkpoint()
            if work == "entries":
                return ledger.entries(after=args[0], limit=args[1] or PAGE)
            index, size = args
            assert index is not None
            return ledger.proof(index, size)
        except LedgerUnavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        except LedgerNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except (LedgerError, ValueError) as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None

    @app.get("/healthz", tags=["status"])
    def healthz() -> dict[str, object]:
        return {"ok": True}

    @app.get("/status", tags=["status"])
    def get_status(_: Reader) -> dict[str, object]:
        return view.status()

    @app.get("/ledger/checkpoint", tags=["ledger"])
    def get_checkpoint(_: Reader) -> dict[str, object]:
        return ledger_call("checkpoint")

    @app.get("/ledger/entries", tags=["ledger"])
    def get_entries(
        _: Reader,
        after: Annotated[int | None, Query(ge=0)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
    ) -> dict[str, object]:
        return ledger_call("entries", after, limit)

    @app.get("/ledger/proof/{index}", tags=["ledger"])
    def get_proof(
        _: Reader, index: Annotated[int, Path(ge=0)], size: Annotated[int | None, Query(ge=1)] = None
    ) -> dict[str, object]:
        return ledger_call("proof", index, size)

    async def admit(websocket: WebSocket, access_token: str) -> Principal | None:
        try:
            caller = token_verifier.verify(access_token)
        except TokenError:
            await websocket.close(code=1008, reason="a valid read token is required")
            return None
        if not caller.allows(Scope.READ):
            await websocket.close(code=1008, reason="scope 'read' required")
            return None
        await websocket.accept()
        return caller

    @app.websocket("/ws/status")
    async def ws_status(websocket: WebSocket, access_token: str = "") -> None:
        caller = await admit(websocket, access_token)
        if caller is None:
            return
        last: dict[str, object] | None = None
        sent_at = 0.0
        try:
            while True:
                if caller.expires <= time.time():
                    await websocket.close(code=1008, reason="token expired")
                    return
                current = await run_in_threadpool(view.status)
                changed = last is None or _without_clock(current) != _without_clock(last)
                if changed or time.monotonic() - sent_at >= STATUS_PUSH_S:
                    await websocket.send_json(current)
                    last, sent_at = current, time.monotonic()
                await asyncio.sleep(STATUS_CHECK_S)
        except (WebSocketDisconnect, RuntimeError, OSError):  # the console went away
            return

    @app.websocket("/ws/events")
    async def ws_events(websocket: WebSocket, access_token: str = "") -> None:
        caller = await admit(websocket, access_token)
        if caller is None:
            return
        subscription = feed.subscribe()
        try:
            for event in feed.recent(EVENTS_REPLAYED):
                await websocket.send_json({**event, "replayed": True})
            while True:
                remaining = caller.expires - time.time()
                if remaining <= 0:
                    await websocket.close(code=1008, reason="token expired")
                    return
                try:
                    event = await asyncio.wait_for(subscription.get(), timeout=min(remaining, 5.0))
                except TimeoutError:
                    continue
                await websocket.send_json(dict(event))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return
        finally:
            feed.unsubscribe(subscription)

    return app


def _without_clock(status: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in status.items() if k != "ts_ms"}
