"""One model of a prediction market's *public* metadata, whatever venue listed it.

Why: the matcher compares Kalshi and Polymarket markets, which describe the same proposition with different
fields (Kalshi: ``ticker``/``event_ticker``/``title``/``yes_sub_title``/``close_time``/``rules_primary``;
Polymarket: ``conditionId``/``slug``/``question``/``groupItemTitle``/``endDate``/``description``/
``resolutionSource``, outcomes as JSON strings). Each venue module (:mod:`sdk.prediction.kalshi`,
:mod:`sdk.prediction.polymarket`) maps its payloads onto :class:`PredictionMarket` once, at the boundary,
rejecting malformed fields with an error that names them; the matcher then sees one vocabulary.

Nothing private is here: no books, no positions. Matching runs on what any visitor of the venue can read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sdk.prediction.facts import PropositionFacts, extract_facts, extract_sources, normalise_text

KALSHI = "kalshi"
POLYMARKET = "polymarket"
VENUES = (KALSHI, POLYMARKET)


class PredictionMarketError(ValueError):
    """A market payload is malformed; the message names the field and what arrived."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One tradeable outcome: its label as the venue writes it and, where the venue has one, its token."""

    label: str
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class PredictionMarket:
    """A market's public metadata in one vocabulary (see the module docstring for the field sources).

    ``subject`` is the outcome a market of a multi-outcome event is about ("J.D. Vance" in Kalshi's
    KXPRESPERSON-28, "Gretchen Whitmer" in Polymarket's negRisk nominee event), empty for a plain yes/no
    proposition. ``aliases`` holds every identifier the venue gives the market (ticker, condition id, Gamma
    id, slug, token ids) for exact matching. ``facts`` are read from ``title`` + ``subject``.
    """

    venue: str
    market_id: str
    ticker: str
    series: str
    title: str
    subject: str
    outcomes: tuple[Outcome, ...]
    resolution_time: datetime | None
    category: str | None
    resolution_sources: tuple[str, ...]
    rules: str
    facts: PropositionFacts
    multi_outcome_event: bool = False
    fee_rate: Decimal | None = None
    aliases: tuple[str, ...] = field(default=())
    yes_label: str = ""
    """What a Yes/No market's Yes pays on, when the venue names it (Kalshi's ``yes_sub_title`` "FaZe"), even
    where the title already says it (then ``subject`` is empty)."""

    @property
    def key(self) -> str:
        """``venue:market_id``, unique across venues."""
        return f"{self.venue}:{self.market_id}"

    @property
    def text(self) -> str:
        """Title and subject: what the matcher compares."""
        return f"{self.title} {self.subject}".strip()

    @property
    def is_yes_no(self) -> bool:
        labels = {normalise_text(o.label) for o in self.outcomes}
        return labels == {"yes", "no"}

    def summary(self) -> dict[str, object]:
        """JSON-able public description (for decision records and the CLI)."""
        return {
            "venue": self.venue,
            "market_id": self.market_id,
            "ticker": self.ticker,
            "series": self.series,
            "title": self.title,
            "subject": self.subject,
            "outcomes": [o.label for o in self.outcomes],
            "resolution_time": None if self.resolution_time is None else self.resolution_time.isoformat(),
            "category": self.category,
            "resolution_sources": list(self.resolution_sources),
        }


# -- helpers shared by the venue parsers ---------------------------------------------------------------


def field_str(payload: Mapping[str, object], name: str, where: str, *, required: bool = False) -> str:
    """``payload[name]`` as a stripped string ('' if absent and not required)."""
    value = payload.get(name)
    if value is None:
        if required:
            raise PredictionMarketError(f"{where}.{name}: required, missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PredictionMarketError(f"{where}.{name}: expected a string, got {type(value).__name__}")
    text = str(value).strip()
    if required and not text:
        raise PredictionMarketError(f"{where}.{name}: required, got an empty string")
    return text


def parse_time(value: object, where: str) -> datetime | None:
    """An ISO-8601 time (``Z`` or offset; a bare date is midnight UTC) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PredictionMarketError(f"{where}: expected an ISO-8601 time string, got {type(value).__name__}")
    text = value.strip().replace("Z", "+00:00")
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        text += "T00:00:00+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PredictionMarketError(f"{where}: expected an ISO-8601 time, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def json_list(value: object, where: str) -> list[str]:
    """A list of strings, given as a list or as Polymarket's JSON-encoded string ('["Yes", "No"]')."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise PredictionMarketError(f"{where}: expected a JSON list, got {text[:60]!r}") from None
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise PredictionMarketError(f"{where}: expected a list of strings, got {str(value)[:60]!r}")
    return [str(v) for v in value]


_CATEGORY_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("world", re.compile(r"geopolitic|^world$|^war|ukraine|israel|middle east|foreign")),
    ("politics", re.compile(r"politic|election|president|congress|senate|governor|nominee|trump|biden")),
    ("crypto", re.compile(r"crypto|bitcoin|ethereum|solana|btc|eth\b")),
    ("sports", re.compile(r"sport|nba|nfl|mlb|nhl|soccer|football|tennis|esport|counter-strike|games?$")),
    ("economics", re.compile(r"econom|fed\b|inflation|cpi|jobs|rates|gdp|recession")),
    ("finance", re.compile(r"financ|stock|equit|ipo|compan|business|earnings|commodit")),
    ("science_tech", re.compile(r"science|tech|space|mars|\bai\b|nasa|spacex")),
    ("culture", re.compile(r"culture|entertain|movie|music|celebrit|awards|mention")),
    ("weather", re.compile(r"weather|climate|hurricane|temperature")),
)
COMPATIBLE_CATEGORIES: frozenset[frozenset[str]] = frozenset(
    {frozenset({"economics", "finance"}), frozenset({"world", "politics"})}
)
"""Venues file some propositions under neighbouring categories (a rate decision: Economics or Finance)."""


def normalise_category(*labels: str) -> str | None:
    """The first of ``labels`` (a category or tag, in the venue's order) that maps onto our vocabulary."""
    for label in labels:
        text = normalise_text(label)
        if not text or text in ("all", "breaking news", "recurring", "hide from new", "trending"):
            continue
        for name, rule in _CATEGORY_RULES:
            if rule.search(text):
                return name
    return None


def categories_compatible(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b or frozenset({a, b}) in COMPATIBLE_CATEGORIES


def build_market(
    *,
    venue: str,
    market_id: str,
    ticker: str,
    series: str,
    title: str,
    subject: str,
    outcomes: tuple[Outcome, ...],
    resolution_time: datetime | None,
    category: str | None,
    rules: tuple[str, ...],
    multi_outcome_event: bool,
    fee_rate: Decimal | None,
    aliases: tuple[str, ...],
    where: str,
) -> PredictionMarket:
    """Validate the common fields and derive facts and sources."""
    if venue not in VENUES:
        raise PredictionMarketError(f"{where}.venue: expected one of {VENUES}, got {venue!r}")
    if not market_id:
        raise PredictionMarketError(f"{where}: no market identifier")
    if not title:
        raise PredictionMarketError(f"{where}: no title/question")
    if len(outcomes) < 2:
        raise PredictionMarketError(f"{where}.outcomes: expected at least 2 outcomes, got {len(outcomes)}")
    subject_words = set(re.findall(r"[a-z0-9]+", normalise_text(subject)))
    title_words = set(re.findall(r"[a-z0-9]+", normalise_text(title)))
    yes_label = "" if subject_words <= {"yes", "no"} else subject
    if subject_words <= {"yes", "no"} or subject_words <= title_words:
        subject = ""  # a subtitle that repeats the title ("Mars") or says "Yes" is no subject
    year = resolution_time.year if resolution_time is not None else None
    facts = extract_facts(f"{title} {subject}", default_year=year)
    return PredictionMarket(
        venue=venue,
        market_id=market_id,
        ticker=ticker,
        series=series,
        title=title,
        subject=subject,
        outcomes=outcomes,
        resolution_time=resolution_time,
        category=category,
        resolution_sources=extract_sources(*rules),
        rules="\n".join(r for r in rules if r),
        facts=facts,
        multi_outcome_event=multi_outcome_event,
        fee_rate=fee_rate,
        aliases=tuple(dict.fromkeys(a for a in (market_id, ticker, *aliases) if a)),
        yes_label=yes_label,
    )


__all__ = [
    "KALSHI",
    "POLYMARKET",
    "VENUES",
    "Outcome",
    "PredictionMarket",
    "PredictionMarketError",
    "build_market",
    "categories_compatible",
    "normalise_category",
]
