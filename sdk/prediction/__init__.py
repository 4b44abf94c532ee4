"""Prediction markets on public metadata: one market model for Kalshi and Polymarket, the facts their wording
commits to, and the cross-venue matcher whose decisions go on the ledger.

Layering: pure functions over public payloads (no I/O, no private books), so it sits in the SDK where agents,
the coordinator and the CLI can all use it.
"""

from sdk.prediction.facts import Comparator, DateMode, PropositionFacts, extract_facts, extract_sources
from sdk.prediction.kalshi import parse_markets as parse_kalshi
from sdk.prediction.matcher import (
    LEDGER_KIND,
    MARKET_MATCH_SCHEMA,
    Decision,
    EventMatch,
    MatchConfig,
    MatchDecision,
    OutcomeLink,
    decide,
    map_outcomes,
    match_events,
    match_markets,
    operator_decision,
    record_bytes,
)
from sdk.prediction.model import KALSHI, POLYMARKET, Outcome, PredictionMarket, PredictionMarketError
from sdk.prediction.polymarket import parse_markets as parse_polymarket

__all__ = [
    "KALSHI",
    "LEDGER_KIND",
    "MARKET_MATCH_SCHEMA",
    "POLYMARKET",
    "Comparator",
    "DateMode",
    "Decision",
    "EventMatch",
    "MatchConfig",
    "MatchDecision",
    "Outcome",
    "OutcomeLink",
    "PredictionMarket",
    "PredictionMarketError",
    "PropositionFacts",
    "decide",
    "extract_facts",
    "extract_sources",
    "map_outcomes",
    "match_events",
    "match_markets",
    "operator_decision",
    "parse_kalshi",
    "parse_polymarket",
    "record_bytes",
]
