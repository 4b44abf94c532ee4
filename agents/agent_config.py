"""A venue is configuration, not code: the validated TOML file an operator points ``agent run`` at.

One file per agent (``examples/*.toml``): which exchange and instruments, where market data comes from
(``source``: the venue's live websocket, or the seeded simulator the demo uses), how orders go out
(``mode``: paper by default; live needs the explicit ``--live`` flag and credentials), endpoints
(overridable: tests point agents at loopback fakes), trading rules (defaults from CCXT market metadata),
caps and risk settings. Every error names the key, e.g. ``instruments.0.lot_size: must be > 0``.

Credentials are read from environment variables named in the file, or from a file readable by its owner
only (mode 0600); they are never logged, echoed or kept in the parsed config's repr.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from agents.solana.settings import POOL_EXCHANGES, SolanaSettings, check_pool_venue
from registry.events.logs import register_secret

VENUE_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SYMBOL = r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}(-PERP)?$"
"""``BASE-QUOTE``, or ``BASE-QUOTE-PERP`` for a perpetual (cryptofeed's name)."""
Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class ConfigError(ValueError):
    """The venue config is unreadable or invalid; the message names every offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Instrument(_Strict):
    """One asset the venue trades, and the instrument it trades it with."""

    asset: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}$")]
    symbol: Annotated[str, Field(pattern=SYMBOL)]
    """Normalized ``BASE-QUOTE`` (``BTC-USD``); the venue's own spelling is derived."""
    lot_size: Positive | None = None
    tick_size: Positive | None = None
    min_notional: NonNegative | None = None
    taker_fee_bps: Annotated[Decimal, Field(ge=0, le=1000, allow_inf_nan=False)] | None = None
    """None: from CCXT market metadata."""
    max_buy: NonNegative | None = None
    max_sell: NonNegative | None = None
    """Caps on one plan's trade of this asset, in asset units (None: only the notional and inventory caps)."""
    market: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")] | None = None
    """Prediction venues: the venue's market id (Kalshi ticker, Polymarket CLOB token id)."""
    outcome: Literal["yes", "no"] = "yes"
    """Prediction venues: which outcome of ``market`` the asset is (a Polymarket token is its own YES)."""
    fee_rate: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] | None = None
    """Prediction venues: the fee coefficient (None: Kalshi's 0.07 taker rate, Polymarket's 0)."""

    @model_validator(mode="after")
    def _asset_is_base(self) -> Instrument:
        if self.symbol.split("-")[0] != self.asset:
            raise ValueError(f"symbol {self.symbol!r} must trade asset {self.asset!r} as its base")
        return self


class Endpoints(_Strict):
    rest: Annotated[str, Field(pattern=r"^https?://[^\s]+$")] | None = None
    ws: Annotated[str, Field(pattern=r"^wss?://[^\s]+$")] | None = None


class Credentials(_Strict):
    """Where the API secrets are: environment variables, or a JSON file of mode 0600."""

    api_key_env: str | None = None
    secret_env: str | None = None
    password_env: str | None = None
    file: Path | None = None
    """JSON object with ``apiKey``, ``secret`` and optionally ``password``."""


class Coordinator(_Strict):
    target: Annotated[str, Field(pattern=r"^[^\s:]+:\d{1,5}$")] | None = None
    cert_dir: Path | None = None
    server_name: str = "localhost"
    credential_file: Path | None = None
    ca_url: Annotated[str, Field(pattern=r"^(grpcs://)?[^\s:/]+:\d{1,5}$")] | None = None
    """The region's CA service (``arbsphere pki serve``): the agent renews its certificate from it at two
    thirds of its ttl and writes it back to ``cert_dir``; None: ``cert_dir`` is re-read."""


class Perp(_Strict):
    """Perpetual venues: the margin that bounds the cumulative position (``margin * max_leverage / mark``
    base units, across sessions) and the funding horizon a plan is priced over."""

    margin: Positive
    """Collateral for each instrument's position, in quote."""
    max_leverage: Annotated[float, Field(gt=0, le=200, allow_inf_nan=False)] = 1.0
    horizon_hours: Annotated[float, Field(ge=0, le=24 * 31, allow_inf_nan=False)] = 8.0


class Caps(_Strict):
    book_usage: Annotated[float, Field(gt=0, le=1)] = 0.3
    """Share of each displayed level a plan may take."""
    daily_notional: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1e6
    max_trades_per_minute: Annotated[int, Field(gt=0, le=100_000)] = 100
    inventory_limits: bool = True
    """Plan sells within the assets held and buys within the quote cash."""


class Risk(_Strict):
    daily_loss_cap: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1e4
    prediction_error_pct: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 50.0
    stale_after_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    """A book without a message for this long pauses trading on it (resumes when fresh)."""
    observe_only: bool = False


class Gateway(_Strict):
    """The operator's HTTPS gateway (``agents.gateway``): off unless ``port`` is set (0: a free port)."""

    port: Annotated[int, Field(ge=0, le=65_535)] | None = None
    host: str = "127.0.0.1"
    secret_file: Path | None = None
    """HS256 signing key of the gateway's tokens (created 0600 if absent); required to serve."""
    cert_dir: Path | None = None
    """Server certificate bundle (key.pem, cert.pem, ca.pem); default: ``coordinator.cert_dir``. Clients
    verify it against the region CA, so the certificate needs a server name (a DNS or IP SAN)."""
    control_rate: Annotated[float, Field(gt=0, le=1000)] = 5.0
    """Control actions per second per actor (token bucket), after a burst of ``control_burst``."""
    control_burst: Annotated[int, Field(ge=1, le=1000)] = 10

    @model_validator(mode="after")
    def _secret_to_serve(self) -> Gateway:
        if self.port is not None and self.secret_file is None:
            raise ValueError("secret_file: required to serve the gateway (port is set)")
        return self


class Privacy(_Strict):
    """Differential privacy of the agent's answers (off unless ``epsilon_per_session`` is set): every
    answer is a release under a zCDP accountant (``agents.private_release``), refused once the window's
    budget is spent (the agent then sits sessions out until the window rolls over)."""

    epsilon_per_session: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None
    delta: Annotated[float, Field(gt=0, lt=0.5, allow_inf_nan=False)] = 1e-6
    window_epsilon: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] | None = None
    """Budget per window (default: 24 sessions' worth)."""
    window_s: Annotated[int, Field(ge=60, le=31 * 86_400)] = 86_400

    @model_validator(mode="after")
    def _window_holds_a_session(self) -> Privacy:
        eps, window = self.epsilon_per_session, self.window_epsilon
        if eps is not None and window is not None and window < eps:
            raise ValueError("window_epsilon: must be at least epsilon_per_session")
        return self


class Windows(_Strict):
    """Opportunity windows (``agents.windows``): a window opens at a session whose predicted profit on
    this venue is above ``min_pnl`` (quote units) and closes ``grace_s`` seconds after its last one."""

    min_pnl: NonNegative = Decimal(0)
    grace_s: Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)] = 10.0
    """Long enough to span a few quiet sessions (the coordinator's default interval is 0.5 s)."""

    @property
    def grace_ms(self) -> int:
        return max(1, round(self.grace_s * 1000))


class Simulator(_Strict):
    """The seeded synthetic region (``source = "simulator"``): the demo's market."""

    plays: Annotated[str, Field(pattern=VENUE_ID)] | None = None
    """The scenario venue this agent plays (``order_book-0000``...); default: the agent's own venue id."""
    venues: Annotated[int, Field(ge=2, le=500)] = 2
    seed: int = 7
    kinds: str = "order_book,cpmm,clmm,perp"
    tick_bps: Annotated[float, Field(ge=0, le=1000)] = 0.0
    book_feed: Literal["scenario", "simulator"] = "scenario"
    paper_latency_ms: Annotated[int, Field(ge=0, le=60_000)] = 0


class AgentConfig(_Strict):
    """One agent: a venue id (the certificate's SPIFFE name), its exchange and everything it needs."""

    venue: Annotated[str, Field(pattern=VENUE_ID)]
    exchange: str = "simulator"
    """A module of ``agents.venues`` (``coinbase``, ``gemini``, ``kraken``, ``bitstamp``, ``binance``; the
    prediction venues ``kalshi``, ``polymarket``), or ``simulator`` for the seeded synthetic market."""
    source: Literal["live", "simulator"] = "live"
    mode: Literal["paper", "live"] = "paper"
    instruments: tuple[Instrument, ...] = ()
    endpoints: Endpoints = Endpoints()
    credentials: Credentials = Credentials()
    coordinator: Coordinator = Coordinator()
    caps: Caps = Caps()
    perp: Perp | None = None
    """Required on a perpetual venue (``binance_futures``, ``bybit``, ``hyperliquid``)."""
    solana: SolanaSettings | None = None
    """Required on a Solana pool venue (``orca-whirlpool``, ``raydium-cpmm``): ``agents.solana.settings``."""
    risk: Risk = Risk()
    simulator: Simulator = Simulator()
    gateway: Gateway = Gateway()
    privacy: Privacy = Privacy()
    windows: Windows = Windows()
    sessions: Annotated[int, Field(ge=0)] = 1
    """Sessions to serve, then exit (0: until stopped)."""
    latency_budget_ms: Annotated[int, Field(ge=1, le=600_000)] = 5000
    resolution_wait_s: Annotated[float, Field(ge=0, le=86_400 * 366, allow_inf_nan=False)] = 0.0
    """Prediction venues: after the last session, hold the positions until their markets resolve (at most
    this long) and settle them at 1/0 per outcome (0: exit at once)."""
    state_dir: Path | None = None
    events: Annotated[str, Field(min_length=1)] | None = None
    """Event log: ``nats://host:port[/stream-scope]`` (JetStream), a file path (embedded), or ``none``;
    default: ``events.jsonl`` in ``state_dir`` (``--events`` overrides it)."""
    paper_balances: dict[Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}$")], NonNegative] = Field(
        default_factory=dict
    )
    """Paper mode on a real venue's feed: the simulated account's starting balances (asset -> amount)."""
    quote: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}$")] | None = None
    """Quote asset of the region (default: the instruments' quote)."""

    @field_validator("exchange")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        from agents.venues import names
        from agents.venues.prediction import PREDICTION_NAMES

        known = (*names(), *PREDICTION_NAMES, *POOL_EXCHANGES)
        if value != "simulator" and value not in known:
            raise ValueError(f"must be 'simulator' or one of {list(known)}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AgentConfig:
        if self.exchange == "simulator":
            if self.source != "simulator":
                raise ValueError("exchange 'simulator' needs source = 'simulator'")
            if self.mode == "live":
                raise ValueError("mode 'live' needs a real exchange, not 'simulator'")
            return self
        if self.source == "simulator":
            raise ValueError(f"source 'simulator' needs exchange = 'simulator', got {self.exchange!r}")
        if not self.instruments:
            raise ValueError("instruments: a venue needs at least one instrument")
        assets = [i.asset for i in self.instruments]
        if len(set(assets)) != len(assets):
            raise ValueError(f"instruments: each asset at most once, got {assets}")
        from agents.venues.prediction import PREDICTION_NAMES

        if self.exchange in PREDICTION_NAMES:
            for n, instrument in enumerate(self.instruments):
                if instrument.market is None:
                    raise ValueError(
                        f"instruments.{n}.market: a {self.exchange} instrument needs its market id"
                    )
        if self.exchange in POOL_EXCHANGES:
            check_pool_venue(self.exchange, self.mode, self.solana, self.instruments)
            return self
        from agents.venues import venue_spec

        swap = self.exchange not in PREDICTION_NAMES and venue_spec(self.exchange).swap
        for n, instrument in enumerate(self.instruments):
            if swap != instrument.symbol.endswith("-PERP"):
                kind = (
                    "a perpetual venue trades BASE-QUOTE-PERP" if swap else "a spot venue trades BASE-QUOTE"
                )
                raise ValueError(f"instruments.{n}.symbol: {kind}, got {instrument.symbol!r}")
        if swap and self.perp is None:
            raise ValueError(
                f"perp: {self.exchange} is a perpetual venue: set [perp] margin (and max_leverage)"
            )
        quotes = {i.symbol.split("-")[1] for i in self.instruments}
        if len(quotes) != 1:
            raise ValueError(f"instruments: one quote asset per venue, got {sorted(quotes)}")
        return self

    @property
    def quote_asset(self) -> str:
        if self.quote is not None:
            return self.quote
        if self.instruments:
            return self.instruments[0].symbol.split("-")[1]
        return "USD"


class ApiSecrets:
    """API credentials; ``repr`` and ``str`` never show them."""

    __slots__ = ("api_key", "password", "secret")

    def __init__(self, api_key: str, secret: str, password: str | None = None) -> None:
        self.api_key = SecretStr(api_key)
        self.secret = SecretStr(secret)
        self.password = SecretStr(password) if password is not None else None
        for value in (api_key, secret, password):
            register_secret(value)  # whatever a library puts in a log line, these never show

    def __repr__(self) -> str:
        return "ApiSecrets(***)"

    def ccxt(self) -> dict[str, str]:
        out = {"apiKey": self.api_key.get_secret_value(), "secret": self.secret.get_secret_value()}
        if self.password is not None:
            out["password"] = self.password.get_secret_value()
        return out


def _error_text(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def parse_config(data: dict[str, object], *, origin: str = "config") -> AgentConfig:
    """Validate an already-loaded mapping (the CLI's overrides merged in)."""
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_error_text(exc)}") from None


def merge(data: dict[str, object], overrides: Mapping[str, object]) -> dict[str, object]:
    """``data`` with ``overrides`` laid over it: tables merge key by key, ``None`` values are ignored."""
    out = dict(data)
    for key, value in overrides.items():
        if value is None:
            continue
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            out[key] = merge(current, value)
        elif isinstance(value, Mapping):
            out[key] = {k: v for k, v in value.items() if v is not None}
        else:
            out[key] = value
    return out


def load_config(path: Path, overrides: Mapping[str, object] | None = None) -> AgentConfig:
    """Read and validate a venue config, with command-line ``overrides`` laid over it; relative paths in
    it are relative to the file's folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    config = parse_config(merge(data, overrides or {}), origin=str(path))
    return _resolve_paths(config, path.parent)


def _resolve_paths(config: AgentConfig, base: Path) -> AgentConfig:
    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    coordinator = config.coordinator.model_copy(
        update={
            "cert_dir": fix(config.coordinator.cert_dir),
            "credential_file": fix(config.coordinator.credential_file),
        }
    )
    credentials = config.credentials.model_copy(update={"file": fix(config.credentials.file)})
    gateway = config.gateway.model_copy(
        update={"secret_file": fix(config.gateway.secret_file), "cert_dir": fix(config.gateway.cert_dir)}
    )
    return config.model_copy(
        update={
            "coordinator": coordinator,
            "credentials": credentials,
            "gateway": gateway,
            "state_dir": fix(config.state_dir),
        }
    )


def read_secrets(credentials: Credentials, environ: dict[str, str] | None = None) -> ApiSecrets:
    """The API secrets the config points at; errors name the key and never show a value."""
    env = dict(os.environ) if environ is None else environ
    if credentials.file is not None:
        path = credentials.file
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise ConfigError(f"credentials.file: {path} does not exist") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"credentials.file: {path} must be readable by its owner only (chmod 600), "
                f"got mode {stat.S_IMODE(mode):o}"
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"credentials.file: {path} is not a JSON object ({type(exc).__name__})"
            ) from None
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("apiKey"), str)
            or not isinstance(raw.get("secret"), str)
        ):
            raise ConfigError(f"credentials.file: {path} needs string fields 'apiKey' and 'secret'")
        password = raw.get("password")
        return ApiSecrets(raw["apiKey"], raw["secret"], password if isinstance(password, str) else None)
    values: dict[str, str | None] = {}
    for key in ("api_key_env", "secret_env", "password_env"):
        name = getattr(credentials, key)
        if name is None:
            values[key] = None
            continue
        value = env.get(name)
        if not value:
            raise ConfigError(f"credentials.{key}: environment variable {name} is not set")
        values[key] = value
    if values["api_key_env"] is None or values["secret_env"] is None:
        raise ConfigError("credentials: live mode needs api_key_env and secret_env, or file")
    return ApiSecrets(str(values["api_key_env"]), str(values["secret_env"]), values["password_env"])
