"""Builders shared by the execution tests."""

from __future__ import annotations

from decimal import Decimal

from sdk.adapters.events import BookSnapshot
from sdk.adapters.execution import OrderRequest, Side, TimeInForce, decimal_book

D = Decimal


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]], ts: int = 0) -> BookSnapshot[Decimal]:
    return decimal_book(bids, asks, ts)


def order(
    cid: str,
    side: Side,
    size: str,
    cap: str,
    *,
    venue: str = "paper",
    instrument: str = "SOL-USD",
    asset: str = "SOL",
    deadline: int = 10_000,
    tif: TimeInForce = TimeInForce.IOC,
    plan: str = "s/1",
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        idempotency_key=f"key-{cid}",
        plan_id=plan,
        venue=venue,
        instrument=instrument,
        asset=asset,
        side=side,
        size=D(size),
        limit_price=D(cap),
        deadline_ms=deadline,
        time_in_force=tif,
    )
