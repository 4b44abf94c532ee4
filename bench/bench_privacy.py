"""Privacy client: cost of an accounted release vs raw OpenDP, epsilon conversion, and noise vs epsilon.

* release latency (p50/p99, us) through ``PrivacyAccountant.release`` vs calling the same calibrated
  OpenDP measurement directly (the accounting overhead), and vs OpenDP's default finest grid (k=None);
* OpenDP's zCDP -> (epsilon, delta) conversion time, and its epsilon next to the closed-form
  Bun-Steinke bound ``rho + 2 sqrt(rho ln(1/delta))`` (the baseline it tightens);
* the noise standard deviation an agent pays per release at sensitivity 1 for a per-window epsilon,
  when the window holds 100 releases (what "profit vs epsilon" trades against).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import opendp.prelude as dp

from agents.privacy import PrivacyAccountant, PrivacyPolicy, epsilon_for_rho
from agents.privacy.opendp_bridge import calibrate_gaussian, vector_space
from bench.common import percentile, print_table, write_results

DELTA = 1e-6


def _timings_us(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e6)
    return out


def _rho_for_epsilon(epsilon: float, delta: float) -> float:
    lo, hi = 1e-9, 100.0
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if epsilon_for_rho(mid, delta) <= epsilon:
            lo = mid
        else:
            hi = mid
    return lo


def _release_row(dim: int) -> list[float]:
    """[dim, ours p50, ours p99, raw p50, overhead, default-grid p50] in microseconds."""
    acc = PrivacyAccountant("bench", PrivacyPolicy(1e6, 3600, delta=DELTA), clock=lambda: 1_750_000_000_000)
    vector = [100.0 + i for i in range(dim)]
    meas, scale, _ = calibrate_gaussian(1.0, 0.01, dim)
    default_grid = dp.m.make_gaussian(*vector_space(), scale=scale)
    repeats = 300 if dim <= 16 else 100
    ours = _timings_us(lambda: acc.release(vector, 1.0, 0.01), repeats)
    raw = _timings_us(lambda: meas(vector), repeats)
    finest = _timings_us(lambda: default_grid(vector), max(30, repeats // 5))
    p50, raw50 = percentile(ours, 50), percentile(raw, 50)
    return [dim, p50, percentile(ours, 99), raw50, p50 - raw50, percentile(finest, 50)]


def main() -> dict[str, object]:
    metrics: dict[str, object] = {}
    rows = []
    for dim in (4, 16, 64):
        row = _release_row(dim)
        rows.append(row)
        metrics[f"release_dim{dim}_p50_us"] = round(row[1], 1)
        metrics[f"release_dim{dim}_p99_us"] = round(row[2], 1)
        metrics[f"raw_opendp_dim{dim}_p50_us"] = round(row[3], 1)
        metrics[f"accounting_overhead_dim{dim}_p50_us"] = round(row[4], 1)
        metrics[f"opendp_default_grid_dim{dim}_p50_us"] = round(row[5], 1)
    print_table(
        "Accounted release vs raw OpenDP Gaussian (k=-60) vs OpenDP default grid",
        ["dim", "ours p50 us", "ours p99 us", "raw p50 us", "overhead us", "default-grid p50 us"],
        rows,
    )

    rhos = [0.001 * 1.37**i for i in range(20)]
    conv = []
    for rho in rhos:
        start = time.perf_counter()
        epsilon_for_rho.__wrapped__(rho, DELTA)  # uncached: the real OpenDP cost
        conv.append((time.perf_counter() - start) * 1e6)
    metrics["epsilon_conversion_p50_us"] = round(percentile(conv, 50), 1)
    table = []
    for rho in (0.01, 0.1, 0.5, 1.0, 5.0):
        ours_eps = epsilon_for_rho(rho, DELTA)
        bs = rho + 2 * math.sqrt(rho * math.log(1 / DELTA))
        table.append([rho, ours_eps, bs, ours_eps / bs])
        metrics[f"epsilon_at_rho_{rho}"] = ours_eps
        metrics[f"epsilon_bun_steinke_at_rho_{rho}"] = bs
    print_table(
        f"OpenDP zCDP->(eps, delta={DELTA:g}) vs Bun-Steinke bound "
        f"(conversion p50 {metrics['epsilon_conversion_p50_us']} us)",
        ["rho", "OpenDP eps", "BS eps", "ratio"],
        table,
    )

    utility = []
    for eps in (0.5, 1.0, 2.0, 5.0, 10.0):
        rho_window = _rho_for_epsilon(eps, DELTA)
        policy = PrivacyPolicy(rho_window, 3600, delta=DELTA)
        per_release = policy.rho_per_release(100)
        _, scale, _ = calibrate_gaussian(1.0, per_release, 1)
        utility.append([eps, rho_window, per_release, scale])
        metrics[f"noise_sd_at_window_eps_{eps}_100_releases"] = scale
    print_table(
        "Noise per release (sensitivity 1) for a window epsilon, 100 releases per window",
        ["window eps", "window rho", "rho/release", "noise sd"],
        utility,
    )
    write_results("privacy", metrics)
    return metrics


if __name__ == "__main__":
    main()
