"""A Solana pool venue for the running agent: the pool market, paper execution at the pool's exact math.

:class:`PoolPaperVenue` is the SDK ``ExecutionAdapter`` the runtime routes a pool venue's orders to (in place
of the generic ``CurvePaperVenue``): each order fills whole at the pool's exact integer math on its state at
fill time, provided that is within ``[solana] slippage_bps`` of the quote the plan was priced on (otherwise
the order is cancelled with the reason, as the program would refuse a swap whose threshold is not met), and
its fee is the transaction's network fee (base plus priority fee) in quote. A plan priced on the Jupiter
fallback fills at the route's quote. Nothing is signed or sent: live transaction building is out of scope
until a signer design exists (:data:`agents.solana.settings.LIVE_REFUSED`).

:func:`build_pool_agent` composes the agent, its market and its runtime from a validated config
(``agents.service.AgentService`` calls it for ``exchange = "orca-whirlpool"`` / ``"raydium-cpmm"``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, Unpack

from agents.agent import EdgeAgent, InstrumentSpec, VenueConfig
from agents.agent_config import AgentConfig, ConfigError
from agents.execution.clock import Scheduler
from agents.execution.paper import CurveOptions, CurvePaperVenue, Listener, execution_manifest
from agents.risk.limits import RiskLimits
from agents.runtime import AgentRuntime, PlanOutcome
from agents.solana.market import PoolMarket
from agents.solana.paper import PaperFillRefused
from agents.solana.settings import LIVE_REFUSED, POOL_EXCHANGES
from sdk.adapters.execution import OrderRequest
from sdk.adapters.manifest import AdapterManifest, VenueKind
from sdk.curves.base import CostCurve

READY_TIMEOUT_S = 30.0


class PoolPaperVenue(CurvePaperVenue):
    """Paper fills on a Solana pool at its exact math within the slippage cap, network fee as the fee."""

    manifest: ClassVar[AdapterManifest] = execution_manifest(
        "arbsphere-paper-solana-pool", "0.1.0", VenueKind.CLMM
    )

    def __init__(
        self,
        venue: str,
        curve: CostCurve,
        scheduler: Scheduler,
        listener: Listener,
        *,
        market: PoolMarket,
        **options: Unpack[CurveOptions],
    ) -> None:
        super().__init__(venue, curve, scheduler, listener, **options)
        self.market = market

    def _price(self, order: OrderRequest) -> tuple[Decimal, Decimal] | str:
        try:
            fill = self.market.paper_fill(self.curve, order.side.sign * order.size)
        except PaperFillRefused as exc:
            return str(exc)[:300]
        return fill.quote / order.size, fill.network_fee_quote


def pool_venue_factory(market: PoolMarket) -> Callable[..., CurvePaperVenue]:
    """What the runtime builds a pool's paper venue with (``AgentRuntime(pool_venue=...)``)."""

    def make(
        venue: str, curve: CostCurve, scheduler: Scheduler, listener: Listener, *, latency_ms: int = 0
    ) -> CurvePaperVenue:
        return PoolPaperVenue(venue, curve, scheduler, listener, market=market, latency_ms=latency_ms)

    return make


def build_pool_agent(
    config: AgentConfig,
    state_dir: Path,
    *,
    emit: Callable[[dict[str, object]], None],
    on_outcome: Callable[[PlanOutcome], None],
    limits: RiskLimits,
) -> tuple[PoolMarket, EdgeAgent, AgentRuntime]:
    """A pool venue's market (started, first curve read), agent and paper runtime."""
    if config.mode == "live":
        raise ConfigError(f"mode: {config.exchange}: {LIVE_REFUSED}")
    settings = config.solana
    if settings is None:
        raise ConfigError(f"solana: {config.exchange} needs a [solana] table")
    (inst,) = config.instruments
    market = PoolMarket(config.venue, inst.asset, settings, settings.kind_for(config.exchange), emit=emit)
    try:
        market.start(READY_TIMEOUT_S)
        view = market.wait_ready(READY_TIMEOUT_S)
        if view.paused:
            raise RuntimeError(
                f"{config.venue}: pool not ready after {READY_TIMEOUT_S:g} s: {dict(view.paused)}"
            )
        lot = inst.lot_size or Decimal(1).scaleb(-market.base_decimals)
        tick = inst.tick_size or Decimal(1).scaleb(-market.quote_decimals)
        spec = InstrumentSpec(inst.symbol, lot, tick, inst.min_notional or Decimal(0))
        agent = EdgeAgent(
            VenueConfig(config.venue, {inst.asset: spec}, latency_budget_ms=config.latency_budget_ms),
            dict(view.curves),
        )
        agent.reference_prices.update(view.mids)
        quote = config.quote_asset
        inventory = {inst.asset: Decimal(0), quote: Decimal(0)}
        inventory.update({k: Decimal(v) for k, v in config.paper_balances.items()})
        runtime = AgentRuntime(
            agent,
            state_dir,
            inventory=inventory,
            quote=quote,
            limits=limits,
            on_outcome=on_outcome,
            pool_venue=pool_venue_factory(market),
        )
    except BaseException:
        market.close()
        raise
    return market, agent, runtime


def adapter_identity(exchange: str) -> tuple[str, str]:
    return f"arbsphere-venue-{exchange}", "0.1.0"


def is_pool_venue(exchange: str) -> bool:
    return exchange in POOL_EXCHANGES
