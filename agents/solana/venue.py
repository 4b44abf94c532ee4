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

from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import ClassVar

from agents.agent import EdgeAgent, InstrumentSpec, VenueConfig
from agents.agent_config import AgentConfig, ConfigError
from agents.execution.book import marketable
from agents.execution.clock import Scheduler
from agents.execution.paper import POOL_PRICE_QUANTUM, CurvePaperVenue, Listener
from agents.risk.limits import RiskLimits
from agents.runtime import AgentRuntime, PlanOutcome
from agents.solana.market import PoolMarket
from agents.solana.paper import PaperFillRefused
from agents.solana.settings import LIVE_REFUSED, POOL_EXCHANGES
from sdk.adapters.execution import FillEvent, Liquidity, OrderRequest, OrderStatus, Side
from sdk.adapters.manifest import DEFAULT_IR_RANGE, AdapterKind, AdapterManifest, Capability, VenueKind
from sdk.curves.base import CostCurve

READY_TIMEOUT_S = 30.0


class PoolPaperVenue(CurvePaperVenue):
    """Paper fills on a Solana pool at its exact math within the slippage cap, network fee as the fee."""

    manifest: ClassVar[AdapterManifest] = AdapterManifest(
        name="arbsphere-paper-solana-pool",
        version="0.1.0",
        kind=AdapterKind.EXECUTION,
        venue_kind=VenueKind.CLMM,
        capabilities=frozenset(
            {
                Capability.IOC_LIMIT,
                Capability.CANCEL,
                Capability.CLIENT_ORDER_IDS,
                Capability.BALANCES,
                Capability.ORDER_EVENTS,
            }
        ),
        ir_range=DEFAULT_IR_RANGE,
    )

    def __init__(
        self,
        venue: str,
        curve: CostCurve,
        scheduler: Scheduler,
        listener: Listener,
        *,
        market: PoolMarket,
        latency_ms: int = 0,
        price_quantum: Decimal = POOL_PRICE_QUANTUM,
        balances: Mapping[str, Decimal] | None = None,
    ) -> None:
        super().__init__(
            venue,
            curve,
            scheduler,
            listener,
            latency_ms=latency_ms,
            price_quantum=price_quantum,
            balances=balances,
        )
        self.market = market

    def _arrive(self, order: OrderRequest) -> None:
        now = self._scheduler.clock.now_ms()
        if self._repeat(order.client_order_id):
            return
        if now > order.deadline_ms:
            self._status(order, OrderStatus.EXPIRED, Decimal(0), now, "arrived after its deadline")
            return
        self._status(order, OrderStatus.ACCEPTED, Decimal(0), now)
        try:
            fill = self.market.paper_fill(self.curve, order.side.sign * order.size)
        except PaperFillRefused as exc:
            self._status(order, OrderStatus.CANCELLED, Decimal(0), now, str(exc)[:300])
            return
        rounding = ROUND_CEILING if order.side is Side.BUY else ROUND_FLOOR
        average = fill.quote / order.size
        price = (average / self.quantum).to_integral_value(rounding) * self.quantum
        if price <= 0 or not marketable(order.side, price, order.limit_price):
            self._status(
                order, OrderStatus.CANCELLED, Decimal(0), now, f"average price {price} beyond the cap"
            )
            return
        self._report(
            FillEvent.of_order(
                order,
                fill_id=f"{order.client_order_id}-1",
                price=price,
                size=order.size,
                fee=fill.network_fee_quote,
                liquidity=Liquidity.TAKER,
                ts_ms=now,
            )
        )
        self._status(order, OrderStatus.FILLED, order.size, now)


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
