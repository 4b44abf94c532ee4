"""Prediction-market matching (issue 14): quality on the labelled set and throughput.

Quality: precision and recall of ``match`` decisions over every Kalshi x Polymarket pair of
``tests/prediction/labelled_pairs.json`` (10 true matches, look-alikes among the negatives), for ours and two
baselines: exact title equality (after case and whitespace folding), and fuzzy title only (rapidfuzz
token_set_ratio >= 85 on the same normalised titles, no fact guards) — the second shows what the guards buy.

Throughput: all-pairs matching of a population built from recorded metadata: the labelled Kalshi markets
plus perturbed copies (threshold and date shifted, the look-alikes a matcher meets in practice) against the
recorded Polymarket CLOB ``/markets`` page (when ``../shared/data`` is present) plus the labelled Polymarket
markets. Reported as pairs considered per second (``len(left) * len(right) / wall time``, best of 5 cold
runs: the title-reduction cache is cleared before each), and the rate of full guarded verdicts (``decide``)
on candidate pairs.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from datetime import timedelta
from pathlib import Path

from rapidfuzz import fuzz

from bench.common import print_table, write_results
from sdk.prediction import PredictionMarket, decide, match_markets, parse_polymarket
from sdk.prediction.facts import extract_facts, title_tokens
from tests.prediction.labelled import LabelledSet, Scores, evaluate, load_labelled

ROOT = Path(__file__).resolve().parent.parent
CLOB_PAGE = ROOT.parent / "shared/data/recordings/prediction_markets/polymarket/nautilus_trader"
CLOB_PAGE_FILE = CLOB_PAGE / "tests__http_responses__markets.json"
COPIES = 12
REPEATS = 5


def _exact_titles(left: list[PredictionMarket], right: list[PredictionMarket]) -> dict[tuple[str, str], str]:
    def norm(m: PredictionMarket) -> str:
        return re.sub(r"\s+", " ", m.title.lower()).strip(" ?")

    by_title: dict[str, list[PredictionMarket]] = {}
    for m in right:
        by_title.setdefault(norm(m), []).append(m)
    return {(a.key, b.key): "match" for a in left for b in by_title.get(norm(a), [])}


def _fuzzy_only(left: list[PredictionMarket], right: list[PredictionMarket]) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for a in left:
        ta = title_tokens(a.text)
        for b in right:
            if fuzz.token_set_ratio(ta, title_tokens(b.text)) >= 85.0:
                out[(a.key, b.key)] = "match"
    return out


def _ours(left: list[PredictionMarket], right: list[PredictionMarket]) -> dict[tuple[str, str], str]:
    return {(d.a.key, d.b.key): d.decision.value for d in match_markets(left, right)}


def _scaled(title: str, factor: int) -> str:
    def scale(number: re.Match[str]) -> str:
        return f"{int(number.group().replace(',', '')) * factor:,}"

    return re.sub(r"\d[\d,]*", scale, title)


def _perturbed(markets: list[PredictionMarket], copies: int) -> list[PredictionMarket]:
    """Look-alike copies: every number in the title scaled, the resolution time shifted by whole days."""
    out = list(markets)
    for k in range(1, copies + 1):
        for m in markets:
            title = _scaled(m.title, k + 1)
            when = None if m.resolution_time is None else m.resolution_time + timedelta(days=k)
            year = when.year if when is not None else None
            out.append(
                dataclasses.replace(
                    m,
                    market_id=f"{m.market_id}-C{k}",
                    ticker=f"{m.ticker}-C{k}",
                    title=title,
                    resolution_time=when,
                    facts=extract_facts(f"{title} {m.subject}", default_year=year),
                    aliases=(f"{m.market_id}-C{k}",),
                )
            )
    return out


def _population(data: LabelledSet) -> tuple[list[PredictionMarket], list[PredictionMarket], str]:
    left = _perturbed(list(data.kalshi.values()), COPIES)
    right = list(data.polymarket.values())
    source = "labelled only"
    if CLOB_PAGE_FILE.is_file():
        errors: list[str] = []
        right += parse_polymarket(json.loads(CLOB_PAGE_FILE.read_text()), errors=errors)
        source = f"labelled + recorded CLOB page ({len(errors)} rows without outcome labels skipped)"
    return left, right, source


def _best_rate(pairs: int, run: object) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        title_tokens.cache_clear()  # every run starts cold: no title reduced by an earlier run
        started = time.perf_counter()
        run()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return pairs / best


def main() -> dict[str, object]:
    data = load_labelled()
    quality: dict[str, Scores] = {
        "arbsphere": evaluate(data, _ours),
        "exact_title": evaluate(data, _exact_titles),
        "fuzzy_title_only": evaluate(data, _fuzzy_only),
    }
    left, right, source = _population(data)
    pairs = len(left) * len(right)
    ours_rate = _best_rate(pairs, lambda: match_markets(left, right, include_rejections=False))
    exact_rate = _best_rate(pairs, lambda: _exact_titles(left, right))
    fuzzy_rate = _best_rate(pairs, lambda: _fuzzy_only(left, right))
    decisions = match_markets(left, right)
    candidates = [(d.a, d.b) for d in decisions]
    decide_rate = _best_rate(
        len(candidates), lambda: [decide(a, b, decisions[0].config) for a, b in candidates]
    )
    matched = sum(1 for d in decisions if d.decision.value == "match")

    print_table(
        "Market matching on the labelled set (every Kalshi x Polymarket pair)",
        ["matcher", "precision", "recall", "TP", "FP", "FN", "pending"],
        [
            [name, s.precision, s.recall, s.true_positives, s.false_positives, s.false_negatives, s.pending]
            for name, s in quality.items()
        ],
    )
    print_table(
        f"Throughput: {len(left)} Kalshi x {len(right)} Polymarket markets ({source})",
        ["matcher", "pairs/s", "matches"],
        [
            ["arbsphere (cdist candidates + guarded verdicts)", ours_rate, matched],
            ["exact title (dict lookup)", exact_rate, len(_exact_titles(left, right))],
            ["fuzzy title only (python loop)", fuzzy_rate, len(_fuzzy_only(left, right))],
            ["arbsphere decide() on candidate pairs", decide_rate, len(candidates)],
        ],
    )
    metrics: dict[str, object] = {
        "labelled_pairs_count": quality["arbsphere"].pairs,
        "labelled_true_matches_count": len(data.matches),
        "labelled_lookalikes_count": len(data.lookalikes),
        "population_pairs_count": pairs,
        "population_candidate_pairs_count": len(candidates),
        "population_matches_count": matched,
        "matching_throughput_pairs_per_s": ours_rate,
        "decide_throughput_pairs_per_s": decide_rate,
        "baseline_exact_title_throughput_pairs_per_s": exact_rate,
        "baseline_fuzzy_title_throughput_pairs_per_s": fuzzy_rate,
    }
    for name, s in quality.items():
        prefix = "" if name == "arbsphere" else f"baseline_{name}_"
        metrics[f"{prefix}precision_ratio"] = s.precision
        metrics[f"{prefix}recall_ratio"] = s.recall
        metrics[f"{prefix}false_positives_count"] = s.false_positives
        metrics[f"{prefix}pending_count"] = s.pending
    write_results("matching", metrics)
    return metrics


if __name__ == "__main__":
    main()
