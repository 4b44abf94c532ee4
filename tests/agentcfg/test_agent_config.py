"""The venue config at the boundary: every error names the key, secrets never show, live needs --live."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.agent_config import AgentConfig, ConfigError, load_config, parse_config, read_secrets
from agents.service import AgentService
from tests.conftest import ROOT

BASE: dict[str, object] = {
    "venue": "cb-main",
    "exchange": "coinbase",
    "instruments": [{"asset": "BTC", "symbol": "BTC-USD"}],
    "coordinator": {"target": "127.0.0.1:7443", "cert_dir": "/tmp/none"},
}


def with_(**changes: object) -> dict[str, object]:
    return {**BASE, **changes}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (with_(venue="Bad Venue"), "venue"),
        (with_(exchange="nasdaq"), "exchange"),
        (
            with_(instruments=[{"asset": "BTC", "symbol": "BTC-USD", "lot_size": "-1"}]),
            "instruments.0.lot_size",
        ),
        (with_(instruments=[{"asset": "BTC", "symbol": "btc/usd"}]), "instruments.0.symbol"),
        (with_(instruments=[{"asset": "ETH", "symbol": "BTC-USD"}]), "instruments.0"),
        (with_(instruments=[]), "instruments"),
        (with_(caps={"book_usage": 1.5}), "caps.book_usage"),
        (with_(risk={"stale_after_s": 0}), "risk.stale_after_s"),
        (with_(mode="yolo"), "mode"),
        (with_(surprise=1), "surprise"),
        (with_(coordinator={"target": "no port"}), "coordinator.target"),
    ],
)
def test_every_error_names_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert key in str(caught.value), str(caught.value)


def test_shipped_examples_are_valid(tmp_path: Path) -> None:
    for path in sorted((ROOT / "examples").glob("*.toml")):
        config = load_config(path)
        assert config.exchange == path.stem and config.mode == "paper"


def test_toml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("venue = [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_secrets_come_from_the_environment_and_never_show() -> None:
    config = parse_config(with_(credentials={"api_key_env": "K_ENV", "secret_env": "S_ENV"}))
    secrets = read_secrets(config.credentials, {"K_ENV": "key-123", "S_ENV": "shh-456"})
    assert secrets.ccxt() == {"apiKey": "key-123", "secret": "shh-456"}
    assert "shh-456" not in repr(secrets) and "shh-456" not in str(secrets)
    assert "shh-456" not in config.model_dump_json()
    with pytest.raises(ConfigError, match=r"credentials\.secret_env: environment variable S_ENV is not set"):
        read_secrets(config.credentials, {"K_ENV": "key-123"})


def test_a_credentials_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"apiKey": "k", "secret": "s"}))
    os.chmod(path, 0o644)
    config = parse_config(with_(credentials={"file": str(path)}))
    with pytest.raises(ConfigError, match="chmod 600"):
        read_secrets(config.credentials, {})
    os.chmod(path, 0o600)
    assert read_secrets(config.credentials, {}).ccxt() == {"apiKey": "k", "secret": "s"}


def test_live_mode_needs_the_explicit_flag() -> None:
    config = parse_config(with_(mode="live"))
    with pytest.raises(ConfigError, match="--live"):
        AgentService(config, live_allowed=False)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["venue", "exchange", "source", "mode", "instruments", "caps", "risk", "sessions"]),
        st.one_of(
            st.none(), st.integers(), st.floats(), st.text(max_size=20), st.lists(st.integers(), max_size=3)
        ),
    )
)
def test_any_input_is_a_config_or_a_config_error(data: dict[str, object]) -> None:
    with contextlib.suppress(ConfigError):
        assert isinstance(parse_config({**BASE, **data}), AgentConfig)
