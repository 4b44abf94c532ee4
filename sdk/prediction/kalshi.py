"""Kalshi market metadata (Trade API v2, public endpoints) -> :class:`~sdk.prediction.model.PredictionMarket`.

Shapes accepted, as the API returns them (and as ``../shared/data/recordings/prediction_markets/kalshi/``
holds them): ``GET /markets/{ticker}`` ``{"market": {...}}``; ``GET /markets`` ``{"markets": [...],
"cursor"}``; ``GET /events/{ticker}?with_nested_markets`` ``{"event": {..., "markets": [...]}}`` or
``{"event", "markets"}``; ``GET /events`` ``{"events": [...]}``; a bare list of markets; and ccxt's
static-test response file (``{"exchange": "kalshi", "methods": {...: [{"httpResponse": ...}]}}``), whose
``httpResponse`` bodies are the raw API answers.

Mapping: ``ticker`` is the id; ``event_ticker`` the series (an event groups mutually exclusive markets);
``title`` + ``yes_sub_title`` (the outcome a market of a multi-outcome event is about) the proposition;
``close_time`` the resolution time; ``rules_primary``/``rules_secondary`` (and an event's
``settlement_sources``) the resolution source; the event's ``category`` the category. A Kalshi market is one
YES/NO contract.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sdk.prediction.model import (
    KALSHI,
    Outcome,
    PredictionMarket,
    PredictionMarketError,
    build_market,
    field_str,
    normalise_category,
    parse_time,
)

_YES_NO = (Outcome("Yes"), Outcome("No"))


def _event_sources(event: Mapping[str, Any]) -> str:
    sources = event.get("settlement_sources") or []
    if not isinstance(sources, list):
        return ""
    parts: list[str] = []
    for s in sources:
        if isinstance(s, Mapping):
            parts.extend(str(s.get(k, "")) for k in ("name", "url"))
    return " ".join(parts)


def parse_market(
    market: Mapping[str, Any], where: str = "market", event: Mapping[str, Any] | None = None
) -> PredictionMarket:
    """One Kalshi market object (with its event, when known, for category and settlement sources)."""
    if not isinstance(market, Mapping):
        raise PredictionMarketError(f"{where}: expected an object, got {type(market).__name__}")
    event = event or {}
    ticker = field_str(market, "ticker", where, required=True)
    series = field_str(market, "event_ticker", where) or field_str(event, "event_ticker", f"{where}.event")
    market_type = field_str(market, "market_type", where) or "binary"
    if market_type != "binary":
        raise PredictionMarketError(f"{where}.market_type: expected 'binary', got {market_type!r}")
    close = parse_time(market.get("close_time"), f"{where}.close_time")
    if close is None:
        close = parse_time(market.get("expected_expiration_time"), f"{where}.expected_expiration_time")
    category = normalise_category(
        field_str(market, "category", where),
        field_str(event, "category", f"{where}.event"),
        field_str(event, "series_ticker", f"{where}.event"),
    )
    rules = (
        field_str(market, "rules_primary", where),
        field_str(market, "rules_secondary", where),
        _event_sources(event),
    )
    mutually_exclusive = event.get("mutually_exclusive")
    return build_market(
        venue=KALSHI,
        market_id=ticker,
        ticker=ticker,
        series=series,
        title=field_str(market, "title", where, required=True),
        subject=field_str(market, "yes_sub_title", where) or field_str(market, "subtitle", where),
        outcomes=_YES_NO,
        resolution_time=close,
        category=category,
        rules=rules,
        multi_outcome_event=bool(mutually_exclusive),
        fee_rate=None,
        aliases=(),
        where=where,
    )


def _list(payload: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = payload.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PredictionMarketError(f"{where}.{key}: expected a list, got {type(value).__name__}")
    return value


def _markets(payload: Any, where: str) -> Iterator[tuple[Any, str, Mapping[str, Any] | None]]:
    if isinstance(payload, list):
        for i, item in enumerate(payload):
            yield from _markets(item, f"{where}[{i}]")
        return
    if not isinstance(payload, Mapping):
        raise PredictionMarketError(f"{where}: expected an object or a list, got {type(payload).__name__}")
    if payload.get("exchange") == KALSHI and isinstance(payload.get("methods"), Mapping):
        for method, cases in payload["methods"].items():
            for i, case in enumerate(cases if isinstance(cases, list) else []):
                body = case.get("httpResponse") if isinstance(case, Mapping) else None
                if isinstance(body, Mapping) and ("market" in body or "markets" in body or "event" in body):
                    yield from _markets(body, f"{where}.methods.{method}[{i}].httpResponse")
        return
    if "ticker" in payload and "title" in payload:
        yield payload, where, None
        return
    if "market" in payload:
        yield payload["market"], f"{where}.market", None
    event = payload.get("event")
    if event is not None:
        if not isinstance(event, Mapping):
            raise PredictionMarketError(f"{where}.event: expected an object, got {type(event).__name__}")
        nested = _list(event, "markets", f"{where}.event") or _list(payload, "markets", where)
        for i, m in enumerate(nested):
            yield m, f"{where}.event.markets[{i}]", event
        return
    for i, m in enumerate(_list(payload, "markets", where)):
        yield m, f"{where}.markets[{i}]", None
    for i, e in enumerate(_list(payload, "events", where)):
        if not isinstance(e, Mapping):
            raise PredictionMarketError(f"{where}.events[{i}]: expected an object, got {type(e).__name__}")
        for j, m in enumerate(_list(e, "markets", f"{where}.events[{i}]")):
            yield m, f"{where}.events[{i}].markets[{j}]", e


def parse_markets(
    payload: Any, where: str = "kalshi", *, errors: list[str] | None = None
) -> list[PredictionMarket]:
    """Every market in a Kalshi payload (see the module docstring), each ticker once.

    A malformed market raises :class:`PredictionMarketError`; with ``errors`` given it is skipped and its
    error appended instead.
    """
    out: dict[str, PredictionMarket] = {}
    for market, path, event in _markets(payload, where):
        try:
            parsed = parse_market(market, path, event)
        except PredictionMarketError as exc:
            if errors is None:
                raise
            errors.append(str(exc))
            continue
        out.setdefault(parsed.market_id, parsed)
    return list(out.values())


__all__ = ["parse_market", "parse_markets"]
