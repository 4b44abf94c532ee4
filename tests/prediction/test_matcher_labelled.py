"""Acceptance (issue 14): the matcher refuses the real look-alike pairs of the recordings' README and pairs
every true match of the labelled set; its decisions are ledger-ready records. Precision and recall printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sdk.prediction import (
    MARKET_MATCH_SCHEMA,
    Decision,
    MatchConfig,
    PredictionMarket,
    PredictionMarketError,
    decide,
    match_events,
    match_markets,
    operator_decision,
    record_bytes,
)
from tests.prediction.labelled import LabelledSet, evaluate, load_labelled

RECORDINGS = "recordings/prediction_markets"


@pytest.fixture(scope="module")
def data() -> LabelledSet:
    return load_labelled()


def _ours(left: list[PredictionMarket], right: list[PredictionMarket]) -> dict[tuple[str, str], str]:
    return {(d.a.key, d.b.key): d.decision.value for d in match_markets(left, right)}


def test_every_true_match_is_paired_and_nothing_else(
    data: LabelledSet, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = evaluate(data, _ours)
    with capsys.disabled():
        print(
            f"\nmatcher on the labelled set: precision {scores.precision:.3f} recall {scores.recall:.3f} "
            f"({scores.true_positives} TP, {scores.false_positives} FP, {scores.false_negatives} FN, "
            f"{scores.pending} pending, {scores.pairs} pairs)"
        )
    assert scores.false_negatives == 0
    assert scores.false_positives == 0
    assert scores.precision == 1.0 and scores.recall == 1.0


def test_every_lookalike_is_refused_for_the_stated_reason(data: LabelledSet) -> None:
    config = MatchConfig()
    for pair in data.lookalikes:
        a, b = data.kalshi[pair["kalshi"]], data.polymarket[pair["polymarket"]]
        for first, second in ((a, b), (b, a)):
            verdict = decide(first, second, config)
            assert verdict.decision is Decision.REJECT, (pair, verdict.reasons, verdict.confidence)
            assert set(pair["expect_reasons"]) <= set(verdict.reasons), (pair, verdict.reasons)


def test_readme_lookalike_pair_is_refused_on_every_fact(data: LabelledSet) -> None:
    """README.txt's real pair: Polymarket BTC > $64,000 on March 11 (Binance) vs Kalshi BTC > $100,000 by
    March 15: different threshold, date, deadline-vs-point, and resolution time."""
    verdict = decide(data.kalshi["k_btc_100k_mar15"], data.polymarket["p_btc_64k_mar11"], MatchConfig())
    assert verdict.decision is Decision.REJECT
    assert {"threshold", "date", "date_mode", "resolution_time"} <= set(verdict.reasons)
    assert verdict.confidence == 0.0


def test_true_matches_map_outcomes(data: LabelledSet) -> None:
    config = MatchConfig()
    for k, p in sorted(data.matches):
        verdict = decide(data.kalshi[k], data.polymarket[p], config)
        assert verdict.decision is Decision.MATCH, (k, p, verdict.reasons, verdict.confidence)
        assert verdict.confidence >= config.accept_confidence
        assert len(verdict.outcome_map) == 2
    sports = decide(data.kalshi["k_cs2_faze"], data.polymarket["p_cs2_faze_illwill"], config)
    assert [(o.a, o.b) for o in sports.outcome_map] == [("Yes", "FaZe"), ("No", "illwill")]
    assert sports.outcome_map[0].b_token is not None
    flipped = decide(data.polymarket["p_cs2_faze_illwill"], data.kalshi["k_cs2_faze"], config)
    assert [(o.a, o.b) for o in flipped.outcome_map] == [("FaZe", "Yes"), ("illwill", "No")]


def test_decisions_do_not_depend_on_the_side(data: LabelledSet) -> None:
    config = MatchConfig()
    for a in data.kalshi.values():
        for b in data.polymarket.values():
            one, two = decide(a, b, config), decide(b, a, config)
            assert one.decision is two.decision
            assert one.confidence == pytest.approx(two.confidence)
            assert one.match_id == two.match_id


def _check_schema(record: dict[str, Any]) -> None:
    """The structural part of MARKET_MATCH_SCHEMA (no jsonschema dependency)."""
    props: dict[str, Any] = MARKET_MATCH_SCHEMA["properties"]  # type: ignore[assignment]
    for key in MARKET_MATCH_SCHEMA["required"]:  # type: ignore[attr-defined]
        assert key in record, key
    assert set(record) <= set(props), set(record) - set(props)
    assert record["decision"] in props["decision"]["enum"]
    assert len(record["match_id"]) == 32
    assert len(record["markets"]) == 2
    for market in record["markets"]:
        assert {"venue", "market_id", "title", "outcomes"} <= set(market)


def test_records_are_ledger_ready(data: LabelledSet) -> None:
    decisions = match_markets(list(data.kalshi.values()), list(data.polymarket.values()))
    assert {d.decision for d in decisions} >= {Decision.MATCH, Decision.REJECT}
    for d in decisions:
        record: dict[str, Any] = d.to_record()
        _check_schema(record)
        assert json.loads(record_bytes(record)) == json.loads(json.dumps(record))
        assert record_bytes(record) == record_bytes(json.loads(record_bytes(record)))  # canonical
        assert record["evidence"]["title_score"] is not None
    match = next(d for d in decisions if d.decision is Decision.MATCH)
    first: dict[str, Any] = match.to_record()
    assert first["outcome_map"][0]["a"] == "Yes"


def test_pending_then_operator_verdict(data: LabelledSet) -> None:
    strict = MatchConfig(accept_confidence=0.99, review_confidence=0.6)
    verdict = decide(
        data.kalshi["k_ukraine_ceasefire_2027"], data.polymarket["p_ukraine_ceasefire_2027"], strict
    )
    assert verdict.decision is Decision.PENDING
    record = verdict.to_record()
    approved = operator_decision(record, approved=True, operator="ops@region-1", note="same ceasefire market")
    _check_schema(approved)
    assert approved["decision"] == "approved" and approved["match_id"] == record["match_id"]
    assert approved["outcome_map"] == record["outcome_map"]
    rejected = operator_decision(record, approved=False, operator="ops@region-1")
    assert rejected["decision"] == "rejected" and rejected["outcome_map"] == []
    with pytest.raises(PredictionMarketError, match=r"record\.decision"):
        operator_decision(approved, approved=True, operator="ops")
    with pytest.raises(PredictionMarketError, match="operator"):
        operator_decision(record, approved=True, operator=" ")


def test_cross_listing_is_exact_but_still_guarded(data: LabelledSet) -> None:
    k, p = data.kalshi["k_vance_2028"], data.polymarket["p_vance_2028"]
    listed = MatchConfig(cross_listings={k.key: p.key})
    verdict = decide(k, p, listed)
    assert verdict.decision is Decision.MATCH and verdict.confidence == 1.0
    assert verdict.evidence["exact"] == "operator cross-listing"
    # a cross-listing the facts contradict waits for a person instead of matching
    wrong = data.polymarket["p_vance_gop_nomination"]
    conflict = decide(k, wrong, MatchConfig(cross_listings={wrong.key: k.key}))
    assert conflict.decision is Decision.PENDING and "key_terms" in conflict.reasons


def test_one_match_per_market(data: LabelledSet) -> None:
    """A Polymarket market listed twice (same proposition, two ids) cannot match one Kalshi market twice."""
    poly = data.polymarket["p_elon_mars_2099"]
    twin = PredictionMarket(
        **{**{f: getattr(poly, f) for f in poly.__dataclass_fields__}, "market_id": "0xtwin"}
    )
    decisions = match_markets([data.kalshi["k_elon_mars_2099"]], [poly, twin])
    assert [d.decision for d in decisions] == [Decision.MATCH, Decision.PENDING]
    assert "ambiguous" in decisions[1].reasons


def test_bad_config_names_the_field() -> None:
    with pytest.raises(PredictionMarketError, match=r"MatchConfig\.review_confidence"):
        MatchConfig(accept_confidence=0.5, review_confidence=0.7)
    with pytest.raises(PredictionMarketError, match=r"MatchConfig\.accept_confidence"):
        MatchConfig(accept_confidence=1.5)


_RECORDED: dict[str, tuple[str, Any]] = {
    "k_elon_mars_2099": (
        "kalshi/ccxt/kalshi_response.json",
        lambda d: d["methods"]["fetchTickers"][0]["httpResponse"]["markets"][0],
    ),
    "k_colonize_mars_2050": (
        "kalshi/ccxt/kalshi_response.json",
        lambda d: d["methods"]["fetchTickers"][0]["httpResponse"]["markets"][1],
    ),
    "k_btc_100k_mar15": ("kalshi/nautilus_trader_unmerged_pr/http_markets.json", lambda d: d["markets"][0]),
    "p_btc_64k_mar11": (
        "polymarket/nautilus_trader/crates__search_response.json",
        lambda d: d["events"][0]["markets"][0],
    ),
    "p_ukraine_ceasefire_2027": (
        "polymarket/nautilus_trader/crates__gamma_market_closed_binary_accepting_true.json",
        lambda d: d,
    ),
    "p_katana_fdv_1b": (
        "polymarket/nautilus_trader/crates__gamma_market_closed_binary_accepting_false.json",
        lambda d: d,
    ),
    "p_dem_nominee_smith": (
        "polymarket/nautilus_trader/crates__gamma_event.json",
        lambda d: d[0]["markets"][0],
    ),
    "p_dem_nominee_whitmer": (
        "polymarket/nautilus_trader/crates__gamma_event.json",
        lambda d: d[0]["markets"][1],
    ),
    "p_trump_2024": ("polymarket/nautilus_trader/tests__http_responses__market.json", lambda d: d),
    "p_vance_2028": (
        "polymarket/ccxt/polymarket_response.json",
        lambda d: d["methods"]["fetchTrades"][0]["httpResponse"][0],
    ),
    "p_btc_updown_mar12": ("polymarket/nautilus_trader/crates__gamma_market.json", lambda d: d),
    "p_cs2_faze_illwill": (
        "polymarket/nautilus_trader/crates__gamma_market_sports_market_money_line.json",
        lambda d: d,
    ),
}


@pytest.mark.shared
def test_recorded_entries_are_verbatim(data: LabelledSet, shared_data: Path) -> None:
    """Every fixture entry marked 'recorded' carries its fields exactly as the shared recordings hold them."""
    root = shared_data / RECORDINGS
    recorded = [
        e
        for side in ("kalshi", "polymarket")
        for e in data.raw[side]
        if e["provenance"].startswith("recorded")
    ]
    assert {e["id"] for e in recorded} == set(_RECORDED)
    checked = 0
    for entry in recorded:
        rel, select = _RECORDED[entry["id"]]
        assert rel in entry["provenance"]
        source = select(json.loads((root / rel).read_text()))
        body = entry.get("market") or entry.get("payload")
        for item in body if isinstance(body, list) else [body]:
            for key, value in item.items():
                if key == "events":  # a subset of the event: its scalar fields verbatim, tag labels only
                    continue
                assert source[key] == value, (entry["id"], key)
                checked += 1
    assert checked > 80


def test_multi_outcome_events_match_as_a_whole(data: LabelledSet) -> None:
    """Kalshi KXPRESNOMD-28 and Polymarket's negRisk 'Democratic Presidential Nominee 2028' (recorded with
    two candidates): each candidate's market pairs with its twin, so the event pair is complete."""
    left, right = list(data.kalshi.values()), list(data.polymarket.values())
    events = match_events(match_markets(left, right), left, right)
    nominee = next(e for e in events if e.a_series == "KXPRESNOMD-28")
    assert nominee.b_series == "democratic-presidential-nominee-2028"
    assert nominee.complete
    assert sorted(d.a.subject for d in nominee.pairs) == ["Gretchen Whitmer", "Stephen A. Smith"]
    # one candidate missing on a side: the pair is not a complete set any more
    partial = match_events(match_markets(left, [m for m in right if "Whitmer" not in m.title]), left, right)
    one = next(e for e in partial if e.a_series == "KXPRESNOMD-28")
    assert not one.complete and one.unmatched_a == (data.kalshi["k_dem_nominee_whitmer"].key,)
    assert one.to_json()["complete"] is False
