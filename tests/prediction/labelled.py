"""The labelled Kalshi x Polymarket set (``labelled_pairs.json``), parsed, and precision/recall over it.

Shared by the matcher tests and ``bench/bench_matching.py``. Every Kalshi x Polymarket pair of the set is
labelled: the listed ``matches`` are positives, every other pair is a negative (the named ``lookalikes`` are
the hard ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdk.prediction import kalshi, polymarket
from sdk.prediction.model import PredictionMarket

FIXTURE = Path(__file__).resolve().parent / "labelled_pairs.json"


@dataclass(frozen=True)
class LabelledSet:
    raw: dict[str, Any]
    kalshi: dict[str, PredictionMarket]
    polymarket: dict[str, PredictionMarket]
    matches: frozenset[tuple[str, str]]
    lookalikes: tuple[dict[str, Any], ...]

    def ids(self) -> tuple[dict[str, str], dict[str, str]]:
        """``market.key -> fixture id`` for each side."""
        return (
            {m.key: i for i, m in self.kalshi.items()},
            {m.key: i for i, m in self.polymarket.items()},
        )


def load_labelled(path: Path = FIXTURE) -> LabelledSet:
    raw = json.loads(path.read_text())
    ks = {e["id"]: kalshi.parse_market(e["market"], e["id"], e["event"]) for e in raw["kalshi"]}
    ps: dict[str, PredictionMarket] = {}
    for entry in raw["polymarket"]:
        parsed = polymarket.parse_markets(entry["payload"], entry["id"])
        if len(parsed) != 1:
            raise ValueError(f"{entry['id']}: expected one market, got {len(parsed)}")
        ps[entry["id"]] = parsed[0]
    matches = frozenset((k, p) for k, p in raw["matches"])
    return LabelledSet(raw, ks, ps, matches, tuple(raw["lookalikes"]))


@dataclass(frozen=True)
class Scores:
    true_positives: int
    false_positives: int
    false_negatives: int
    pairs: int
    pending: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0


def score(
    predicted: set[tuple[str, str]], truth: frozenset[tuple[str, str]], pairs: int, pending: int
) -> Scores:
    tp = len(predicted & truth)
    return Scores(tp, len(predicted - truth), len(truth - predicted), pairs, pending)


def evaluate(
    data: LabelledSet,
    matcher: Callable[[list[PredictionMarket], list[PredictionMarket]], Mapping[tuple[str, str], str]],
) -> Scores:
    """Run ``matcher`` (``-> {(kalshi key, polymarket key): decision}``) over the whole set; a pair counts
    as predicted when its decision is ``match`` (pending ones are counted apart)."""
    kid, pid = data.ids()
    decisions = matcher(list(data.kalshi.values()), list(data.polymarket.values()))
    predicted = {(kid[a], pid[b]) for (a, b), d in decisions.items() if d == "match"}
    pending = sum(1 for d in decisions.values() if d == "pending_approval")
    return score(predicted, data.matches, len(data.kalshi) * len(data.polymarket), pending)
