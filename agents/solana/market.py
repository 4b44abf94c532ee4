"""A Solana pool as the agent's market source: the pool feed's curve, Jupiter's while the feed is stale.

:class:`PoolMarket` is the :class:`~agents.market.source.MarketSource` of a pool venue (``exchange =
"orca-whirlpool"`` or ``"raydium-cpmm"``). Its pool feed (:mod:`agents.solana.pool_feed`) runs on a
background event loop, rebuilding the pool's curve from chain state at every account update and telling
the runtime's risk gates each new mid. ``refresh`` serves:

- the direct pool curve while the feed heard from the chain within ``[solana] stale_after_s`` (2 s);
- otherwise, with ``[solana] jupiter_url``, a curve from Jupiter quotes at several sizes
  (:func:`agents.solana.jupiter.jupiter_curve`, routes pinned), re-quoted once older than the limit;
- otherwise nothing: the asset is paused (``trading_paused``) until the feed is fresh again.

Every switch of source is an event, ``quote_source``: ``source`` ``direct`` or ``jupiter``, the age of the
direct quote (time since the chain was last heard from), the age of the Jupiter quote (its round trip when
just fetched) and their difference, ``latency_delta_ms`` (how much older the direct quote is).

The market also keeps what paper fills need (:meth:`PoolMarket.paper_fill`): the pool state each served
curve was built from (the planned state), the current state, and the network fee (5000 lamports plus the
priority fee at ``priority_fee_percentile`` of ``getRecentPrioritizationFees``, re-read every
``PRIORITY_FEES_EVERY_S``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from solders.pubkey import Pubkey

from agents.market.background import BackgroundLoop, wait_ready
from agents.market.source import FeedHealth, MarketView, TickObserver
from agents.solana.jupiter import (
    JupiterClient,
    JupiterCurve,
    JupiterQuoteError,
    PoolCurveSource,
    jupiter_curve,
)
from agents.solana.paper import (
    PaperFillRefused,
    network_fee_lamports,
    paper_swap,
    priority_fee_price,
)
from agents.solana.pool_feed import CpmmFeed, CpmmSnapshot, PoolSnapshot, WhirlpoolFeed
from agents.solana.rpc import SolanaRpc, SolanaRpcError
from agents.solana.settings import PoolKind, SolanaSettings
from sdk.amm.raydium import RaydiumError
from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.whirlpool import WhirlpoolCurve

log = logging.getLogger(__name__)

WSOL_MINT = "So11111111111111111111111111111111111111112"
LAMPORTS_PER_SOL = 1_000_000_000
PRIORITY_FEES_EVERY_S = 10.0
KEEP_SNAPSHOTS = 256
"""Pool states kept by their curve (a plan priced on an older curve is checked against that state)."""

Emit = Callable[[dict[str, object]], None]
Snapshot = PoolSnapshot | CpmmSnapshot


@dataclass(frozen=True, slots=True)
class PoolFill:
    """A paper fill's raw amounts (base and quote tokens), its network fee in quote, and what it was
    priced on (``direct`` pool math, or the ``jupiter`` route's quote)."""

    base_raw: int
    quote_raw: int
    base_decimals: int
    quote_decimals: int
    network_fee_lamports: int
    network_fee_quote: Decimal
    source: str

    @property
    def base(self) -> Decimal:
        return Decimal(self.base_raw).scaleb(-self.base_decimals)

    @property
    def quote(self) -> Decimal:
        return Decimal(self.quote_raw).scaleb(-self.quote_decimals)


class PoolMarket:
    """One pool venue's market (see the module docstring)."""

    def __init__(
        self,
        venue: str,
        asset: str,
        settings: SolanaSettings,
        kind: PoolKind,
        *,
        emit: Emit | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.venue = venue
        self.asset = asset
        self.settings = settings
        self.kind = kind
        self.pool = Pubkey.from_string(settings.pool)
        self.emit: Emit = emit or (lambda event: None)
        self.clock = clock
        self.rpc = SolanaRpc(settings.rpc_url, settings.ws_url)
        self.feed: WhirlpoolFeed | CpmmFeed
        if kind == "whirlpool":
            assert settings.base_decimals is not None and settings.quote_decimals is not None
            self.feed = WhirlpoolFeed(
                self.rpc,
                self.pool,
                decimals_a=settings.base_decimals,
                decimals_b=settings.quote_decimals,
                stale_after_s=settings.stale_after_s,
                clock=clock,
                on_rebuild=self._rebuilt,
            )
        else:
            self.feed = CpmmFeed(
                self.rpc,
                self.pool,
                stale_after_s=settings.stale_after_s,
                clock=clock,
                on_rebuild=self._rebuilt,
            )
        self.jupiter = JupiterClient(settings.jupiter_url) if settings.jupiter_url else None
        self.source: PoolCurveSource | None = None
        if self.jupiter is not None:
            self.source = PoolCurveSource(
                self._direct, self._quote_jupiter, clock=clock, max_fallback_age_s=settings.stale_after_s
            )
        self.serving = "none"
        """What the last ``refresh`` served: ``direct``, ``jupiter`` or ``none`` (paused)."""
        self.errors: list[str] = []
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()
        self._lock = threading.Lock()
        self._observer: TickObserver | None = None
        self._background = BackgroundLoop(f"pool-{venue}")
        self._priority_fees: list[int] = []
        self._fees_at = -math.inf
        self._health_mark: tuple[int, float] = (0, 0.0)
        self._paused_reason: str | None = None
        self._jupiter_latency_s: float | None = None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self, timeout_s: float = 30.0) -> None:
        """Read the pool, subscribe to its accounts (on a background loop) and wait for its first curve."""
        if self._background.started:
            return
        if not self._background.start(self._main, timeout_s):
            raise TimeoutError(f"{self.venue}: the pool loop did not start within {timeout_s} s")
        deadline = time.monotonic() + timeout_s
        while self.snapshot() is None:
            if time.monotonic() > deadline:
                detail = f": {self.errors[-1]}" if self.errors else ""
                raise RuntimeError(f"{self.venue}: pool {self.pool} not read within {timeout_s:g} s{detail}")
            time.sleep(0.02)
        self._refresh_fees(force=True)

    async def _main(self, stop: asyncio.Event) -> None:
        handler = _ErrorTail(self.errors)
        pool_log = logging.getLogger("agents.solana.pool_feed")
        pool_log.addHandler(handler)
        try:
            await self.feed.run(stop)
        finally:
            pool_log.removeHandler(handler)

    def close(self) -> None:
        self._background.close()

    # -- the feed's updates -----------------------------------------------------------------------------
    def _rebuilt(self, snap: Snapshot) -> None:
        """On the feed loop, after every rebuild: keep the state by its curve, tell the gates the mid."""
        with self._lock:
            self._snapshots[id(snap.curve)] = snap
            while len(self._snapshots) > KEEP_SNAPSHOTS:
                self._snapshots.popitem(last=False)
        observer = self._observer
        if observer is not None:
            try:
                observer(self.asset, _mid(snap.curve))
            except Exception:  # the feed must outlive a broken observer
                self.errors.append("observer failed")
                del self.errors[:-50]

    def set_observer(self, observer: TickObserver | None) -> None:
        self._observer = observer

    def snapshot(self) -> Snapshot | None:
        return self.feed.snapshot

    @property
    def base_decimals(self) -> int:
        snap = self.snapshot()
        if isinstance(snap, CpmmSnapshot):
            return snap.pool.mint_0_decimals
        assert self.settings.base_decimals is not None
        return self.settings.base_decimals

    @property
    def quote_decimals(self) -> int:
        snap = self.snapshot()
        if isinstance(snap, CpmmSnapshot):
            return snap.pool.mint_1_decimals
        assert self.settings.quote_decimals is not None
        return self.settings.quote_decimals

    def mints(self) -> tuple[str, str]:
        """(base mint, quote mint) of the pool."""
        snap = self.snapshot()
        if snap is None:
            raise RuntimeError(f"{self.venue}: the pool is not read yet")
        if isinstance(snap, CpmmSnapshot):
            return str(snap.pool.token_0_mint), str(snap.pool.token_1_mint)
        return str(snap.pool.token_mint_a), str(snap.pool.token_mint_b)

    # -- curves -----------------------------------------------------------------------------------------
    def _direct(self) -> CostCurve | None:
        return self.feed.curve()

    def _quote_jupiter(self) -> JupiterCurve:
        client = self.jupiter
        assert client is not None
        base_mint, quote_mint = self.mints()
        scale = 10**self.base_decimals
        bps = self.settings.slippage_bps
        started = self.clock()
        sizes = [max(1, round(size * scale)) for size in self.settings.jupiter_sizes]
        buys = [client.quote(quote_mint, base_mint, q, swap_mode="ExactOut", slippage_bps=bps) for q in sizes]
        sells = [client.quote(base_mint, quote_mint, q, swap_mode="ExactIn", slippage_bps=bps) for q in sizes]
        now = self.clock()
        self._jupiter_latency_s = now - started
        return jupiter_curve(
            buys,
            sells,
            base_mint=base_mint,
            quote_mint=quote_mint,
            base_decimals=self.base_decimals,
            quote_decimals=self.quote_decimals,
            built_at=now,
        )

    def refresh(self, index: int = 0) -> MarketView:
        """The pool's curve before session ``index``: direct while fresh, Jupiter's (configured) or paused."""
        self._refresh_fees()
        staleness = self.feed.staleness_s()
        curve: CostCurve | None
        reason = ""
        if self.source is not None:
            try:
                curve = self.source.curve()
            except (OSError, JupiterQuoteError, CurveInputError, RuntimeError) as exc:
                curve = None
                reason = (
                    f"pool quote stale ({_seconds(staleness)}, limit {self.settings.stale_after_s:g} s) "
                    f"and the Jupiter fallback failed: {exc}"
                )
            serving = (
                "none" if curve is None else ("jupiter" if self.source.source == "jupiter" else "direct")
            )
        else:
            curve = self._direct()
            serving = "direct" if curve is not None else "none"
            reason = (
                f"pool quote stale ({_seconds(staleness)}, limit {self.settings.stale_after_s:g} s) and no "
                "[solana] jupiter_url fallback"
            )
        self._switched(serving, staleness, curve)
        if curve is None:
            self._report_pause(reason)
            return MarketView(curves={}, mids={}, paused={self.asset: reason})
        self._report_pause(None)
        mid = _mid(curve)
        return MarketView(curves={self.asset: curve}, mids={self.asset: mid} if mid is not None else {})

    def _switched(self, serving: str, staleness: float, curve: CostCurve | None) -> None:
        if serving == self.serving:
            return
        previous, self.serving = self.serving, serving
        if serving == "none":
            return
        direct_ms = staleness * 1e3 if math.isfinite(staleness) else None
        jupiter_ms: float | None = None
        routes: list[str] = []
        if isinstance(curve, JupiterCurve):
            jupiter_ms = (
                max(0.0, self.clock() - curve.built_at) * 1e3 + (self._jupiter_latency_s or 0.0) * 1e3
            )
            routes = list(dict.fromkeys(curve.route_ids))
        elif self.source is not None and self.source._jupiter is not None:
            jupiter_ms = max(0.0, self.clock() - self.source._jupiter.built_at) * 1e3
        delta = None if direct_ms is None or jupiter_ms is None else direct_ms - jupiter_ms
        event: dict[str, object] = {
            "event": "quote_source",
            "venue": self.venue,
            "asset": self.asset,
            "source": serving,
            "previous": previous,
            "direct_age_ms": None if direct_ms is None else round(direct_ms, 1),
            "jupiter_age_ms": None if jupiter_ms is None else round(jupiter_ms, 1),
            "latency_delta_ms": None if delta is None else round(delta, 1),
        }
        if routes:
            event["routes"] = routes
        self.emit(event)

    def _report_pause(self, reason: str | None) -> None:
        if reason is not None and self._paused_reason is None:
            self.emit({"event": "trading_paused", "venue": self.venue, "asset": self.asset, "reason": reason})
        elif reason is None and self._paused_reason is not None:
            self.emit({"event": "trading_resumed", "venue": self.venue, "asset": self.asset})
        self._paused_reason = reason

    def wait_ready(self, timeout_s: float) -> MarketView:
        return wait_ready(self.refresh, timeout_s)

    def health(self) -> dict[str, FeedHealth]:
        now = self.clock()
        count, then = self._health_mark
        rebuilds = self.feed.rebuilds
        rate = (rebuilds - count) / (now - then) if then and now > then else 0.0
        self._health_mark = (rebuilds, now)
        staleness = self.feed.staleness_s(now)
        shown = None if not math.isfinite(staleness) else max(0.0, staleness * 1e3)
        return {f"{self.venue}:{self.pool}": FeedHealth(rate, shown, self.feed.reconnects)}

    # -- paper fills ------------------------------------------------------------------------------------
    def _refresh_fees(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._background.loop is None or (not force and now - self._fees_at < PRIORITY_FEES_EVERY_S):
            return
        self._fees_at = now
        try:
            fees = self.rpc.recent_prioritization_fees([self.pool])
            self._priority_fees = self._background.call(fees, self.rpc.timeout_s)
        except (OSError, SolanaRpcError, TimeoutError) as exc:
            self.errors.append(f"getRecentPrioritizationFees: {exc}"[:300])
            del self.errors[:-50]

    def network_fee(self) -> int:
        """Lamports of one swap transaction: base fee plus the priority fee at the configured percentile."""
        price = priority_fee_price(self._priority_fees, self.settings.priority_fee_percentile)
        return network_fee_lamports(
            priority_price_micro_lamports=price, compute_units=self.settings.compute_units
        )

    def _fee_in_quote(self, lamports: int, base_raw: int, quote_raw: int) -> Decimal:
        """The network fee in quote tokens, rounded up to the quote mint's raw unit: at the fill's own price
        when the base is wrapped SOL, else at ``[solana] sol_price``."""
        sol = Decimal(lamports) / LAMPORTS_PER_SOL
        unit = Decimal(1).scaleb(-self.quote_decimals)
        base_mint, quote_mint = self.mints()
        if quote_mint == WSOL_MINT:
            return sol.quantize(unit, ROUND_CEILING)
        if base_mint == WSOL_MINT and base_raw > 0:
            price = Decimal(quote_raw).scaleb(-self.quote_decimals) / Decimal(base_raw).scaleb(
                -self.base_decimals
            )
            return (sol * price).quantize(unit, ROUND_CEILING)
        if self.settings.sol_price is not None:
            return (sol * Decimal(repr(self.settings.sol_price))).quantize(unit, ROUND_CEILING)
        raise PaperFillRefused(
            "solana.sol_price: needed to price the network fee (neither mint is wrapped SOL)"
        )

    def paper_fill(self, planned: CostCurve, quantity: Decimal) -> PoolFill:
        """Fill a trade of ``quantity`` base (``> 0`` buy, ``< 0`` sell) on paper: at the pool's exact math
        on its current state, provided that is within ``slippage_bps`` of the quote ``planned`` gave; at the
        Jupiter route's quote when the plan was priced on Jupiter. Raises ``PaperFillRefused``."""
        base_raw = int(abs(quantity).scaleb(self.base_decimals).to_integral_value())
        if base_raw == 0:
            raise PaperFillRefused(f"{quantity} is below one raw unit of the base token")
        fee = self.network_fee()
        if isinstance(planned, JupiterCurve):
            cost = planned.cost(float(quantity))
            if not math.isfinite(cost):
                raise PaperFillRefused(f"{quantity} is beyond the Jupiter quotes")
            scale = 10**self.quote_decimals
            quote_raw = math.ceil(cost * scale) if quantity > 0 else math.floor(-cost * scale)
            source = "jupiter"
        else:
            current = self.snapshot()
            if current is None:
                raise PaperFillRefused("the pool was never read")
            with self._lock:
                before = self._snapshots.get(id(planned), current)
            if isinstance(current, PoolSnapshot):
                assert isinstance(before, PoolSnapshot)
                quote_raw = self._whirlpool_fill(before, current, base_raw, quantity > 0, fee)
            else:
                assert isinstance(before, CpmmSnapshot)
                quote_raw = self._cpmm_fill(before, current, base_raw, quantity > 0)
            source = "direct"
        if quote_raw <= 0:
            raise PaperFillRefused(f"the pool pays nothing for {quantity}")
        return PoolFill(
            base_raw,
            quote_raw,
            self.base_decimals,
            self.quote_decimals,
            fee,
            self._fee_in_quote(fee, base_raw, quote_raw),
            source,
        )

    def _whirlpool_fill(
        self, before: PoolSnapshot, current: PoolSnapshot, base_raw: int, buy: bool, fee: int
    ) -> int:
        bps = self.settings.slippage_bps
        if not buy:  # exact input A -> B: the program's swap with other_amount_threshold
            arrays = {a.start_tick_index: a.tick_array() for a in before.tick_arrays}
            arrays.update({a.start_tick_index: a.tick_array() for a in current.tick_arrays})
            fill = paper_swap(
                before.pool.state(),
                current.pool.state(),
                list(arrays.values()),
                base_raw,
                a_to_b=True,
                slippage_bps=bps,
                network_fee=fee,
            )
            return fill.amount_out
        # exact output A (B -> A): pay at most the planned input plus the slippage
        planned = _raw_curve(before).exact_amounts(float(base_raw))
        now = _raw_curve(current).exact_amounts(float(base_raw))
        if planned is None or now is None:
            raise PaperFillRefused(f"the pool cannot deliver {base_raw} raw base within its tick arrays")
        cap = -(-planned[1] * (10_000 + bps) // 10_000)
        if now[1] > cap:
            raise PaperFillRefused(
                f"fill-time input {now[1]} is above the cap {cap} "
                f"(planned {planned[1]}, slippage cap {bps} bps)"
            )
        return now[1]

    def _cpmm_fill(self, before: CpmmSnapshot, current: CpmmSnapshot, base_raw: int, buy: bool) -> int:
        bps = self.settings.slippage_bps
        try:
            if buy:  # token 1 in, exactly base_raw of token 0 out
                planned = before.swap_pool.swap_base_output(base_raw, zero_for_one=False).input_amount
                now = current.swap_pool.swap_base_output(base_raw, zero_for_one=False).input_amount
                cap = -(-planned * (10_000 + bps) // 10_000)
                if now > cap:
                    raise PaperFillRefused(
                        f"fill-time input {now} is above the cap {cap} (planned {planned})"
                    )
                return now
            planned = before.swap_pool.swap_base_input(base_raw, zero_for_one=True).output_amount
            now = current.swap_pool.swap_base_input(base_raw, zero_for_one=True).output_amount
        except RaydiumError as exc:
            raise PaperFillRefused(f"the pool cannot fill {base_raw}: {exc}") from exc
        floor = planned * (10_000 - bps) // 10_000
        if now < floor:
            raise PaperFillRefused(
                f"fill-time output {now} is below the threshold {floor} (planned {planned})"
            )
        return now


def _raw_curve(snap: PoolSnapshot) -> WhirlpoolCurve:
    """The pool's curve in raw units (exact amounts of whole raw tokens)."""
    return WhirlpoolCurve(snap.pool.state(), [a.tick_array() for a in snap.tick_arrays])


def _mid(curve: CostCurve) -> float | None:
    left, right = curve.marginal(0.0)
    mid = 0.5 * (left + right)
    return mid if math.isfinite(mid) and mid > 0 else None


def _seconds(value: float) -> str:
    return "never heard" if not math.isfinite(value) else f"silent {value:.1f} s"


class _ErrorTail(logging.Handler):
    """Keeps the pool feed's warnings (reconnects, decode errors) for ``start``'s error message."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage()[:300])
        del self.sink[:-50]
