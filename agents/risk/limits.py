"""Risk limits: one validated, immutable configuration object."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sdk.adapters.execution import ExecutionInputError, parse_decimal


class RiskConfigError(ExecutionInputError):
    """A risk limit is missing, negative, NaN or otherwise unusable."""


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Thresholds of every gate. Money in quote units (Decimal); times in ms.

    ``prediction_error_pct`` is E in "|realised - predicted| > E% of |predicted|"; ``anomaly_sigma`` is k in
    "a price jump larger than k standard deviations of the returns seen in ``anomaly_window_ms``".
    """

    daily_notional_cap: Decimal = Decimal(1_000_000)
    daily_loss_cap: Decimal = Decimal(10_000)
    max_trades: int = 100
    trades_window_ms: int = 60_000
    book_usage_cap: Decimal = Decimal("0.5")
    prediction_error_pct: Decimal = Decimal(50)
    prediction_error_count: int = 3
    prediction_error_window_ms: int = 600_000
    prediction_error_floor: Decimal = Decimal("0.01")
    stale_after_ms: int = 10_000
    anomaly_sigma: float = 6.0
    anomaly_window_ms: int = 60_000
    anomaly_min_samples: int = 20
    anomaly_cooldown_ms: int = 30_000
    min_margin_ratio: Decimal = Decimal("0.1")
    all_or_nothing: bool = True  # refuse the whole plan when any leg is refused (keeps the plan balanced)

    def __post_init__(self) -> None:
        for name in ("daily_notional_cap", "daily_loss_cap", "prediction_error_pct", "min_margin_ratio"):
            try:
                parse_decimal(name, getattr(self, name), non_negative=True)
            except ExecutionInputError as exc:
                raise RiskConfigError(str(exc)) from None
        for name in ("book_usage_cap", "prediction_error_floor"):
            try:
                parse_decimal(name, getattr(self, name), positive=True)
            except ExecutionInputError as exc:
                raise RiskConfigError(str(exc)) from None
        if self.book_usage_cap > 1:
            raise RiskConfigError(f"book_usage_cap must be in (0, 1], got {self.book_usage_cap}")
        for name in (
            "max_trades",
            "trades_window_ms",
            "prediction_error_count",
            "prediction_error_window_ms",
            "stale_after_ms",
            "anomaly_window_ms",
            "anomaly_min_samples",
            "anomaly_cooldown_ms",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise RiskConfigError(f"{name} must be a positive integer, got {value!r}")
        sigma = self.anomaly_sigma
        if isinstance(sigma, bool) or not isinstance(sigma, float | int) or not (0 < sigma < float("inf")):
            raise RiskConfigError(f"anomaly_sigma must be a finite number > 0, got {sigma!r}")
