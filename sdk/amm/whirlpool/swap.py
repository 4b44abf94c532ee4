"""A Whirlpool swap across tick arrays, integer for integer with the program's ``swap_manager``.

Given the pool state, up to three tick arrays in the direction of travel and a sqrt price limit, :func:`swap`
returns what the program would write back: the token amounts, the price, tick and liquidity the pool ends on,
the input token's global fee growth (Q64.64) and the protocol fee owed. The protocol fee is a share of each
step's fee (``fee * protocol_fee_rate / 1e4``); the rest grows ``fee_growth_global`` per unit of liquidity.
Errors are the program's (:class:`~sdk.amm.whirlpool.errors.WhirlpoolError` with its ``code``), raised at the
same point. Reward accrual is left out: it does not change any of these numbers.

This is the swap of the program at the commit the recorded test cases come from (before adaptive fees): a pool
with an adaptive fee tier charges a variable fee on top, which this module does not model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sdk.amm.errors import AmmInputError
from sdk.amm.uint import require_bool, require_int, require_uint
from sdk.amm.whirlpool.errors import WhirlpoolError
from sdk.amm.whirlpool.swap_math import (
    PROTOCOL_FEE_RATE_DENOMINATOR,
    compute_swap_step,
)
from sdk.amm.whirlpool.tick_array import (
    TICK_ARRAY_SIZE,
    Tick,
    TickArray,
    next_initialized_tick_in_sequence,
)
from sdk.amm.whirlpool.tick_math import (
    MAX_SQRT_PRICE_X64,
    MAX_TICK_INDEX,
    MIN_SQRT_PRICE_X64,
    MIN_TICK_INDEX,
    sqrt_price_from_tick_index,
    tick_index_from_sqrt_price,
)

#: Passing 0 as the limit means "as far as the arrays go" and makes a partial exact-output fill an error.
NO_EXPLICIT_SQRT_PRICE_LIMIT = 0
_MOD64 = 1 << 64
_MOD128 = 1 << 128


@dataclass(frozen=True, slots=True)
class WhirlpoolState:
    """The fields of a Whirlpool account a swap reads (Q64.64 sqrt price and fee growths)."""

    sqrt_price: int
    tick_current_index: int
    liquidity: int
    tick_spacing: int
    fee_rate: int
    protocol_fee_rate: int
    fee_growth_global_a: int = 0
    fee_growth_global_b: int = 0

    def __post_init__(self) -> None:
        require_uint("sqrt_price", self.sqrt_price, 128)
        require_int("tick_current_index", self.tick_current_index, 32)
        require_uint("liquidity", self.liquidity, 128)
        require_uint("tick_spacing", self.tick_spacing, 16)
        if self.tick_spacing == 0:
            raise AmmInputError("tick_spacing must be > 0, got 0")
        require_uint("fee_rate", self.fee_rate, 16)
        require_uint("protocol_fee_rate", self.protocol_fee_rate, 16)
        require_uint("fee_growth_global_a", self.fee_growth_global_a, 128)
        require_uint("fee_growth_global_b", self.fee_growth_global_b, 128)


@dataclass(frozen=True, slots=True)
class SwapResult:
    """What the swap writes back. ``amount_a``/``amount_b`` are unsigned: the input side is paid in (fee
    included), the other paid out. ``next_fee_growth_global`` is the input token's; ``crossed`` lists the
    initialized ticks crossed, with their updated state."""

    amount_a: int
    amount_b: int
    next_liquidity: int
    next_tick_index: int
    next_sqrt_price: int
    next_fee_growth_global: int
    next_protocol_fee: int
    crossed: tuple[tuple[int, Tick], ...] = field(default=())


def sequence_sqrt_price_limit(tick_arrays: Sequence[TickArray], tick_spacing: int, a_to_b: bool) -> int:
    """The sqrt price at the far edge of the given arrays (clamped to the tick range).

    With no explicit limit a swap that runs past its last array fails (``TickArraySequenceInvalidIndex``);
    with this limit it stops at the edge instead, which is how a quote for "as much as these arrays allow" is
    asked (the program's own swap tests use the same limit).
    """
    if not tick_arrays:
        raise AmmInputError("tick_arrays must hold at least one array, got none")
    last = tick_arrays[-1].start_tick_index
    edge = last if a_to_b else last + TICK_ARRAY_SIZE * tick_spacing - 1
    return sqrt_price_from_tick_index(max(MIN_TICK_INDEX, min(MAX_TICK_INDEX, edge)))


def _cross(tick: Tick, fee_growth_a: int, fee_growth_b: int) -> Tick:
    return Tick(
        tick.liquidity_net,
        tick.liquidity_gross,
        (fee_growth_a - tick.fee_growth_outside_a) % _MOD128,
        (fee_growth_b - tick.fee_growth_outside_b) % _MOD128,
    )


def _add_liquidity_delta(liquidity: int, delta: int, tick_index: int) -> int:
    after = liquidity + delta
    if after < 0:
        raise WhirlpoolError("LiquidityUnderflow", f"liquidity {liquidity} + {delta} at tick {tick_index}")
    if after >= _MOD128:
        raise WhirlpoolError("LiquidityOverflow", f"liquidity {liquidity} + {delta} at tick {tick_index}")
    return after


def swap(
    pool: WhirlpoolState,
    tick_arrays: Sequence[TickArray],
    amount: int,
    *,
    sqrt_price_limit: int,
    amount_specified_is_input: bool,
    a_to_b: bool,
) -> SwapResult:
    """Simulate the program's swap; raises :class:`WhirlpoolError` exactly where the program fails."""
    require_uint("amount", amount, 64)
    require_uint("sqrt_price_limit", sqrt_price_limit, 128)
    require_bool("amount_specified_is_input", amount_specified_is_input)
    require_bool("a_to_b", a_to_b)
    if not 1 <= len(tick_arrays) <= 3:
        raise AmmInputError(f"tick_arrays must hold 1 to 3 arrays, got {len(tick_arrays)}")
    limit = sqrt_price_limit
    if limit == NO_EXPLICIT_SQRT_PRICE_LIMIT:
        limit = MIN_SQRT_PRICE_X64 if a_to_b else MAX_SQRT_PRICE_X64
    if not MIN_SQRT_PRICE_X64 <= limit <= MAX_SQRT_PRICE_X64:
        raise WhirlpoolError(
            "SqrtPriceOutOfBounds",
            f"sqrt_price_limit {limit} is outside [{MIN_SQRT_PRICE_X64}, {MAX_SQRT_PRICE_X64}]",
        )
    if (a_to_b and limit > pool.sqrt_price) or (not a_to_b and limit < pool.sqrt_price):
        raise WhirlpoolError(
            "InvalidSqrtPriceLimitDirection",
            f"sqrt_price_limit {limit} is {'above' if a_to_b else 'below'} the pool's sqrt price "
            f"{pool.sqrt_price} for a {'a to b' if a_to_b else 'b to a'} swap",
        )
    if amount == 0:
        raise WhirlpoolError("ZeroTradableAmount", "amount is 0")

    spacing = pool.tick_spacing
    fee_rate = pool.fee_rate
    protocol_rate = pool.protocol_fee_rate
    remaining = amount
    calculated = 0
    price = pool.sqrt_price
    tick = pool.tick_current_index
    liquidity = pool.liquidity
    protocol_fee = 0
    array_index = 0
    fee_growth = pool.fee_growth_global_a if a_to_b else pool.fee_growth_global_b
    crossed: dict[int, Tick] = {}

    while remaining > 0 and limit != price:
        next_array, next_tick = next_initialized_tick_in_sequence(
            tick_arrays, tick, spacing, a_to_b, array_index
        )
        next_tick_price = sqrt_price_from_tick_index(next_tick)
        target = max(limit, next_tick_price) if a_to_b else min(limit, next_tick_price)
        step = compute_swap_step(
            remaining,
            fee_rate,
            liquidity,
            price,
            target,
            amount_specified_is_input=amount_specified_is_input,
            a_to_b=a_to_b,
        )
        if amount_specified_is_input:
            remaining -= step.amount_in
            if remaining < 0:
                raise WhirlpoolError("AmountRemainingOverflow", "step input exceeds the amount remaining")
            remaining -= step.fee_amount
            if remaining < 0:
                raise WhirlpoolError("AmountRemainingOverflow", "step fee exceeds the amount remaining")
            calculated += step.amount_out
            if calculated >= _MOD64:
                raise WhirlpoolError("AmountCalcOverflow", f"output total {calculated} exceeds u64")
        else:
            remaining -= step.amount_out
            if remaining < 0:
                raise WhirlpoolError("AmountRemainingOverflow", "step output exceeds the amount remaining")
            calculated += step.amount_in
            if calculated >= _MOD64:
                raise WhirlpoolError("AmountCalcOverflow", f"input total {calculated} exceeds u64")
            calculated += step.fee_amount
            if calculated >= _MOD64:
                raise WhirlpoolError("AmountCalcOverflow", f"input total with fee {calculated} exceeds u64")

        lp_fee = step.fee_amount
        if protocol_rate > 0:
            delta = lp_fee * protocol_rate // PROTOCOL_FEE_RATE_DENOMINATOR
            lp_fee -= delta
            protocol_fee = (protocol_fee + delta) % _MOD64
        if liquidity > 0:
            fee_growth = (fee_growth + (lp_fee << 64) // liquidity) % _MOD128

        if step.next_sqrt_price == next_tick_price:
            array = tick_arrays[next_array]
            tick_state = crossed.get(next_tick) or array.tick_at(next_tick, spacing)
            if tick_state is not None:
                growth_a = fee_growth if a_to_b else pool.fee_growth_global_a
                growth_b = pool.fee_growth_global_b if a_to_b else fee_growth
                crossed[next_tick] = _cross(tick_state, growth_a, growth_b)
                net = -tick_state.liquidity_net if a_to_b else tick_state.liquidity_net
                liquidity = _add_liquidity_delta(liquidity, net, next_tick)
            offset = array.offset(next_tick, spacing)
            at_edge = offset == 0 if a_to_b else offset == TICK_ARRAY_SIZE - 1
            array_index = next_array + 1 if at_edge else next_array
            tick = next_tick - 1 if a_to_b else next_tick
        elif step.next_sqrt_price != price:
            tick = tick_index_from_sqrt_price(step.next_sqrt_price)
        price = step.next_sqrt_price

    if remaining > 0 and not amount_specified_is_input and sqrt_price_limit == NO_EXPLICIT_SQRT_PRICE_LIMIT:
        raise WhirlpoolError("PartialFillError", f"{remaining} of the {amount} output could not be filled")
    if a_to_b == amount_specified_is_input:
        amount_a, amount_b = amount - remaining, calculated
    else:
        amount_a, amount_b = calculated, amount - remaining
    return SwapResult(
        amount_a=amount_a,
        amount_b=amount_b,
        next_liquidity=liquidity,
        next_tick_index=tick,
        next_sqrt_price=price,
        next_fee_growth_global=fee_growth,
        next_protocol_fee=protocol_fee,
        crossed=tuple(sorted(crossed.items())),
    )
