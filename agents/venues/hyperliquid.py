"""Hyperliquid perpetuals: orders through ccxt's ``hyperliquid`` (``POST /exchange``, actions signed with the
account's wallet key), market data over the venue's documented websocket (``agents.feeds.venues.hyperliquid``:
full ``l2Book`` snapshots, hourly funding from ``activeAssetCtx``).

Facts (Hyperliquid API docs "Exchange endpoint", "Info endpoint"; ccxt 4.5.90 ``hyperliquid.py``):

- Auth is a wallet, not an API key: ccxt signs every action (EIP-712) with ``privateKey`` for
  ``walletAddress`` (an API wallet may sign for the account).
- Client order id: ``cloid``, a 128-bit hex string ``0x`` + 32 hex digits; ccxt maps its ``clientOrderId``
  parameter onto it for orders, ``orderStatus`` lookups and ``cancelByCloid``.
- IOC: order type ``{"limit": {"tif": "Ioc"}}`` (ccxt: ``timeInForce=IOC``).
- Symbols: ccxt's ``BTC/USDC:USDC`` (USDC-settled) for our ``BTC-USD-PERP``.
"""

from __future__ import annotations

from typing import ClassVar

from agents.execution.client_ids import ClientIdRule
from agents.feeds.venues.hyperliquid import HyperliquidSession
from agents.venues.spec import VenueOrders, VenueSpec


class HyperliquidOrders(VenueOrders):
    client_id_param: ClassVar[str] = "clientOrderId"
    lookup_param: ClassVar[str] = "clientOrderId"
    cancel_param: ClassVar[str] = "clientOrderId"


SPEC = VenueSpec(
    name="hyperliquid",
    ccxt_id="hyperliquid",
    rest_url="https://api.hyperliquid.xyz",
    ws_url="wss://api.hyperliquid.xyz",
    client_ids=ClientIdRule("hex128"),
    feed_session=HyperliquidSession,
    orders=HyperliquidOrders,
    credentials=("walletAddress", "privateKey"),
    swap=True,
    settle_aliases={"USD": "USDC"},
)
