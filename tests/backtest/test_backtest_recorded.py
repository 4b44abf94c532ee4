"""The harness on the shared recordings: alignment, normalisation, determinism and conservation."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest

from agents.backtest import (
    DEFAULT_REPLAY,
    BacktestError,
    Dislocations,
    FixedSizeBaseline,
    RecordedMarket,
    ReplayVenue,
    run_backtest,
    venue_specs,
)
from arbsphere.federated import ArbSphereStrategy

TWO = (ReplayVenue("binance", "NKN-USDT"), ReplayVenue("kraken", "XMR-USD"))


def recordings(shared_data: Path) -> Path:
    return shared_data / "recordings" / "cryptofeed"


def test_frames_align_relative_time_and_keep_usd_notional(shared_data: Path) -> None:
    market = RecordedMarket(recordings(shared_data), DEFAULT_REPLAY, dislocations=None)
    frames = list(market.frames())
    window = market.window
    assert window is not None
    spans = window.recorded_utc
    # The recordings were made on different days: alignment is on each one's own relative time.
    assert max(first for first, _ in spans.values()) - min(first for first, _ in spans.values()) > 86_400
    shortest = min(last - first for first, last in spans.values())
    assert 0 < window.start_ms < window.end_ms <= shortest * 1000
    assert len(frames) == (window.end_ms - window.start_ms) // market.tick_ms + 1
    assert [f.time_ms for f in frames[:2]] == [window.start_ms, window.start_ms + 100]
    for f in frames:
        assert set(f.venues) == {v.venue for v in DEFAULT_REPLAY}
        for venue_frame in f.venues.values():
            assert venue_frame is not None
            # anchor="tick" without dislocations: every venue is centred on the reference price.
            mid = 0.5 * (venue_frame.bids[0][0] + venue_frame.asks[0][0]) * venue_frame.scale
            assert math.isclose(mid, market.reference_price, rel_tol=1e-12)
    changed = sum(len(v.changed_bids) + len(v.changed_asks) for f in frames for v in f.venues.values() if v)
    assert changed > 100  # the replay moves the books between frames


def test_dislocations_come_from_the_seeded_simulator(shared_data: Path) -> None:
    def offsets(seed: int) -> list[float]:
        market = RecordedMarket(recordings(shared_data), TWO, dislocations=Dislocations(seed, bps=80.0))
        out = []
        for f in market.frames():
            for v in f.venues.values():
                assert v is not None
                out.append(0.5 * (v.bids[0][0] + v.asks[0][0]) * v.scale / market.reference_price - 1)
        assert market.model is not None and market.model.injected > 0
        return out

    first = offsets(3)
    assert first == offsets(3)
    assert first != offsets(4)
    assert max(abs(x) for x in first) > 0.0070  # an 80 bps mispricing plus noise


def test_recorded_backtest_is_deterministic_and_conserves_capital(shared_data: Path) -> None:
    def once() -> dict[str, tuple[object, ...]]:
        market = RecordedMarket(recordings(shared_data), TWO, dislocations=Dislocations(0), max_frames=60)
        specs = venue_specs(v.venue for v in TWO)
        result = run_backtest(
            market.frames(), [ArbSphereStrategy(specs), FixedSizeBaseline(specs, Decimal(10))], specs
        )
        assert result.frames == 60
        out: dict[str, tuple[object, ...]] = {}
        for name, r in result.strategies.items():
            assert r.conservation_gap == 0
            assert r.exposure == 0
            out[name] = (r.profit_usd, r.trades, r.notional_usd, r.fees_usd, r.fill_log)
        return out

    first = once()
    assert first == once()
    assert first["arbsphere"][1] and first["baseline"][1]  # both traded


def test_unknown_symbol_and_too_few_venues_are_refused(shared_data: Path) -> None:
    with pytest.raises(BacktestError, match="no 'BTC-USD'"):
        RecordedMarket(recordings(shared_data), (ReplayVenue("kraken", "BTC-USD"), TWO[0]))
    with pytest.raises(BacktestError, match="at least two"):
        RecordedMarket(recordings(shared_data), TWO[:1])
    with pytest.raises(BacktestError, match="tick_ms"):
        RecordedMarket(recordings(shared_data), TWO, tick_ms=0)
