"""The running agent, composed: market source -> curves -> federated participant -> executor -> store.

``AgentService`` is what ``arbsphere agent run`` starts (the CLI only parses arguments and calls it), and what
tests and the demo start too, so a simulated venue, a paper agent on a live feed and a live agent run the same
code: before each session the market source's ``MarketView`` updates the private core's curves and the
runtime bounds them by its gates (paused assets plan nothing); each committed plan goes to the runtime
(paper books, or the venue through CCXT with client order ids derived from the plan's idempotency keys); each
outcome goes back to the coordinator as an ``ExecutionReport`` for the ledger. Live, every order a previous
process left unfinished is reconciled at the venue by client order id before the agent joins.

What survives a restart lives in the state directory: the execution store (orders durable before they are
sent, every fill before any outcome reports it: ``agents.persistence.writer.DurableStoreWriter``) and the
plan state (``plan_state.json``: the delta-sync state and the last plan sequence, written before a plan's
orders leave). A restarted agent closes what its previous process left (``AgentRuntime.recover``), reports
the outcomes that were never reported once it has joined, reports its last sequence at join and refuses
any older plan. The market source feeds the risk gates on every book update (``feed_observer``).

Events for the operator go to ``emit`` as JSON-ready dicts (the CLI prints them as JSON lines); secrets never
reach it.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.agent import CommittedPlan, EdgeAgent, InstrumentSpec, VenueConfig
from agents.agent_config import AgentConfig, ConfigError, read_secrets
from agents.commitments import CommitmentKey
from agents.controls import AgentControls, AgentStatus
from agents.execution.client_ids import RULES
from agents.execution.clock import SystemClock
from agents.execution.live import CcxtVenue, LiveInstrument, account_balances, make_exchange
from agents.execution.outbox import Outbox
from agents.feeds.venues.prediction import PredictionMarket
from agents.grpc_client import AgentRunner, execution_report
from agents.market.live import CurveRules, LiveMarket
from agents.market.simulated import SimulatedMarket
from agents.market.source import MarketSource, MarketView
from agents.opportunities import OpportunityFeed
from agents.perps.streams import PerpTerms
from agents.plan_state import PlanStateStore
from agents.privacy.records import PrivacySpendRecord
from agents.private_release import AgentPrivacy
from agents.risk.limits import RiskLimits
from agents.runtime import AgentRuntime, Listener, LiveExecution, PlanOutcome
from agents.solana.settings import POOL_EXCHANGES
from agents.venues import venue_spec
from agents.venues.prediction import (
    PREDICTION_NAMES,
    PredictionVenueSpec,
    hold_to_resolution,
    instrument_rules,
    paper_inventory,
    prediction_market,
    prediction_spec,
)
from agents.venues.spec import VenueSpec
from energibridge.v1 import ir_pb2
from registry.events.logs import bind
from registry.pki.agent_records import canonical_json
from registry.pki.announcements import IDENTITY_FILE, load_or_create_identity
from registry.pki.certificates import CertificateBundle
from registry.pki.renewal import CertificateSource, renewal_record

Emit = Callable[[dict[str, object]], None]
OUTBOX_FILE = "outbox.sqlite"
PLAN_STATE_FILE = "plan_state.json"
READY_TIMEOUT_S = 30.0
FEED_HEALTH_S = 5.0
"""How often (at most) the feeds' health is reported, at a session start."""
MAX_SOLVES_REPORTED = 1000


def plan_event(plan: CommittedPlan) -> dict[str, object]:
    delta = plan.delta
    return {
        "event": "plan",
        "venue": delta.venue_id,
        "session": delta.session_id,
        "sequence": delta.sequence,
        "state_hash": delta.state_hash.hex(),
        "expected_profit": format(delta.expected_profit_quote, "f"),
        "legs": [
            {
                "instrument": leg.instrument,
                "side": leg.side.name,
                "size": format(leg.size, "f"),
                "limit_price": format(leg.limit_price, "f"),
                "idempotency_key": leg.idempotency_key,
            }
            for leg in delta.legs
        ],
    }


def execution_event(outcome: PlanOutcome, tick_ns: int, plan_ns: int) -> dict[str, object]:
    """What the operator sees of one plan's execution (local output: fills, prices and cash flows), with
    ``time.monotonic_ns()`` stamps of the session's feed tick, the plan's commit and the orders sent.
    ``predicted_pnl`` and ``realised_pnl`` are cash flows; ``*_profit`` value the trades at the plan's
    prices (what reports compare, and what the plan's ``opportunity`` predicted)."""
    return {
        "event": "execution",
        "venue": outcome.venue_id,
        "session": outcome.session_id,
        "sequence": outcome.sequence,
        "status": outcome.status.name,
        "predicted_pnl": format(outcome.predicted, "f"),
        "realised_pnl": format(outcome.realised, "f"),
        "pnl_vs_plan": format(outcome.pnl_vs_plan, "f"),
        "predicted_profit": format(outcome.predicted_profit, "f"),
        "realised_profit": format(outcome.realised_profit, "f"),
        "fees": format(outcome.fees, "f"),
        "risk_gates": list(outcome.risk_gates),
        "fills": [
            {
                "instrument": f.instrument,
                "side": f.side.name,
                "price": format(f.price, "f"),
                "size": format(f.size, "f"),
                "fee": format(f.fee, "f"),
                "client_order_id": f.client_order_id,
            }
            for f in outcome.fills
        ],
        "tick_ns": tick_ns,
        "plan_ns": plan_ns,
        "orders_ns": outcome.submitted_ns,
    }


@dataclass(frozen=True)
class VenueRules:
    """Trading rules of one instrument after CCXT metadata and the config's overrides."""

    asset: str
    symbol: str
    lot_size: Decimal
    tick_size: Decimal
    min_notional: Decimal
    taker_fee_bps: Decimal


def _step(value: Any, precision_mode: Any) -> Decimal | None:
    """A ccxt precision as a step (``TICK_SIZE`` mode gives the step, ``DECIMAL_PLACES`` the digits)."""
    if value is None:
        return None
    import ccxt

    number = Decimal(str(value))
    if precision_mode == ccxt.TICK_SIZE:
        return number if number > 0 else None
    return Decimal(1).scaleb(-int(number))


def perp_terms(config: AgentConfig) -> PerpTerms | None:
    """A perpetual venue's margin and funding horizon (``[perp]``), ``None`` on a spot venue."""
    if config.perp is None:
        return None
    p = config.perp
    return PerpTerms(float(p.margin), p.max_leverage, p.horizon_hours)


def venue_rules(config: AgentConfig, exchange: Any) -> list[VenueRules]:
    """Each instrument's lot, tick, minimum notional and taker fee: the config's value where it sets one,
    otherwise the venue's CCXT market metadata (an error names the key when neither has it)."""
    markets: Mapping[str, Any] = exchange.load_markets()
    spec = venue_spec(config.exchange)  # spot ``BTC/USD`` or swap ``BTC/USDT:USDT`` symbols
    rules = []
    for i, inst in enumerate(config.instruments):
        market = markets.get(spec.market_symbol(inst.symbol))
        if market is None and None in (inst.lot_size, inst.tick_size, inst.taker_fee_bps):
            raise ConfigError(
                f"instruments.{i}.symbol: {inst.symbol} is not listed by {config.exchange}; "
                "set lot_size, tick_size and taker_fee_bps to trade it anyway"
            )
        meta = market or {}
        precision = meta.get("precision") or {}
        mode = getattr(exchange, "precisionMode", None)
        lot = inst.lot_size or _step(precision.get("amount"), mode)
        tick = inst.tick_size or _step(precision.get("price"), mode)
        min_cost = ((meta.get("limits") or {}).get("cost") or {}).get("min")
        minimum = inst.min_notional if inst.min_notional is not None else Decimal(str(min_cost or 0))
        taker = meta.get("taker")
        fee = inst.taker_fee_bps if inst.taker_fee_bps is not None else Decimal(str(taker or 0)) * 10_000
        for key, value in (("lot_size", lot), ("tick_size", tick)):
            if value is None:
                raise ConfigError(
                    f"instruments.{i}.{key}: not in {config.exchange}'s market metadata; set it"
                )
        assert lot is not None and tick is not None
        rules.append(VenueRules(inst.asset, inst.symbol, lot, tick, minimum, fee))
    return rules


class AgentService:
    """One venue's agent, from its config to its last session."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        live_allowed: bool = False,
        emit: Emit | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if config.mode == "live" and not live_allowed:
            raise ConfigError("mode: 'live' sends real orders; pass --live to confirm")
        if config.coordinator.target is None or config.coordinator.cert_dir is None:
            raise ConfigError("coordinator: target and cert_dir are required to join a region")
        self.config = config
        sink: Emit = emit or (lambda event: None)
        lock = threading.Lock()

        def locked(event: dict[str, object]) -> None:
            with lock:  # outcomes are emitted from the runtime's thread, plans from the stream's
                sink(event)

        self.emit: Emit = locked
        self.environ = dict(environ) if environ is not None else None
        self.prediction: PredictionVenueSpec | None = (
            prediction_spec(config.exchange) if config.exchange in PREDICTION_NAMES else None
        )
        self.pool_venue = config.exchange in POOL_EXCHANGES  # a Solana pool: agents.solana.venue
        self.spec: VenueSpec | None = (
            None
            if config.exchange == "simulator" or self.prediction or self.pool_venue
            else venue_spec(config.exchange)
        )
        self.market: MarketSource
        self.runtime: AgentRuntime | None = None
        self.runner: AgentRunner | None = None
        self._health_at = float("-inf")
        self._drift_reported = False
        self.recovered = 0
        self.controls: AgentControls | None = None
        self.status: AgentStatus | None = None
        self.opportunities: OpportunityFeed | None = None
        self.on_ready: Callable[[AgentService], object] | None = None
        """Called once the runtime is up, before the agent joins (``controls`` and ``status`` set): the CLI
        starts the operator's gateway here."""
        self._unreported: list[PlanOutcome] = []
        self._unsent_records: list[tuple[int, bytes]] = []
        self._temporary_state: Path | None = None

    # -- composition ------------------------------------------------------------------------------------
    def _state_dir(self) -> Path:
        if self.config.state_dir is not None:
            return self.config.state_dir
        path = Path(tempfile.mkdtemp(prefix=f"arbsphere-agent-{self.config.venue}-"))
        self._temporary_state = path
        self.emit(
            {
                "event": "notice",
                "venue": self.config.venue,
                "detail": f"execution store in {path} (removed at exit; state_dir keeps it)",
            }
        )
        return path

    def _limits(self) -> RiskLimits:
        """The gates' limits from the config. A live feed's staleness limit is the market source's own
        (``risk.stale_after_s``); the simulator's market moves only between sessions, so it keeps the
        default (a long session must not make its unchanging books look stale)."""
        caps, risk = self.config.caps, self.config.risk
        stale = RiskLimits().stale_after_ms
        if self.spec is not None or self.prediction is not None:
            stale = max(1, round(risk.stale_after_s * 1000))
        return RiskLimits(
            daily_notional_cap=Decimal(repr(caps.daily_notional)),
            daily_loss_cap=Decimal(repr(risk.daily_loss_cap)),
            prediction_error_pct=Decimal(repr(risk.prediction_error_pct)),
            max_trades=caps.max_trades_per_minute,
            trades_window_ms=60_000,
            stale_after_ms=stale,
        )

    def _build_simulated(self, state_dir: Path) -> tuple[EdgeAgent, AgentRuntime]:
        sim = self.config.simulator
        market = SimulatedMarket(
            sim.plays or self.config.venue,
            venues=sim.venues,
            seed=sim.seed,
            kinds=tuple(k.strip() for k in sim.kinds.split(",")),
            tick_bps=sim.tick_bps,
            book_feed=sim.book_feed,
            latency_budget_ms=self.config.latency_budget_ms,
        )
        self.market = market
        agent = market.build_agent(self.config.venue)
        first = market.refresh(0)
        agent.update_curves(first.curves)
        agent.reference_prices.update(first.mids)
        runtime = AgentRuntime(
            agent,
            state_dir,
            inventory=market.inventory(),
            limits=self._limits(),
            latency_ms=sim.paper_latency_ms,
            on_outcome=self._on_outcome,
        )
        return agent, runtime

    def _build_venue(self, state_dir: Path) -> tuple[EdgeAgent, AgentRuntime]:
        spec = self.spec
        assert spec is not None
        config = self.config
        live = config.mode == "live"
        secrets = read_secrets(config.credentials, self.environ) if live else None
        credentials = secrets.ccxt() if secrets is not None else {"apiKey": "", "secret": ""}
        rest = config.endpoints.rest or spec.rest_url
        exchange = make_exchange(
            spec.ccxt_id,
            base_url=config.endpoints.rest,
            api_key=credentials["apiKey"],
            secret=credentials["secret"],
        )
        if "password" in credentials:
            exchange.password = credentials["password"]
        rules = venue_rules(config, exchange)
        instruments = {
            r.asset: InstrumentSpec(r.symbol, r.lot_size, r.tick_size, r.min_notional) for r in rules
        }
        caps = {i.asset: i for i in config.instruments}
        market = LiveMarket(
            spec,
            [
                CurveRules(
                    asset=r.asset,
                    symbol=r.symbol,
                    taker_fee_bps=float(r.taker_fee_bps),
                    book_usage=config.caps.book_usage,
                    lot_size=float(r.lot_size),
                    min_notional=float(r.min_notional),
                    max_buy=_float(caps[r.asset].max_buy),
                    max_sell=_float(caps[r.asset].max_sell),
                )
                for r in rules
            ],
            ws_base=config.endpoints.ws,
            rest_base=rest,
            stale_after_s=config.risk.stale_after_s,
            on_status=self.emit,
            perp=perp_terms(config),
        )
        self.market = market
        market.start()
        view = market.wait_ready(READY_TIMEOUT_S)
        if view.paused:
            raise RuntimeError(
                f"{config.venue}: books not ready after {READY_TIMEOUT_S:g} s: {dict(view.paused)}"
            )
        agent = EdgeAgent(
            VenueConfig(config.venue, instruments, latency_budget_ms=config.latency_budget_ms),
            dict(view.curves),
        )
        agent.reference_prices.update(view.mids)
        quote = config.quote_asset
        if live:
            held = account_balances(exchange)
            inventory = {a: held[a].free if a in held else Decimal(0) for a in [quote, *instruments]}
        else:
            inventory = {a: Decimal(0) for a in instruments} | {quote: Decimal(0)}
            inventory.update({k: Decimal(v) for k, v in config.paper_balances.items()})

        def live_venue(listener: Listener) -> LiveExecution:
            return CcxtVenue(
                config.venue,
                exchange,
                outbox=Outbox.sqlite(state_dir / OUTBOX_FILE),
                clock=SystemClock(),
                listener=listener,
                instruments={
                    r.symbol: LiveInstrument(spec.market_symbol(r.symbol), r.asset, r.lot_size, r.tick_size)
                    for r in rules
                },
                orders=spec.orders(),
            )

        runtime = AgentRuntime(
            agent,
            state_dir,
            inventory=inventory,
            quote=quote,
            limits=self._limits(),
            on_outcome=self._on_outcome,
            live=live_venue if live else None,
            client_ids=spec.client_ids if live else "paper",
            venue_balances=live,  # live: the venue's balances are the truth after recovery
        )
        market.on_funding = runtime.settle_funding  # each settlement the venue's stream reveals
        return agent, runtime

    def _build_prediction(self, state_dir: Path) -> tuple[EdgeAgent, AgentRuntime]:
        """A prediction venue (``agents.venues.prediction``): its books as ``PredictionMarketCurve``s with
        the venue's exact fees, paper execution on them (live orders: ``agents.venues.kalshi.KalshiRest``)."""
        spec, config = self.prediction, self.config
        assert spec is not None
        live = config.mode == "live"
        if live and not spec.live_orders:
            raise ConfigError(f"mode: {spec.name} trades on paper only (see agents/venues/{spec.name}.py)")
        creds = config.credentials
        signed = creds.file is not None or creds.api_key_env is not None
        secrets = read_secrets(creds, self.environ) if signed else None
        market = prediction_market(
            config,
            spec,
            secrets=(secrets.api_key.get_secret_value(), secrets.secret.get_secret_value())
            if secrets
            else None,
            on_status=self.emit,
        )
        self.market = market
        market.start()
        view = market.wait_ready(READY_TIMEOUT_S)
        if view.paused:
            raise RuntimeError(
                f"{config.venue}: books not ready after {READY_TIMEOUT_S:g} s: {dict(view.paused)}"
            )
        instruments = {a: InstrumentSpec(*r) for a, r in instrument_rules(config, spec).items()}
        agent = EdgeAgent(
            VenueConfig(config.venue, instruments, latency_budget_ms=config.latency_budget_ms),
            dict(view.curves),
        )
        agent.reference_prices.update(view.mids)
        inventory, live_venue = dict(paper_inventory(config)), None
        if live:
            if secrets is None:
                raise ConfigError("credentials: live mode needs api_key_env and secret_env, or file")
            from agents.venues.kalshi import live_account

            inventory, live_venue = live_account(
                config,
                secrets.api_key.get_secret_value(),
                secrets.secret.get_secret_value(),
                state_dir / OUTBOX_FILE,
            )
        runtime = AgentRuntime(
            agent,
            state_dir,
            inventory=inventory,
            quote=config.quote_asset,
            limits=self._limits(),
            on_outcome=self._on_outcome,
            live=live_venue,
            client_ids=RULES[spec.name] if live else "paper",
        )
        return agent, runtime

    def _build_pool(self, state_dir: Path) -> tuple[EdgeAgent, AgentRuntime]:
        """A Solana pool venue: chain-state curve (Jupiter fallback), paper fills at the pool's exact math."""
        from agents.solana.venue import build_pool_agent

        market, agent, runtime = build_pool_agent(
            self.config, state_dir, emit=self.emit, on_outcome=self._on_outcome, limits=self._limits()
        )
        self.market = market
        return agent, runtime

    def _privacy(self) -> AgentPrivacy | None:
        """``[privacy]``: every answer a release under a zCDP window budget; each spend is an event."""
        settings = self.config.privacy
        if settings.epsilon_per_session is None:
            return None
        from agents.privacy.accountant import PrivacyAccountant, PrivacyPolicy
        from agents.private_release import SessionPrivacy, rho_for_epsilon

        window_epsilon = settings.window_epsilon or 24 * settings.epsilon_per_session
        policy = PrivacyPolicy(
            rho_for_epsilon(window_epsilon, settings.delta), settings.window_s, delta=settings.delta
        )

        def spent(record: PrivacySpendRecord) -> None:
            self.emit({"event": "privacy_spend", **record.model_dump(mode="json")})
            self._to_ledger(ir_pb2.AUDIT_KIND_PRIVACY_SPEND, record.canonical_json())

        accountant = PrivacyAccountant(self.config.venue, policy, on_spend=spent)
        session = SessionPrivacy.for_epsilon(settings.epsilon_per_session, settings.delta)
        return AgentPrivacy(accountant, session)

    def adapter_identity(self) -> tuple[str, str]:
        """(name, version) of the adapter this agent runs, as ``registry describe`` registers it: named at
        join so that a coordinator with a registry can check it."""
        if self.prediction is not None:  # no manifest is registered for prediction venues yet
            return f"arbsphere-venue-{self.prediction.name}", "0.1.0"
        if self.pool_venue:  # nor for Solana pools
            return f"arbsphere-venue-{self.config.exchange}", "0.1.0"
        if self.spec is None:
            from agents.feeds.adapters import SimulatedFeedAdapter

            manifest = SimulatedFeedAdapter.manifest
            return manifest.name, str(manifest.version)
        from agents.feeds.live_adapter import feed_adapter_class

        return f"arbsphere-venue-{self.spec.name}", str(feed_adapter_class(self.spec).manifest.version)

    def _to_ledger(self, kind: int, body: bytes) -> None:
        """An agent-signed ledger record (privacy spend, control action) for the coordinator."""
        if self.runner is not None:
            self.runner.send_record(kind, body)
        else:
            self._unsent_records.append((kind, body))

    def _control_emit(self, event: dict[str, object]) -> None:
        """Control events go to the event log and, signed, to the ledger (who did what, applied or not,
        the resulting mode; never the positions an emergency hedge handed over)."""
        self.emit(event)
        if event.get("event") == "control":
            fields = ("action", "actor", "venue", "ok", "mode", "ts_ms")
            body = canonical_json({key: event.get(key) for key in fields})
            self._to_ledger(ir_pb2.AUDIT_KIND_CONTROL, body)

    # -- running ----------------------------------------------------------------------------------------
    def _on_outcome(self, outcome: PlanOutcome) -> None:
        self.emit(execution_event(outcome, self._tick_ns, self._plan_ns.pop(outcome.sequence, 0)))
        if self.opportunities is not None:
            self.opportunities.executed(outcome)
        if self.runner is not None:
            self.runner.send_report(execution_report(outcome))
        else:  # recovered at start-up: reported once the agent has joined
            self._unreported.append(outcome)

    def run(self) -> dict[str, object]:
        """Join the region and serve sessions until done; returns the closing summary."""
        config = self.config
        self._tick_ns = time.monotonic_ns()
        self._plan_ns: dict[int, int] = {}
        state_dir = self._state_dir()
        try:
            if self.prediction is not None:
                agent, runtime = self._build_prediction(state_dir)
            elif self.pool_venue:
                agent, runtime = self._build_pool(state_dir)
            elif self.spec is None:
                agent, runtime = self._build_simulated(state_dir)
            else:
                agent, runtime = self._build_venue(state_dir)
            self.runtime = runtime
            plan_store = PlanStateStore(state_dir / PLAN_STATE_FILE, config.venue)
            saved = plan_store.load()
            agent.plan_state = saved.state
            agent.privacy = self._privacy()
            agent.commitments = CommitmentKey.load_or_create(state_dir)
            identity = load_or_create_identity(state_dir / IDENTITY_FILE)
            self.market.set_observer(runtime.feed_observer())
            runtime.on_hedge = self.emit
            if config.risk.observe_only:
                runtime.risk.observe_only("operator started the agent observe-only", runtime.clock.now_ms())
            controls = self.controls = AgentControls(runtime, emit=self._control_emit)
            feed = self.opportunities = OpportunityFeed(
                config.venue,
                min_pnl=config.windows.min_pnl,
                grace_ms=config.windows.grace_ms,
                now_ms=runtime.clock.now_ms,
                emit=self.emit,
            )
            assets_of = {spec.symbol: a for a, spec in agent.config.instruments.items()}
            self.status = AgentStatus(
                runtime,
                config,
                controls,
                sessions=lambda: self.runner.stats.sessions if self.runner is not None else 0,
                opportunities=feed,
            )
            self.recovered = runtime.recover()
            if self.recovered or self._unreported or saved.last_seen:
                self.emit(
                    {
                        "event": "recovered",
                        "venue": config.venue,
                        "orders": self.recovered,
                        "plans": len(self._unreported),
                        "last_sequence": saved.last_seen,
                    }
                )
            mids = dict(agent.reference_prices)
            paused: dict[str, str] = {}

            def before_session(index: int) -> None:
                self._tick_ns = time.monotonic_ns()
                view: MarketView = self.market.refresh(index)
                agent.update_curves(view.curves)
                agent.reference_prices.update(view.mids)
                mids.update(view.mids)
                paused.clear()
                paused.update(view.paused)
                runtime.market_moved()
                runtime.constrain(inventory_limits=config.caps.inventory_limits, paused=set(paused))
                self._report_health(agent)
                feed.tick()  # a window whose grace ran out closes before this session's opportunity
                last = _last_consensus(agent)
                if last is not None:
                    shown = controls.observe(*last)  # observe-only: the plan it would trade, not sent
                    if shown is not None:
                        feed.would_trade(shown, assets_of, last[1])

            def on_plan(plan: CommittedPlan) -> None:
                bind(session=plan.delta.session_id, sequence=plan.delta.sequence)  # this thread's log lines
                self._plan_ns[plan.delta.sequence] = time.monotonic_ns()
                self.emit(plan_event(plan))  # first: its execution may be reported from another thread
                feed.plan(plan, agent.curves)  # never raises: the view never keeps a plan from executing
                runtime.execute(plan)

            def settle() -> None:
                if not runtime.settle(10.0):
                    self.emit(
                        {
                            "event": "notice",
                            "venue": config.venue,
                            "detail": "executions still open at shutdown",
                        }
                    )

            cert_dir = config.coordinator.cert_dir
            credential_file = config.coordinator.credential_file
            assert cert_dir is not None and config.coordinator.target is not None
            self.runner = AgentRunner(
                agent,
                config.coordinator.target,
                self._certificate_source(cert_dir),
                lambda: mids,
                server_name=config.coordinator.server_name,
                on_plan=on_plan,
                before_session=before_session,
                before_close=settle,
                credential=(lambda: credential_file.read_text().strip())
                if credential_file is not None
                else None,
                plan_store=plan_store,
                identity=identity,
                adapter=self.adapter_identity(),
                events=self.emit,
            )
            for kind, body in self._unsent_records:  # spends and controls from before the runner existed
                self.runner.send_record(kind, body)
            self._unsent_records.clear()
            if self.on_ready is not None:
                self.on_ready(self)
            for outcome in self._unreported:  # queued until the stream is up
                self.runner.send_report(execution_report(outcome))
            self._unreported.clear()
            runtime.start()
            try:
                stats = self.runner.run(max_sessions=config.sessions or None)
                if isinstance(self.market, PredictionMarket) and config.resolution_wait_s > 0:
                    hold_to_resolution(self.market, runtime, venue=config.venue, quote=config.quote_asset,
                                       start=paper_inventory(config), wait_s=config.resolution_wait_s,
                                       emit=self.emit)  # fmt: skip
            finally:
                runtime.close()
            inventory = runtime.inventory()
            return {
                "event": "agent_done",
                "venue": config.venue,
                "sessions": stats.sessions,
                "rounds": stats.rounds,
                "connects": stats.connects,
                "refused": stats.refused,
                "execution_reports": stats.reports,
                "inventory": {a: format(q, "f") for a, q in sorted(inventory.items())},
            }
        finally:
            self.market_close()
            if self._temporary_state is not None:
                shutil.rmtree(self._temporary_state, ignore_errors=True)

    def _report_health(self, agent: EdgeAgent) -> None:
        """Before each session: the last session's local solve times and inventory drift
        (``session_stats``) and, every ``FEED_HEALTH_S``, the feeds' health (``feed_health``)."""
        solve = [round(ns / 1e6, 4) for ns in agent.solve_ns][-MAX_SOLVES_REPORTED:]
        agent.solve_ns.clear()
        drift = {a: format(q, "f") for a, q in sorted(agent.hedge_targets.items())}
        if solve or drift or self._drift_reported:
            self.emit({"event": "session_stats", "venue": self.config.venue, "solve_ms": solve,
                       "inventory_drift": drift})  # fmt: skip
            self._drift_reported = bool(drift)
        now = time.monotonic()
        if now - self._health_at >= FEED_HEALTH_S:
            self._health_at = now
            feeds = {name: h.as_event() for name, h in self.market.health().items()}
            self.emit({"event": "feed_health", "venue": self.config.venue, "feeds": feeds})

    def _certificate_source(self, cert_dir: Path) -> CertificateSource:
        """The agent's certificate: renewed from the region's CA service (``coordinator.ca_url``) at two
        thirds of its ttl, else re-read from ``cert_dir``; renewals and failures are events."""
        venue = self.config.venue

        def renewed(bundle: CertificateBundle) -> None:
            self.emit({"event": "certificate_renewed", "venue": venue, **renewal_record(bundle, source)})

        def failed(reason: str, retry_s: float) -> None:
            self.emit(
                {
                    "event": "certificate_renewal_failed",
                    "venue": venue,
                    "reason": reason,
                    "retry_in_s": round(retry_s, 1),
                }
            )

        source = CertificateSource(
            cert_dir, ca_url=self.config.coordinator.ca_url, on_renewed=renewed, on_failure=failed
        )
        return source

    def market_close(self) -> None:
        market = getattr(self, "market", None)
        if market is not None:
            market.close()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop.set()


def _last_consensus(agent: EdgeAgent) -> tuple[str, dict[str, float]] | None:
    """The last session's id and its consensus prices (public, common to every venue), if any.

    ``EdgeAgent`` shows them only on a committed plan, and an observe-only agent commits none; its
    session participant keeps them until the next session starts (read here, at that start).
    """
    session = getattr(agent, "_session", None)
    prices = getattr(session, "prices", None)
    if session is None or prices is None:
        return None
    out = {a: float(p) for a, p in zip(session.assets, prices, strict=True) if math.isfinite(float(p))}
    return str(session.session_id), out


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
