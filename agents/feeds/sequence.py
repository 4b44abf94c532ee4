"""Sequence-gap detection for venues that number their book updates.

Binance diff-depth streams carry ``U`` (first update id in the event) and ``u`` (last); the REST snapshot
carries ``lastUpdateId``. How events chain differs by market, so the rule is data (``ChainRule``), chosen by
the venue's session (``agents.feeds.venues.binance``):

- spot (``SPOT_CHAIN``, binance-spot-api-docs ``web-socket-streams.md``): drop events with
  ``u <= lastUpdateId``; the first applied event must straddle the next id (``U <= lastUpdateId + 1 <= u``);
  after that each event must start exactly one past the previous one (``U == previous u + 1``).
- USD-M futures (``USDM_FUTURES_CHAIN``, "How to manage a local order book correctly" of the USDⓈ-M futures
  websocket market streams): drop events with ``u < lastUpdateId``; the first applied event must contain the
  snapshot's own id (``U <= lastUpdateId <= u``); after that each event's ``pu`` (the final id of the
  previous event on the stream) must equal the previous event's ``u``. Futures ids are shared by every
  symbol, so ``U`` usually lies far past the previous ``u``: the spot test would call every second update a
  gap.

Anything else means a missed message: resynchronise from a fresh snapshot. That includes an event from the
past once the chain is running (``u <= previous u``): a stream never repeats itself, so such an event is a
mangled one whose changes would otherwise be skipped silently.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.Enum):
    APPLY = "apply"
    STALE = "stale"
    """Already contained in the snapshot (before the first applied event): skip."""
    GAP = "gap"
    """A message is missing: the book is void until the next snapshot."""


@dataclass(frozen=True, slots=True)
class ChainRule:
    """How one market's diff-depth events chain onto a REST snapshot and onto each other."""

    name: str
    bridge: int
    """The first applied event must contain update id ``lastUpdateId + bridge`` (``U <= that <= u``); events
    ending before it are already in the snapshot (stale). Spot 1, futures 0."""
    links_previous_id: bool
    """Once running, an event continues the chain when its previous-event id (``pu``) equals the previous
    ``u`` (futures), rather than when its ``U`` is the previous ``u + 1`` (spot)."""


SPOT_CHAIN = ChainRule("spot", bridge=1, links_previous_id=False)
USDM_FUTURES_CHAIN = ChainRule("usd-m futures", bridge=0, links_previous_id=True)


class UpdateIdChain:
    """The Binance ``U``/``u`` chain of one symbol, anchored on a REST snapshot's ``lastUpdateId``."""

    __slots__ = ("_first_applied", "last_id", "rule")

    def __init__(self, snapshot_last_id: int, rule: ChainRule = SPOT_CHAIN) -> None:
        self.last_id = snapshot_last_id
        self.rule = rule
        self._first_applied = False

    def accept(self, first_id: int, last_id: int, previous_id: int | None = None) -> Verdict:
        """Judge the event ``[first_id, last_id]`` (``previous_id``: its ``pu``, for rules that link by it)
        and advance the chain when it applies."""
        if last_id < first_id:
            return Verdict.GAP
        if self._first_applied:
            if last_id <= self.last_id:
                return Verdict.GAP
            if self.rule.links_previous_id:
                if previous_id != self.last_id:
                    return Verdict.GAP
            elif first_id != self.last_id + 1:
                return Verdict.GAP
        else:
            bridge = self.last_id + self.rule.bridge
            if last_id < bridge:
                return Verdict.STALE
            if first_id > bridge:
                return Verdict.GAP
        self.last_id = last_id
        self._first_applied = True
        return Verdict.APPLY

    def gap_detail(self, first_id: int, last_id: int, previous_id: int | None = None) -> str:
        linked = "" if previous_id is None else f" (previous {previous_id})"
        return f"update ids [{first_id}, {last_id}]{linked} do not continue the chain at {self.last_id}"
