"""Prediction venues are configuration: examples/kalshi.toml and examples/polymarket.toml validate, and a
prediction instrument without its market id is refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.agent_config import ConfigError, load_config, parse_config
from agents.venues.prediction import instrument_rules, prediction_spec
from sdk.curves.prediction import KalshiFees, PolymarketFees

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("name", "fees"), [("kalshi", KalshiFees), ("polymarket", PolymarketFees)])
def test_examples_validate_with_the_venue_fee_model(name: str, fees: type) -> None:
    config = load_config(ROOT / "examples" / f"{name}.toml")
    spec = prediction_spec(config.exchange)
    assert {i.asset for i in config.instruments} == {"VANCEY", "VANCEN"}
    assert all(isinstance(spec.fees(i.fee_rate), fees) for i in config.instruments)
    assert set(instrument_rules(config, spec)) == {"VANCEY", "VANCEN"}


def test_prediction_instrument_needs_its_market_id() -> None:
    data: dict[str, object] = {
        "venue": "kalshi-a",
        "exchange": "kalshi",
        "instruments": [{"asset": "VANCEY", "symbol": "VANCEY-USD"}],
    }
    with pytest.raises(ConfigError, match=r"instruments\.0\.market"):
        parse_config(data)
    with pytest.raises(ValueError, match="exchange must be one of"):
        prediction_spec("predictit")
