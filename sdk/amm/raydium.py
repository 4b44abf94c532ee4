"""Exact Raydium constant-product math: the CPMM program (``cp-swap``) and the legacy AMM v4, fees included.

Both are ``x * y = k`` pools whose *swap reserves* are not the vault balances:

* **CPMM**: a vault also holds fees owed to the protocol, the fund and the pool creator until they are
  collected, so ``reserve = vault - protocol_fees - fund_fees - creator_fees`` (``vault_amount_without_fee``).
  The trade fee is ``ceil(amount_in * trade_fee_rate / 1e6)`` of the input; out of it
  ``floor(fee * protocol_fee_rate / 1e6)`` and ``floor(fee * fund_fee_rate / 1e6)`` are set aside (they leave
  the reserves), the rest stays with the LPs. A creator fee (``creator_fee_rate``, only if the pool
  enables it) is charged on the input together with the trade fee, or on the output, depending on the pool's
  ``creator_fee_on`` mode and the direction.
* **AMM v4**: ``reserve = vault - need_take_pnl`` (PnL owed to the protocol); the fee is
  ``ceil(amount_in * swap_fee_numerator / swap_fee_denominator)`` of the input (25/10000 on mainnet
  pools), all of it staying in the pool until the next PnL take.

Rates: CPMM in hundredths of a bip (``/1e6``); AMM v4 as numerator/denominator pairs. Amounts are u64 raw
token units. Transfer fees of Token-2022 mints are not modelled: they are charged by the token program around
the swap, not by the pool. The continuous counterpart is :class:`sdk.curves.cpmm.ConstantProductCurve`
(:meth:`RaydiumCpmmPool.curve`, :meth:`RaydiumAmmV4Pool.curve`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sdk.amm.errors import AmmInputError, AmmRevert
from sdk.amm.uint import require_bool, require_uint
from sdk.curves.cpmm import ConstantProductCurve

FEE_RATE_DENOMINATOR = 1_000_000
_MAX_U64 = (1 << 64) - 1


class RaydiumError(AmmRevert):
    """The Raydium program would fail (``reason`` is the program's error name)."""


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


@dataclass(frozen=True, slots=True)
class CpmmFees:
    """An ``AmmConfig``'s rates, hundredths of a bip. ``protocol``/``fund`` are shares of the trade fee."""

    trade_fee_rate: int
    protocol_fee_rate: int
    fund_fee_rate: int
    creator_fee_rate: int = 0

    def __post_init__(self) -> None:
        for name in ("trade_fee_rate", "protocol_fee_rate", "fund_fee_rate", "creator_fee_rate"):
            value = require_uint(name, getattr(self, name), 64)
            if value > FEE_RATE_DENOMINATOR:
                raise AmmInputError(f"{name} must be <= {FEE_RATE_DENOMINATOR}, got {value}")
        if self.trade_fee_rate + self.creator_fee_rate >= FEE_RATE_DENOMINATOR:
            raise AmmInputError(
                f"trade_fee_rate + creator_fee_rate must be < {FEE_RATE_DENOMINATOR}, got "
                f"{self.trade_fee_rate} + {self.creator_fee_rate}"
            )


@dataclass(frozen=True, slots=True)
class CpmmSwap:
    """One CPMM swap: what the trader pays and gets, and the fee split (all in the input token except a
    creator fee charged on the output). ``reserves_after`` are the pool's swap reserves ``(token 0, token 1)``
    after it: the LP share of the trade fee stays in, the owed fees are set aside."""

    input_amount: int
    output_amount: int
    trade_fee: int
    protocol_fee: int
    fund_fee: int
    creator_fee: int
    reserves_after: tuple[int, int]


def _pre_fee(post_fee: int, rate: int) -> int:
    """Smallest amount whose fee-deducted part covers ``post_fee`` (``calculate_pre_fee_amount``)."""
    if rate == 0:
        return post_fee
    return _ceil_div(post_fee * FEE_RATE_DENOMINATOR, FEE_RATE_DENOMINATOR - rate)


@dataclass(frozen=True, slots=True)
class RaydiumCpmmPool:
    """A CPMM pool's swap state: reserves (vaults less fees owed), fee rates and the creator-fee mode.

    ``creator_fee_on``: 0 both tokens (always on the input), 1 only token 0, 2 only token 1 (on the input when
    that token is the input, else on the output). ``creator_fee_enabled`` false means no creator fee at all.
    """

    reserve_0: int
    reserve_1: int
    fees: CpmmFees
    creator_fee_on: int = 0
    creator_fee_enabled: bool = False

    def __post_init__(self) -> None:
        require_uint("reserve_0", self.reserve_0, 64)
        require_uint("reserve_1", self.reserve_1, 64)
        if self.creator_fee_on not in (0, 1, 2):
            raise AmmInputError(f"creator_fee_on must be 0, 1 or 2, got {self.creator_fee_on!r}")
        require_bool("creator_fee_enabled", self.creator_fee_enabled)

    @classmethod
    def from_vaults(
        cls,
        vault_0: int,
        vault_1: int,
        *,
        fees: CpmmFees,
        owed_0: int,
        owed_1: int,
        creator_fee_on: int = 0,
        creator_fee_enabled: bool = False,
    ) -> RaydiumCpmmPool:
        """Reserves from vault balances less everything owed (protocol + fund + creator fees) per token."""
        for name, value in (
            ("vault_0", vault_0),
            ("vault_1", vault_1),
            ("owed_0", owed_0),
            ("owed_1", owed_1),
        ):
            require_uint(name, value, 64)
        if owed_0 > vault_0 or owed_1 > vault_1:
            raise RaydiumError(
                "InsufficientVault",
                f"fees owed ({owed_0}, {owed_1}) exceed the vaults ({vault_0}, {vault_1})",
            )
        return cls(vault_0 - owed_0, vault_1 - owed_1, fees, creator_fee_on, creator_fee_enabled)

    def _creator_rate(self) -> int:
        return self.fees.creator_fee_rate if self.creator_fee_enabled else 0

    def creator_fee_on_input(self, zero_for_one: bool) -> bool:
        mode = self.creator_fee_on
        return mode == 0 or (mode == 1 and zero_for_one) or (mode == 2 and not zero_for_one)

    def _reserves(self, zero_for_one: bool) -> tuple[int, int]:
        if self.reserve_0 == 0 or self.reserve_1 == 0:
            raise RaydiumError("EmptySupply", f"reserves ({self.reserve_0}, {self.reserve_1}) must be > 0")
        return (self.reserve_0, self.reserve_1) if zero_for_one else (self.reserve_1, self.reserve_0)

    def _after(  # noqa: PLR0917 -- private: the quantities both swap kinds already hold
        self,
        zero_for_one: bool,
        x: int,
        y: int,
        paid_in: int,
        trade_fee: int,
        creator_fee: int,
        on_input: bool,
        taken_out: int,
    ) -> tuple[int, int]:
        f = self.fees
        owed_in = trade_fee * f.protocol_fee_rate // FEE_RATE_DENOMINATOR
        owed_in += trade_fee * f.fund_fee_rate // FEE_RATE_DENOMINATOR
        if on_input:
            owed_in += creator_fee
        new_in, new_out = x + paid_in - owed_in, y - taken_out
        return (new_in, new_out) if zero_for_one else (new_out, new_in)

    def swap_base_input(self, amount_in: int, *, zero_for_one: bool) -> CpmmSwap:
        """Exact input ``amount_in`` (after any transfer fee) of token 0 (``zero_for_one``) or token 1."""
        require_uint("amount_in", amount_in, 64)
        if amount_in == 0:
            raise RaydiumError("InvalidInput", "amount_in must be > 0 (require_gt!(actual_amount_in, 0))")
        x, y = self._reserves(zero_for_one)
        f = self.fees
        creator_rate = self._creator_rate()
        on_input = self.creator_fee_on_input(zero_for_one)
        creator_fee = 0
        if on_input:
            total_fee = _ceil_div(amount_in * (f.trade_fee_rate + creator_rate), FEE_RATE_DENOMINATOR)
            rate_sum = f.trade_fee_rate + creator_rate
            creator_fee = total_fee * creator_rate // rate_sum if rate_sum else 0
            trade_fee = total_fee - creator_fee
            net_in = amount_in - total_fee
        else:
            trade_fee = _ceil_div(amount_in * f.trade_fee_rate, FEE_RATE_DENOMINATOR)
            net_in = amount_in - trade_fee
        swapped_out = net_in * y // (x + net_in)
        output = swapped_out
        if not on_input:
            creator_fee = _ceil_div(swapped_out * creator_rate, FEE_RATE_DENOMINATOR)
            output = swapped_out - creator_fee
        if output == 0:
            raise RaydiumError(
                "InvalidOutput", f"amount_in {amount_in} buys nothing (require_gt!(amount_received, 0))"
            )
        return CpmmSwap(
            input_amount=amount_in,
            output_amount=output,
            trade_fee=trade_fee,
            protocol_fee=trade_fee * f.protocol_fee_rate // FEE_RATE_DENOMINATOR,
            fund_fee=trade_fee * f.fund_fee_rate // FEE_RATE_DENOMINATOR,
            creator_fee=creator_fee,
            reserves_after=self._after(
                zero_for_one, x, y, amount_in, trade_fee, creator_fee, on_input, swapped_out
            ),
        )

    def swap_base_output(self, amount_out: int, *, zero_for_one: bool) -> CpmmSwap:
        """Exact output ``amount_out`` of the other token; the input needed (fees included) is computed."""
        require_uint("amount_out", amount_out, 64)
        if amount_out == 0:
            raise RaydiumError("InvalidInput", "amount_out must be > 0")
        x, y = self._reserves(zero_for_one)
        f = self.fees
        creator_rate = self._creator_rate()
        on_input = self.creator_fee_on_input(zero_for_one)
        creator_fee = 0
        actual_out = amount_out
        if not on_input:
            actual_out = _pre_fee(amount_out, creator_rate)
            creator_fee = actual_out - amount_out
        if actual_out >= y:
            raise RaydiumError("ZeroTradingTokens", f"output {actual_out} would empty the reserve {y}")
        swapped_in = _ceil_div(x * actual_out, y - actual_out)
        if on_input:
            with_fee = _pre_fee(swapped_in, f.trade_fee_rate + creator_rate)
            total_fee = with_fee - swapped_in
            rate_sum = f.trade_fee_rate + creator_rate
            creator_fee = total_fee * creator_rate // rate_sum if rate_sum else 0
            trade_fee = total_fee - creator_fee
        else:
            with_fee = _pre_fee(swapped_in, f.trade_fee_rate)
            trade_fee = with_fee - swapped_in
        if with_fee > _MAX_U64:
            raise RaydiumError("MathOverflow", f"input {with_fee} does not fit in u64")
        return CpmmSwap(
            input_amount=with_fee,
            output_amount=amount_out,
            trade_fee=trade_fee,
            protocol_fee=trade_fee * f.protocol_fee_rate // FEE_RATE_DENOMINATOR,
            fund_fee=trade_fee * f.fund_fee_rate // FEE_RATE_DENOMINATOR,
            creator_fee=creator_fee,
            reserves_after=self._after(
                zero_for_one, x, y, with_fee, trade_fee, creator_fee, on_input, actual_out
            ),
        )

    def curve(self, *, decimals_0: int = 0, decimals_1: int = 0) -> ConstantProductCurve:
        """Token 0 as the base, token 1 as the quote, in whole tokens; the fee is the input-side total
        (trade + creator when the creator fee is charged on the input in both directions)."""
        rate = self.fees.trade_fee_rate + (self._creator_rate() if self.creator_fee_on == 0 else 0)
        return ConstantProductCurve(
            self.reserve_0 / 10**decimals_0, self.reserve_1 / 10**decimals_1, fee=rate / FEE_RATE_DENOMINATOR
        )


@dataclass(frozen=True, slots=True)
class RaydiumAmmV4Pool:
    """An AMM v4 pool's swap state: coin (base) and pc (quote) reserves after PnL owed, and the swap fee."""

    coin_reserve: int
    pc_reserve: int
    swap_fee_numerator: int = 25
    swap_fee_denominator: int = 10_000

    def __post_init__(self) -> None:
        require_uint("coin_reserve", self.coin_reserve, 64)
        require_uint("pc_reserve", self.pc_reserve, 64)
        require_uint("swap_fee_numerator", self.swap_fee_numerator, 64)
        require_uint("swap_fee_denominator", self.swap_fee_denominator, 64)
        if not self.swap_fee_numerator < self.swap_fee_denominator:
            raise AmmInputError(
                f"swap_fee_numerator must be < swap_fee_denominator, got "
                f"{self.swap_fee_numerator}/{self.swap_fee_denominator}"
            )

    @classmethod
    def from_vaults(
        cls,
        coin_vault: int,
        pc_vault: int,
        *,
        need_take_pnl_coin: int,
        need_take_pnl_pc: int,
        swap_fee_numerator: int = 25,
        swap_fee_denominator: int = 10_000,
    ) -> RaydiumAmmV4Pool:
        """Reserves as the program computes them (``calc_total_without_take_pnl_no_orderbook``)."""
        if need_take_pnl_coin > coin_vault or need_take_pnl_pc > pc_vault:
            raise RaydiumError(
                "CheckedSubOverflow",
                f"PnL owed ({need_take_pnl_coin}, {need_take_pnl_pc}) exceeds the vaults "
                f"({coin_vault}, {pc_vault})",
            )
        return cls(
            coin_vault - need_take_pnl_coin,
            pc_vault - need_take_pnl_pc,
            swap_fee_numerator,
            swap_fee_denominator,
        )

    def swap_base_in(self, amount_in: int, *, coin_to_pc: bool) -> tuple[int, int]:
        """``(amount_out, fee)`` for an exact input (``SwapBaseIn``)."""
        require_uint("amount_in", amount_in, 64)
        fee = _ceil_div(amount_in * self.swap_fee_numerator, self.swap_fee_denominator)
        net = amount_in - fee
        x, y = (self.coin_reserve, self.pc_reserve) if coin_to_pc else (self.pc_reserve, self.coin_reserve)
        out = y * net // (x + net) if x + net else 0
        if out == 0 or amount_in == 0:
            raise RaydiumError("InvalidInput", f"amount_in {amount_in} gives output {out}")
        if out >= y:
            raise RaydiumError("InsufficientFunds", f"output {out} would empty the reserve {y}")
        return out, fee

    def swap_base_out(self, amount_out: int, *, coin_to_pc: bool) -> tuple[int, int]:
        """``(amount_in, fee)`` for an exact output (``SwapBaseOut``)."""
        require_uint("amount_out", amount_out, 64)
        x, y = (self.coin_reserve, self.pc_reserve) if coin_to_pc else (self.pc_reserve, self.coin_reserve)
        if amount_out >= y:
            raise RaydiumError("InsufficientFunds", f"output {amount_out} would empty the reserve {y}")
        before_fee = _ceil_div(x * amount_out, y - amount_out)
        amount_in = _ceil_div(
            before_fee * self.swap_fee_denominator, self.swap_fee_denominator - self.swap_fee_numerator
        )
        if amount_in > _MAX_U64:
            raise RaydiumError("InsufficientFunds", f"input {amount_in} does not fit in u64")
        if amount_in == 0 or amount_out == 0:
            raise RaydiumError("InvalidInput", f"amount_out {amount_out} needs input {amount_in}")
        return amount_in, amount_in - before_fee

    def curve(self, *, coin_decimals: int = 0, pc_decimals: int = 0) -> ConstantProductCurve:
        """Coin as the base, pc as the quote, in whole tokens."""
        return ConstantProductCurve(
            self.coin_reserve / 10**coin_decimals,
            self.pc_reserve / 10**pc_decimals,
            fee=self.swap_fee_numerator / self.swap_fee_denominator,
        )
