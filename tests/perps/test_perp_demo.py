"""The perp demo case (``arbsphere demo --case perp``): entry, funding events, exit on convergence, flat."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rich.console import Console

from agents.perps.funding import funding_amount
from arbsphere.perp_demo import HIGH, HOURS, LOW, MARK, PerpDemo, high_rate_h, run_perp_demo


def test_demo_enters_accrues_funding_and_exits_on_convergence(tmp_path: Path) -> None:
    demo = PerpDemo(tmp_path)
    try:
        steps = [demo.step(hour) for hour in range(HOURS)]
    finally:
        demo.close()
    entry = next(s for s in steps if s.action.startswith("enter"))
    exit_ = next(s for s in steps if s.action.startswith("exit"))
    assert exit_.action == "exit: funding_convergence" and exit_.hour > entry.hour
    held = [s for s in steps if entry.hour <= s.hour < exit_.hour]
    # a pair: short where funding is high, long where it is low, equal sizes, held unchanged
    assert all(s.high_position < 0 and s.high_position == -s.low_position for s in held)
    # funding: mark * size * rate summed over the events the pair was open through (shorts receive)
    size = -entry.high_position
    expected = Decimal(0)
    for hour in range(entry.hour + 1, exit_.hour + 1):
        expected += funding_amount(-size, Decimal(repr(MARK)), Decimal(repr(high_rate_h(hour))))
        expected += funding_amount(size, Decimal(repr(MARK)), Decimal(repr(0.0000125)))
    assert exit_.funding == expected > 0
    assert steps[-1].high_position == 0 and steps[-1].low_position == 0
    assert HIGH != LOW


def test_demo_command_output(capsys) -> None:
    assert run_perp_demo(Console(width=140, force_terminal=False)) == 0
    out = capsys.readouterr().out
    assert "enter (score" in out and "exit: funding_convergence" in out and "perp case OK" in out
