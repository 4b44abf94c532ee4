"""The ``[solana]`` table of a pool venue's config (``exchange = "orca-whirlpool"`` or ``"raydium-cpmm"``).

Validated with pydantic like the rest of :mod:`agents.agent_config`: an error names the key
(``solana.slippage_bps: ...``). Pure: no transport here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from solders.pubkey import Pubkey

PoolKind = Literal["whirlpool", "raydium_cpmm"]
POOL_EXCHANGES: dict[str, PoolKind] = {"orca-whirlpool": "whirlpool", "raydium-cpmm": "raydium_cpmm"}
"""The pool venues an agent config may name as ``exchange``, and the pool kind each trades on."""
LIVE_REFUSED = "live transaction building is out of scope until a signer design exists; use mode = 'paper'"

HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s]+$")]
WsUrl = Annotated[str, Field(pattern=r"^wss?://[^\s]+$")]


class SolanaSettings(BaseModel):
    """Where the pool's chain state comes from and how it is traded on paper."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpc_url: HttpUrl
    """JSON-RPC over HTTP (``getMultipleAccounts``, ``getRecentPrioritizationFees``)."""
    ws_url: WsUrl
    """The RPC's websocket API (``accountSubscribe``)."""
    pool: str
    """The pool account (base58): a Whirlpool, or a Raydium CPMM pool state. Its token A / token 0 is the
    instrument's base asset."""
    pool_kind: PoolKind | None = None
    """Default: the exchange's (``orca-whirlpool``: whirlpool, ``raydium-cpmm``: raydium_cpmm)."""
    base_decimals: Annotated[int, Field(ge=0, le=18)] | None = None
    quote_decimals: Annotated[int, Field(ge=0, le=18)] | None = None
    """Mint decimals of the base (token A) and quote (token B): required for a Whirlpool (its account does not
    carry them); a CPMM pool's account does."""
    slippage_bps: Annotated[int, Field(ge=0, le=10_000)] = 50
    """A paper fill is refused when the fill-time pool pays less (takes more) than the planned quote by more
    than this."""
    priority_fee_percentile: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 75.0
    """Percentile of ``getRecentPrioritizationFees`` taken as the priority fee price."""
    compute_units: Annotated[int, Field(gt=0, le=1_400_000)] = 200_000
    sol_price: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """Quote per SOL, to price the network fee when neither pool mint is wrapped SOL."""
    stale_after_s: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 2.0
    """The direct pool quote is stale once no account update arrived for this long."""
    jupiter_url: HttpUrl | None = None
    """Jupiter ``/swap/v1/quote``: the fallback curve while the direct quote is stale (None: pause)."""
    jupiter_sizes: Annotated[
        tuple[Annotated[float, Field(gt=0, allow_inf_nan=False)], ...], Field(min_length=1, max_length=16)
    ] = (0.1, 1.0, 5.0, 20.0, 50.0, 100.0)
    """Sizes (whole base tokens) quoted each way to build the Jupiter curve."""

    @field_validator("pool")
    @classmethod
    def _pubkey(cls, value: str) -> str:
        try:
            Pubkey.from_string(value)
        except ValueError:
            raise ValueError(f"must be a base58 account address, got {value!r}") from None
        return value

    def kind_for(self, exchange: str) -> PoolKind:
        return self.pool_kind or POOL_EXCHANGES[exchange]


def check_pool_venue(
    exchange: str, mode: str, settings: SolanaSettings | None, instruments: Sequence[Any]
) -> None:
    """The cross-key rules of a pool venue's config; raises ``ValueError`` naming the key."""
    if mode == "live":
        raise ValueError(f"mode: {exchange}: {LIVE_REFUSED}")
    if settings is None:
        raise ValueError(f"solana: {exchange} needs a [solana] table (rpc_url, ws_url, pool)")
    kind = POOL_EXCHANGES[exchange]
    if settings.pool_kind is not None and settings.pool_kind != kind:
        raise ValueError(
            f"solana.pool_kind: exchange {exchange!r} trades a {kind} pool, got {settings.pool_kind!r}"
        )
    if kind == "whirlpool":
        for key in ("base_decimals", "quote_decimals"):
            if getattr(settings, key) is None:
                raise ValueError(f"solana.{key}: required for a Whirlpool (mint decimals)")
    if len(instruments) != 1:
        raise ValueError(f"instruments: a pool venue trades exactly one instrument, got {len(instruments)}")
    for key in ("max_buy", "max_sell"):
        if getattr(instruments[0], key, None) is not None:
            raise ValueError(
                f"instruments.0.{key}: not supported on a pool venue yet (caps.daily_notional applies)"
            )
