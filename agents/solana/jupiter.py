"""Jupiter aggregator quotes as a fallback cost curve for a pool venue whose direct feed went stale.

A Swap API v1 quote (``GET /swap/v1/quote``) says how much of one mint a route gives for (ExactIn) or takes
for (ExactOut) an amount of another. Quotes at several sizes give points of the venue's cost: buying ``q``
base costs the ExactOut quote's ``inAmount``; selling ``q`` base yields the ExactIn quote's ``outAmount``.
:func:`jupiter_curve` joins them into a convex piecewise-linear curve (slopes between consecutive sizes, made
monotone on the conservative side: a buy segment never cheaper than the one before it, a sell segment never
richer), which is exactly the shape :class:`sdk.curves.piecewise.PiecewiseLinearCurve` prices and proxes.

The route each size took is pinned: :attr:`JupiterQuote.route_id` hashes the legs' AMM keys, and the curve
records the ids it was built from, so a plan priced on one route is not silently executed on another.
:class:`PoolCurveSource` serves the direct pool curve while it is fresh and the Jupiter curve otherwise,
saying which (``source``) and logging the switch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.piecewise import PiecewiseLinearCurve

log = logging.getLogger(__name__)

DEFAULT_QUOTE_URL = "https://lite-api.jup.ag/swap/v1/quote"


class JupiterQuoteError(ValueError):
    """A quote that is not a valid Swap API v1 answer (the message names the field)."""


@dataclass(frozen=True, slots=True)
class RouteLeg:
    amm_key: str
    label: str
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    percent: int


@dataclass(frozen=True, slots=True)
class JupiterQuote:
    """One quote: amounts are raw token units (u64)."""

    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    other_amount_threshold: int
    swap_mode: str
    slippage_bps: int
    route: tuple[RouteLeg, ...]
    context_slot: int | None
    time_taken_s: float | None

    @property
    def route_id(self) -> str:
        """A short id of the route (the legs' AMM keys and shares, in order)."""
        text = "|".join(f"{leg.amm_key}:{leg.percent}" for leg in self.route)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _amount(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if not isinstance(value, str) or not value.isdigit():
        raise JupiterQuoteError(f"{where}{key} must be a decimal string of a u64, got {value!r}")
    number = int(value)
    if number >= 1 << 64:
        raise JupiterQuoteError(f"{where}{key} must fit in u64, got {number}")
    return number


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise JupiterQuoteError(f"{where}{key} must be a non-empty string, got {value!r}")
    return value


def parse_quote(payload: Mapping[str, Any]) -> JupiterQuote:
    """Check and convert a ``/swap/v1/quote`` answer; multi-hop legs must chain (each leg's output mint is
    the next one's input mint)."""
    mode = payload.get("swapMode")
    if mode not in ("ExactIn", "ExactOut"):
        raise JupiterQuoteError(f"swapMode must be 'ExactIn' or 'ExactOut', got {mode!r}")
    plan = payload.get("routePlan")
    if not isinstance(plan, list) or not plan:
        raise JupiterQuoteError(f"routePlan must be a non-empty list, got {plan!r}")
    legs = []
    for i, step in enumerate(plan):
        info = step.get("swapInfo") if isinstance(step, dict) else None
        if not isinstance(info, dict):
            raise JupiterQuoteError(f"routePlan[{i}].swapInfo must be an object, got {info!r}")
        where = f"routePlan[{i}].swapInfo."
        percent = step.get("percent", 100)
        if not isinstance(percent, int) or not 0 < percent <= 100:
            raise JupiterQuoteError(f"routePlan[{i}].percent must be an int in (0, 100], got {percent!r}")
        legs.append(
            RouteLeg(
                _text(info, "ammKey", where),
                str(info.get("label", "")),
                _text(info, "inputMint", where),
                _text(info, "outputMint", where),
                _amount(info, "inAmount", where),
                _amount(info, "outAmount", where),
                percent,
            )
        )
    input_mint = _text(payload, "inputMint", "")
    output_mint = _text(payload, "outputMint", "")
    if all(leg.percent == 100 for leg in legs):
        if legs[0].input_mint != input_mint or legs[-1].output_mint != output_mint:
            raise JupiterQuoteError(
                f"routePlan must lead from inputMint {input_mint} to outputMint {output_mint}, got "
                f"{legs[0].input_mint} -> {legs[-1].output_mint}"
            )
        for i in range(1, len(legs)):
            if legs[i].input_mint != legs[i - 1].output_mint:
                raise JupiterQuoteError(
                    f"routePlan[{i}].swapInfo.inputMint must be routePlan[{i - 1}]'s outputMint "
                    f"{legs[i - 1].output_mint}, got {legs[i].input_mint}"
                )
    slippage = payload.get("slippageBps", 0)
    if not isinstance(slippage, int) or slippage < 0:
        raise JupiterQuoteError(f"slippageBps must be a non-negative int, got {slippage!r}")
    slot = payload.get("contextSlot")
    taken = payload.get("timeTaken")
    return JupiterQuote(
        input_mint=input_mint,
        output_mint=output_mint,
        in_amount=_amount(payload, "inAmount", ""),
        out_amount=_amount(payload, "outAmount", ""),
        other_amount_threshold=_amount(payload, "otherAmountThreshold", ""),
        swap_mode=str(mode),
        slippage_bps=slippage,
        route=tuple(legs),
        context_slot=slot if isinstance(slot, int) else None,
        time_taken_s=float(taken) if isinstance(taken, int | float) else None,
    )


class JupiterCurve(PiecewiseLinearCurve):
    """A piecewise-linear cost from Jupiter quotes, marked with where it came from."""

    __slots__ = ("built_at", "route_ids")

    source = "jupiter"

    def __init__(
        self, knots: Sequence[float], slopes: Sequence[float], route_ids: Sequence[str], built_at: float
    ):
        super().__init__(knots, slopes)
        self.route_ids = tuple(route_ids)
        self.built_at = built_at


def jupiter_curve(
    buys: Sequence[JupiterQuote],
    sells: Sequence[JupiterQuote],
    *,
    base_mint: str,
    quote_mint: str,
    base_decimals: int,
    quote_decimals: int,
    built_at: float = 0.0,
) -> JupiterCurve:
    """The venue's cost from ExactOut buys of base (paid in quote) and ExactIn sells of base, any order."""
    sa, sb = 10.0**-base_decimals, 10.0**-quote_decimals
    buy_points: list[tuple[float, float]] = []
    for i, q in enumerate(buys):
        if (q.swap_mode, q.input_mint, q.output_mint) != ("ExactOut", quote_mint, base_mint):
            raise CurveInputError(f"buys[{i}] must be an ExactOut quote of {base_mint} paid in {quote_mint}")
        buy_points.append((q.out_amount * sa, q.in_amount * sb))
    sell_points: list[tuple[float, float]] = []
    for i, q in enumerate(sells):
        if (q.swap_mode, q.input_mint, q.output_mint) != ("ExactIn", base_mint, quote_mint):
            raise CurveInputError(f"sells[{i}] must be an ExactIn quote of {base_mint} for {quote_mint}")
        sell_points.append((q.in_amount * sa, q.out_amount * sb))
    buy_points.sort()
    sell_points.sort()
    knots = [0.0]
    buy_slopes: list[float] = []
    prev_x = prev_c = 0.0
    for x, c in buy_points:
        if x <= prev_x:
            continue
        slope = (c - prev_c) / (x - prev_x)
        buy_slopes.append(max(slope, buy_slopes[-1]) if buy_slopes else slope)  # never cheaper further out
        knots.append(x)
        prev_x, prev_c = x, prev_c + buy_slopes[-1] * (x - prev_x)
    sell_knots: list[float] = []
    sell_slopes: list[float] = []
    prev_x = prev_p = 0.0
    for x, p in sell_points:
        if x <= prev_x:
            continue
        slope = (p - prev_p) / (x - prev_x)
        sell_slopes.append(min(slope, sell_slopes[-1]) if sell_slopes else slope)  # never richer further out
        sell_knots.append(-x)
        prev_x, prev_p = x, prev_p + sell_slopes[-1] * (x - prev_x)
    if sell_slopes and buy_slopes and sell_slopes[0] > buy_slopes[0]:
        raise CurveInputError(
            f"quotes cross: selling pays {sell_slopes[0]} per unit but buying costs {buy_slopes[0]}"
        )
    all_knots = sell_knots[::-1] + knots
    slopes = sell_slopes[::-1] + buy_slopes
    routes = [q.route_id for q in (*buys, *sells)]
    return JupiterCurve(all_knots, slopes, routes, built_at)


class JupiterClient:
    """``GET /swap/v1/quote`` (standard library HTTP; the caller runs it off the event loop)."""

    def __init__(self, url: str = DEFAULT_QUOTE_URL, *, timeout_s: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be http(s), got {url!r}")
        self.url = url
        self.timeout_s = timeout_s

    def quote(
        self,
        input_mint: str,
        output_mint: str,
        amount: int,
        *,
        swap_mode: str = "ExactIn",
        slippage_bps: int = 50,
        dexes: Sequence[str] = (),
    ) -> JupiterQuote:
        params = {
            "inputMint": input_mint,
            "outputMint": output_mint,
            "amount": str(amount),
            "swapMode": swap_mode,
            "slippageBps": str(slippage_bps),
        }
        if dexes:
            params["dexes"] = ",".join(dexes)  # pin the venues a re-quote may use
        url = f"{self.url}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=self.timeout_s) as response:  # noqa: S310 -- scheme checked
            payload = json.loads(response.read().decode())
        if not isinstance(payload, dict):
            raise JupiterQuoteError(f"quote answer must be an object, got {type(payload).__name__}")
        if "error" in payload:
            raise JupiterQuoteError(f"quote refused: {payload['error']}")
        return parse_quote(payload)


class PoolCurveSource:
    """The curve a pool venue plans with: the direct pool curve while its feed is fresh, else Jupiter's.

    ``direct`` returns the pool's curve or ``None`` when stale (``WhirlpoolFeed.curve``); ``fallback``
    builds a Jupiter curve (quoting at several sizes). ``source`` says which one the last :meth:`curve` call
    served; a switch either way is logged with the feed's staleness and, on the way to Jupiter, the quote
    latency, so the latency delta between the two is visible.
    """

    def __init__(
        self,
        direct: Callable[[], CostCurve | None],
        fallback: Callable[[], JupiterCurve],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_fallback_age_s: float = 2.0,
    ) -> None:
        self._direct = direct
        self._fallback = fallback
        self._clock = clock
        self.max_fallback_age_s = max_fallback_age_s
        self._jupiter: JupiterCurve | None = None
        self.source = "none"
        self.switches = 0
        self.last_fallback_latency_s: float | None = None

    def curve(self) -> CostCurve:
        direct = self._direct()
        if direct is not None:
            if self.source != "pool":
                log.info("pool feed fresh again: planning on the direct pool curve")
                self.switches += self.source == "jupiter"
            self.source = "pool"
            return direct
        now = self._clock()
        if self._jupiter is None or now - self._jupiter.built_at > self.max_fallback_age_s:
            started = self._clock()
            self._jupiter = self._fallback()
            self.last_fallback_latency_s = self._clock() - started
        if self.source != "jupiter":
            log.warning(
                "pool feed stale: planning on the Jupiter quote curve (routes %s, quotes took %.3f s)",
                ",".join(self._jupiter.route_ids),
                self.last_fallback_latency_s or 0.0,
            )
            self.switches += self.source == "pool"
        self.source = "jupiter"
        return self._jupiter
