"""Facts a market's wording commits to, read from its public title and rules: thresholds, dates, comparator,
resolution source, key terms.

Why: two markets can share almost every word and still be different bets ("Bitcoin above $64,000 on March
11" vs "Bitcoin above $100,000 by March 15"). Fuzzy similarity cannot see that; these facts can, so the
matcher refuses a pair whose facts disagree whatever its title score.

Everything here is pure text processing over public metadata (no I/O). Dates are normalised to the *last day
included*: "before Aug 1, 2099" is 2099-07-31, "by the end of 2027" and "before 2028" are both 2027-12-31,
so the two ways venues write the same deadline compare equal.
"""

from __future__ import annotations

import calendar
import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from urllib.parse import urlparse


class Comparator(StrEnum):
    ABOVE = "above"
    BELOW = "below"


class DateMode(StrEnum):
    """``DEADLINE``: happens at any time up to the date; ``POINT``: observed on the date."""

    DEADLINE = "deadline"
    POINT = "point"


@dataclass(frozen=True, slots=True)
class PropositionFacts:
    """What a market's wording commits to. Empty tuples / ``None`` mean "not stated"."""

    thresholds: tuple[Decimal, ...] = ()
    comparator: Comparator | None = None
    dates: tuple[date, ...] = ()
    date_mode: DateMode | None = None
    years: tuple[int, ...] = ()
    """Years written on their own ("the 2028 election"), not as part of a date."""
    key_terms: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "thresholds": [format(t, "f") for t in self.thresholds],
            "comparator": None if self.comparator is None else self.comparator.value,
            "dates": [d.isoformat() for d in self.dates],
            "date_mode": None if self.date_mode is None else self.date_mode.value,
            "years": list(self.years),
            "key_terms": list(self.key_terms),
        }


_MONTHS: dict[str, int] = {}
for _i in range(1, 13):
    _MONTHS[calendar.month_name[_i].lower()] = _i
    _MONTHS[calendar.month_abbr[_i].lower()] = _i
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))

_MAGNITUDE = {
    "k": Decimal(10**3),
    "thousand": Decimal(10**3),
    "m": Decimal(10**6),
    "mm": Decimal(10**6),
    "million": Decimal(10**6),
    "b": Decimal(10**9),
    "bn": Decimal(10**9),
    "billion": Decimal(10**9),
    "t": Decimal(10**12),
    "tn": Decimal(10**12),
    "trillion": Decimal(10**12),
}

_PREP = r"(?:(?P<prep>before|by|on|at|until|through|after|prior to)\s+(?:the\s+)?)?"
_YEAR_TAIL = r"(?:,?\s+(?P<year>(?:19|20|21)\d\d)\b)?"
_MONTH_DAY = re.compile(
    _PREP + rf"\b(?P<month>{_MONTH_RE})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b" + _YEAR_TAIL
)
_DAY_MONTH = re.compile(
    _PREP + rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<month>{_MONTH_RE})\.?\b" + _YEAR_TAIL
)
_ISO_DATE = re.compile(_PREP + r"\b(?P<year>(?:19|20|21)\d\d)-(?P<month>\d\d)-(?P<day>\d\d)\b")
_END_OF_YEAR = re.compile(
    r"\b(?:by|before|at|until|through)?\s*(?:the\s+)?end\s+of\s+(?P<year>(?:19|20|21)\d\d)\b"
)
_BEFORE_YEAR = re.compile(r"\b(?P<prep>before|prior to)\s+(?P<year>(?:19|20|21)\d\d)\b")
_YEAR = re.compile(r"(?<![\d$.,])\b(?P<year>(?:19|20|21)\d\d)\b(?![\d,.]*\d)")
_NUMBER = re.compile(
    r"(?P<dollar>\$)?\s?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<mag>thousand|million|billion|trillion|bn|tn|mm|k|m|b|t)\b)?(?P<pct>\s?%|\s?percent\b)?"
)

_ABOVE = re.compile(
    r"\b(above|over|exceed(?:s|ed)?|higher than|greater than|more than|at least|or (?:above|more|higher)|"
    r"reach(?:es)?|hit(?:s)?|surpass(?:es)?|top(?:s)?)\b|>=?"
)
_BELOW = re.compile(
    r"\b(below|under|less than|lower than|at most|or (?:below|less|lower)|fall(?:s)? to|drop(?:s)? to)\b|<=?"
)

KEY_TERM_GROUPS: dict[str, tuple[str, ...]] = {
    "nomination": ("nominee", "nomination", "nominated", "primary", "primaries"),
    "popular_vote": ("popular vote",),
    "electoral_college": ("electoral",),
    "senate": ("senate",),
    "house": ("house of representatives", "house seats", "speaker"),
    "governor": ("governor", "gubernatorial"),
    "mayor": ("mayor",),
    "vice_president": ("vice president",),
    "up_down": ("up or down",),
    "margin": ("margin", "by more than", "by at least"),
    "resign_out": ("resign", "out as", "leave office", "removed"),
    "ipo": ("ipo",),
    "fdv_marketcap": ("fdv", "market cap", "valuation"),
}
"""Words that change which proposition a title states; a group present on only one side refuses the pair."""

RESOLUTION_SOURCES: dict[str, tuple[str, ...]] = {
    "binance": ("binance",),
    "coinbase": ("coinbase",),
    "kraken": ("kraken",),
    "chainlink": ("chainlink", "chain.link"),
    "cf_benchmarks": ("cf benchmarks", "cfbenchmarks", "brti", "real time index"),
    "pyth": ("pyth",),
    "associated_press": ("associated press", "apnews", "ap news"),
    "hltv": ("hltv",),
    "espn": ("espn",),
    "nasdaq": ("nasdaq",),
    "nyse": ("nyse", "new york stock exchange"),
    "bls": ("bureau of labor statistics", "bls.gov"),
    "bea": ("bureau of economic analysis", "bea.gov"),
    "federal_reserve": ("federal reserve", "federalreserve.gov", "fomc"),
    "noaa": ("noaa", "national weather service", "weather.gov"),
    "nasa": ("nasa",),
    "uma": ("uma oracle",),
}
"""Resolution sources recognised in rules text and ``resolutionSource`` URLs (key: normalised name)."""


def normalise_text(text: str) -> str:
    """Lower-case ASCII with curly quotes and dashes folded; initials joined ("J.D." -> "jd")."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    folded = re.sub(r"\b([a-z])\.(?=[a-z]\.)", r"\1", folded)  # j.d. -> jd.
    folded = re.sub(r"\b([a-z]{1,2})\.(?=\s|$)", r"\1", folded)  # jd. -> jd ; st. -> st
    return re.sub(r"\s+", " ", folded).strip()


def _to_decimal(num: str) -> Decimal | None:
    try:
        return Decimal(num.replace(",", ""))
    except InvalidOperation:
        return None


def _shift_deadline(day: date, prep: str | None) -> date:
    return day - timedelta(days=1) if prep in ("before", "prior to") else day


def _mode(prep: str | None) -> DateMode | None:
    if prep in ("before", "by", "until", "through", "prior to"):
        return DateMode.DEADLINE
    if prep in ("on", "at"):
        return DateMode.POINT
    return None


def extract_facts(text: str, *, default_year: int | None = None) -> PropositionFacts:
    """Facts stated by ``text`` (a title, optionally with its outcome subtitle).

    ``default_year`` dates a "March 11" that names no year (the year of the market's resolution time).
    """
    t = normalise_text(text)
    dates: list[date] = []
    modes: list[DateMode] = []
    consumed: list[tuple[int, int]] = []

    def add(day: date, prep: str | None, span: tuple[int, int]) -> None:
        dates.append(_shift_deadline(day, prep))
        mode = _mode(prep)
        if mode is not None:
            modes.append(mode)
        consumed.append(span)

    for pattern in (_ISO_DATE, _MONTH_DAY, _DAY_MONTH):
        for m in pattern.finditer(t):
            if any(a <= m.start("day") < b for a, b in consumed):
                continue
            month_text = m.group("month")
            month = int(month_text) if month_text.isdigit() else _MONTHS[month_text]
            year_text = m.group("year")
            year = int(year_text) if year_text else default_year
            if year is None:
                continue
            try:
                day = date(year, month, int(m.group("day")))
            except ValueError:
                continue
            add(day, m.group("prep"), m.span())
    for m in _END_OF_YEAR.finditer(t):
        add(date(int(m.group("year")), 12, 31), "by", m.span())
    for m in _BEFORE_YEAR.finditer(t):
        if any(a <= m.start("year") < b for a, b in consumed):
            continue
        add(date(int(m.group("year")), 1, 1), m.group("prep"), m.span())

    years: set[int] = set()
    for m in _YEAR.finditer(t):
        if not any(a <= m.start() < b for a, b in consumed):
            years.add(int(m.group("year")))
            consumed.append(m.span())

    thresholds: set[Decimal] = set()
    for m in _NUMBER.finditer(t):
        if any(a <= m.start("num") < b for a, b in consumed):
            continue
        num = m.group("num")
        if not (m.group("dollar") or m.group("mag") or m.group("pct") or "," in num):
            continue  # a bare small number ("top 5", "BO3"): not a threshold we can compare safely
        value = _to_decimal(num)
        if value is None:
            continue
        mag = m.group("mag")
        if mag:
            value *= _MAGNITUDE[mag]
        thresholds.add(value.normalize())

    above = bool(_ABOVE.search(t))
    below = bool(_BELOW.search(t))
    comparator = (
        Comparator.ABOVE if above and not below else Comparator.BELOW if below and not above else None
    )
    distinct_modes = set(modes)
    mode = next(iter(distinct_modes)) if len(distinct_modes) == 1 else None
    terms = tuple(sorted(g for g, words in KEY_TERM_GROUPS.items() if any(w in t for w in words)))
    return PropositionFacts(
        thresholds=tuple(sorted(thresholds)),
        comparator=comparator,
        dates=tuple(sorted(set(dates))),
        date_mode=mode,
        years=tuple(sorted(years)),
        key_terms=terms,
    )


def extract_sources(*texts: str) -> tuple[str, ...]:
    """Normalised resolution sources named in rules text or URLs (``resolutionSource``)."""
    found: set[str] = set()
    for text in texts:
        if not text:
            continue
        t = normalise_text(text)
        hosts = " ".join(urlparse(u).netloc for u in re.findall(r"https?://\S+", t))
        for name, words in RESOLUTION_SOURCES.items():
            if any(w in t or w in hosts for w in words):
                found.add(name)
    return tuple(sorted(found))


_STOPWORDS = frozenset(
    (
        *("will", "the", "a", "an", "be", "is", "are", "of", "in", "on", "by", "to", "for", "at", "who"),
        *("what", "which", "does", "do", "did", "this", "that", "than", "or", "and"),
        *("market", "resolve", "resolves", "yes", "no"),
    )
)
_ALIASES = {
    "btc": "bitcoin",
    "eth": "ethereum",
    "sol": "solana",
    "us": "us",
    "usa": "us",
    "u.s": "us",
    "pres": "president",
    "presidential": "president",
    "dem": "democratic",
    "democrat": "democratic",
    "gop": "republican",
    "rep": "republican",
}


@functools.lru_cache(maxsize=1 << 16)
def title_tokens(text: str) -> str:
    """A title reduced to the words that carry meaning, for token-set similarity."""
    t = normalise_text(text)
    t = re.sub(r"[^a-z0-9$%., ]+", " ", t)
    words: list[str] = []
    for raw in t.split():
        word = raw.strip(".,")
        if not word or word in _STOPWORDS:
            continue
        word = _ALIASES.get(word, word)
        month = _MONTHS.get(word.rstrip("."))
        if month is not None and not word.isdigit():
            word = calendar.month_name[month].lower()
        words.append(word)
    return " ".join(words)


__all__ = [
    "KEY_TERM_GROUPS",
    "RESOLUTION_SOURCES",
    "Comparator",
    "DateMode",
    "PropositionFacts",
    "extract_facts",
    "extract_sources",
    "normalise_text",
    "title_tokens",
]
