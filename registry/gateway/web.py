"""The web shell the agent's and the region's gateways share: bearer tokens, live streams, the console.

``bearer_principal`` is the routes' token dependency (none or malformed: 401 with ``WWW-Authenticate``; a
token without the scope ``require_scope`` asks for: 403). ``stream_routes`` serves ``/ws/status`` (the
status as soon as it changes, checked every ``STATUS_CHECK_S`` and sent at least every ``STATUS_PUSH_S``)
and ``/ws/events`` (the last ``EVENTS_REPLAYED`` events, then each as it is published) to a websocket that
presents a ``read`` token as the ``access_token`` query parameter (browsers cannot set headers on a
websocket), closing it (1008) when the token expires. ``console_routes`` serves an operator console under
``/console``: the page is the shared frame (``static/console.html``: title, token form, connection, event
log) around the console's own ``top.html`` (banners) and ``body.html`` (its panels); the console's scripts
load after the shared ``static`` files (``common.js``: token, calls, streams, event log; ``charts.js``;
``style.css``). Each side's FastAPI app keeps its own routes; this module is ``registry``'s only reach into
the web stack besides ``server``.
"""

# No ``from __future__ import annotations``: FastAPI reads the dependency's annotations at runtime, and the
# bearer scheme they name is local to ``bearer_principal``.
import asyncio
import html
import re
import time
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, WebSocket, WebSocketDisconnect, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from registry.gateway.fanout import EventFanout
from registry.gateway.tokens import Principal, Scope, TokenError, TokenVerifier

STATUS_PUSH_S = 1.0
STATUS_CHECK_S = 0.1
EVENTS_REPLAYED = 200
"""Recent events a new ``/ws/events`` subscriber gets first, so a late console is not blank."""

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
SHARED_ASSETS = ("common.js", "charts.js", "style.css")
"""Served from ``registry.gateway``'s ``static`` directory under ``/console/<name>``, like a console's own."""
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
"""No inline script, no third-party origin, no framing, no referrer: the token in the fragment stays here."""

StatusRead = Callable[[], dict[str, object]]


def require_scope(caller: Principal, needed: Scope) -> None:
    if not caller.allows(needed):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"scope {needed.value!r} required, the token has {caller.scope.value!r}",
        )


def bearer_principal(
    verifier: TokenVerifier, *, issued_by: str, scope: Scope | None = None
) -> Callable[..., Principal]:
    """A dependency giving the bearer token's principal (``scope``: also required of every caller);
    ``issued_by`` is what mints tokens for this gateway, named in the OpenAPI description."""
    bearer = HTTPBearer(auto_error=False, description=f"A gateway token (`{issued_by}`).")

    def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a bearer token is required", {"WWW-Authenticate": "Bearer"}
            )
        try:
            caller = verifier.verify(credentials.credentials)
        except TokenError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, str(exc), {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None
        if scope is not None:
            require_scope(caller, scope)
        return caller

    return principal


def stream_routes(verifier: TokenVerifier, status_read: StatusRead, feed: EventFanout) -> APIRouter:
    """``/ws/status`` pushing what ``status_read`` returns (run on a worker thread) and ``/ws/events``
    pushing what ``feed`` publishes, each to a websocket with a ``read`` token."""
    router = APIRouter()

    async def admit(websocket: WebSocket, access_token: str) -> Principal | None:
        try:
            caller = verifier.verify(access_token)
        except TokenError:
            await websocket.close(code=1008, reason="a valid read token is required")
            return None
        if not caller.allows(Scope.READ):
            await websocket.close(code=1008, reason="scope 'read' required")
            return None
        await websocket.accept()
        return caller

    @router.websocket("/ws/status")
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
                current = await run_in_threadpool(status_read)
                changed = last is None or _without_clock(current) != _without_clock(last)
                if changed or time.monotonic() - sent_at >= STATUS_PUSH_S:
                    await websocket.send_json(current)
                    last, sent_at = current, time.monotonic()
                await asyncio.sleep(STATUS_CHECK_S)
        except (WebSocketDisconnect, RuntimeError, OSError):  # the console went away
            return

    @router.websocket("/ws/events")
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
        except (WebSocketDisconnect, RuntimeError, OSError):  # the console went away
            return
        finally:
            feed.unsubscribe(subscription)

    return router


def _without_clock(state: dict[str, object]) -> dict[str, object]:
    """The status without its timestamp: what tells whether anything changed."""
    return {k: v for k, v in state.items() if k != "ts_ms"}


def console_routes(
    package: str,
    *,
    title: str,
    issued_by: str,
    scripts: Sequence[str],
    config: Mapping[str, object],
) -> APIRouter:
    """``/console``: the shared frame around ``package``'s ``top.html`` and ``body.html``, loading the
    shared assets and then ``scripts`` (``package``'s own files, in order); ``/console/config.json`` is
    ``title`` and ``config``. Loading the page needs no token (it holds no data): the page asks for one
    and sends it on every call."""
    own = files(package)
    shared = files("registry.gateway") / "static"
    assets = {name: (shared / name).read_bytes() for name in SHARED_ASSETS}
    for name in scripts:
        if name in assets:
            raise ValueError(f"console script {name!r}: a shared asset has that name")
        assets[name] = (own / name).read_bytes()
    values = {
        "title": html.escape(title),
        "issued_by": html.escape(issued_by),
        "scripts": "".join(f'\n  <script src="/console/{html.escape(n)}" defer></script>' for n in scripts),
        "top": (own / "top.html").read_text(encoding="utf-8").rstrip("\n"),
        "body": (own / "body.html").read_text(encoding="utf-8").rstrip("\n"),
    }
    frame = (shared / "console.html").read_text(encoding="utf-8")
    assets["index.html"] = re.sub(r"\{\{ (\w+) \}\}", lambda m: values[m.group(1)], frame).encode()
    page_config = {"title": title, **config}
    router = APIRouter(include_in_schema=False)

    def asset(name: str) -> Response:
        media_type = MEDIA_TYPES[name[name.rindex(".") :]]
        return Response(assets[name], media_type=media_type, headers=HEADERS)

    @router.get("/console")
    def console_page() -> Response:
        return asset("index.html")

    @router.get("/")
    def root_page() -> RedirectResponse:
        return RedirectResponse("/console")

    @router.get("/console/config.json")
    def console_config() -> dict[str, object]:
        return page_config

    @router.get("/console/{name}")
    def console_asset(name: str) -> Response:
        if name not in assets:
            return Response("not found", status_code=404)
        return asset(name)

    return router
