"""The agent's web console: ``top.html``, ``body.html``, ``app.js`` (no build step), under ``/console``.

The page frame, the token and stream handling, the charts and the stylesheet are shared with the region's
console (``registry.gateway.web``, ``registry/gateway/static``). ``/console/config.json`` also tells the page
where the region's console is (the audit view: an agent holds no ledger).
"""

from __future__ import annotations

from fastapi import APIRouter

from registry.gateway import web

ISSUED_BY = "arbsphere agent token"
"""What mints this gateway's tokens (named on the page and in the OpenAPI description)."""


def console_routes(*, title: str, audit_url: str | None) -> APIRouter:
    return web.console_routes(
        __name__,
        title=title,
        issued_by=ISSUED_BY,
        scripts=("app.js",),
        config={"audit_url": audit_url},
    )
