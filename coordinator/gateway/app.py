"""The coordinator gateway's FastAPI application: status, ledger and a status stream, all read-only.

Every route but ``/healthz`` and the console's static files needs a bearer token with scope ``read``
(``registry.gateway.tokens``): none, malformed or expired is 401. ``/ws/status`` pushes the region's status
whenever it changes and ``/ws/events`` each projected event, to a websocket presenting its token as the
``access_token`` query parameter. The gateway has no control endpoint: a region is steered by its config.
The token checks, the streams and the console's serving are the web shell shared with the agent's gateway
(``registry.gateway.web``).
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime.
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Query, status

from coordinator.gateway.console import ISSUED_BY, console_routes
from coordinator.gateway.ledger_view import MAX_PAGE, PAGE, LedgerUnavailable, LedgerView
from coordinator.gateway.view import RegionView
from registry.gateway.fanout import EventFanout
from registry.gateway.tokens import Principal, Scope, TokenVerifier
from registry.gateway.web import bearer_principal, stream_routes
from registry.ledger import LedgerError, LedgerNotFound


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
    app.include_router(stream_routes(token_verifier, view.status, feed))
    principal = bearer_principal(token_verifier, issued_by=ISSUED_BY, scope=Scope.READ)
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

    return app
