"""The agent's web console: static files (no build step) served by the gateway under ``/console``.

The page is vanilla JavaScript with inline SVG charts, so nothing here needs Node or a bundler, and the
files ship as package data. Loading the page needs no token (it holds no data); the page asks for one and
sends it on every call. ``/console/config.json`` tells the page its title and where the region's console
is (the audit view: an agent holds no ledger).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
"""No inline script, no third-party origin, no framing, no referrer: the token in the fragment stays here."""


def console_routes(*, title: str, audit_url: str | None) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    root = files(__package__)
    assets = {name: (root / name).read_bytes() for name in ASSETS}

    @router.get("/console")
    def console_page() -> Response:
        return Response(assets["index.html"], media_type=ASSETS["index.html"], headers=HEADERS)

    @router.get("/")
    def root_page() -> RedirectResponse:
        return RedirectResponse("/console")

    @router.get("/console/config.json")
    def console_config() -> dict[str, object]:
        return {"title": title, "audit_url": audit_url}

    @router.get("/console/{name}")
    def console_asset(name: str) -> Response:
        if name not in assets:
            return Response("not found", status_code=404)
        return Response(assets[name], media_type=ASSETS[name], headers=HEADERS)

    return router
