"""Polymarket (CLOB): order books over REST and the market websocket (``agents.feeds.venues.polymarket``);
paper trading only for now.

Facts (docs.polymarket.com "CLOB: orderbook", "Authentication", "Fees"; ccxt 4.5.90 ``polymarket``;
fixtures in ``../shared/data/recordings/prediction_markets/polymarket``):

- REST base ``https://clob.polymarket.com``: ``GET /book?token_id=`` (``bids`` ascending, ``asks``
  descending, decimal strings), ``GET /markets/{condition_id}`` (tokens, ``minimum_tick_size``,
  ``minimum_order_size``, ``neg_risk``), ``GET /fee-rate?token_id=`` (``base_fee`` in bps).
- Market websocket ``wss://ws-subscriptions-clob.polymarket.com/ws/market``, public.
- Private REST (L2): headers ``POLY_ADDRESS``, ``POLY_API_KEY``, ``POLY_PASSPHRASE``, ``POLY_TIMESTAMP``
  (seconds) and ``POLY_SIGNATURE`` = urlsafe base64 of HMAC-SHA256(urlsafe-base64-decoded secret,
  ``timestamp + METHOD + path + body``) (``l2_headers`` below).
- **Out of scope for live, on purpose:** an order is an EIP-712 message signed by the funder's Polygon key
  (ccxt's ``polymarket.create_order`` needs the wallet's private key and builds it), and settlement is
  on-chain: a resolved market's winning tokens are redeemed through the CTF contract (or merged back into
  USDC before resolution), paying Polygon gas. ``SPEC.live_orders`` is ``False``: ``mode = 'live'`` is
  refused with this reason; paper mode runs on the real books with the exact fee
  (``sdk.curves.prediction.PolymarketFees``: ``C * rate * p * (1 - p)``, a buy's fee taken in shares).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import requests

from agents.feeds.venues.polymarket import PolymarketSession
from agents.venues.prediction import PredictionVenueSpec
from sdk.curves.prediction import FeeModel, PolymarketFees

REST_URL = "https://clob.polymarket.com"
WS_URL = "wss://ws-subscriptions-clob.polymarket.com"
LIVE_REFUSAL = (
    "polymarket: live orders are EIP-712 messages signed by a Polygon wallet and settle on chain; this "
    "module trades on paper only"
)


def l2_headers(
    *, address: str, api_key: str, secret: str, passphrase: str, method: str, path: str, body: str = "",
    timestamp_s: int | None = None,
) -> dict[str, str]:  # fmt: skip
    """Polymarket's L2 (API-key) headers for one private REST call."""
    ts = str(int(time.time()) if timestamp_s is None else timestamp_s)
    key = base64.urlsafe_b64decode(secret)
    digest = hmac.new(key, (ts + method.upper() + path + body).encode(), hashlib.sha256).digest()
    return {
        "POLY_ADDRESS": address,
        "POLY_API_KEY": api_key,
        "POLY_PASSPHRASE": passphrase,
        "POLY_TIMESTAMP": ts,
        "POLY_SIGNATURE": base64.urlsafe_b64encode(digest).decode(),
    }


class PolymarketRest:
    """The public CLOB endpoints the agent reads (books, market rules, fee rates)."""

    def __init__(self, base_url: str = REST_URL, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.http = requests.Session()

    def _get(self, path: str, **params: str) -> Any:
        response = self.http.get(self.base_url + path, params=params, timeout=self.timeout_s)
        if response.status_code >= 400:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    def book(self, token_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._get("/book", token_id=token_id)
        return found

    def market(self, condition_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._get(f"/markets/{condition_id}")
        return found

    def fee_rate_bps(self, token_id: str) -> int:
        return int(self._get("/fee-rate", token_id=token_id).get("base_fee") or 0)


def _fees(rate: float | None) -> FeeModel:
    return PolymarketFees(0.0 if rate is None else rate)


SPEC = PredictionVenueSpec(
    name="polymarket",
    rest_url=REST_URL,
    ws_url=WS_URL,
    feed_session=PolymarketSession,
    fees=_fees,
    live_orders=False,
    tick_size="0.001",
    lot_size="0.01",
)

__all__ = ["LIVE_REFUSAL", "SPEC", "PolymarketRest", "l2_headers"]
