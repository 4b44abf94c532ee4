"""The region's web console: ``top.html``, ``body.html``, ``merkle.js``, ``app.js`` (no build): ``/console``.

The page frame, the token and stream handling, the charts and the stylesheet are shared with the agent's
console (``registry.gateway.web``, ``registry/gateway/static``). The audit view verifies inclusion proofs in
the browser (``merkle.js``, SubtleCrypto SHA-256, RFC 9162 hashing).
"""

from __future__ import annotations

from fastapi import APIRouter

from registry.gateway import web

ISSUED_BY = "arbsphere coordinator token"
"""What mints this gateway's tokens (named on the page and in the OpenAPI description)."""


def console_routes(*, title: str) -> APIRouter:
    return web.console_routes(
        __name__,
        title=title,
        issued_by=ISSUED_BY,
        scripts=("merkle.js", "app.js"),
        config={},
    )
