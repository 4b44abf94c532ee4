"""Hypothesis strategies producing valid IR models."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from energibridge.models import (
    AssetLimit,
    AuditKind,
    AuditLogEntry,
    BookLevel,
    CostModel,
    CpmmState,
    DualVariables,
    Instrument,
    LiquidityBudget,
    LocalArbProblem,
    OrderBookState,
    PlanDelta,
    PlanLeg,
    PrivacyBudget,
    PrivacyMechanism,
    RoundStatus,
    SharedSignals,
    Side,
    TimeRounds,
    VenueKind,
)
from energibridge.version import IrVersion

ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:/.", min_size=1, max_size=24
)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
non_negative = st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e12)
positive = st.floats(allow_nan=False, allow_infinity=False, min_value=1e-9, max_value=1e9)
positive_decimal = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e9"), places=8)
versions = st.builds(IrVersion, major=st.just(1), minor=st.integers(0, 50), patch=st.integers(0, 50))
digests = st.binary(min_size=0, max_size=32)
uint64 = st.integers(0, 2**64 - 1)


@st.composite
def plan_legs(draw: st.DrawFn, index: int = 0) -> PlanLeg:
    return PlanLeg(
        instrument=draw(ids),
        side=draw(st.sampled_from(Side)),
        size=draw(positive_decimal),
        limit_price=draw(positive_decimal),
        deadline_unix_ms=draw(st.integers(1, 2**62)),
        idempotency_key=f"{draw(ids)}#{index}",
        asset=draw(ids),
    )


@st.composite
def plan_deltas(draw: st.DrawFn) -> PlanDelta:
    n = draw(st.integers(1, 6))
    sequence = draw(st.integers(1, 2**63))
    return PlanDelta(
        ir_version=draw(versions),
        session_id=draw(ids),
        venue_id=draw(ids),
        sequence=sequence,
        previous_sequence=draw(st.integers(0, sequence - 1)),
        previous_state_hash=draw(digests),
        legs=tuple(draw(plan_legs(i)) for i in range(n)),
        state_hash=draw(digests),
        expected_profit_quote=draw(
            st.decimals(
                min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False, places=6
            )
        ),
    )


@st.composite
def shared_signals(draw: st.DrawFn) -> SharedSignals:
    assets = draw(st.lists(ids, unique=True, max_size=8))
    n = len(assets)
    return SharedSignals(
        ir_version=draw(versions),
        session_id=draw(ids),
        round_id=draw(uint64),
        assets=tuple(assets),
        consensus_prices=tuple(draw(st.lists(finite, min_size=n, max_size=n))),
        imbalance=tuple(draw(st.lists(finite, min_size=n, max_size=n))),
        primal_residual=draw(non_negative),
        dual_residual=draw(non_negative),
        aggregated_liquidity_quote=draw(non_negative),
        aggregated_latency_ms=draw(non_negative),
        participants=draw(st.integers(0, 10_000)),
    )


@st.composite
def dual_variables(draw: st.DrawFn) -> DualVariables:
    assets = draw(st.lists(ids, unique=True, max_size=8))
    return DualVariables(
        ir_version=draw(versions),
        session_id=draw(ids),
        round_id=draw(uint64),
        assets=tuple(assets),
        scaled_duals=tuple(draw(st.lists(finite, min_size=len(assets), max_size=len(assets)))),
        rho=draw(positive),
        rho_per_asset=tuple(
            draw(st.one_of(st.just([]), st.lists(positive, min_size=len(assets), max_size=len(assets))))
        ),
    )


@st.composite
def order_books(draw: st.DrawFn) -> OrderBookState:
    mid = draw(st.floats(min_value=1.0, max_value=1e5))
    bid_steps = draw(st.lists(st.floats(min_value=1e-3, max_value=0.5), max_size=6))
    ask_steps = draw(st.lists(st.floats(min_value=1e-3, max_value=0.5), max_size=6))
    bids, price = [], mid * 0.999
    for step in bid_steps:
        bids.append(BookLevel(price=price, size=draw(non_negative)))
        price -= step
        if price <= 0:
            break
    asks, price = [], mid * 1.001
    for step in ask_steps:
        asks.append(BookLevel(price=price, size=draw(non_negative)))
        price += step
    return OrderBookState(
        bids=tuple(bids),
        asks=tuple(asks),
        taker_fee_bps=draw(st.floats(min_value=0, max_value=100)),
        book_usage_cap=draw(st.floats(min_value=0.01, max_value=1.0)),
    )


@st.composite
def local_problems(draw: st.DrawFn) -> LocalArbProblem:
    symbol = draw(ids)
    asset = draw(ids)
    use_book = draw(st.booleans())
    state = (
        CostModel(instrument=symbol, order_book=draw(order_books()))
        if use_book
        else CostModel(
            instrument=symbol,
            cpmm=CpmmState(
                reserve_base=draw(st.integers(1, 2**200)),
                reserve_quote=draw(st.integers(1, 2**200)),
                fee_pips=draw(st.integers(0, 999_999)),
            ),
        )
    )
    return LocalArbProblem(
        ir_version=draw(versions),
        venue_id=draw(ids),
        venue_kind=VenueKind.ORDER_BOOK if use_book else VenueKind.CPMM,
        instruments=(
            Instrument(
                symbol=symbol,
                asset=asset,
                quote="USD",
                lot_size=draw(positive_decimal),
                min_notional=draw(positive_decimal),
                tick_size=draw(positive_decimal),
            ),
        ),
        cost_models=(state,),
        min_edge_bps=draw(non_negative),
        liquidity_budget=LiquidityBudget(
            max_notional_quote=draw(non_negative),
            limits=(AssetLimit(asset=asset, max_buy=draw(non_negative), max_sell=draw(non_negative)),),
        ),
        latency_budget_ms=draw(st.integers(1, 60_000)),
    )


@st.composite
def time_rounds(draw: st.DrawFn) -> TimeRounds:
    opened = draw(st.integers(0, 2**62))
    return TimeRounds(
        ir_version=draw(versions),
        session_id=draw(ids),
        round_id=draw(uint64),
        opened_unix_ms=opened,
        deadline_unix_ms=opened + draw(st.integers(0, 10**6)),
        participants=tuple(draw(st.lists(ids, unique=True, max_size=10))),
        status=draw(st.sampled_from(RoundStatus)),
    )


@st.composite
def privacy_budgets(draw: st.DrawFn) -> PrivacyBudget:
    rho = draw(non_negative)
    return PrivacyBudget(
        ir_version=draw(versions),
        agent_id=draw(ids),
        window_start_unix_ms=draw(st.integers(0, 2**62)),
        window_seconds=draw(st.integers(1, 2**32 - 1)),
        epsilon=draw(non_negative),
        delta=draw(st.floats(min_value=0, max_value=0.5)),
        zcdp_rho=rho,
        spent_zcdp_rho=draw(st.floats(min_value=0, max_value=rho)) if rho > 0 else 0.0,
        mechanism=draw(st.sampled_from(PrivacyMechanism)),
    )


@st.composite
def audit_entries(draw: st.DrawFn) -> AuditLogEntry:
    return AuditLogEntry(
        ir_version=draw(versions),
        index=draw(uint64),
        kind=draw(st.sampled_from(AuditKind)),
        timestamp_unix_ms=draw(st.integers(0, 2**62)),
        actor_did=draw(ids),
        payload=draw(st.binary(max_size=256)),
        payload_hash=draw(digests),
        previous_hash=draw(digests),
        signature=draw(st.binary(max_size=64)),
    )


any_model = st.one_of(
    plan_deltas(),
    shared_signals(),
    dual_variables(),
    local_problems(),
    time_rounds(),
    privacy_budgets(),
    audit_entries(),
)
