"""Polymarket market metadata (Gamma and CLOB APIs, public) -> :class:`~sdk.prediction.model.
PredictionMarket`.

Shapes accepted, as ``../shared/data/recordings/prediction_markets/polymarket/`` holds them: a Gamma market
(``conditionId``, ``question``, ``outcomes``/``clobTokenIds`` as JSON strings, ``endDate``,
``resolutionSource``, ``groupItemTitle``, ``negRisk``, ``feesEnabled``/``feeSchedule``, nested ``events``); a
Gamma event (``title``, ``slug``, ``tags``, ``markets``); ``GET /public-search`` ``{"events": [...]}``; a
CLOB market (``condition_id``, ``question``, ``tokens[{token_id, outcome}]``, ``end_date_iso``, ``tags``
as strings, ``market_slug``, ``neg_risk``); a CLOB page ``{"data": [...]}``; lists of any of these; and
ccxt's static-test response file, from whose Data-API trades (``title``, ``slug``, ``conditionId``,
``outcome``, ``asset``) the market's identity and outcomes are read (no end date there).

Mapping: the condition id is the market id (Gamma's numeric ``id``, the slug and the token ids are aliases);
the event slug is the series; ``question`` (+ ``groupItemTitle`` in a negRisk group) the proposition;
``endDate``/``end_date_iso`` the resolution time; ``resolutionSource`` + ``description`` the source; the first
tag that maps onto our vocabulary the category; ``feeSchedule.rate`` where fees are enabled the fee rate.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sdk.prediction.model import (
    POLYMARKET,
    Outcome,
    PredictionMarket,
    PredictionMarketError,
    build_market,
    field_str,
    json_list,
    normalise_category,
    parse_time,
)


def _tag_labels(tags: object) -> list[str]:
    if not isinstance(tags, list):
        return []
    labels: list[str] = []
    for tag in tags:
        if isinstance(tag, str):
            labels.append(tag)
        elif isinstance(tag, Mapping) and isinstance(tag.get("label"), str):
            labels.append(tag["label"])
    return labels


def _fee_rate(market: Mapping[str, Any], where: str) -> Decimal | None:
    if market.get("feesEnabled") is False:
        return Decimal(0)
    schedule = market.get("feeSchedule")
    if market.get("feesEnabled") is True and isinstance(schedule, Mapping) and "rate" in schedule:
        try:
            rate = Decimal(str(schedule["rate"]))
        except InvalidOperation:
            raise PredictionMarketError(
                f"{where}.feeSchedule.rate: expected a decimal, got {schedule['rate']!r}"
            ) from None
        if not rate.is_finite() or not Decimal(0) <= rate < Decimal(1):
            raise PredictionMarketError(f"{where}.feeSchedule.rate: expected a rate in [0, 1), got {rate}")
        return rate
    return None


def parse_gamma_market(
    market: Mapping[str, Any], where: str = "market", event: Mapping[str, Any] | None = None
) -> PredictionMarket:
    """One Gamma market (with its event, when known: series, tags, negRisk)."""
    if not isinstance(market, Mapping):
        raise PredictionMarketError(f"{where}: expected an object, got {type(market).__name__}")
    nested = market.get("events")
    if event is None and isinstance(nested, list) and nested and isinstance(nested[0], Mapping):
        event = nested[0]
    event = event or {}
    condition = field_str(market, "conditionId", where, required=True)
    labels = json_list(market.get("outcomes"), f"{where}.outcomes")
    tokens = json_list(market.get("clobTokenIds"), f"{where}.clobTokenIds")
    if tokens and len(tokens) != len(labels):
        raise PredictionMarketError(
            f"{where}.clobTokenIds: expected one token per outcome ({len(labels)}), got {len(tokens)}"
        )
    outcomes = tuple(Outcome(label, tokens[i] if tokens else None) for i, label in enumerate(labels))
    end = parse_time(market.get("endDate") or market.get("endDateIso"), f"{where}.endDate")
    category = normalise_category(
        field_str(market, "category", where),
        *_tag_labels(market.get("tags")),
        field_str(event, "category", f"{where}.event"),
        *_tag_labels(event.get("tags")),
    )
    neg_risk = bool(market.get("negRisk") or event.get("negRisk"))
    return build_market(
        venue=POLYMARKET,
        market_id=condition,
        ticker=field_str(market, "slug", where),
        series=field_str(event, "slug", f"{where}.event") or field_str(event, "ticker", f"{where}.event"),
        title=field_str(market, "question", where, required=True),
        subject=field_str(market, "groupItemTitle", where) if neg_risk else "",
        outcomes=outcomes,
        resolution_time=end,
        category=category,
        rules=(
            field_str(market, "resolutionSource", where),
            field_str(market, "description", where),
            field_str(event, "resolutionSource", f"{where}.event"),
        ),
        multi_outcome_event=neg_risk,
        fee_rate=_fee_rate(market, where),
        aliases=(field_str(market, "id", where), *tokens),
        where=where,
    )


def parse_clob_market(market: Mapping[str, Any], where: str = "market") -> PredictionMarket:
    """One CLOB market (``GET /markets/{condition_id}`` or a ``/markets`` page row)."""
    condition = field_str(market, "condition_id", where, required=True)
    raw_tokens = market.get("tokens") or []
    if not isinstance(raw_tokens, list):
        raise PredictionMarketError(f"{where}.tokens: expected a list, got {type(raw_tokens).__name__}")
    outcomes: list[Outcome] = []
    for i, token in enumerate(raw_tokens):
        if not isinstance(token, Mapping):
            raise PredictionMarketError(
                f"{where}.tokens[{i}]: expected an object, got {type(token).__name__}"
            )
        outcomes.append(
            Outcome(
                field_str(token, "outcome", f"{where}.tokens[{i}]", required=True),
                field_str(token, "token_id", f"{where}.tokens[{i}]") or None,
            )
        )
    neg_risk = bool(market.get("neg_risk"))
    return build_market(
        venue=POLYMARKET,
        market_id=condition,
        ticker=field_str(market, "market_slug", where),
        series="",
        title=field_str(market, "question", where, required=True),
        subject="",
        outcomes=tuple(outcomes),
        resolution_time=parse_time(market.get("end_date_iso"), f"{where}.end_date_iso"),
        category=normalise_category(*_tag_labels(market.get("tags"))),
        rules=(field_str(market, "description", where),),
        multi_outcome_event=neg_risk,
        fee_rate=None,
        aliases=tuple(o.token_id for o in outcomes if o.token_id),
        where=where,
    )


def _is_trade(item: object) -> bool:
    return isinstance(item, Mapping) and "conditionId" in item and "title" in item and "outcome" in item


def _ccxt_markets(payload: Mapping[str, Any], where: str) -> Iterator[PredictionMarket]:
    """Markets named by the Data-API trades of a ccxt response file."""
    trades: list[tuple[str, Mapping[str, Any]]] = []
    for method, cases in payload["methods"].items():
        for i, case in enumerate(cases if isinstance(cases, list) else []):
            body = case.get("httpResponse") if isinstance(case, Mapping) else None
            if isinstance(body, list):
                path = f"{where}.methods.{method}[{i}].httpResponse"
                trades.extend((f"{path}[{j}]", t) for j, t in enumerate(body) if _is_trade(t))
    yield from _trade_markets(trades)


def _trade_markets(trades: list[tuple[str, Mapping[str, Any]]]) -> Iterator[PredictionMarket]:
    """Markets named by Data-API trades (``GET /trades``): identity and outcomes only, no end date."""
    first: dict[str, tuple[str, Mapping[str, Any]]] = {}
    outcomes: dict[str, dict[int, Outcome]] = {}
    for path, trade in trades:
        condition = field_str(trade, "conditionId", path, required=True)
        first.setdefault(condition, (path, trade))
        index = trade.get("outcomeIndex")
        if isinstance(index, str) and index.isdigit():
            index = int(index)  # the Data API sends it as a string
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise PredictionMarketError(f"{path}.outcomeIndex: expected an index >= 0, got {index!r}")
        outcomes.setdefault(condition, {})[index] = Outcome(
            field_str(trade, "outcome", path, required=True), field_str(trade, "asset", path) or None
        )
    for condition, (path, trade) in first.items():
        by_index = outcomes[condition]
        labels = [by_index[k] for k in sorted(by_index)]
        if len(labels) < 2 and {o.label.lower() for o in labels} <= {"yes", "no"}:
            # a yes/no market whose trades show one side only: Polymarket lists Yes first, No second
            labels = [by_index.get(0, Outcome("Yes")), by_index.get(1, Outcome("No"))]
        yield build_market(
            venue=POLYMARKET,
            market_id=condition,
            ticker=field_str(trade, "slug", path),
            series=field_str(trade, "eventSlug", path),
            title=field_str(trade, "title", path, required=True),
            subject="",
            outcomes=tuple(labels),
            resolution_time=None,
            category=None,
            rules=(),
            multi_outcome_event=False,
            fee_rate=None,
            aliases=tuple(o.token_id for o in labels if o.token_id),
            where=path,
        )


def _walk(
    payload: Any, where: str, errors: list[str] | None, event: Mapping[str, Any] | None = None
) -> Iterator[PredictionMarket]:
    if isinstance(payload, list):
        trades = [(f"{where}[{j}]", t) for j, t in enumerate(payload) if _is_trade(t)]
        if trades:  # Data-API trades name their market across several rows
            yield from _trade_markets(trades)
        for i, item in enumerate(payload):
            if _is_trade(item):
                continue
            try:
                yield from _walk(item, f"{where}[{i}]", errors, event)
            except PredictionMarketError as exc:
                if errors is None:
                    raise
                errors.append(str(exc))
        return
    if not isinstance(payload, Mapping):
        raise PredictionMarketError(f"{where}: expected an object or a list, got {type(payload).__name__}")
    if payload.get("exchange") == POLYMARKET and isinstance(payload.get("methods"), Mapping):
        yield from _ccxt_markets(payload, where)
        return
    if "conditionId" in payload:
        yield parse_gamma_market(payload, where, event)
        return
    if "condition_id" in payload and "question" in payload:
        yield parse_clob_market(payload, where)
        return
    if isinstance(payload.get("markets"), list):  # a Gamma event
        yield from _walk(payload["markets"], f"{where}.markets", errors, payload)
        return
    for key in ("events", "data"):
        if isinstance(payload.get(key), list):
            yield from _walk(payload[key], f"{where}.{key}", errors)
            return


def parse_markets(
    payload: Any, where: str = "polymarket", *, errors: list[str] | None = None
) -> list[PredictionMarket]:
    """Every market in a Polymarket payload (see the module docstring), each condition id once.

    A malformed market raises :class:`PredictionMarketError`; with ``errors`` given, a malformed market in a
    list (a CLOB page holds old rows without outcome labels) is skipped and its error appended instead.
    """
    out: dict[str, PredictionMarket] = {}
    for market in _walk(payload, where, errors):
        out.setdefault(market.market_id, market)
    return list(out.values())


__all__ = ["parse_clob_market", "parse_gamma_market", "parse_markets"]
