"""Binance USD-M perpetual futures: orders through ccxt's ``binanceusdm`` (REST ``/fapi/v1``), market data
through cryptofeed's ``BinanceFutures`` diff-depth stream with the futures ``pu`` chain and the
``markPrice@1s`` funding stream (``agents.feeds.venues.binance``).

Facts (binance-futures-api docs "New Order (TRADE)", "Query Order", "Cancel Order", "Mark Price Stream";
ccxt 4.5.90 ``binanceusdm``/``binance.py``):

- Client order id: ``newClientOrderId`` on ``POST /fapi/v1/order``, ``^[\\.A-Z\\:/a-z0-9_-]{1,36}$``; ours are
  ``as`` + 34 base32 characters. Lookup and cancel by ``origClientOrderId`` (``GET``/``DELETE
  /fapi/v1/order``), as on spot.
- IOC: ``timeInForce=IOC``; an expired IOC remainder ends ``EXPIRED``.
- Symbols: ccxt's unified swap symbol ``BTC/USDT:USDT`` for our ``BTC-USDT-PERP`` (cryptofeed's name).
- Funding: ``<symbol>@markPrice@1s`` carries the mark ``p``, index ``i``, the rate ``r`` settled at ``T``.
"""

from __future__ import annotations

from agents.execution.client_ids import ClientIdRule
from agents.feeds.venues.binance import BinanceFuturesSession
from agents.venues.binance import BinanceOrders
from agents.venues.spec import VenueSpec

SPEC = VenueSpec(
    name="binance_futures",
    ccxt_id="binanceusdm",
    rest_url="https://fapi.binance.com",
    ws_url="wss://fstream.binance.com",
    client_ids=ClientIdRule("token", 36),
    feed_session=BinanceFuturesSession,
    orders=BinanceOrders,
    recording_prefix="BINANCE_FUTURES",
    swap=True,
)
