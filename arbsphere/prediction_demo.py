"""`arbsphere demo --case prediction`: a complete set across Kalshi and Polymarket from match to resolution.

In process and from recorded data (``../shared/data/recordings/prediction_markets``): the real Polymarket
CLOB book and market of "Will JD Vance win the 2028 US Presidential Election?" (ccxt's recorded answers,
2026-06-12) and Kalshi's market of the same proposition, KXPRESPERSON-28-JVAN, written in Kalshi's
documented fields (no Kalshi payload of that market is public: its book is *constructed*, Kalshi's recorded
book shape with prices near Polymarket's, and printed as such).

1. **Match** on public metadata only (``sdk.prediction.matcher``): the pair, its confidence and outcome map.
2. **Plan** the complete set, YES on one venue and NO on the other, with each venue's exact fee
   (``complete_set_arbitrage``: Kalshi's ``round_up(0.07 C P (1-P))`` per order, Polymarket's fee schedule):
   sets, cost, fees, spread% and APY to the resolution date.
3. **Fill** on paper: each leg walks its venue's book (``PredictionMarketCurve.exact_cost``).
4. **Hold or exit**: later bids are checked against the 1 a set pays at resolution (early exit when selling
   the set back beats holding by the threshold).
5. **Resolve** at 1/0 per outcome and print the realised PnL.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sdk.curves.prediction import (
    KalshiFees,
    PolymarketFees,
    PredictionMarketCurve,
    annualise,
    complete_set_arbitrage,
)
from sdk.prediction import MatchConfig, match_markets, parse_kalshi, parse_polymarket

RECORDINGS = Path(
    os.environ.get(
        "ARBSPHERE_PM_RECORDINGS",
        Path(__file__).resolve().parents[2] / "shared/data/recordings/prediction_markets",
    )
)
KALSHI_TICKER = "KXPRESPERSON-28-JVAN"
POLYMARKET_FEE_RATE = 0.0  # the Vance market's feeSchedule: fees off (political markets, 2026)
EXIT_THRESHOLD = 0.002
"""Early exit when selling the set back pays at least this much per set more than holding it to 1."""


def _recorded(method: str) -> Any:
    data = json.loads((RECORDINGS / "polymarket/ccxt/polymarket_response.json").read_text())
    return data["methods"][method][0]["httpResponse"]


def _kalshi_market() -> dict[str, Any]:
    template = json.loads((RECORDINGS / "kalshi/nautilus_trader_unmerged_pr/http_markets.json").read_text())
    return dict(
        template["markets"][0],
        ticker=KALSHI_TICKER,
        event_ticker="KXPRESPERSON-28",
        title="Who will win the next presidential election?",
        yes_sub_title="J.D. Vance",
        no_sub_title="J.D. Vance",
        close_time="2028-11-07T15:00:00Z",
        latest_expiration_time="2028-11-07T15:00:00Z",
        rules_primary="If J.D. Vance wins the 2028 US Presidential Election, the market resolves to Yes.",
    )


def _levels(rows: list[dict[str, str]]) -> list[tuple[float, float]]:
    return [(float(r["price"]), float(r["size"])) for r in rows]


def run_prediction_demo() -> int:
    console = Console(width=120)
    console.rule("[bold]prediction markets: a complete set across Kalshi and Polymarket")
    # 1. match ------------------------------------------------------------------------------------------
    errors: list[str] = []
    poly_markets = parse_polymarket(
        json.loads((RECORDINGS / "polymarket/ccxt/polymarket_response.json").read_text()), "polymarket",
        errors=errors,
    )  # fmt: skip
    kalshi_markets = parse_kalshi({"markets": [_kalshi_market()], "cursor": ""}, "kalshi", errors=errors)
    decisions = [d for d in match_markets(kalshi_markets, poly_markets, MatchConfig()) if d.decision.value]
    if not decisions or decisions[0].decision.value != "match":
        console.print(f"[red]no match: {decisions} {errors}")
        return 1
    match = decisions[0]
    console.print(
        f"1. match  {match.a.market_id} <-> {match.b.title!r}  confidence {match.confidence:.3f}  "
        f"(MARKET_MATCH {match.match_id}; `arbsphere markets match --ledger-url` records it)"
    )
    # 2. plan -------------------------------------------------------------------------------------------
    book = _recorded("fetchOrderBook")
    now = datetime.fromtimestamp(int(book["timestamp"]) / 1000, UTC)
    resolution = datetime(2028, 11, 7, 15, tzinfo=UTC)
    days = (resolution - now).total_seconds() / 86400
    # The recorded CLOB answer holds only the five far levels of each side (bids <= 0.005, asks >= 0.995):
    # the near levels are constructed around the recorded last trade (Data-API trades, 0.152) and joined
    # to them.
    last = float(_recorded("fetchTrades")[0]["price"])
    near_asks = [(round(last + 0.001 * k, 3), 400.0 + 150.0 * k) for k in range(5)]
    near_bids = [(round(last - 0.001 * (k + 1), 3), 400.0 + 150.0 * k) for k in range(5)]
    poly_yes = PredictionMarketCurve(
        sorted(near_bids + _levels(book["bids"]), reverse=True),
        sorted(near_asks + _levels(book["asks"])),
        fees=PolymarketFees(POLYMARKET_FEE_RATE),
        book_usage=1.0,
    )
    best_yes_ask = poly_yes.asks[0][0]
    # Kalshi NO asks (constructed): its YES bids, reflected, a little above 1 - Polymarket's YES ask.
    kalshi_no_asks = [(round(1.0 - best_yes_ask - 0.02 + 0.01 * k, 2), 250.0 * (k + 1)) for k in range(5)]
    kalshi_no_bids = [(round(kalshi_no_asks[0][0] - 0.01 * (k + 1), 2), 300.0) for k in range(5)]
    kalshi_no = PredictionMarketCurve(kalshi_no_bids, kalshi_no_asks, fees=KalshiFees(), book_usage=1.0)
    plan = complete_set_arbitrage(
        {"YES": {"polymarket": poly_yes.asks}, "NO": {"kalshi": kalshi_no.asks}},
        days,
        fee_models={"polymarket": PolymarketFees(POLYMARKET_FEE_RATE), "kalshi": KalshiFees()},
        lot_size=1.0,
    )
    if plan.sets <= 0:
        console.print("[red]no profitable complete set at these books")
        return 1
    console.print(
        f"2. plan   {plan.sets:g} sets: YES on Polymarket (best ask {best_yes_ask}), NO on Kalshi "
        f"(constructed book, best ask {kalshi_no.asks[0][0]}); {days:.0f} days to resolution"
    )
    table = Table("cost", "fees (exact)", "profit", "spread %", "APY %")
    table.add_row(
        f"{plan.cost:.4f}", f"{plan.fees:.4f}", f"{plan.profit:.4f}", f"{plan.spread_pct:.3f}",
        f"{100 * plan.apy:.3f}",
    )  # fmt: skip
    console.print(table)
    # 3. fill on paper ----------------------------------------------------------------------------------
    paid_yes = poly_yes.exact_cost(plan.sets)
    paid_no = kalshi_no.exact_cost(plan.sets)
    paid = paid_yes + paid_no
    console.print(
        f"3. fill   paper: Polymarket YES {plan.sets:g} for {paid_yes:.4f}, Kalshi NO {plan.sets:g} for "
        f"{paid_no:.4f} (fee {paid_no - math.fsum(p * q for p, q in _walk(kalshi_no.asks, plan.sets)):.2f}); "
        f"paid {paid:.4f} for sets paying {plan.sets:g}"
    )
    # 4. hold or exit -----------------------------------------------------------------------------------
    exit_value = -(poly_yes.exact_cost(-plan.sets) + kalshi_no.exact_cost(-plan.sets))
    gain = (exit_value - plan.sets) / plan.sets
    decision = "EXIT now" if gain >= EXIT_THRESHOLD else "HOLD to resolution"
    console.print(
        f"4. check  selling the set back now pays {exit_value:.4f} vs {plan.sets:g} at resolution "
        f"({gain:+.4f}/set, threshold {EXIT_THRESHOLD}): {decision}"
    )
    # 5. resolve ----------------------------------------------------------------------------------------
    table = Table("resolution", "YES pays", "NO pays", "payout", "realised PnL", "return %", "APY %")
    for winner in ("YES", "NO"):
        payout = plan.sets  # one share of the winning outcome per set, 1 each; the losing shares pay 0
        pnl = payout - paid
        ret = pnl / paid
        table.add_row(
            f"{winner} wins", "1" if winner == "YES" else "0", "1" if winner == "NO" else "0",
            f"{payout:.4f}", f"{pnl:.4f}", f"{100 * ret:.3f}", f"{100 * annualise(ret, days):.3f}",
        )  # fmt: skip
    console.print("5. resolve (either way the set pays 1):")
    console.print(table)
    ok = math.isclose(plan.sets - paid, plan.profit, abs_tol=1e-6) and plan.sets - paid > 0
    console.rule("[bold green]prediction demo passed" if ok else "[bold red]prediction demo failed")
    return 0 if ok else 1


def _walk(asks: Sequence[tuple[float, float]], quantity: float) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    left = quantity
    for price, size in asks:
        if left <= 0:
            break
        take = min(left, size)
        out.append((price, take))
        left -= take
    return out
