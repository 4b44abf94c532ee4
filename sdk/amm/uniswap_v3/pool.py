"""An exact, in-memory Uniswap v3 pool: positions, initialized ticks, tick crossing and ``swap``.

It reproduces ``UniswapV3Pool`` integer for integer where it matters for execution: the amounts a swap takes
and pays, the price and tick it ends on, the active liquidity and the fee growth accumulators (``X128``). What
is left out does not change those numbers: the TWAP oracle, per-position fee accounting (``tokensOwed``),
``collect``, flash loans and the reentrancy lock (there are no callbacks; the payer is assumed to pay exactly
what is owed).

Sign convention of amounts (as the contract): positive = paid into the pool, negative = paid out.
``amount_specified > 0`` is an exact input, ``< 0`` an exact output; the direction is ``zero_for_one``.

Orca Whirlpool (Solana) uses the same tick definition (``price = 1.0001**tick``) and the same fee unit
(hundredths of a bip), but stores the sqrt price as Q64.64 (``sqrt_price_x64 = sqrt(price) * 2**64``) with
ticks limited to ``[-443636, 443636]`` (sqrt prices ``4295048016`` .. ``79226673515401279992447579055``). A
Q64.96 value maps to Q64.64 by ``>> 32`` up to rounding in the last bit; Whirlpool computes its sqrt prices
with its own constants and walks 88-tick arrays rather than 256-bit bitmap words, so exact Whirlpool amounts
need its own rounding path, while this module gives the same curve for sizing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sdk.amm.errors import AmmInputError, UniswapV3Revert
from sdk.amm.full_math import mul_div
from sdk.amm.uint import MAX_INT256, MAX_UINT128, require_bool, require_int, require_uint
from sdk.amm.uniswap_v3.sqrt_price_math import get_amount0_delta_signed, get_amount1_delta_signed
from sdk.amm.uniswap_v3.swap_math import compute_swap_step, require_fee_pips
from sdk.amm.uniswap_v3.tick_bitmap import TickBitmap
from sdk.amm.uniswap_v3.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)

Q128 = 1 << 128
_MOD256 = 1 << 256
_MIN_INT128 = -(1 << 127)
_MAX_INT128 = (1 << 127) - 1


@dataclass(frozen=True, slots=True)
class TickInfo:
    """State of one initialized tick (``Tick.Info`` without the oracle fields)."""

    liquidity_gross: int
    liquidity_net: int
    fee_growth_outside0_x128: int
    fee_growth_outside1_x128: int


@dataclass(frozen=True, slots=True)
class SwapResult:
    """Outcome of a swap: pool balance deltas and the pool state after it."""

    amount0: int
    amount1: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    fee_growth_global0_x128: int
    fee_growth_global1_x128: int
    protocol_fee: int
    ticks_crossed: tuple[int, ...]


def _add_delta(liquidity: int, delta: int) -> int:
    """``LiquidityMath.addDelta`` with its ``LS`` (subtract underflow) and ``LA`` (add overflow) reverts."""
    result = liquidity + delta
    if delta < 0 and result < 0:
        raise UniswapV3Revert("LS", f"liquidity {liquidity} cannot drop by {-delta}")
    if result > MAX_UINT128:
        raise UniswapV3Revert("LA", "liquidity would exceed uint128")
    return result


def _to_int256(value: int) -> int:
    if value > MAX_INT256:
        raise UniswapV3Revert("INT256_OVERFLOW", "swap amount does not fit in int256")
    return value


def max_liquidity_per_tick(tick_spacing: int) -> int:
    """``Tick.tickSpacingToMaxLiquidityPerTick``: uint128 max spread over every usable tick."""
    min_tick = -(-MIN_TICK // tick_spacing) * tick_spacing  # Solidity truncates toward zero
    max_tick = (MAX_TICK // tick_spacing) * tick_spacing
    num_ticks = (max_tick - min_tick) // tick_spacing + 1
    return MAX_UINT128 // num_ticks


def _check_fee_protocol(fee_protocol: int) -> int:
    require_uint("fee_protocol", fee_protocol, 8)
    for share in (fee_protocol % 16, fee_protocol >> 4):
        if share != 0 and not 4 <= share <= 10:
            raise AmmInputError(
                "fee_protocol nibbles must each be 0 or in [4, 10] (1/N of the swap fee), "
                f"got {fee_protocol:#04x}"
            )
    return fee_protocol


class Pool:
    """A v3 pool initialized at ``sqrt_price_x96``, with ``fee_pips`` (3000) and ``tick_spacing`` (60).

    ``fee_protocol`` packs the protocol's share per token as in ``slot0`` (low nibble token0, high nibble
    token1; each 0 = off, or N in [4, 10] for 1/N of the swap fee).
    """

    def __init__(self, fee_pips: int, tick_spacing: int, sqrt_price_x96: int, fee_protocol: int = 0) -> None:
        self.fee_pips = require_fee_pips(fee_pips)
        require_int("tick_spacing", tick_spacing, 24)
        if not 0 < tick_spacing < 16384:
            raise AmmInputError(f"tick_spacing must be in (0, 16384), got {tick_spacing}")
        self.tick_spacing = tick_spacing
        self.fee_protocol = _check_fee_protocol(fee_protocol)
        self._tick = get_tick_at_sqrt_ratio(sqrt_price_x96)
        self._sqrt_price_x96 = sqrt_price_x96
        self._liquidity = 0
        self._fee_growth_global0_x128 = 0
        self._fee_growth_global1_x128 = 0
        self._protocol_fees0 = 0
        self._protocol_fees1 = 0
        self._balance0 = 0
        self._balance1 = 0
        self._ticks: dict[int, TickInfo] = {}
        self._bitmap = TickBitmap(tick_spacing)
        self._positions: dict[tuple[int, int], int] = {}
        self.max_liquidity_per_tick = max_liquidity_per_tick(tick_spacing)

    # -- state -----------------------------------------------------------------------------------------------

    @property
    def sqrt_price_x96(self) -> int:
        """Current sqrt price, Q64.96."""
        return self._sqrt_price_x96

    @property
    def tick(self) -> int:
        """Current tick (``slot0.tick``); after a downward crossing it can sit one below the price's tick."""
        return self._tick

    @property
    def liquidity(self) -> int:
        """Active (in-range) liquidity."""
        return self._liquidity

    @property
    def fee_growth_global0_x128(self) -> int:
        """Token0 fees earned per unit of liquidity over the pool's life, Q128.128 (wraps mod 2**256)."""
        return self._fee_growth_global0_x128

    @property
    def fee_growth_global1_x128(self) -> int:
        """Token1 fees earned per unit of liquidity over the pool's life, Q128.128 (wraps mod 2**256)."""
        return self._fee_growth_global1_x128

    @property
    def protocol_fees(self) -> tuple[int, int]:
        """Protocol fees accrued in token0 and token1."""
        return self._protocol_fees0, self._protocol_fees1

    @property
    def balances(self) -> tuple[int, int]:
        """Token balances held by the pool (mints and swaps; burned amounts stay until collected)."""
        return self._balance0, self._balance1

    def tick_info(self, tick: int) -> TickInfo | None:
        """State of an initialized tick, ``None`` if it is not initialized."""
        return self._ticks.get(tick)

    def initialized_ticks(self) -> tuple[int, ...]:
        """All initialized ticks, ascending."""
        return self._bitmap.initialized_ticks()

    def position_liquidity(self, tick_lower: int, tick_upper: int) -> int:
        """Liquidity of the (single-owner) position on ``[tick_lower, tick_upper)``."""
        return self._positions.get((tick_lower, tick_upper), 0)

    # -- liquidity -------------------------------------------------------------------------------------------

    def _check_ticks(self, tick_lower: int, tick_upper: int) -> None:
        require_int("tick_lower", tick_lower, 24)
        require_int("tick_upper", tick_upper, 24)
        if tick_lower >= tick_upper:
            raise UniswapV3Revert("TLU", f"tick_lower {tick_lower} must be < tick_upper {tick_upper}")
        if tick_lower < MIN_TICK:
            raise UniswapV3Revert("TLM", f"tick_lower {tick_lower} is below MIN_TICK {MIN_TICK}")
        if tick_upper > MAX_TICK:
            raise UniswapV3Revert("TUM", f"tick_upper {tick_upper} is above MAX_TICK {MAX_TICK}")
        for name, tick in (("tick_lower", tick_lower), ("tick_upper", tick_upper)):
            if tick % self.tick_spacing:
                raise AmmInputError(f"{name} {tick} is not a multiple of tick_spacing {self.tick_spacing}")

    def _update_tick(self, tick: int, liquidity_delta: int, upper: bool) -> tuple[TickInfo, bool]:
        """``Tick.update``: new info for ``tick`` and whether it flipped between initialized and not."""
        info = self._ticks.get(tick) or TickInfo(0, 0, 0, 0)
        gross_after = _add_delta(info.liquidity_gross, liquidity_delta)
        if gross_after > self.max_liquidity_per_tick:
            raise UniswapV3Revert(
                "LO", f"liquidity at tick {tick} would exceed {self.max_liquidity_per_tick}"
            )
        flipped = (gross_after == 0) != (info.liquidity_gross == 0)
        if info.liquidity_gross == 0 and tick <= self._tick:
            # By convention all fee growth before initialization happened below the tick.
            info = replace(
                info,
                fee_growth_outside0_x128=self._fee_growth_global0_x128,
                fee_growth_outside1_x128=self._fee_growth_global1_x128,
            )
        net = info.liquidity_net - liquidity_delta if upper else info.liquidity_net + liquidity_delta
        if not _MIN_INT128 <= net <= _MAX_INT128:
            raise UniswapV3Revert("LIQUIDITY_NET_OVERFLOW", f"liquidity_net at tick {tick} exceeds int128")
        return replace(info, liquidity_gross=gross_after, liquidity_net=net), flipped

    def _modify_position(self, tick_lower: int, tick_upper: int, liquidity_delta: int) -> tuple[int, int]:
        self._check_ticks(tick_lower, tick_upper)
        key = (tick_lower, tick_upper)
        position_after = _add_delta(self._positions.get(key, 0), liquidity_delta)
        lower_info, lower_flipped = self._update_tick(tick_lower, liquidity_delta, upper=False)
        upper_info, upper_flipped = self._update_tick(tick_upper, liquidity_delta, upper=True)
        sqrt_lower = get_sqrt_ratio_at_tick(tick_lower)
        sqrt_upper = get_sqrt_ratio_at_tick(tick_upper)
        amount0 = amount1 = 0
        liquidity_after = self._liquidity
        if self._tick < tick_lower:
            amount0 = get_amount0_delta_signed(sqrt_lower, sqrt_upper, liquidity_delta)
        elif self._tick < tick_upper:
            amount0 = get_amount0_delta_signed(self._sqrt_price_x96, sqrt_upper, liquidity_delta)
            amount1 = get_amount1_delta_signed(sqrt_lower, self._sqrt_price_x96, liquidity_delta)
            liquidity_after = _add_delta(self._liquidity, liquidity_delta)
        else:
            amount1 = get_amount1_delta_signed(sqrt_lower, sqrt_upper, liquidity_delta)
        # Every check passed: commit.
        for tick, info, flipped in (
            (tick_lower, lower_info, lower_flipped),
            (tick_upper, upper_info, upper_flipped),
        ):
            if flipped:
                self._bitmap.flip_tick(tick)
            if info.liquidity_gross == 0:
                self._ticks.pop(tick, None)
            else:
                self._ticks[tick] = info
        if position_after == 0:
            self._positions.pop(key, None)
        else:
            self._positions[key] = position_after
        self._liquidity = liquidity_after
        return amount0, amount1

    def mint(self, tick_lower: int, tick_upper: int, amount: int) -> tuple[int, int]:
        """Add ``amount`` of liquidity between the ticks; returns token0 and token1 paid in (rounded up)."""
        require_uint("amount", amount, 128)
        if amount == 0:
            raise UniswapV3Revert("ZERO_AMOUNT", "mint amount must be > 0")
        if amount > _MAX_INT128:
            raise AmmInputError(f"amount must fit int128 as a liquidity delta, got {amount}")
        amount0, amount1 = self._modify_position(tick_lower, tick_upper, amount)
        self._balance0 += amount0
        self._balance1 += amount1
        return amount0, amount1

    def burn(self, tick_lower: int, tick_upper: int, amount: int) -> tuple[int, int]:
        """Remove ``amount`` of liquidity; returns the tokens now owed to the owner (rounded down).

        As on chain, the tokens stay in the pool (and in :attr:`balances`) until collected; ``collect`` and
        accrued swap fees of the position are not modelled.
        """
        require_uint("amount", amount, 128)
        if amount > _MAX_INT128:
            raise AmmInputError(f"amount must fit int128 as a liquidity delta, got {amount}")
        held = self._positions.get((tick_lower, tick_upper), 0)
        if held == 0:
            raise UniswapV3Revert("NP", f"no position on [{tick_lower}, {tick_upper})")
        if amount > held:
            raise UniswapV3Revert("LS", f"position [{tick_lower}, {tick_upper}) holds less than {amount}")
        amount0, amount1 = self._modify_position(tick_lower, tick_upper, -amount)
        return -amount0, -amount1

    # -- swap ------------------------------------------------------------------------------------------------

    def _run_swap(
        self, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int | None
    ) -> tuple[SwapResult, dict[int, TickInfo]]:
        require_bool("zero_for_one", zero_for_one)
        require_int("amount_specified", amount_specified, 256)
        if sqrt_price_limit_x96 is None:
            sqrt_price_limit_x96 = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
        require_uint("sqrt_price_limit_x96", sqrt_price_limit_x96, 160)
        if amount_specified == 0:
            raise UniswapV3Revert("AS", "amount_specified must be non-zero")
        price = self._sqrt_price_x96
        if zero_for_one:
            valid_limit = MIN_SQRT_RATIO < sqrt_price_limit_x96 < price
        else:
            valid_limit = price < sqrt_price_limit_x96 < MAX_SQRT_RATIO
        if not valid_limit:
            side = "below" if zero_for_one else "above"
            raise UniswapV3Revert(
                "SPL",
                f"sqrt_price_limit_x96 {sqrt_price_limit_x96} must be strictly {side} the current price "
                f"{price} "
                f"and inside ({MIN_SQRT_RATIO}, {MAX_SQRT_RATIO})",
            )

        exact_input = amount_specified > 0
        remaining = amount_specified
        calculated = 0
        tick = self._tick
        liquidity = self._liquidity
        fee_growth = self._fee_growth_global0_x128 if zero_for_one else self._fee_growth_global1_x128
        other_fee_growth = self._fee_growth_global1_x128 if zero_for_one else self._fee_growth_global0_x128
        protocol_share = self.fee_protocol % 16 if zero_for_one else self.fee_protocol >> 4
        protocol_fee = 0
        crossed: dict[int, TickInfo] = {}
        order: list[int] = []

        while remaining != 0 and price != sqrt_price_limit_x96:
            start_price = price
            tick_next, initialized = self._bitmap.next_initialized_tick_within_one_word(tick, zero_for_one)
            tick_next = min(max(tick_next, MIN_TICK), MAX_TICK)
            price_next = get_sqrt_ratio_at_tick(tick_next)
            beyond_limit = (
                price_next < sqrt_price_limit_x96 if zero_for_one else price_next > sqrt_price_limit_x96
            )
            step = compute_swap_step(
                price,
                sqrt_price_limit_x96 if beyond_limit else price_next,
                liquidity,
                remaining,
                self.fee_pips,
            )
            price = step.sqrt_ratio_next_x96
            fee_amount = step.fee_amount
            if exact_input:
                remaining -= _to_int256(step.amount_in + fee_amount)
                calculated -= _to_int256(step.amount_out)
            else:
                remaining += _to_int256(step.amount_out)
                calculated += _to_int256(step.amount_in + fee_amount)
            if protocol_share:
                delta = fee_amount // protocol_share
                fee_amount -= delta
                protocol_fee += delta
            if liquidity > 0:
                fee_growth = (fee_growth + mul_div(fee_amount, Q128, liquidity)) % _MOD256
            if price == price_next:
                if initialized:
                    info = crossed.get(tick_next) or self._ticks[tick_next]
                    g0, g1 = (
                        (fee_growth, other_fee_growth) if zero_for_one else (other_fee_growth, fee_growth)
                    )
                    crossed[tick_next] = replace(
                        info,
                        fee_growth_outside0_x128=(g0 - info.fee_growth_outside0_x128) % _MOD256,
                        fee_growth_outside1_x128=(g1 - info.fee_growth_outside1_x128) % _MOD256,
                    )
                    order.append(tick_next)
                    liquidity = _add_delta(
                        liquidity, -info.liquidity_net if zero_for_one else info.liquidity_net
                    )
                tick = tick_next - 1 if zero_for_one else tick_next
            elif price != start_price:
                tick = get_tick_at_sqrt_ratio(price)

        if zero_for_one == exact_input:
            amount0, amount1 = amount_specified - remaining, calculated
        else:
            amount0, amount1 = calculated, amount_specified - remaining
        g0, g1 = (fee_growth, other_fee_growth) if zero_for_one else (other_fee_growth, fee_growth)
        result = SwapResult(
            amount0=amount0,
            amount1=amount1,
            sqrt_price_x96=price,
            tick=tick,
            liquidity=liquidity,
            fee_growth_global0_x128=g0,
            fee_growth_global1_x128=g1,
            protocol_fee=protocol_fee,
            ticks_crossed=tuple(order),
        )
        return result, crossed

    def quote(
        self, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int | None = None
    ) -> SwapResult:
        """What :meth:`swap` would do, without changing the pool."""
        result, _ = self._run_swap(zero_for_one, amount_specified, sqrt_price_limit_x96)
        return result

    def swap(
        self, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int | None = None
    ) -> SwapResult:
        """``UniswapV3Pool.swap``: trade and update the pool; the caller pays ``amount0``/``amount1`` when
        positive.

        ``sqrt_price_limit_x96`` defaults to the loosest legal limit (``MIN_SQRT_RATIO + 1`` going down,
        ``MAX_SQRT_RATIO - 1`` going up). Reverts ``AS`` for a zero amount and ``SPL`` for a limit on the
        wrong side of the current price or outside the legal range.
        """
        result, crossed = self._run_swap(zero_for_one, amount_specified, sqrt_price_limit_x96)
        self._ticks.update(crossed)
        self._sqrt_price_x96 = result.sqrt_price_x96
        self._tick = result.tick
        self._liquidity = result.liquidity
        self._fee_growth_global0_x128 = result.fee_growth_global0_x128
        self._fee_growth_global1_x128 = result.fee_growth_global1_x128
        if zero_for_one:
            self._protocol_fees0 += result.protocol_fee
        else:
            self._protocol_fees1 += result.protocol_fee
        self._balance0 += result.amount0
        self._balance1 += result.amount1
        return result
