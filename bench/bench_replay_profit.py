"""Profit captured on the same replay: ArbSphere's federated plans vs the common fixed-size two-venue bot.

Books are the shared recordings' real books (depth, spread, message-by-message changes), each mapped onto
one common instrument; the cross-venue price relation is a seeded synthetic dislocation process, because the
recordings share no instrument and were made on different days (``agents.backtest`` says exactly what is
real and what is not). Every strategy trades on paper against the same frames in its own world (IOC at the
plan's caps, per-venue entry-tier taker fees, liquidity taken stays gone until the venue reports the level).

Scenarios: two venues (Binance NKN-USDT and Kraken XMR-USD, the cheapest fees: 10 + 26 bps), all five
recordings (fees 10-50 bps), both with 80 bps injected mispricings over ``SEEDS``; and the five recordings'
own relative price paths with nothing injected (different instruments: not a real arbitrage, a sanity row).
Strategies: ArbSphere (price-space sessions, in-process, secure aggregation on; warm re-plans as deployed,
cold every tick as a control, and planning on 30% of each level as in production), the bot at 250 / 1000 /
5000 USD fixed size (one bot per venue pair).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from agents.backtest import (
    DEFAULT_REPLAY,
    TAKER_FEE_BPS,
    Dislocations,
    FixedSizeBaseline,
    RecordedMarket,
    ReplayVenue,
    Strategy,
    StrategyResult,
    run_backtest,
    venue_specs,
)
from arbsphere.federated import ArbSphereStrategy
from bench.common import percentile, print_table, write_results
from coordinator.engine.config import AdmmConfig

RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "cryptofeed"
SEEDS = (0, 1, 2)
DISLOCATION_BPS = 80.0
REFERENCE_PRICE = 100.0
BASELINE_USD = (250, 1000, 5000)
HEADLINE_BASELINE = "baseline_1000usd"
MAX_ROUNDS = AdmmConfig().max_rounds  # a session that reaches it did not meet the stopping rule
TWO_VENUES = (ReplayVenue("binance", "NKN-USDT"), ReplayVenue("kraken", "XMR-USD"))


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    venues: tuple[ReplayVenue, ...]
    injected: bool


SCENARIOS = (
    Scenario("two_venue", "two venues (binance, kraken), 80 bps injected dislocations", TWO_VENUES, True),
    Scenario("five_venue", "five venues, 80 bps injected dislocations", DEFAULT_REPLAY, True),
    Scenario(
        "recorded_paths",
        "five venues, recorded relative price paths only (nothing injected)",
        DEFAULT_REPLAY,
        False,
    ),
)


def strategies(venues: Sequence[ReplayVenue]) -> list[Strategy]:
    specs = venue_specs(v.venue for v in venues)
    out: list[Strategy] = [
        ArbSphereStrategy(specs, name="arbsphere", reference_price=REFERENCE_PRICE),
        ArbSphereStrategy(specs, name="arbsphere_cold", reference_price=REFERENCE_PRICE, warm=False),
        ArbSphereStrategy(specs, name="arbsphere_usage30", reference_price=REFERENCE_PRICE, book_usage=0.3),
    ]
    for usd in BASELINE_USD:
        size = Decimal(usd) / Decimal(repr(REFERENCE_PRICE))
        out.append(FixedSizeBaseline(specs, size, name=f"baseline_{usd}usd"))
    return out


@dataclass
class Totals:
    profit: Decimal = Decimal(0)
    trades: int = 0
    notional: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    leg_outs: int = 0
    conservation_gap: Decimal = Decimal(0)
    exposure: Decimal = Decimal(0)

    def add(self, result: StrategyResult) -> None:
        self.profit += result.profit_usd
        self.trades += result.trades
        self.notional += result.notional_usd
        self.fees += result.fees_usd
        self.leg_outs += result.leg_outs
        self.conservation_gap += abs(result.conservation_gap)
        self.exposure += abs(result.exposure)


@dataclass
class Federation:
    optimality: list[float]
    planned: float = 0.0
    optimum: float = 0.0
    opportunity_ticks: int = 0
    max_rounds: int = 0
    failed: int = 0
    losing: int = 0
    rounds: list[int] | None = None
    solve_ms: list[float] | None = None

    def add(self, result: StrategyResult) -> None:
        self.optimality.extend(result.optimality())
        rounds = self.rounds if self.rounds is not None else []
        solve = self.solve_ms if self.solve_ms is not None else []
        for tick in result.ticks:
            self.planned += tick.planned_usd
            self.optimum += tick.optimum_usd or 0.0
            self.opportunity_ticks += (tick.optimum_usd or 0.0) > 0.01
            self.failed += tick.failed
            self.losing += tick.planned_usd < -1e-9
            if tick.rounds is not None:
                rounds.append(tick.rounds)
                self.max_rounds += tick.rounds >= MAX_ROUNDS
            if tick.solve_ms is not None:
                solve.append(tick.solve_ms)
        self.rounds, self.solve_ms = rounds, solve


def ratio(a: Decimal | float, b: Decimal | float) -> float | None:
    return float(a) / float(b) if float(b) > 0 else None


def show(value: float | None, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def run_scenario(scenario: Scenario, metrics: dict[str, object]) -> None:
    seeds = SEEDS if scenario.injected else (0,)
    totals: dict[str, Totals] = {}
    federation: dict[str, Federation] = {}
    frames = 0
    started = time.perf_counter()
    for seed in seeds:
        market = RecordedMarket(
            RECORDINGS,
            scenario.venues,
            dislocations=Dislocations(seed, bps=DISLOCATION_BPS) if scenario.injected else None,
            anchor="tick" if scenario.injected else "start",
            reference_price=REFERENCE_PRICE,
        )
        runs = strategies(scenario.venues)
        if not scenario.injected:  # the sanity row: one federation and the headline bot suffice
            runs = [s for s in runs if s.name in ("arbsphere", HEADLINE_BASELINE)]
        result = run_backtest(market.frames(), runs, venue_specs(v.venue for v in scenario.venues))
        frames += result.frames
        for name, outcome in result.strategies.items():
            totals.setdefault(name, Totals()).add(outcome)
            if name.startswith("arbsphere"):
                federation.setdefault(name, Federation([])).add(outcome)
    elapsed = time.perf_counter() - started
    key = scenario.key
    base = totals[HEADLINE_BASELINE].profit
    best_name = max((n for n in totals if n.startswith("baseline")), key=lambda n: totals[n].profit)
    rows = []
    for name, t in totals.items():
        per_trade = t.profit / t.trades if t.trades else None
        metrics[f"{key}_{name}_profit_usd"] = float(t.profit)
        metrics[f"{key}_{name}_trades"] = t.trades
        metrics[f"{key}_{name}_profit_per_trade_usd"] = None if per_trade is None else float(per_trade)
        metrics[f"{key}_{name}_notional_usd"] = float(t.notional)
        metrics[f"{key}_{name}_fees_usd"] = float(t.fees)
        metrics[f"{key}_{name}_leg_outs"] = t.leg_outs
        metrics[f"{key}_{name}_conservation_gap_usd"] = float(t.conservation_gap)
        metrics[f"{key}_{name}_residual_exposure_units"] = float(t.exposure)
        rows.append(
            (
                name,
                f"{float(t.profit):.2f}",
                t.trades,
                show(None if per_trade is None else float(per_trade)),
                f"{float(t.notional):.0f}",
                f"{float(t.fees):.2f}",
                show(ratio(t.profit, base), ".2f"),
            )
        )
    for name in (n for n in totals if n.startswith("arbsphere")):
        metrics[f"{key}_{name}_over_baseline_ratio"] = ratio(totals[name].profit, base)
        metrics[f"{key}_{name}_over_best_baseline_ratio"] = ratio(
            totals[name].profit, totals[best_name].profit
        )
    metrics[f"{key}_best_baseline"] = best_name
    metrics[f"{key}_frames"] = frames
    metrics[f"{key}_seeds"] = len(seeds)
    metrics[f"{key}_wall_s"] = elapsed
    print_table(
        f"\n{scenario.title}: {len(seeds)} seed(s), {frames} frames of 100 ms, {elapsed:.1f} s "
        f"(ratio: profit / {HEADLINE_BASELINE} profit)",
        ("strategy", "profit USD", "trades", "USD/trade", "notional USD", "fees USD", "ratio"),
        rows,
    )
    opt_rows = []
    for name, fed in federation.items():
        sample = fed.optimality
        p50 = statistics.median(sample) if sample else None
        p5 = percentile(sample, 5) if sample else None
        low = min(sample) if sample else None
        aggregate = ratio(fed.planned, fed.optimum)
        solve_p50 = statistics.median(fed.solve_ms) if fed.solve_ms else None
        solve_p99 = percentile(fed.solve_ms, 99) if fed.solve_ms else None
        realised = ratio(totals[name].profit, fed.planned)
        values: dict[str, object] = {
            "opportunity_ticks": fed.opportunity_ticks,
            "optimality_p50_ratio": p50,
            "optimality_p5_ratio": p5,
            "optimality_min_ratio": low,
            "optimality_share_ge_0999": sum(x >= 0.999 for x in sample) / len(sample) if sample else None,
            "optimality_aggregate_ratio": aggregate,
            "realised_over_planned_ratio": realised,
            "sessions_at_max_rounds": fed.max_rounds,
            "sessions_failed": fed.failed,
            "sessions_committing_loss": fed.losing,
            "rounds_p50": statistics.median(fed.rounds) if fed.rounds else None,
            "solve_p50_ms": solve_p50,
            "solve_p99_ms": solve_p99,
            "optimum_sum_usd": fed.optimum,
            "planned_sum_usd": fed.planned,
        }
        for metric, value in values.items():
            metrics[f"{key}_{name}_{metric}"] = value
        opt_rows.append(
            (
                name,
                fed.opportunity_ticks,
                show(p50, ".6f"),
                show(p5, ".4f"),
                show(low, ".3f"),
                show(aggregate, ".4f"),
                show(realised, ".4f"),
                fed.max_rounds,
                fed.failed,
                fed.losing,
                show(solve_p50, ".1f"),
                show(solve_p99, ".0f"),
            )
        )
    print_table(
        "ArbSphere's committed plan vs the centralised optimum of the same curves, per tick with an "
        "optimum > 0.01 USD",
        (
            "strategy",
            "ticks",
            "p50",
            "p5",
            "min",
            "sum/sum",
            "realised/plan",
            "at max rounds",
            "failed",
            "losing plans",
            "solve p50 ms",
            "p99 ms",
        ),
        opt_rows,
    )


def main() -> dict[str, object]:
    metrics: dict[str, object] = {
        "data_real": "recorded books (depth, spread, updates) of "
        + ", ".join(f"{v.venue} {v.symbol}" for v in DEFAULT_REPLAY)
        + ", replayed through the live parsing path, aligned on each recording's relative time",
        "data_synthetic": "price level: every book mapped onto one instrument at 100 USD (USD notional per "
        f"level kept); cross-venue relation from MarketSimulator ({DISLOCATION_BPS:g} bps mispricings, "
        "p=0.05 per 100 ms tick, 1 s each, 1.5 bp noise)",
        "taker_fee_bps": dict(TAKER_FEE_BPS),
        "tick_ms": 100,
        "dislocation_bps": DISLOCATION_BPS,
    }
    print(f"real: {metrics['data_real']}\nsynthetic: {metrics['data_synthetic']}")
    print(
        "taker fees (bps, entry tier at recording date): "
        + ", ".join(f"{k} {v:g}" for k, v in TAKER_FEE_BPS.items())
    )
    for scenario in SCENARIOS:
        run_scenario(scenario, metrics)
    write_results("replay_profit", metrics)
    return metrics


if __name__ == "__main__":
    main()
