"""Venue-safe client order ids derived deterministically from PlanDelta idempotency keys.

Each venue limits length and charset (Binance 36 chars ``[A-Za-z0-9._:/-]``, OKX 32 alphanumerics, Kraken and
Coinbase UUIDs, Hyperliquid a 128-bit hex ``cloid``). We always hash (SHA-256) and then format for the venue,
so the same key gives the same id on every restart and distinct keys collide only with negligible probability
(>= 128 bits kept everywhere). Every token id also matches ``sdk.adapters`` ``CLIENT_ORDER_ID``
(``^[A-Za-z0-9_-]{1,36}$``).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from typing import Literal

from sdk.adapters.execution import ExecutionInputError, require_id

Style = Literal["token", "uuid", "hex128"]


@dataclass(frozen=True, slots=True)
class ClientIdRule:
    style: Style
    max_length: int = 32
    prefix: str = "as"


RULES: dict[str, ClientIdRule] = {
    "binance": ClientIdRule("token", 36),
    "bybit": ClientIdRule("token", 36),
    "okx": ClientIdRule("token", 32),
    "bitstamp": ClientIdRule("token", 32),
    "gemini": ClientIdRule("token", 36),
    "kalshi": ClientIdRule("uuid"),
    "kraken": ClientIdRule("uuid"),
    "coinbase": ClientIdRule("uuid"),
    "polymarket": ClientIdRule("hex128"),
    "hyperliquid": ClientIdRule("hex128"),
    "paper": ClientIdRule("token", 32),
}
DEFAULT_RULE = ClientIdRule("token", 32)
_MIN_TOKEN_BITS = 128


def client_order_id(idempotency_key: str, venue_kind: str | ClientIdRule) -> str:
    """The id to send for ``idempotency_key`` on a venue of ``venue_kind`` (e.g. ``"binance"``, or the
    venue's own ``ClientIdRule`` from its ``agents.venues`` module)."""
    require_id("idempotency_key", idempotency_key)
    rule = venue_kind if isinstance(venue_kind, ClientIdRule) else RULES.get(venue_kind, DEFAULT_RULE)
    digest = hashlib.sha256(idempotency_key.encode()).digest()
    if rule.style == "uuid":
        return str(uuid.UUID(bytes=digest[:16], version=4))
    if rule.style == "hex128":
        return "0x" + digest[:16].hex()
    body_length = rule.max_length - len(rule.prefix)
    if body_length * 5 < _MIN_TOKEN_BITS:  # base32: 5 bits per character
        raise ExecutionInputError(f"max_length {rule.max_length} for {venue_kind} leaves fewer than 128 bits")
    body = base64.b32encode(digest).decode().rstrip("=").lower()
    return rule.prefix + body[:body_length]
