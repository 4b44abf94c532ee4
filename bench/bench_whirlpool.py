"""Orca Whirlpool: exact swap quotes per second (ours) against a float approximation, and the curve's prox.

One pool shape (tick spacing 64, 20 positions around tick 0, liquidity ~1e15 raw, 0.3 % fee), quoted for a
mix of sells (exact input of A) and buys (exact output of A) that cross several initialized ticks:

- ``exact``: :func:`sdk.amm.whirlpool.swap`, integer for integer with the program (what a fill will be);
- ``float baseline``: the float concentrated-liquidity curve
  :class:`sdk.curves.clmm.ConcentratedLiquidityCurve` on the same positions (``cost`` per quote), i.e.
  what one would use without exact math, with its worst relative deviation from the exact amounts;
- ``uniswap v3 exact``: :meth:`sdk.amm.uniswap_v3.Pool.quote` on the same positions (Q64.96, 256-bit words),
  the other exact implementation in the tree;
- the :class:`sdk.curves.whirlpool.WhirlpoolCurve` built from the exact state: build time and ``prox``
  latency (the ADMM local step; target <= 20 us like the other curves).
"""

from __future__ import annotations

import math
import time

import numpy as np

from bench.common import percentile, print_table, write_results
from sdk.amm.uniswap_v3 import Pool
from sdk.amm.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from sdk.amm.whirlpool import (
    TICK_ARRAY_SIZE,
    Tick,
    TickArray,
    WhirlpoolState,
    sequence_sqrt_price_limit,
    sqrt_price_from_tick_index,
    swap,
    swap_tick_array_starts,
)
from sdk.curves.clmm import ConcentratedLiquidityCurve
from sdk.curves.whirlpool import WhirlpoolCurve

SPACING = 64
FEE_RATE = 3000
QUOTES = 2_000
PROX_CALLS = 20_000
SEED = 15


def _positions(rng: np.random.Generator) -> list[tuple[int, int, int]]:
    out = []
    for _ in range(20):
        lo = -int(rng.integers(1, 120)) * SPACING
        hi = int(rng.integers(1, 120)) * SPACING
        out.append((lo, hi, int(rng.lognormal(math.log(1e15), 0.7))))
    return out


def _whirlpool(positions: list[tuple[int, int, int]]) -> tuple[WhirlpoolState, list[TickArray]]:
    nets: dict[int, int] = {}
    for lo, hi, liq in positions:
        nets[lo] = nets.get(lo, 0) + liq
        nets[hi] = nets.get(hi, 0) - liq
    active = sum(liq for lo, hi, liq in positions if lo <= 0 < hi)
    pool = WhirlpoolState(sqrt_price_from_tick_index(0), 0, active, SPACING, FEE_RATE, 300)
    span = TICK_ARRAY_SIZE * SPACING
    starts = sorted(
        set(swap_tick_array_starts(0, SPACING, True)) | set(swap_tick_array_starts(0, SPACING, False))
    )
    arrays = []
    for start in starts:
        ticks = {
            (t - start) // SPACING: Tick(n, abs(n)) for t, n in nets.items() if start <= t < start + span
        }
        arrays.append(TickArray(start, ticks))
    return pool, arrays


def _rate(fn: object, args: list[tuple[int, bool]]) -> float:
    assert callable(fn)
    started = time.perf_counter()
    for a in args:
        fn(*a)
    return len(args) / (time.perf_counter() - started)


def main() -> dict[str, object]:
    rng = np.random.default_rng(SEED)
    positions = _positions(rng)
    pool, arrays = _whirlpool(positions)
    by_start = {a.start_tick_index: a for a in arrays}
    seq = {d: [by_start[s] for s in swap_tick_array_starts(0, SPACING, d)] for d in (True, False)}
    limit = {d: sequence_sqrt_price_limit(seq[d], SPACING, d) for d in (True, False)}
    # sizes up to ~30 % of the active virtual reserve (several ticks crossed on the large ones); sells are
    # exact inputs of A, buys exact outputs of A, so every implementation answers "B for this much A"
    sizes = [int(v) for v in np.exp(rng.uniform(math.log(1e9), math.log(3e14), QUOTES))]
    sides = [bool(b) for b in rng.integers(0, 2, QUOTES)]
    args = list(zip(sizes, sides, strict=True))

    def exact(amount: int, sell: bool) -> int:
        """Sell ``amount`` A (exact input) or buy ``amount`` A (exact output): the B amount."""
        r = swap(
            pool, seq[sell], amount, sqrt_price_limit=limit[sell], amount_specified_is_input=sell, a_to_b=sell
        )
        return r.amount_b

    uni = Pool(FEE_RATE, SPACING, get_sqrt_ratio_at_tick(0))
    for lo, hi, liq in positions:
        uni.mint(lo, hi, liq)

    def uniswap(amount: int, sell: bool) -> int:
        r = uni.quote(sell, amount if sell else -amount)
        return abs(r.amount1)

    net_ticks: dict[int, float] = {}
    for lo, hi, liq in positions:
        net_ticks[lo] = net_ticks.get(lo, 0.0) + liq
        net_ticks[hi] = net_ticks.get(hi, 0.0) - liq
    float_curve = ConcentratedLiquidityCurve(
        1.0, float(pool.liquidity), sorted(net_ticks.items()), fee=FEE_RATE / 1e6, tick_spacing=SPACING
    )

    def float_quote(amount: int, sell: bool) -> float:
        return -float_curve.cost(-amount) if sell else float_curve.cost(amount)

    exact_out = [exact(a, d) for a, d in args]
    worst = max(
        abs(abs(float_quote(a, d)) - e) / e for (a, d), e in zip(args, exact_out, strict=True) if e > 0
    )
    uni_out = [uniswap(a, d) for a, d in args]
    worst_uni = max(abs(u - e) / e for u, e in zip(uni_out, exact_out, strict=True) if e > 0)

    rate_exact = _rate(exact, args)
    rate_float = _rate(float_quote, args)
    rate_uni = _rate(uniswap, args)

    started = time.perf_counter()
    builds = 200
    for _ in range(builds):
        curve = WhirlpoolCurve(pool, arrays)
    build_us = (time.perf_counter() - started) / builds * 1e6
    # ADMM inputs: targets up to +-3e14 raw A, rho so that rho * |x| spans the fee band to large moves
    vs = rng.uniform(-3e14, 3e14, PROX_CALLS)
    rhos = np.exp(rng.uniform(math.log(1e-17), math.log(1e-13), PROX_CALLS))
    lat = []
    for v, rho in zip(vs, rhos, strict=True):
        t0 = time.perf_counter()
        curve.prox(float(v), float(rho))
        lat.append((time.perf_counter() - t0) * 1e6)

    metrics: dict[str, object] = {
        "exact_quotes_per_s": rate_exact,
        "float_baseline_quotes_per_s": rate_float,
        "uniswap_v3_exact_quotes_per_s": rate_uni,
        "exact_vs_float_speed_ratio": rate_exact / rate_float,
        "float_baseline_max_rel_error": worst,
        "uniswap_v3_vs_whirlpool_max_rel_diff": worst_uni,
        "curve_build_us": build_us,
        "curve_segments": len(curve.segments),
        "prox_us_median": percentile(lat, 50),
        "prox_us_p99": percentile(lat, 99),
        "quotes": QUOTES,
        "initialized_ticks": sum(len(a.ticks) for a in arrays),
    }
    print_table(
        "Whirlpool exact swap quotes vs float approximation (same pool, same trades)",
        ["implementation", "quotes/s", "max rel diff vs exact"],
        [
            ["whirlpool exact (ours)", rate_exact, 0.0],
            ["float curve (baseline)", rate_float, worst],
            ["uniswap v3 exact", rate_uni, worst_uni],
        ],
    )
    print_table(
        "WhirlpoolCurve",
        ["build us", "segments", "prox us p50", "prox us p99"],
        [[build_us, len(curve.segments), metrics["prox_us_median"], metrics["prox_us_p99"]]],
    )
    write_results("whirlpool", metrics)
    return metrics


if __name__ == "__main__":
    main()
