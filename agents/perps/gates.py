"""Entry gates of a funding-arbitrage pair: venue latency, hard constraints, and the confluence score.

A pair is long the perpetual on the venue with the lower funding rate and short where it is higher: the short
leg receives more funding than the long leg pays. Before a pair is entered (a plan that grows it):

- **Latency** (``LatencyMonitor``): each venue's server time is polled; one poll gives the round trip
  ``rtt = received - sent`` and the clock offset ``server - (sent + received) / 2`` (the NTP estimate). A
  venue whose last round trip or offset exceeds ``stale_ms`` (200 ms), or that has not answered a poll within
  ``max_poll_age_ms``, is stale.
- **Hard constraints** (every one must hold; otherwise no trade, and the reasons are logged): book depth
  within the price limit of each leg at least ``depth_multiple`` (2x) the size; every venue fresh; the funding
  delta above ``min_delta_8h`` (0.01% per 8 h, after normalising each venue's interval to 8 h).
- **Confluence score** in ``[0, 1]``: a weighted sum of six signals, each clipped to ``[0, 1]`` where 1 is
  most favourable: funding delta (relative to ``delta_full_8h``), order-book imbalance, open interest, VWAP
  deviation, ATR trend, liquidation clusters. The weights are data (``ConfluenceWeights``). A failed hard
  constraint means a score of 0, whatever the signals say.

Pure: no clock, no I/O; times are passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal

from agents.perps.funding import FundingInputError

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ONE = Decimal(1)


# -- latency ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ServerTimePoll:
    """One server-time request: when it was sent and answered (local ms) and the server's time in it."""

    sent_ms: int
    server_ms: int
    received_ms: int

    def __post_init__(self) -> None:
        if self.received_ms < self.sent_ms:
            raise FundingInputError(f"received_ms: {self.received_ms} is before sent_ms {self.sent_ms}")

    @property
    def rtt_ms(self) -> int:
        return self.received_ms - self.sent_ms

    @property
    def offset_ms(self) -> float:
        """Server clock minus local clock, assuming the answer left the server half way."""
        return self.server_ms - (self.sent_ms + self.received_ms) / 2


@dataclass(frozen=True, slots=True)
class Freshness:
    venue: str
    fresh: bool
    reason: str
    rtt_ms: int | None = None
    offset_ms: float | None = None


class LatencyMonitor:
    """Per venue: the last server-time poll, and whether the venue is fresh (see the module docstring)."""

    def __init__(self, *, stale_ms: float = 200.0, max_poll_age_ms: int = 10_000) -> None:
        if stale_ms <= 0 or max_poll_age_ms <= 0:
            raise FundingInputError(
                f"stale_ms and max_poll_age_ms: must be > 0, got {stale_ms} and {max_poll_age_ms}"
            )
        self.stale_ms = stale_ms
        self.max_poll_age_ms = max_poll_age_ms
        self.polls: dict[str, ServerTimePoll] = {}

    def observe(self, venue: str, poll: ServerTimePoll) -> Freshness:
        self.polls[venue] = poll
        return self.freshness(venue, poll.received_ms)

    def freshness(self, venue: str, now_ms: int) -> Freshness:
        poll = self.polls.get(venue)
        if poll is None:
            return Freshness(venue, False, f"{venue}: no server-time poll yet")
        rtt, offset = poll.rtt_ms, poll.offset_ms
        if now_ms - poll.received_ms > self.max_poll_age_ms:
            age = now_ms - poll.received_ms
            return Freshness(venue, False, f"{venue}: last poll {age} ms ago", rtt, offset)
        if rtt > self.stale_ms:
            return Freshness(venue, False, f"{venue}: rtt {rtt} ms > {self.stale_ms:g} ms", rtt, offset)
        if abs(offset) > self.stale_ms:
            return Freshness(
                venue,
                False,
                f"{venue}: clock offset {offset:.0f} ms beyond {self.stale_ms:g} ms",
                rtt,
                offset,
            )
        return Freshness(venue, True, "", rtt, offset)


# -- the candidate ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Signals:
    """The confluence signals, each already scaled to ``[0, 1]`` (1 = most favourable to the pair)."""

    order_book_imbalance: Decimal = ZERO
    open_interest: Decimal = ZERO
    vwap_deviation: Decimal = ZERO
    atr_trend: Decimal = ZERO
    liquidation_clusters: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class ConfluenceWeights:
    """Weights of the six signals (they must sum to 1)."""

    funding_delta: Decimal = Decimal("0.35")
    order_book_imbalance: Decimal = Decimal("0.20")
    open_interest: Decimal = Decimal("0.15")
    vwap_deviation: Decimal = Decimal("0.10")
    atr_trend: Decimal = Decimal("0.10")
    liquidation_clusters: Decimal = Decimal("0.10")

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        for f, value in zip(fields(self), values, strict=True):
            if not value.is_finite() or value < 0:
                raise FundingInputError(f"weights.{f.name}: must be a finite decimal >= 0, got {value}")
        if sum(values, ZERO) != ONE:
            raise FundingInputError(f"weights: must sum to 1, got {sum(values, ZERO)}")


@dataclass(frozen=True, slots=True)
class PairCandidate:
    """A proposed entry: ``size`` (base units) long on ``long_venue`` and short on ``short_venue``."""

    long_venue: str
    short_venue: str
    size: Decimal
    long_rate_8h: Decimal
    short_rate_8h: Decimal
    long_depth: Decimal
    """Base units the long venue's asks offer within the leg's price limit."""
    short_depth: Decimal
    """Base units the short venue's bids offer within the leg's price limit."""
    signals: Signals = Signals()

    def __post_init__(self) -> None:
        if self.long_venue == self.short_venue:
            raise FundingInputError(f"short_venue: must differ from long_venue {self.long_venue!r}")
        if not self.size.is_finite() or self.size <= 0:
            raise FundingInputError(f"size: must be > 0, got {self.size}")
        for name in ("long_depth", "short_depth"):
            value = getattr(self, name)
            if not value.is_finite() or value < 0:
                raise FundingInputError(f"{name}: must be >= 0, got {value}")

    @property
    def delta_8h(self) -> Decimal:
        """Funding the pair earns per 8 h as a fraction of notional: short receives, long pays."""
        return self.short_rate_8h - self.long_rate_8h


@dataclass(frozen=True, slots=True)
class EntryPolicy:
    depth_multiple: Decimal = Decimal(2)
    min_delta_8h: Decimal = Decimal("0.0001")
    """0.01% per 8 h."""
    delta_full_8h: Decimal = Decimal("0.001")
    """The funding delta at which the funding signal is full (0.1% per 8 h)."""
    min_score: Decimal = Decimal("0.3")
    weights: ConfluenceWeights = ConfluenceWeights()


@dataclass(frozen=True, slots=True)
class EntryDecision:
    trade: bool
    score: Decimal
    reasons: tuple[str, ...]
    """Why not (empty when it trades)."""


def _unit(value: Decimal) -> Decimal:
    return min(max(value, ZERO), ONE)


def hard_constraints(
    candidate: PairCandidate, freshness: Mapping[str, Freshness], policy: EntryPolicy
) -> list[str]:
    """The hard constraints the candidate fails, each as a reason naming it (empty: all hold)."""
    reasons = []
    need = policy.depth_multiple * candidate.size
    for venue, depth in (
        (candidate.long_venue, candidate.long_depth),
        (candidate.short_venue, candidate.short_depth),
    ):
        if depth < need:
            reasons.append(f"depth: {venue} offers {depth} < {policy.depth_multiple} x size {candidate.size}")
    for venue in (candidate.long_venue, candidate.short_venue):
        state = freshness.get(venue)
        if state is None or not state.fresh:
            reasons.append(f"fresh: {state.reason if state is not None else venue + ': no latency data'}")
    if candidate.delta_8h <= policy.min_delta_8h:
        reasons.append(f"funding_delta: {candidate.delta_8h} per 8h <= {policy.min_delta_8h}")
    return reasons


def confluence(candidate: PairCandidate, policy: EntryPolicy) -> Decimal:
    """The weighted score in ``[0, 1]`` (hard constraints not applied: see ``evaluate``)."""
    w, s = policy.weights, candidate.signals
    funding = _unit(candidate.delta_8h / policy.delta_full_8h)
    return (
        w.funding_delta * funding
        + w.order_book_imbalance * _unit(s.order_book_imbalance)
        + w.open_interest * _unit(s.open_interest)
        + w.vwap_deviation * _unit(s.vwap_deviation)
        + w.atr_trend * _unit(s.atr_trend)
        + w.liquidation_clusters * _unit(s.liquidation_clusters)
    )


def evaluate(
    candidate: PairCandidate, freshness: Mapping[str, Freshness], policy: EntryPolicy = EntryPolicy()
) -> EntryDecision:
    """Trade or not: a failed hard constraint gives score 0 and no trade, with the reasons logged."""
    reasons = hard_constraints(candidate, freshness, policy)
    if reasons:
        log.info("no entry %s/%s: %s", candidate.long_venue, candidate.short_venue, "; ".join(reasons))
        return EntryDecision(False, ZERO, tuple(reasons))
    score = confluence(candidate, policy)
    if score < policy.min_score:
        reason = f"score: {score} < {policy.min_score}"
        log.info("no entry %s/%s: %s", candidate.long_venue, candidate.short_venue, reason)
        return EntryDecision(False, score, (reason,))
    return EntryDecision(True, score, ())
