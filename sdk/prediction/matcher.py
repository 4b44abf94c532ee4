"""Which markets on two venues are the same proposition: candidates by fuzzy title, verdicts by facts.

Why this shape: a complete set bought across venues pays 1 only if both legs resolve on the *same* event. A
false match is a naked bet, a missed match only a missed trade, so the matcher is built to refuse.

1. **Exact identity.** A shared identifier (ticker, condition id, token id, slug) or an operator-curated
   cross-listing (``MatchConfig.cross_listings``) pairs two markets with confidence 1, *still subject to the
   guards below* (a conflicting fact turns it into ``pending_approval``, never a silent match).
2. **Candidates.** Title + outcome subject, reduced to meaningful words (:func:`~sdk.prediction.facts.
   title_tokens`), scored with rapidfuzz's ``token_set_ratio`` for every pair at once (``process.cdist``, C
   speed); pairs under ``min_title_score`` are not considered further (and not recorded).
3. **Guards** (hard; any one rejects): resolution times further apart than ``time_window``; incompatible
   categories; different numeric thresholds; opposite comparators (above/below); different dates; deadline
   vs point-in-time; disjoint years; a key term on one side only ("nomination" vs "election"); disjoint
   resolution sources (Binance vs CF Benchmarks); an outcome subject ("J.D. Vance") absent from the other
   side; outcomes that cannot be mapped one to one.
4. **Confidence** = title score, + a bonus per fact both sides state and agree on, - a penalty per fact only
   one side states (it could not be checked), scaled down by the resolution-time gap. ``>= accept`` is a
   ``match``; ``>= review`` waits for an operator (``pending_approval``); below is a ``reject``.
5. **One to one.** A market matched to several others keeps its best match; the others become pending with
   the reason ``ambiguous``.

Every decision is a :class:`MatchDecision` with its evidence; ``to_record()`` is the JSON payload of a
``MARKET_MATCH`` ledger entry (schema :data:`MARKET_MATCH_SCHEMA`), and :func:`operator_decision` records an
operator's approval or rejection of a pending match. Public metadata only: no book, no position.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from rapidfuzz import fuzz, process

from sdk.prediction.facts import normalise_text, title_tokens
from sdk.prediction.model import Outcome, PredictionMarket, PredictionMarketError, categories_compatible

SCHEMA_ID = "arbsphere.market_match/v1"
LEDGER_KIND = "MARKET_MATCH"
SUBJECT_SCORE = 90.0
"""token_set_ratio a subject ("J.D. Vance") needs against the other side's text (all its words present)."""
OUTCOME_SCORE = 85.0
"""ratio two outcome labels need to be mapped onto each other ("FaZe" / "FaZe Clan")."""


class Decision(StrEnum):
    MATCH = "match"
    PENDING = "pending_approval"
    REJECT = "reject"
    APPROVED = "approved"
    """An operator approved a pending match (see :func:`operator_decision`)."""
    REJECTED = "rejected"
    """An operator rejected a pending match."""


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Thresholds of the matcher (defaults tuned to refuse rather than guess; see the module docstring)."""

    accept_confidence: float = 0.85
    review_confidence: float = 0.60
    min_title_score: float = 0.50
    time_window: timedelta = timedelta(days=7)
    fact_bonus: float = 0.04
    one_sided_penalty: float = 0.08
    unknown_time_penalty: float = 0.05
    cross_listings: Mapping[str, str] = field(default_factory=dict)
    """Operator-curated ``{"kalshi:KXPRESPERSON-28-JVAN": "polymarket:0x7ad4..."}`` (either direction)."""

    def __post_init__(self) -> None:
        for name in ("accept_confidence", "review_confidence", "min_title_score"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise PredictionMarketError(f"MatchConfig.{name}: expected a number in [0, 1], got {value!r}")
        if self.review_confidence > self.accept_confidence:
            raise PredictionMarketError(
                f"MatchConfig.review_confidence: must be <= accept_confidence ({self.accept_confidence}), "
                f"got {self.review_confidence}"
            )
        if self.time_window <= timedelta(0):
            raise PredictionMarketError(f"MatchConfig.time_window: must be positive, got {self.time_window}")
        for name in ("fact_bonus", "one_sided_penalty", "unknown_time_penalty"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 0.5):
                raise PredictionMarketError(
                    f"MatchConfig.{name}: expected a number in [0, 0.5], got {value!r}"
                )

    def to_json(self) -> dict[str, object]:
        return {
            "accept_confidence": self.accept_confidence,
            "review_confidence": self.review_confidence,
            "min_title_score": self.min_title_score,
            "time_window_hours": self.time_window.total_seconds() / 3600.0,
        }


@dataclass(frozen=True, slots=True)
class OutcomeLink:
    """Outcome ``a`` on the first market pays exactly when outcome ``b`` on the second does."""

    a: str
    b: str
    a_token: str | None = None
    b_token: str | None = None


@dataclass(frozen=True, slots=True)
class MatchDecision:
    """The matcher's verdict on one pair, with everything it looked at."""

    decision: Decision
    confidence: float
    a: PredictionMarket
    b: PredictionMarket
    outcome_map: tuple[OutcomeLink, ...]
    reasons: tuple[str, ...]
    evidence: Mapping[str, object]
    config: MatchConfig

    @property
    def match_id(self) -> str:
        return match_id(self.a, self.b)

    def to_record(self) -> dict[str, object]:
        """JSON payload of a ``MARKET_MATCH`` ledger entry (:data:`MARKET_MATCH_SCHEMA`)."""
        return {
            "schema": SCHEMA_ID,
            "kind": LEDGER_KIND,
            "match_id": self.match_id,
            "decision": self.decision.value,
            "confidence": round(self.confidence, 4),
            "markets": [self.a.summary(), self.b.summary()],
            "outcome_map": [
                {"a": o.a, "b": o.b, "a_token": o.a_token, "b_token": o.b_token} for o in self.outcome_map
            ],
            "reasons": list(self.reasons),
            "evidence": dict(self.evidence),
            "config": self.config.to_json(),
        }


def match_id(a: PredictionMarket, b: PredictionMarket) -> str:
    """Deterministic id of the pair (order-independent)."""
    first, second = sorted((a.key, b.key))
    return hashlib.sha256(f"{first}\n{second}".encode()).hexdigest()[:32]


def record_bytes(record: Mapping[str, object]) -> bytes:
    """Canonical bytes of a record (sorted keys, no spaces, ASCII): what a ledger entry hashes."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def operator_decision(
    record: Mapping[str, object], *, approved: bool, operator: str, note: str = ""
) -> dict[str, object]:
    """The ledger payload of an operator's verdict on a ``pending_approval`` record."""
    if record.get("schema") != SCHEMA_ID:
        raise PredictionMarketError(f"record.schema: expected {SCHEMA_ID!r}, got {record.get('schema')!r}")
    if record.get("decision") != Decision.PENDING.value:
        raise PredictionMarketError(
            f"record.decision: only a {Decision.PENDING.value!r} match awaits an operator, "
            f"got {record.get('decision')!r}"
        )
    if not operator.strip():
        raise PredictionMarketError("operator: required, got an empty string")
    return {
        "schema": SCHEMA_ID,
        "kind": LEDGER_KIND,
        "match_id": record["match_id"],
        "decision": (Decision.APPROVED if approved else Decision.REJECTED).value,
        "previous_decision": Decision.PENDING.value,
        "confidence": record.get("confidence"),
        "markets": record.get("markets"),
        "outcome_map": record.get("outcome_map") if approved else [],
        "operator": operator.strip(),
        "note": note,
    }


_MARKET_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["venue", "market_id", "title", "outcomes"],
    "properties": {
        "venue": {"type": "string"},
        "market_id": {"type": "string"},
        "ticker": {"type": "string"},
        "series": {"type": "string"},
        "title": {"type": "string"},
        "subject": {"type": "string"},
        "outcomes": {"type": "array", "items": {"type": "string"}},
        "resolution_time": {"type": ["string", "null"]},
        "category": {"type": ["string", "null"]},
        "resolution_sources": {"type": "array", "items": {"type": "string"}},
    },
}
MARKET_MATCH_SCHEMA: dict[str, object] = {
    "$id": SCHEMA_ID,
    "title": "MARKET_MATCH ledger payload: a matcher decision or an operator's verdict on one",
    "type": "object",
    "required": ["schema", "kind", "match_id", "decision", "markets"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "kind": {"const": LEDGER_KIND},
        "match_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "decision": {"enum": [d.value for d in Decision]},
        "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "markets": {"type": "array", "minItems": 2, "maxItems": 2, "items": _MARKET_SCHEMA},
        "outcome_map": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["a", "b"],
                "properties": {
                    "a": {"type": "string"},
                    "b": {"type": "string"},
                    "a_token": {"type": ["string", "null"]},
                    "b_token": {"type": ["string", "null"]},
                },
            },
        },
        "reasons": {"type": "array", "items": {"type": "string"}},
        "evidence": {"type": "object"},
        "config": {"type": "object"},
        "previous_decision": {"enum": [Decision.PENDING.value]},
        "operator": {"type": "string"},
        "note": {"type": "string"},
    },
}
"""JSON Schema of a ``MARKET_MATCH`` payload (matcher decision, or operator verdict with ``operator``)."""


# -- the pair verdict ----------------------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return set(title_tokens(text).split())


def map_outcomes(a: PredictionMarket, b: PredictionMarket) -> tuple[OutcomeLink, ...] | None:
    """Outcome ``a_i`` <-> ``b_j`` paying on the same event, or ``None`` if no one-to-one map is certain.

    Yes/No on both sides maps Yes to Yes. A Yes/No market about a subject or a named Yes ("FaZe") against a
    market whose outcomes are named ("FaZe", "illwill") maps Yes to that outcome and No to the other one. Two
    markets with named outcomes map label to label (each pair ``>= OUTCOME_SCORE``, no label twice).
    """
    if a.is_yes_no and b.is_yes_no:
        return tuple(_pair_yes_no(a, b))
    if a.is_yes_no != b.is_yes_no:
        flipped = not a.is_yes_no
        yn, named = (b, a) if flipped else (a, b)
        label = yn.subject or yn.yes_label
        if not label or len(named.outcomes) != 2:
            return None
        scores = [fuzz.token_set_ratio(title_tokens(label), title_tokens(o.label)) for o in named.outcomes]
        best = max(range(2), key=lambda i: scores[i])
        if scores[best] < OUTCOME_SCORE or scores[1 - best] >= OUTCOME_SCORE:
            return None
        yes, no = _yes_no_outcomes(yn)
        links = [
            OutcomeLink(yes.label, named.outcomes[best].label, yes.token_id, named.outcomes[best].token_id),
            OutcomeLink(
                no.label, named.outcomes[1 - best].label, no.token_id, named.outcomes[1 - best].token_id
            ),
        ]
        if flipped:
            links = [OutcomeLink(x.b, x.a, x.b_token, x.a_token) for x in links]
        return tuple(links)
    if len(a.outcomes) != len(b.outcomes):
        return None
    pairs = sorted(
        (
            (fuzz.ratio(title_tokens(x.label), title_tokens(y.label)), i, j)
            for i, x in enumerate(a.outcomes)
            for j, y in enumerate(b.outcomes)
        ),
        reverse=True,
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    links_by_a: dict[int, OutcomeLink] = {}
    for score, i, j in pairs:
        if i in used_a or j in used_b or score < OUTCOME_SCORE:
            continue
        used_a.add(i)
        used_b.add(j)
        x, y = a.outcomes[i], b.outcomes[j]
        links_by_a[i] = OutcomeLink(x.label, y.label, x.token_id, y.token_id)
    if len(links_by_a) != len(a.outcomes):
        return None
    return tuple(links_by_a[i] for i in sorted(links_by_a))


def _yes_no_outcomes(m: PredictionMarket) -> tuple[Outcome, Outcome]:
    by_label = {normalise_text(o.label): o for o in m.outcomes}
    return by_label["yes"], by_label["no"]


def _pair_yes_no(a: PredictionMarket, b: PredictionMarket) -> list[OutcomeLink]:
    ya, na = _yes_no_outcomes(a)
    yb, nb = _yes_no_outcomes(b)
    return [
        OutcomeLink(ya.label, yb.label, ya.token_id, yb.token_id),
        OutcomeLink(na.label, nb.label, na.token_id, nb.token_id),
    ]


def _exact(a: PredictionMarket, b: PredictionMarket, config: MatchConfig) -> str | None:
    shared = set(a.aliases) & set(b.aliases)
    if shared:
        return f"shared identifier {sorted(shared)[0]!r}"
    listed = config.cross_listings
    if listed.get(a.key) == b.key or listed.get(b.key) == a.key:
        return "operator cross-listing"
    return None


def decide(
    a: PredictionMarket, b: PredictionMarket, config: MatchConfig, *, title_score: float | None = None
) -> MatchDecision:
    """The verdict on one pair; ``title_score`` in [0, 1] if already computed (:func:`match_markets`)."""
    if title_score is None:
        title_score = fuzz.token_set_ratio(title_tokens(a.text), title_tokens(b.text)) / 100.0
    reasons: list[str] = []
    agreed: list[str] = []
    one_sided: list[str] = []
    evidence: dict[str, object] = {"title_score": round(title_score, 4)}
    exact = _exact(a, b, config)
    if exact is not None:
        evidence["exact"] = exact
    if a.series and a.series == b.series:
        evidence["series"] = a.series

    # resolution time
    gap_fraction = 0.0
    if a.resolution_time is not None and b.resolution_time is not None:
        gap = abs(a.resolution_time - b.resolution_time)
        evidence["resolution_gap_hours"] = round(gap.total_seconds() / 3600.0, 3)
        gap_fraction = gap / config.time_window
        if gap > config.time_window:
            reasons.append("resolution_time")
    else:
        evidence["resolution_gap_hours"] = None

    if not categories_compatible(a.category, b.category):
        reasons.append("category")
    evidence["categories"] = [a.category, b.category]

    fa, fb = a.facts, b.facts
    evidence["facts"] = [fa.to_json(), fb.to_json()]
    checks: tuple[tuple[str, object, object], ...] = (
        ("threshold", fa.thresholds, fb.thresholds),
        ("comparator", fa.comparator, fb.comparator),
        ("date", fa.dates, fb.dates),
        ("date_mode", fa.date_mode, fb.date_mode),
    )
    for name, x, y in checks:
        stated_x, stated_y = x not in (None, ()), y not in (None, ())
        if stated_x and stated_y:
            (agreed if x == y else reasons).append(name)
        elif stated_x or stated_y:
            one_sided.append(name)
    if fa.years and fb.years:
        (agreed if set(fa.years) & set(fb.years) else reasons).append("year")
    if set(fa.key_terms) != set(fb.key_terms):
        reasons.append("key_terms")
        evidence["key_terms_one_sided"] = sorted(set(fa.key_terms) ^ set(fb.key_terms))

    sa, sb = set(a.resolution_sources), set(b.resolution_sources)
    if sa and sb:
        (agreed if sa & sb else reasons).append("resolution_source")
    elif sa or sb:
        one_sided.append("resolution_source")
    evidence["resolution_sources"] = [sorted(sa), sorted(sb)]

    for m, other in ((a, b), (b, a)):
        if m.subject:
            score = fuzz.token_set_ratio(title_tokens(m.subject), title_tokens(other.text))
            if score >= SUBJECT_SCORE and _words(m.subject) <= _words(other.text) | _words(other.subject):
                agreed.append("subject")
            else:
                reasons.append("subject")

    links = map_outcomes(a, b)
    if links is None:
        reasons.append("outcomes")

    if exact is not None:
        confidence = 1.0
    else:
        confidence = title_score + config.fact_bonus * len(agreed) - config.one_sided_penalty * len(one_sided)
        if a.resolution_time is None or b.resolution_time is None:
            confidence -= config.unknown_time_penalty
        confidence *= 1.0 - 0.3 * min(gap_fraction, 1.0)
    confidence = min(max(confidence, 0.0), 1.0)
    evidence["agreed"] = agreed
    evidence["one_sided"] = one_sided

    if reasons:
        if exact is not None and "outcomes" not in reasons:
            decision = Decision.PENDING  # an identity the facts contradict: a person decides
        else:
            decision, confidence = Decision.REJECT, 0.0  # a guard refused: no confidence in the pair
    elif confidence >= config.accept_confidence:
        decision = Decision.MATCH
    elif confidence >= config.review_confidence:
        decision = Decision.PENDING
    else:
        decision = Decision.REJECT
        reasons.append("low_confidence")
    return MatchDecision(decision, confidence, a, b, links or (), tuple(reasons), evidence, config)


def match_markets(
    left: Sequence[PredictionMarket],
    right: Sequence[PredictionMarket],
    config: MatchConfig | None = None,
    *,
    include_rejections: bool = True,
) -> list[MatchDecision]:
    """Decisions for every candidate pair of ``left`` x ``right`` (title score >= ``min_title_score``, or an
    exact identity), best first; at most one ``match`` per market (see the module docstring)."""
    config = config or MatchConfig()
    if not left or not right:
        return []
    left_text = [title_tokens(m.text) for m in left]
    right_text = [title_tokens(m.text) for m in right]
    cutoff = config.min_title_score * 100.0
    scores = process.cdist(left_text, right_text, scorer=fuzz.token_set_ratio, score_cutoff=cutoff, workers=1)
    candidates: set[tuple[int, int]] = {(int(i), int(j)) for i, j in zip(*scores.nonzero(), strict=True)}
    if config.cross_listings or any(m.aliases for m in left):
        right_ids: dict[str, list[int]] = {}
        for j, m in enumerate(right):
            for alias in (*m.aliases, m.key):
                right_ids.setdefault(alias, []).append(j)
        for i, m in enumerate(left):
            keys = [*m.aliases, config.cross_listings.get(m.key, "")]
            for alias in keys:
                candidates.update((i, j) for j in right_ids.get(alias, []))
        reverse = {v: k for k, v in config.cross_listings.items()}
        left_keys = {m.key: i for i, m in enumerate(left)}
        for j, m in enumerate(right):
            i = left_keys.get(config.cross_listings.get(m.key, reverse.get(m.key, "")), -1)
            if i >= 0:
                candidates.add((i, j))
    decisions = [
        decide(left[i], right[j], config, title_score=float(scores[i, j]) / 100.0)
        for i, j in sorted(candidates)
    ]
    decisions.sort(key=lambda d: (-d.confidence, d.a.key, d.b.key))
    taken: set[str] = set()
    out: list[MatchDecision] = []
    for decision in decisions:
        d = decision
        if d.decision is Decision.MATCH:
            if d.a.key in taken or d.b.key in taken:
                d = dataclasses.replace(d, decision=Decision.PENDING, reasons=(*d.reasons, "ambiguous"))
            else:
                taken.update((d.a.key, d.b.key))
        if include_rejections or d.decision is not Decision.REJECT:
            out.append(d)
    return out


@dataclass(frozen=True, slots=True)
class EventMatch:
    """Two multi-outcome events (Kalshi event, Polymarket negRisk group) whose markets matched one to one.

    ``complete`` says every market of both events (as far as the inputs list them) has its twin: only then
    do the outcome shares of the pair form one complete set across the venues. Whether an event's listed
    markets are exhaustive (an "other" outcome, a candidate not yet listed) is the venue's metadata, not
    something matching can establish.
    """

    a_series: str
    b_series: str
    pairs: tuple[MatchDecision, ...]
    unmatched_a: tuple[str, ...]
    unmatched_b: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.unmatched_a and not self.unmatched_b

    def to_json(self) -> dict[str, object]:
        return {
            "series": [self.a_series, self.b_series],
            "complete": self.complete,
            "pairs": [
                {"match_id": d.match_id, "a": d.a.key, "b": d.b.key, "subject": d.a.subject or d.b.subject}
                for d in self.pairs
            ],
            "unmatched": [list(self.unmatched_a), list(self.unmatched_b)],
        }


def match_events(
    decisions: Sequence[MatchDecision], left: Sequence[PredictionMarket], right: Sequence[PredictionMarket]
) -> list[EventMatch]:
    """Group ``match`` decisions between markets of multi-outcome events by their two series.

    A pair of series qualifies when one side is known to be mutually exclusive (a Polymarket negRisk group,
    a Kalshi event with ``mutually_exclusive``; a bare Kalshi market object does not say); the members of a
    series are all markets of the inputs that name it.
    """
    members_a: dict[str, list[str]] = {}
    members_b: dict[str, list[str]] = {}
    for markets, members in ((left, members_a), (right, members_b)):
        for m in markets:
            if m.series:
                members.setdefault(m.series, []).append(m.key)
    grouped: dict[tuple[str, str], list[MatchDecision]] = {}
    for d in decisions:
        exclusive = d.a.multi_outcome_event or d.b.multi_outcome_event
        if d.decision is Decision.MATCH and exclusive and d.a.series in members_a and d.b.series in members_b:
            grouped.setdefault((d.a.series, d.b.series), []).append(d)
    out: list[EventMatch] = []
    for (sa, sb), pairs in sorted(grouped.items()):
        matched_a = {d.a.key for d in pairs}
        matched_b = {d.b.key for d in pairs}
        out.append(
            EventMatch(
                sa,
                sb,
                tuple(sorted(pairs, key=lambda d: d.a.key)),
                tuple(k for k in members_a[sa] if k not in matched_a),
                tuple(k for k in members_b[sb] if k not in matched_b),
            )
        )
    return out


__all__ = [
    "LEDGER_KIND",
    "MARKET_MATCH_SCHEMA",
    "SCHEMA_ID",
    "Decision",
    "EventMatch",
    "MatchConfig",
    "MatchDecision",
    "OutcomeLink",
    "decide",
    "map_outcomes",
    "match_events",
    "match_id",
    "match_markets",
    "operator_decision",
    "record_bytes",
]
