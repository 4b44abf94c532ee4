"""Exits of an open funding-arbitrage pair, each producing the unwind that closes it.

An open pair is long ``size`` on one venue's perpetual and short ``size`` on another's. It is closed when:

- **stop loss**: its PnL so far (funding booked plus the pair's mark-to-market) fell to ``-stop_loss`` of its
  notional;
- **spread widening**: the price spread between the legs moved against the pair by more than
  ``spread_widening`` of the entry price since entry (the basis the pair is exposed to);
- **profit target**: its PnL reached ``profit_fraction`` (90%) of the profit projected at entry;
- **funding convergence**: the funding delta fell below ``converge_8h`` (0.005% per 8 h): nothing left to
  earn.

Checked in that order (losses first). The unwind is the trade per venue that brings each leg flat; the agent's
runtime brings it into the next session as a fixed target (``AgentRuntime.request_unwind``), so the
federation trades it as a plan like any other, and the reason is recorded.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from agents.perps.funding import FundingInputError

ZERO = Decimal(0)


class ExitReason(enum.StrEnum):
    STOP_LOSS = "stop_loss"
    SPREAD_WIDENING = "spread_widening"
    PROFIT_TARGET = "profit_target"
    FUNDING_CONVERGENCE = "funding_convergence"


@dataclass(frozen=True, slots=True)
class OpenPair:
    asset: str
    long_venue: str
    short_venue: str
    size: Decimal
    entry_price: Decimal
    """Mid price at entry (notional = size * entry_price)."""
    entry_spread: Decimal
    """Short leg's price minus long leg's at entry."""
    projected_profit: Decimal
    """Quote the pair was expected to earn when entered (funding over the horizon, net of costs)."""

    def __post_init__(self) -> None:
        if not self.size.is_finite() or self.size <= 0:
            raise FundingInputError(f"size: must be > 0, got {self.size}")
        if not self.entry_price.is_finite() or self.entry_price <= 0:
            raise FundingInputError(f"entry_price: must be > 0, got {self.entry_price}")

    @property
    def notional(self) -> Decimal:
        return self.size * self.entry_price


@dataclass(frozen=True, slots=True)
class PairState:
    """What the pair looks like now."""

    delta_8h: Decimal
    """Short venue's funding rate minus long venue's, per 8 h."""
    spread: Decimal
    """Short leg's price minus long leg's now."""
    funding_pnl: Decimal
    """Funding booked on both legs since entry."""


@dataclass(frozen=True, slots=True)
class ExitPolicy:
    converge_8h: Decimal = Decimal("0.00005")
    profit_fraction: Decimal = Decimal("0.9")
    spread_widening: Decimal = Decimal("0.005")
    """Adverse spread move, as a fraction of the entry price."""
    stop_loss: Decimal = Decimal("0.01")
    """Loss, as a fraction of notional."""


@dataclass(frozen=True, slots=True)
class Unwind:
    reason: ExitReason
    trades: Mapping[str, Decimal]
    """Signed trade per venue that flattens its leg (the long venue sells, the short venue buys)."""
    detail: str


def pnl(pair: OpenPair, state: PairState) -> Decimal:
    """Funding booked plus the legs' mark-to-market: short gains when the spread narrows."""
    return state.funding_pnl + (pair.entry_spread - state.spread) * pair.size


def check_exit(pair: OpenPair, state: PairState, policy: ExitPolicy = ExitPolicy()) -> Unwind | None:
    """The exit the pair takes now, or ``None`` to hold it."""
    trades = {pair.long_venue: -pair.size, pair.short_venue: pair.size}
    value = pnl(pair, state)
    if value <= -policy.stop_loss * pair.notional:
        return Unwind(ExitReason.STOP_LOSS, trades, f"pnl {value} <= -{policy.stop_loss} x {pair.notional}")
    widened = state.spread - pair.entry_spread
    if widened > policy.spread_widening * pair.entry_price:
        detail = f"spread {state.spread} widened {widened} > {policy.spread_widening} x {pair.entry_price}"
        return Unwind(ExitReason.SPREAD_WIDENING, trades, detail)
    if pair.projected_profit > 0 and value >= policy.profit_fraction * pair.projected_profit:
        detail = f"pnl {value} >= {policy.profit_fraction} x projected {pair.projected_profit}"
        return Unwind(ExitReason.PROFIT_TARGET, trades, detail)
    if state.delta_8h < policy.converge_8h:
        detail = f"funding delta {state.delta_8h} per 8h < {policy.converge_8h}"
        return Unwind(ExitReason.FUNDING_CONVERGENCE, trades, detail)
    return None
