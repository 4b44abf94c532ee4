"""TEMPLATE: a new spot exchange in one module. Copy to ``agents/venues/<name>.py`` and fill in every TODO.

This file lists everything a venue module provides; nothing else in the product names an exchange. The
agent reads ``SPEC`` (``agents.venues.venue_spec(name)``) and from it:

- **market data**: ``feed_session`` parses the venue's websocket messages into our checked books. Live
  (``agents.feeds.live.LiveFeed``) and replay (``agents.feeds.replay``) run the same class. For a venue that
  cryptofeed covers, subclass ``agents.feeds.venues.cryptofeed_bridge.CryptofeedSession`` with
  ``feed_class`` = a subclass of cryptofeed's exchange class whose book handler puts decoded levels into
  ``self.arb_session.maintainer`` (see ``agents/feeds/venues/gemini.py``). Override
  ``fetch_symbol_bodies`` if the instrument list takes more than one REST call. A venue without REST
  snapshots sets ``self.reconnect_requested = True`` when a book must be rebuilt (gap, bad message): the
  live feed resubscribes and the venue's fresh snapshot rebuilds it. A venue with sequence numbers checks
  them (``agents.feeds.sequence``) and voids the book on a gap; never serve a book it cannot vouch for.
- **orders**: ``orders`` is a ``VenueOrders`` subclass. Its class attributes are the data (the parameter that
  carries our client order id, how IOC is spelled, the lookup and cancel parameters); override a hook only
  where the venue's ccxt module needs another call (``create``, ``fetch_by_client_id``,
  ``cancel_by_client_id``, ``trades_of``). Our client order id must reach the venue unchanged: check in
  ccxt's source that ``create_order`` does not replace it with a random one, and that an order can be found
  by it after a lost answer (``CcxtVenue`` looks it up before any re-send). ``CcxtVenue`` is the SDK's
  ``ExecutionAdapter`` the agent's executor calls; ``agents.execution.live.execution_adapter_class(SPEC)``
  is this venue's subclass (its manifest, these order semantics), the class the conformance kit checks.
- **client ids**: ``client_ids`` is the venue's documented format (``uuid``, ``token`` of a maximum length,
  ``hex128``); ids derive from the plan's idempotency keys, so a restart re-derives the same id.

Then: a fake venue in ``tests/fakevenues/<name>.py`` that speaks the venue's documented websocket and REST
protocols (subclass ``tests.fakevenues.base.FakeVenue``), tests in ``tests/venues/test_<name>.py`` (order
round trip with the venue's client-id field, lost acknowledgement + restart without a duplicate, live feed
drop/gap/corrupt/silence, the conformance kit), a config in ``examples/<name>.toml``, and the name in
``agents.venues._NAMES``. ``docs/adapters.md`` walks through it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from agents.execution.client_ids import ClientIdRule
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.venues.spec import VenueOrders, VenueSpec


class TemplateSession(CryptofeedSession):
    """TODO: the venue's market-data parser (see the module docstring)."""

    venue: ClassVar[str] = "template"
    feed_class: ClassVar[Any] = None  # TODO: a subclass of cryptofeed.exchanges.<Venue>


class TemplateOrders(VenueOrders):
    """TODO: the venue's order semantics through its ccxt module."""

    client_id_param: ClassVar[str] = "clientOrderId"  # TODO: the venue's own field
    ioc_params: ClassVar[dict[str, object]] = {"timeInForce": "IOC"}  # TODO: the venue's spelling
    lookup_param: ClassVar[str] = "clientOrderId"  # TODO
    cancel_param: ClassVar[str] = "clientOrderId"  # TODO


SPEC = VenueSpec(
    name="template",  # TODO: the module's name
    ccxt_id="template",  # TODO: ccxt's exchange id
    rest_url="https://api.example.com",  # TODO
    ws_url="wss://ws.example.com",  # TODO
    client_ids=ClientIdRule("uuid"),  # TODO: the venue's documented format
    feed_session=TemplateSession,
    orders=TemplateOrders,
    recording_prefix=None,
)
