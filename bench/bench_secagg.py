"""Secure aggregation cost: masking per agent per round and summing on the coordinator, vs plain fixed point.

For vector lengths m = 8, 64, 512 and mask sets of N = 5, 20, 200 venues:

- agent: ``MaskingClient.mask`` (encode + N-1 ChaCha20 pair masks) against the baseline
  ``FixedPointCodec.encode`` (what an agent would send without masking), per call, microseconds;
- coordinator: one full ``AggregationRound`` (N submissions of ``list[int]`` words, sum mod 2^64, decode)
  against the baseline of summing N plain float lists, per round, microseconds;
- session setup: ``set_peers`` with N-1 peers (X25519 + HKDF per pair), once per session.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from bench.common import percentile, print_table, write_results
from coordinator.secagg import AggregationRound
from energibridge.secagg import FixedPointCodec, MaskingClient, generate_private_key

LENGTHS = (8, 64, 512)
SIZES = (5, 20, 200)


def _timed(call: Callable[[int], object], repeats: int) -> list[float]:
    """Microseconds of ``call(i)`` for i in range(repeats)."""
    samples = []
    for i in range(repeats):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def _client_with_peers(n: int) -> tuple[MaskingClient, tuple[str, ...], float]:
    venues = tuple(f"venue-{i:03d}" for i in range(n))
    keys = {v: generate_private_key() for v in venues}
    client = MaskingClient("bench-session", venues[n // 2], keys[venues[n // 2]])
    directory = {v: k.public_key() for v, k in keys.items()}
    started = time.perf_counter()
    client.set_peers(directory)
    return client, venues, (time.perf_counter() - started) * 1e6


def _bench_agent(
    client: MaskingClient, venues: tuple[str, ...], vector: list[float], first_round: int, repeats: int
) -> tuple[list[float], list[float]]:
    """Samples of masking vs plain encoding of one vector (fresh round id per call)."""
    codec = client.codec
    n = len(venues)
    masked = _timed(lambda i: client.mask(first_round + i, venues, vector), repeats)
    plain = _timed(lambda _i: codec.encode(vector, n).tolist(), repeats)
    return masked, plain


def _bench_coordinator(
    venues: tuple[str, ...], words: list[list[int]], floats: list[list[float]], rounds: int
) -> tuple[list[float], list[float]]:
    """Samples of one secure round (N submissions + decode) vs summing N plain float lists."""
    codec = FixedPointCodec()
    m = len(words[0])

    def secure_round(i: int) -> object:
        rnd = AggregationRound(i, venues, m, deadline=1.0, codec=codec)
        outcome = None
        for venue, vector_words in zip(venues, words, strict=True):
            outcome = rnd.submit(venue, vector_words)
        return outcome

    def plain_round(_i: int) -> object:
        total = np.zeros(m)
        for vector_floats in floats:
            total += np.asarray(vector_floats, dtype=np.float64)
        return total.tolist()

    return _timed(secure_round, rounds), _timed(plain_round, rounds)


def main() -> dict[str, object]:
    rng = np.random.default_rng(1)  # benchmark inputs only
    metrics: dict[str, object] = {}
    agent_rows: list[list[object]] = []
    coord_rows: list[list[object]] = []
    setup_rows: list[list[object]] = []
    for n in SIZES:
        client, venues, setup_us = _client_with_peers(n)
        metrics[f"set_peers_n{n}_us"] = setup_us
        setup_rows.append([n, n - 1, setup_us, setup_us / (n - 1)])
        next_round = 0
        for m in LENGTHS:
            repeats = max(30, 3000 // n)
            masked, plain = _bench_agent(
                client, venues, rng.normal(0.0, 100.0, m).tolist(), next_round, repeats
            )
            next_round += repeats
            mask_p50, plain_p50 = percentile(masked, 50), percentile(plain, 50)
            metrics[f"mask_m{m}_n{n}_p50_us"] = mask_p50
            metrics[f"mask_m{m}_n{n}_p99_us"] = percentile(masked, 99)
            metrics[f"encode_m{m}_n{n}_p50_us"] = plain_p50
            metrics[f"mask_over_encode_m{m}_n{n}_ratio"] = mask_p50 / plain_p50
            agent_rows.append([m, n, mask_p50, percentile(masked, 99), plain_p50, mask_p50 / plain_p50])

            # what arrives: uniform words as python ints (a masked vector looks exactly like this)
            words = [np.frombuffer(os.urandom(8 * m), dtype="<u8").tolist() for _ in range(n)]
            floats = [rng.normal(0.0, 100.0, m).tolist() for _ in range(n)]
            secure, baseline = _bench_coordinator(venues, words, floats, max(10, 600 // n))
            sec_p50, base_p50 = percentile(secure, 50), percentile(baseline, 50)
            metrics[f"aggregate_round_m{m}_n{n}_p50_us"] = sec_p50
            metrics[f"aggregate_round_m{m}_n{n}_p99_us"] = percentile(secure, 99)
            metrics[f"aggregate_per_submission_m{m}_n{n}_p50_us"] = sec_p50 / n
            metrics[f"plain_float_sum_round_m{m}_n{n}_p50_us"] = base_p50
            metrics[f"aggregate_over_plain_m{m}_n{n}_ratio"] = sec_p50 / base_p50
            coord_rows.append(
                [m, n, sec_p50, percentile(secure, 99), sec_p50 / n, base_p50, sec_p50 / base_p50]
            )

    print_table(
        "agent: masking one contribution per round (us)",
        ["m", "N", "mask p50", "mask p99", "plain encode p50", "ratio"],
        agent_rows,
    )
    print_table(
        "coordinator: one aggregation round, N submissions + decode (us)",
        ["m", "N", "secagg p50", "secagg p99", "per submission", "plain float sum p50", "ratio"],
        coord_rows,
    )
    print_table(
        "agent: session setup, set_peers (X25519 + HKDF per peer, us)",
        ["N", "peers", "total", "per peer"],
        setup_rows,
    )
    write_results("secagg", metrics)
    return metrics


if __name__ == "__main__":
    main()
