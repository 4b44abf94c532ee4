"""Facts read from market wording, the venue parsers on every recorded payload, and properties of the
matcher's guards (a changed threshold or date is always refused; the same proposition written two ways is
always accepted)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.prediction import (
    Comparator,
    DateMode,
    Decision,
    MatchConfig,
    PredictionMarketError,
    decide,
    extract_facts,
    extract_sources,
    parse_kalshi,
    parse_polymarket,
)
from sdk.prediction.kalshi import parse_market as parse_kalshi_market
from sdk.prediction.polymarket import parse_gamma_market

RECORDINGS = "recordings/prediction_markets"


# -- facts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "year", "thresholds", "comparator", "dates", "mode"),
    [
        (
            "Will the price of Bitcoin be above $64,000 on March 11?",
            2026,
            ["64000"],
            "above",
            ["2026-03-11"],
            "point",
        ),
        ("Will Bitcoin exceed $100,000 by March 15?", 2025, ["100000"], "above", ["2025-03-15"], "deadline"),
        ("Will Elon Musk visit Mars before Aug 1, 2099?", None, [], None, ["2099-07-31"], "deadline"),
        ("Will humans colonize Mars before 2050?", None, [], None, ["2049-12-31"], "deadline"),
        ("Russia x Ukraine ceasefire by end of 2027?", None, [], None, ["2027-12-31"], "deadline"),
        ("Katana FDV above $1B one day after launch?", None, ["1000000000"], "above", [], None),
        ("Will ETH fall below $2.5k on 2026-03-12?", None, ["2500"], "below", ["2026-03-12"], "point"),
        ("Unemployment rate 4.5% or higher in May 2026?", None, ["4.5"], "above", [], None),
    ],
)
def test_facts_from_titles(
    text: str,
    year: int | None,
    thresholds: list[str],
    comparator: str | None,
    dates: list[str],
    mode: str | None,
) -> None:
    facts = extract_facts(text, default_year=year).to_json()
    assert facts["thresholds"] == thresholds
    assert facts["comparator"] == comparator
    assert facts["dates"] == dates
    assert facts["date_mode"] == mode


def test_sources_from_rules_and_urls() -> None:
    assert extract_sources("The resolution source for this market is Binance, BTC/USDT 1m candles") == (
        "binance",
    )
    assert extract_sources("https://data.chain.link/streams/btc-usd") == ("chainlink",)
    assert extract_sources("CF Benchmarks' Bitcoin Real-Time Index (BRTI)") == ("cf_benchmarks",)
    assert extract_sources("", "no source named here") == ()


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]  # fmt: skip


@given(st.integers(min_value=1, max_value=999_999))
def test_a_threshold_reads_the_same_in_every_venue_style(thousands: int) -> None:
    value = thousands * 1000
    styles = [f"${value:,}", f"${value}", f"${thousands}k", f"{value:,} dollars"]
    read = {extract_facts(f"Bitcoin above {s} on March 3?", default_year=2026).thresholds for s in styles}
    assert read == {(Decimal(value),)}


@given(st.dates(min_value=date(2001, 1, 2), max_value=date(2150, 12, 30)))
def test_before_the_next_day_is_by_the_day(day: date) -> None:
    nxt = day + timedelta(days=1)
    by = extract_facts(f"Will it happen by {_MONTHS[day.month - 1]} {day.day}, {day.year}?")
    before = extract_facts(f"Will it happen before {_MONTHS[nxt.month - 1][:3]} {nxt.day}, {nxt.year}?")
    assert by.dates == before.dates == (day,)
    assert by.date_mode is before.date_mode is DateMode.DEADLINE


# -- guards as properties ------------------------------------------------------------------------------


def _kalshi(title: str, close: datetime, rules: str = "") -> Any:
    return parse_kalshi_market(
        {
            "ticker": "KXTEST-1",
            "event_ticker": "KXTEST",
            "title": title,
            "close_time": close.isoformat(),
            "rules_primary": rules,
        }
    )


def _poly(question: str, close: datetime, description: str = "") -> Any:
    return parse_gamma_market(
        {
            "conditionId": "0xtest",
            "question": question,
            "endDate": close.isoformat(),
            "outcomes": '["Yes", "No"]',
            "description": description,
        }
    )


_ASSETS = st.sampled_from(["Bitcoin", "Ethereum", "Solana", "Gold", "the S&P 500", "Nvidia stock"])
_DAYS = st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31))


@settings(max_examples=150, deadline=None)
@given(
    _ASSETS, st.integers(min_value=1, max_value=500_000), _DAYS, st.sampled_from(["binance", "coinbase", ""])
)
def test_the_same_proposition_written_two_ways_matches(
    asset: str, level: int, day: date, source: str
) -> None:
    close = datetime(day.year, day.month, day.day, 16, tzinfo=UTC)
    when_k = f"{_MONTHS[day.month - 1][:3]} {day.day}, {day.year}"
    when_p = f"{_MONTHS[day.month - 1]} {day.day}"
    rules = f"Resolves by the {source} close." if source else ""
    k = _kalshi(f"Will {asset} be above ${level:,} on {when_k}?", close, rules)
    p = _poly(f"Will the price of {asset} be above ${level:,} on {when_p}?", close, rules)
    verdict = decide(k, p, MatchConfig())
    assert verdict.decision is Decision.MATCH, (verdict.reasons, verdict.confidence)


@settings(max_examples=150, deadline=None)
@given(
    _ASSETS,
    st.integers(min_value=1, max_value=500_000),
    st.integers(min_value=1, max_value=500_000),
    _DAYS,
    st.integers(min_value=0, max_value=5),
)
def test_a_different_threshold_or_date_is_always_refused(
    asset: str, level: int, other_level: int, day: date, shift: int
) -> None:
    if level == other_level and shift == 0:
        other_level += 1
    other_day = day + timedelta(days=shift)
    close = datetime(day.year, day.month, day.day, 16, tzinfo=UTC)
    k = _kalshi(f"Will {asset} be above ${level:,} on {_MONTHS[day.month - 1]} {day.day}, {day.year}?", close)
    p = _poly(
        f"Will {asset} be above ${other_level:,} on {_MONTHS[other_day.month - 1]} {other_day.day}?",
        close + timedelta(days=shift),
    )
    verdict = decide(k, p, MatchConfig())
    assert verdict.decision is Decision.REJECT
    assert {"threshold", "date"} & set(verdict.reasons)


def test_opposite_comparators_and_sources_are_refused() -> None:
    close = datetime(2026, 3, 11, 16, tzinfo=UTC)
    above = _kalshi("Will Bitcoin be above $64,000 on Mar 11, 2026?", close, "per Binance")
    below = _poly("Will Bitcoin be below $64,000 on March 11?", close, "per Binance")
    assert extract_facts(below.title).comparator is Comparator.BELOW
    assert "comparator" in decide(above, below, MatchConfig()).reasons
    other = _poly("Will Bitcoin be above $64,000 on March 11?", close, "per Coinbase")
    assert "resolution_source" in decide(above, other, MatchConfig()).reasons
    late = _poly("Will Bitcoin be above $64,000 on March 11?", close + timedelta(days=30), "per Binance")
    assert "resolution_time" in decide(above, late, MatchConfig()).reasons


# -- parsers -------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_every_recorded_metadata_payload_parses(shared_data: Path) -> None:
    root = shared_data / RECORDINGS
    kalshi = parse_kalshi(json.loads((root / "kalshi/ccxt/kalshi_response.json").read_text()))
    assert [m.ticker for m in kalshi] == ["KXELONMARS-99", "KXCOLONIZEMARS-50"]
    assert kalshi[0].resolution_time == datetime(2099, 8, 1, 4, 59, tzinfo=UTC)
    assert kalshi[0].facts.dates == (date(2099, 7, 31),)
    errors: list[str] = []
    page = parse_polymarket(
        json.loads((root / "polymarket/nautilus_trader/tests__http_responses__markets.json").read_text()),
        errors=errors,
    )
    assert len(page) + len(errors) == 100 and len(page) > 80
    assert all("tokens[" in e or "outcomes" in e for e in errors), errors[:3]
    vance = parse_polymarket(json.loads((root / "polymarket/ccxt/polymarket_response.json").read_text()))
    assert [m.title for m in vance] == ["Will JD Vance win the 2028 US Presidential Election?"]
    assert vance[0].outcomes[0].token_id is not None and vance[0].outcomes[0].token_id.startswith("16040015")
    search = parse_polymarket(
        json.loads((root / "polymarket/nautilus_trader/crates__search_response.json").read_text())
    )
    assert search[0].resolution_sources == ("binance",) and search[0].category == "crypto"
    sports = parse_polymarket(
        json.loads(
            (
                root / "polymarket/nautilus_trader/crates__gamma_market_sports_market_money_line.json"
            ).read_text()
        )
    )
    assert sports[0].fee_rate == Decimal("0.03") and [o.label for o in sports[0].outcomes] == [
        "FaZe",
        "illwill",
    ]


def test_malformed_payloads_name_the_field() -> None:
    with pytest.raises(PredictionMarketError, match=r"market\.ticker: required"):
        parse_kalshi_market({"title": "x", "event_ticker": "E"})
    with pytest.raises(PredictionMarketError, match=r"market\.close_time: expected an ISO-8601 time"):
        parse_kalshi_market({"ticker": "T", "title": "Will it?", "close_time": "tomorrow"})
    with pytest.raises(PredictionMarketError, match=r"market\.market_type: expected 'binary'"):
        parse_kalshi_market({"ticker": "T", "title": "Will it?", "market_type": "scalar"})
    with pytest.raises(PredictionMarketError, match=r"market\.outcomes: expected a JSON list"):
        parse_gamma_market({"conditionId": "0x1", "question": "Will it?", "outcomes": "[Yes"})
    with pytest.raises(PredictionMarketError, match=r"market\.clobTokenIds: expected one token per outcome"):
        parse_gamma_market(
            {
                "conditionId": "0x1",
                "question": "Will it?",
                "outcomes": '["Yes", "No"]',
                "clobTokenIds": '["1"]',
            }
        )
    with pytest.raises(PredictionMarketError, match=r"market\.feeSchedule\.rate"):
        parse_gamma_market(
            {
                "conditionId": "0x1",
                "question": "Will it?",
                "outcomes": '["Yes", "No"]',
                "feesEnabled": True,
                "feeSchedule": {"rate": "2"},
            }
        )
    with pytest.raises(PredictionMarketError, match=r"polymarket: expected an object or a list"):
        parse_polymarket("not json")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.one_of(st.none(), st.integers(min_value=1900, max_value=2199)))
def test_any_text_yields_facts_without_raising(text: str, year: int | None) -> None:
    facts = extract_facts(text, default_year=year)
    assert list(facts.thresholds) == sorted(facts.thresholds)
    assert all(t >= 0 for t in facts.thresholds)
    json.dumps(facts.to_json())


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
_KEYS = ["ticker", "title", "event_ticker", "close_time", "market", "markets", "event", "events",
         "conditionId", "question", "outcomes", "clobTokenIds", "endDate", "condition_id", "tokens", "data",
         "feeSchedule", "feesEnabled", "outcome", "outcomeIndex", "market_type", "yes_sub_title", "tags",
         "rate", "exchange", "methods", "httpResponse"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.recursive(
        _JSON, lambda inner: st.dictionaries(st.sampled_from(_KEYS), inner, max_size=6), max_leaves=25
    )
)
def test_parsers_accept_or_refuse_with_a_named_field(payload: object) -> None:
    """Whatever JSON arrives, a parser returns markets or raises PredictionMarketError, nothing else."""
    for parse in (parse_kalshi, parse_polymarket):
        try:
            markets = parse(payload)
        except PredictionMarketError as exc:
            assert str(exc)
        else:
            for m in markets:
                assert m.title and m.market_id and len(m.outcomes) >= 2
