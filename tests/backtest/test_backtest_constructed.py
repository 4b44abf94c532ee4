"""The backtest harness on hand-built books: known opportunities, depletion, accounting, determinism."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.backtest import (
    BacktestError,
    BacktestResult,
    Dislocations,
    FixedSizeBaseline,
    MarketFrame,
    Strategy,
    StrategyResult,
    VenueFrame,
    VenueSpec,
    run_backtest,
    venue_specs,
)
from arbsphere.federated import ArbSphereStrategy

FEE_BPS = 10.0
SPECS = (VenueSpec("a", FEE_BPS), VenueSpec("b", FEE_BPS))

# Venue a bids above venue b's asks by more than both 10 bps fees on the first levels.
A = VenueFrame(bids=((101.0, 2.0), (100.9, 3.0)), asks=((101.2, 5.0),))
B = VenueFrame(bids=((99.8, 5.0),), asks=((100.0, 1.0), (100.2, 2.0), (100.5, 10.0)))
# Walking both books: 1 @ (100.899 - 100.1) + 1 @ (100.899 - 100.3002) + 1 @ (100.7991 - 100.3002)
# + 2 @ (100.7991 - 100.6005), then venue a's bids are exhausted.
OPTIMUM = Decimal("2.2939")
# The fixed-size bot: min(size 5, top ask 1, top bid 2) = 1 unit at the tops.
BASELINE_FIRST = Decimal("0.799")


def frame(index: int, a: VenueFrame | None = A, b: VenueFrame | None = B) -> MarketFrame:
    return MarketFrame(index, 100 * index, {"a": a, "b": b})


def run(frames: list[MarketFrame], size: Decimal = Decimal(5)) -> BacktestResult:
    strategies: list[Strategy] = [ArbSphereStrategy(SPECS), FixedSizeBaseline(SPECS, size)]
    return run_backtest(frames, strategies, SPECS)


def check_books(result: StrategyResult) -> None:
    """Capital conservation, delta neutrality, and money that adds up fill by fill."""
    assert result.conservation_gap == 0
    assert result.exposure == 0
    cash = sum(
        (
            (f.price * f.size if f.side.value == "sell" else -f.price * f.size) - f.fee
            for f in result.fill_log
        ),
        Decimal(0),
    )
    assert result.profit_usd == cash
    assert result.fees_usd == sum(
        (f.price * f.size * Decimal(FEE_BPS) / 10_000 for f in result.fill_log), Decimal(0)
    )
    assert result.leg_outs == 0


def test_both_strategies_find_a_crossed_after_fees_opportunity() -> None:
    result = run([frame(0)])
    arb, base = result.strategies["arbsphere"], result.strategies["baseline"]
    assert base.profit_usd == BASELINE_FIRST
    assert (base.trades, base.fills, base.notional_usd) == (1, 2, Decimal("201.0"))
    assert arb.trades == 1
    assert arb.profit_usd >= base.profit_usd
    assert abs(arb.profit_usd - OPTIMUM) <= Decimal("0.001")
    tick = arb.ticks[0]
    assert tick.optimum_usd is not None and math.isclose(tick.optimum_usd, float(OPTIMUM), rel_tol=1e-9)
    assert math.isclose(tick.realised_usd, tick.planned_usd, abs_tol=1e-9)
    for strategy in (arb, base):
        check_books(strategy)


def test_no_trade_when_the_crossing_does_not_cover_fees() -> None:
    # a's bid is 5 bps above b's ask: crossed, but two 10 bps taker fees eat it.
    a = VenueFrame(bids=((100.05, 2.0),), asks=((100.3, 2.0),))
    b = VenueFrame(bids=((99.9, 2.0),), asks=((100.0, 2.0),))
    result = run([frame(0, a, b)])
    for strategy in result.strategies.values():
        assert strategy.trades == 0
        assert strategy.profit_usd == 0


def test_taken_liquidity_stays_gone_until_the_venue_reports_the_level() -> None:
    # The same books five ticks running with no level reported: ArbSphere takes everything at once; the
    # bot takes one top level per tick and, four ticks later, has exactly the same profit. Then venue a
    # reports its 101.0 level again and both find it.
    frames = [frame(i) for i in range(5)]
    refreshed = VenueFrame(bids=A.bids, asks=A.asks, changed_bids=frozenset({101.0}))
    frames.append(frame(5, refreshed))
    result = run(frames)
    arb, base = result.strategies["arbsphere"], result.strategies["baseline"]
    assert [t.plans > 0 for t in arb.ticks] == [True, False, False, False, False, True]
    assert [t.plans > 0 for t in base.ticks] == [True, True, True, True, False, True]
    before = sum((f.size for f in base.fill_log if f.tick < 5 and f.side.value == "buy"), Decimal(0))
    assert before == 5
    base_profit = sum(Decimal(repr(t.realised_usd)) for t in base.ticks[:5])
    assert abs(base_profit - OPTIMUM) < Decimal("1e-9")
    assert abs(Decimal(repr(sum(t.realised_usd for t in arb.ticks[:5]))) - OPTIMUM) <= Decimal("0.001")
    assert arb.fill_log[-1].tick == 5 and base.fill_log[-1].tick == 5
    for strategy in (arb, base):
        check_books(strategy)


def test_a_void_venue_is_not_traded() -> None:
    result = run([frame(0, b=None)])
    for strategy in result.strategies.values():
        assert strategy.trades == 0


def test_the_harness_is_deterministic() -> None:
    refreshed = VenueFrame(A.bids, A.asks, reset=True)
    frames = [frame(0), frame(1), frame(2, refreshed), frame(3, refreshed)]
    first, second = run(frames), run(frames)
    for name in ("arbsphere", "baseline"):
        one, two = first.strategies[name], second.strategies[name]
        assert one.fill_log == two.fill_log
        assert (one.profit_usd, one.trades, one.notional_usd) == (
            two.profit_usd,
            two.trades,
            two.notional_usd,
        )
        assert [(t.realised_usd, t.planned_usd, t.rounds) for t in one.ticks] == [
            (t.realised_usd, t.planned_usd, t.rounds) for t in two.ticks
        ]


def ladder(top: float, step: float, sizes: list[float], *, down: bool) -> tuple[tuple[float, float], ...]:
    return tuple((round(top - i * step if down else top + i * step, 4), size) for i, size in enumerate(sizes))


sizes = st.lists(st.floats(0.01, 20.0).map(lambda x: round(x, 4)), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shift_bps=st.floats(-150.0, 150.0),
    spread_a=st.floats(0.5, 20.0),
    spread_b=st.floats(0.5, 20.0),
    fee_a=st.sampled_from([0.0, 10.0, 26.0]),
    fee_b=st.sampled_from([0.0, 10.0, 50.0]),
    bids_a=sizes,
    asks_a=sizes,
    bids_b=sizes,
    asks_b=sizes,
    fixed=st.sampled_from([Decimal("0.5"), Decimal(2), Decimal(50)]),
)
def test_invariants_on_random_books(
    shift_bps: float,
    spread_a: float,
    spread_b: float,
    fee_a: float,
    fee_b: float,
    bids_a: list[float],
    asks_a: list[float],
    bids_b: list[float],
    asks_b: list[float],
    fixed: Decimal,
) -> None:
    mid_b = 100.0 * (1 + shift_bps / 1e4)
    a = VenueFrame(
        ladder(100.0 - spread_a / 1e4 * 50, 0.03, bids_a, down=True),
        ladder(100.0 + spread_a / 1e4 * 50, 0.03, asks_a, down=False),
    )
    b = VenueFrame(
        ladder(mid_b - spread_b / 1e4 * 50, 0.02, bids_b, down=True),
        ladder(mid_b + spread_b / 1e4 * 50, 0.02, asks_b, down=False),
    )
    specs = (VenueSpec("a", fee_a), VenueSpec("b", fee_b))
    result = run_backtest(
        [MarketFrame(0, 0, {"a": a, "b": b})],
        [ArbSphereStrategy(specs), FixedSizeBaseline(specs, fixed)],
        specs,
    )
    arb, base = result.strategies["arbsphere"], result.strategies["baseline"]
    for strategy in (arb, base):
        assert strategy.conservation_gap == 0
        assert strategy.exposure == 0
        assert strategy.leg_outs == 0
    optimum = arb.ticks[0].optimum_usd
    assert optimum is not None
    assert base.profit_usd >= 0
    # The bot's trade is one feasible plan: the federated optimum is at least as good, up to lots and
    # the session's certified gap tolerance.
    assert float(arb.profit_usd) >= float(base.profit_usd) - 1e-3 - 2e-4 * optimum
    assert float(arb.profit_usd) <= optimum + 1e-6


def test_inputs_are_validated_with_named_fields() -> None:
    with pytest.raises(BacktestError, match="crossed"):
        VenueFrame(bids=((100.0, 1.0),), asks=((99.0, 1.0),))
    with pytest.raises(BacktestError, match=r"bids\[0\].size"):
        VenueFrame(bids=((100.0, float("nan")),), asks=((101.0, 1.0),))
    with pytest.raises(BacktestError, match="strictly descending"):
        VenueFrame(bids=((100.0, 1.0), (100.0, 1.0)), asks=((101.0, 1.0),))
    with pytest.raises(BacktestError, match="both sides"):
        VenueFrame(bids=(), asks=((101.0, 1.0),))
    with pytest.raises(BacktestError, match="scale"):
        VenueFrame(bids=((100.0, 1.0),), asks=((101.0, 1.0),), scale=0.0)
    with pytest.raises(BacktestError, match="taker_fee_bps"):
        VenueSpec("a", -1.0)
    with pytest.raises(BacktestError, match="lot_size"):
        VenueSpec("a", 1.0, lot_size=Decimal("NaN"))
    with pytest.raises(BacktestError, match="no taker fee for venue 'nowhere'"):
        venue_specs(["kraken", "nowhere"])
    with pytest.raises(BacktestError, match="size"):
        FixedSizeBaseline(SPECS, Decimal(0))
    with pytest.raises(BacktestError, match="threshold_bps"):
        FixedSizeBaseline(SPECS, Decimal(1), threshold_bps=float("inf"))
    with pytest.raises(BacktestError, match="book_usage"):
        ArbSphereStrategy(SPECS, book_usage=1.5)
    with pytest.raises(BacktestError, match=r"Dislocations\.probability"):
        Dislocations(seed=1, probability=2.0)
    with pytest.raises(BacktestError, match=r"Dislocations\.seed"):
        Dislocations(seed=-1)
    with pytest.raises(BacktestError, match="unique names"):
        run_backtest([], [FixedSizeBaseline(SPECS, Decimal(1)), FixedSizeBaseline(SPECS, Decimal(2))], SPECS)
