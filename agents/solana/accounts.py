"""Solana account layouts of the pools the agent trades: Orca Whirlpool and Raydium CPMM / AMM v4.

Pure decoding, no I/O: bytes (or the RPC's base64) in, frozen dataclasses out. Anchor accounts start with an
8-byte discriminator, ``sha256("account:<Name>")[:8]``, which is checked before anything else so an account of
the wrong kind is refused with both names in the message; every layout is also checked for its exact size
(a Whirlpool is 653 bytes, a fixed TickArray 9988, a CPMM PoolState 637, an AmmConfig 236, an AMM v4 AmmInfo
752; a DynamicTickArray is variable: 1 byte per uninitialized tick, 113 per initialized one). Little-endian
throughout, packed (``repr(C, packed)`` / borsh). Public keys are :class:`solders.pubkey.Pubkey`.

The decoded accounts convert into the exact math's inputs: :meth:`WhirlpoolAccount.state`,
:meth:`TickArrayAccount.tick_array`, and the Raydium pools via :func:`cpmm_pool` / :func:`amm_v4_pool` with
their vault token accounts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from solders.pubkey import Pubkey

from sdk.amm.raydium import CpmmFees, RaydiumAmmV4Pool, RaydiumCpmmPool
from sdk.amm.whirlpool import TICK_ARRAY_SIZE, Tick, TickArray, WhirlpoolState

WHIRLPOOL_PROGRAM_ID = Pubkey.from_string("whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc")
RAYDIUM_CPMM_PROGRAM_ID = Pubkey.from_string("CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C")
RAYDIUM_AMM_V4_PROGRAM_ID = Pubkey.from_string("675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8")
TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM_ID = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")


class AccountDecodeError(ValueError):
    """Account data that is not the expected account (wrong discriminator, size or encoding)."""


def anchor_discriminator(name: str) -> bytes:
    """The 8 bytes Anchor prefixes an account of type ``name`` with."""
    return hashlib.sha256(f"account:{name}".encode()).digest()[:8]


def b64decode_account(data: str, *, field: str = "data") -> bytes:
    """Account data as the RPC returns it (``encoding: base64``)."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as err:
        raise AccountDecodeError(f"{field} must be base64, got {data[:40]!r}...: {err}") from err


class _Reader:
    """Sequential little-endian reads over one account's bytes, naming the account in every error."""

    __slots__ = ("_buf", "_kind", "pos")

    def __init__(self, buf: bytes, kind: str, pos: int = 0) -> None:
        self._buf = buf
        self._kind = kind
        self.pos = pos

    def take(self, n: int, field: str) -> bytes:
        end = self.pos + n
        if end > len(self._buf):
            raise AccountDecodeError(
                f"{self._kind}.{field} needs bytes [{self.pos}, {end}) but the account has {len(self._buf)}"
            )
        out = self._buf[self.pos : end]
        self.pos = end
        return out

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def bool(self, field: str) -> bool:
        value = self.u8(field)
        if value > 1:
            raise AccountDecodeError(f"{self._kind}.{field} must be 0 or 1, got {value}")
        return value == 1

    def u16(self, field: str) -> int:
        return int(struct.unpack("<H", self.take(2, field))[0])

    def i32(self, field: str) -> int:
        return int(struct.unpack("<i", self.take(4, field))[0])

    def u32(self, field: str) -> int:
        return int(struct.unpack("<I", self.take(4, field))[0])

    def u64(self, field: str) -> int:
        return int(struct.unpack("<Q", self.take(8, field))[0])

    def u128(self, field: str) -> int:
        return int.from_bytes(self.take(16, field), "little")

    def i128(self, field: str) -> int:
        return int.from_bytes(self.take(16, field), "little", signed=True)

    def pubkey(self, field: str) -> Pubkey:
        return Pubkey.from_bytes(self.take(32, field))

    def skip(self, n: int, field: str) -> None:
        self.take(n, field)


def _anchor(data: bytes, name: str, *, size: int | None = None, min_size: int | None = None) -> _Reader:
    expected = anchor_discriminator(name)
    if data[:8] != expected:
        raise AccountDecodeError(
            f"{name} discriminator must be {expected.hex()}, got {data[:8].hex()} "
            f"(an account of another kind, {len(data)} bytes)"
        )
    if size is not None and len(data) != size:
        raise AccountDecodeError(f"{name} account must be {size} bytes, got {len(data)}")
    if min_size is not None and len(data) < min_size:
        raise AccountDecodeError(f"{name} account must be at least {min_size} bytes, got {len(data)}")
    return _Reader(data, name, 8)


# --------------------------------------------------------------------------------------------------- Orca


@dataclass(frozen=True, slots=True)
class WhirlpoolRewardInfo:
    mint: Pubkey
    vault: Pubkey
    authority: Pubkey
    emissions_per_second_x64: int
    growth_global_x64: int


@dataclass(frozen=True, slots=True)
class WhirlpoolAccount:
    """A Whirlpool (653 bytes)."""

    whirlpools_config: Pubkey
    whirlpool_bump: int
    tick_spacing: int
    tick_spacing_seed: bytes
    fee_rate: int
    protocol_fee_rate: int
    liquidity: int
    sqrt_price: int
    tick_current_index: int
    protocol_fee_owed_a: int
    protocol_fee_owed_b: int
    token_mint_a: Pubkey
    token_vault_a: Pubkey
    fee_growth_global_a: int
    token_mint_b: Pubkey
    token_vault_b: Pubkey
    fee_growth_global_b: int
    reward_last_updated_timestamp: int
    reward_infos: tuple[WhirlpoolRewardInfo, ...]

    def state(self) -> WhirlpoolState:
        """The swap-relevant state for :func:`sdk.amm.whirlpool.swap`."""
        return WhirlpoolState(
            sqrt_price=self.sqrt_price,
            tick_current_index=self.tick_current_index,
            liquidity=self.liquidity,
            tick_spacing=self.tick_spacing,
            fee_rate=self.fee_rate,
            protocol_fee_rate=self.protocol_fee_rate,
            fee_growth_global_a=self.fee_growth_global_a,
            fee_growth_global_b=self.fee_growth_global_b,
        )


WHIRLPOOL_SIZE = 653


def decode_whirlpool(data: bytes) -> WhirlpoolAccount:
    """Decode a Whirlpool account."""
    r = _anchor(data, "Whirlpool", size=WHIRLPOOL_SIZE)
    head = {
        "whirlpools_config": r.pubkey("whirlpools_config"),
        "whirlpool_bump": r.u8("whirlpool_bump"),
        "tick_spacing": r.u16("tick_spacing"),
        "tick_spacing_seed": r.take(2, "tick_spacing_seed"),
        "fee_rate": r.u16("fee_rate"),
        "protocol_fee_rate": r.u16("protocol_fee_rate"),
        "liquidity": r.u128("liquidity"),
        "sqrt_price": r.u128("sqrt_price"),
        "tick_current_index": r.i32("tick_current_index"),
        "protocol_fee_owed_a": r.u64("protocol_fee_owed_a"),
        "protocol_fee_owed_b": r.u64("protocol_fee_owed_b"),
        "token_mint_a": r.pubkey("token_mint_a"),
        "token_vault_a": r.pubkey("token_vault_a"),
        "fee_growth_global_a": r.u128("fee_growth_global_a"),
        "token_mint_b": r.pubkey("token_mint_b"),
        "token_vault_b": r.pubkey("token_vault_b"),
        "fee_growth_global_b": r.u128("fee_growth_global_b"),
        "reward_last_updated_timestamp": r.u64("reward_last_updated_timestamp"),
    }
    rewards = tuple(
        WhirlpoolRewardInfo(
            r.pubkey(f"reward_infos[{i}].mint"),
            r.pubkey(f"reward_infos[{i}].vault"),
            r.pubkey(f"reward_infos[{i}].authority"),
            r.u128(f"reward_infos[{i}].emissions_per_second_x64"),
            r.u128(f"reward_infos[{i}].growth_global_x64"),
        )
        for i in range(3)
    )
    return WhirlpoolAccount(**head, reward_infos=rewards)  # type: ignore[arg-type]  # keys are the fields


@dataclass(frozen=True, slots=True)
class TickState:
    """One tick of a tick array as stored (initialized or not)."""

    initialized: bool
    liquidity_net: int
    liquidity_gross: int
    fee_growth_outside_a: int
    fee_growth_outside_b: int
    reward_growths_outside: tuple[int, int, int]


_EMPTY_TICK = TickState(False, 0, 0, 0, 0, (0, 0, 0))


@dataclass(frozen=True, slots=True)
class TickArrayAccount:
    """A fixed (9988 bytes) or dynamic tick array: 88 ticks from ``start_tick_index``."""

    start_tick_index: int
    whirlpool: Pubkey
    ticks: tuple[TickState, ...]
    dynamic: bool = False

    def tick_array(self) -> TickArray:
        """The initialized ticks, as the swap math takes them."""
        return TickArray(
            self.start_tick_index,
            {
                offset: Tick(
                    t.liquidity_net, t.liquidity_gross, t.fee_growth_outside_a, t.fee_growth_outside_b
                )
                for offset, t in enumerate(self.ticks)
                if t.initialized
            },
        )


FIXED_TICK_ARRAY_SIZE = 8 + 4 + TICK_ARRAY_SIZE * 113 + 32


def _tick_body(r: _Reader, i: int, initialized: bool) -> TickState:
    return TickState(
        initialized,
        r.i128(f"ticks[{i}].liquidity_net"),
        r.u128(f"ticks[{i}].liquidity_gross"),
        r.u128(f"ticks[{i}].fee_growth_outside_a"),
        r.u128(f"ticks[{i}].fee_growth_outside_b"),
        (
            r.u128(f"ticks[{i}].reward_growths_outside[0]"),
            r.u128(f"ticks[{i}].reward_growths_outside[1]"),
            r.u128(f"ticks[{i}].reward_growths_outside[2]"),
        ),
    )


def decode_tick_array(data: bytes) -> TickArrayAccount:
    """Decode a TickArray in either format (by its discriminator)."""
    if data[:8] == anchor_discriminator("DynamicTickArray"):
        return _decode_dynamic_tick_array(data)
    r = _anchor(data, "TickArray", size=FIXED_TICK_ARRAY_SIZE)
    start = r.i32("start_tick_index")
    ticks = tuple(_tick_body(r, i, r.bool(f"ticks[{i}].initialized")) for i in range(TICK_ARRAY_SIZE))
    return TickArrayAccount(start, r.pubkey("whirlpool"), ticks)


def _decode_dynamic_tick_array(data: bytes) -> TickArrayAccount:
    r = _anchor(data, "DynamicTickArray", min_size=8 + 4 + 32 + 16 + TICK_ARRAY_SIZE)
    start = r.i32("start_tick_index")
    whirlpool = r.pubkey("whirlpool")
    bitmap = r.u128("tick_bitmap")
    ticks: list[TickState] = []
    for i in range(TICK_ARRAY_SIZE):
        tag = r.u8(f"ticks[{i}] variant")
        if tag == 0:
            ticks.append(_EMPTY_TICK)
        elif tag == 1:
            ticks.append(_tick_body(r, i, True))
        else:
            raise AccountDecodeError(f"DynamicTickArray.ticks[{i}] variant must be 0 or 1, got {tag}")
        if bool(bitmap >> i & 1) != ticks[-1].initialized:
            raise AccountDecodeError(
                f"DynamicTickArray.tick_bitmap bit {i} is {bitmap >> i & 1} but ticks[{i}] is "
                f"{'initialized' if ticks[-1].initialized else 'uninitialized'}"
            )
    if r.pos != len(data):
        raise AccountDecodeError(f"DynamicTickArray has {len(data) - r.pos} trailing bytes after tick 87")
    return TickArrayAccount(start, whirlpool, tuple(ticks), dynamic=True)


@dataclass(frozen=True, slots=True)
class FeeTierAccount:
    whirlpools_config: Pubkey
    tick_spacing: int
    default_fee_rate: int


def decode_fee_tier(data: bytes) -> FeeTierAccount:
    r = _anchor(data, "FeeTier", size=44)
    return FeeTierAccount(r.pubkey("whirlpools_config"), r.u16("tick_spacing"), r.u16("default_fee_rate"))


def whirlpool_address(
    config: Pubkey, mint_a: Pubkey, mint_b: Pubkey, tick_spacing_seed: bytes
) -> tuple[Pubkey, int]:
    """PDA ``["whirlpool", config, mint_a, mint_b, tick_spacing_seed]`` (seed: the fee tier's 2 LE bytes)."""
    return Pubkey.find_program_address(
        [b"whirlpool", bytes(config), bytes(mint_a), bytes(mint_b), tick_spacing_seed], WHIRLPOOL_PROGRAM_ID
    )


def tick_array_address(whirlpool: Pubkey, start_tick_index: int) -> Pubkey:
    """PDA ``["tick_array", whirlpool, str(start_tick_index)]``."""
    seeds = [b"tick_array", bytes(whirlpool), str(start_tick_index).encode()]
    return Pubkey.find_program_address(seeds, WHIRLPOOL_PROGRAM_ID)[0]


# ---------------------------------------------------------------------------------------------- SPL token


@dataclass(frozen=True, slots=True)
class TokenAccount:
    """The base of an SPL token account (Token or Token-2022; extensions after byte 165 are not read)."""

    mint: Pubkey
    owner: Pubkey
    amount: int
    state: int
    is_native: int | None


def decode_token_account(data: bytes) -> TokenAccount:
    if len(data) < 165:
        raise AccountDecodeError(f"TokenAccount must be at least 165 bytes, got {len(data)}")
    r = _Reader(data, "TokenAccount")
    mint, owner, amount = r.pubkey("mint"), r.pubkey("owner"), r.u64("amount")
    r.skip(36, "delegate")
    state = r.u8("state")
    native_tag = r.u32("is_native.tag")
    native = r.u64("is_native.value")
    return TokenAccount(mint, owner, amount, state, native if native_tag else None)


@dataclass(frozen=True, slots=True)
class MintAccount:
    supply: int
    decimals: int
    is_initialized: bool


def decode_mint(data: bytes) -> MintAccount:
    if len(data) < 82:
        raise AccountDecodeError(f"Mint must be at least 82 bytes, got {len(data)}")
    r = _Reader(data, "Mint")
    r.skip(36, "mint_authority")
    return MintAccount(r.u64("supply"), r.u8("decimals"), r.bool("is_initialized"))


# ------------------------------------------------------------------------------------------ Raydium CPMM


@dataclass(frozen=True, slots=True)
class CpmmPoolAccount:
    """A CPMM ``PoolState`` (637 bytes)."""

    amm_config: Pubkey
    pool_creator: Pubkey
    token_0_vault: Pubkey
    token_1_vault: Pubkey
    lp_mint: Pubkey
    token_0_mint: Pubkey
    token_1_mint: Pubkey
    token_0_program: Pubkey
    token_1_program: Pubkey
    observation_key: Pubkey
    auth_bump: int
    status: int
    lp_mint_decimals: int
    mint_0_decimals: int
    mint_1_decimals: int
    lp_supply: int
    protocol_fees_token_0: int
    protocol_fees_token_1: int
    fund_fees_token_0: int
    fund_fees_token_1: int
    open_time: int
    recent_epoch: int
    creator_fee_on: int
    enable_creator_fee: bool
    creator_fees_token_0: int
    creator_fees_token_1: int

    @property
    def swap_enabled(self) -> bool:
        """Status bit 2 clear (bit set = swaps disabled)."""
        return not self.status & 4

    @property
    def owed_0(self) -> int:
        return self.protocol_fees_token_0 + self.fund_fees_token_0 + self.creator_fees_token_0

    @property
    def owed_1(self) -> int:
        return self.protocol_fees_token_1 + self.fund_fees_token_1 + self.creator_fees_token_1


def decode_cpmm_pool(data: bytes) -> CpmmPoolAccount:
    r = _anchor(data, "PoolState", size=637)
    keys = [
        "amm_config",
        "pool_creator",
        "token_0_vault",
        "token_1_vault",
        "lp_mint",
        "token_0_mint",
        "token_1_mint",
        "token_0_program",
        "token_1_program",
        "observation_key",
    ]
    values: dict[str, object] = {k: r.pubkey(k) for k in keys}
    for k in ("auth_bump", "status", "lp_mint_decimals", "mint_0_decimals", "mint_1_decimals"):
        values[k] = r.u8(k)
    for k in (
        "lp_supply",
        "protocol_fees_token_0",
        "protocol_fees_token_1",
        "fund_fees_token_0",
        "fund_fees_token_1",
        "open_time",
        "recent_epoch",
    ):
        values[k] = r.u64(k)
    values["creator_fee_on"] = r.u8("creator_fee_on")
    values["enable_creator_fee"] = r.bool("enable_creator_fee")
    r.skip(6, "padding1")
    values["creator_fees_token_0"] = r.u64("creator_fees_token_0")
    values["creator_fees_token_1"] = r.u64("creator_fees_token_1")
    return CpmmPoolAccount(**values)  # type: ignore[arg-type]  # keys are the fields, types read above


@dataclass(frozen=True, slots=True)
class CpmmConfigAccount:
    """A CPMM ``AmmConfig`` (236 bytes): fee rates in hundredths of a bip."""

    bump: int
    disable_create_pool: bool
    index: int
    trade_fee_rate: int
    protocol_fee_rate: int
    fund_fee_rate: int
    create_pool_fee: int
    protocol_owner: Pubkey
    fund_owner: Pubkey
    creator_fee_rate: int

    def fees(self) -> CpmmFees:
        return CpmmFees(
            self.trade_fee_rate, self.protocol_fee_rate, self.fund_fee_rate, self.creator_fee_rate
        )


def decode_cpmm_config(data: bytes) -> CpmmConfigAccount:
    r = _anchor(data, "AmmConfig", size=236)
    return CpmmConfigAccount(
        bump=r.u8("bump"),
        disable_create_pool=r.bool("disable_create_pool"),
        index=r.u16("index"),
        trade_fee_rate=r.u64("trade_fee_rate"),
        protocol_fee_rate=r.u64("protocol_fee_rate"),
        fund_fee_rate=r.u64("fund_fee_rate"),
        create_pool_fee=r.u64("create_pool_fee"),
        protocol_owner=r.pubkey("protocol_owner"),
        fund_owner=r.pubkey("fund_owner"),
        creator_fee_rate=r.u64("creator_fee_rate"),
    )


def cpmm_pool(
    pool: CpmmPoolAccount, config: CpmmConfigAccount, vault_0: TokenAccount, vault_1: TokenAccount
) -> RaydiumCpmmPool:
    """The pool's swap state from its accounts; the vaults must be the pool's own."""
    for name, vault, expected_mint in (
        ("vault_0", vault_0, pool.token_0_mint),
        ("vault_1", vault_1, pool.token_1_mint),
    ):
        if vault.mint != expected_mint:
            raise AccountDecodeError(f"{name}.mint must be the pool's {expected_mint}, got {vault.mint}")
    return RaydiumCpmmPool.from_vaults(
        vault_0.amount,
        vault_1.amount,
        fees=config.fees(),
        owed_0=pool.owed_0,
        owed_1=pool.owed_1,
        creator_fee_on=pool.creator_fee_on,
        creator_fee_enabled=pool.enable_creator_fee,
    )


# --------------------------------------------------------------------------------------------- AMM v4

AMM_V4_SIZE = 752
_AMM_V4_HEADER = [
    "status",
    "nonce",
    "order_num",
    "depth",
    "coin_decimals",
    "pc_decimals",
    "state",
    "reset_flag",
    "min_size",
    "vol_max_cut_ratio",
    "amount_wave",
    "coin_lot_size",
    "pc_lot_size",
    "min_price_multiplier",
    "max_price_multiplier",
    "sys_decimal_value",
]
_AMM_V4_FEES = [
    "min_separate_numerator",
    "min_separate_denominator",
    "trade_fee_numerator",
    "trade_fee_denominator",
    "pnl_numerator",
    "pnl_denominator",
    "swap_fee_numerator",
    "swap_fee_denominator",
]
_AMM_V4_KEYS = [
    "coin_vault",
    "pc_vault",
    "coin_vault_mint",
    "pc_vault_mint",
    "lp_mint",
    "open_orders",
    "market",
    "market_program",
    "target_orders",
]


@dataclass(frozen=True, slots=True)
class AmmV4Account:
    """An AMM v4 ``AmmInfo`` (752 bytes, no discriminator): the header, fees, PnL state and keys."""

    header: Mapping[str, int]
    fees: Mapping[str, int]
    need_take_pnl_coin: int
    need_take_pnl_pc: int
    total_pnl_pc: int
    total_pnl_coin: int
    pool_open_time: int
    keys: Mapping[str, Pubkey]
    amm_owner: Pubkey
    lp_amount: int

    @property
    def status(self) -> int:
        return self.header["status"]

    @property
    def coin_decimals(self) -> int:
        return self.header["coin_decimals"]

    @property
    def pc_decimals(self) -> int:
        return self.header["pc_decimals"]


def decode_amm_v4(data: bytes) -> AmmV4Account:
    if len(data) != AMM_V4_SIZE:
        raise AccountDecodeError(f"AmmInfo account must be {AMM_V4_SIZE} bytes, got {len(data)}")
    r = _Reader(data, "AmmInfo")
    header = {k: r.u64(k) for k in _AMM_V4_HEADER}
    fees = {k: r.u64(f"fees.{k}") for k in _AMM_V4_FEES}
    pnl = [
        r.u64(f"state_data.{k}")
        for k in (
            "need_take_pnl_coin",
            "need_take_pnl_pc",
            "total_pnl_pc",
            "total_pnl_coin",
            "pool_open_time",
        )
    ]
    r.skip(16 + 8 + 16 + 16 + 8 + 16 + 16 + 8, "state_data (swap statistics)")
    keys = {k: r.pubkey(k) for k in _AMM_V4_KEYS}
    r.skip(64, "padding1")
    owner = r.pubkey("amm_owner")
    lp_amount = r.u64("lp_amount")
    return AmmV4Account(header, fees, pnl[0], pnl[1], pnl[2], pnl[3], pnl[4], keys, owner, lp_amount)


def amm_v4_pool(amm: AmmV4Account, coin_vault: TokenAccount, pc_vault: TokenAccount) -> RaydiumAmmV4Pool:
    """The pool's swap state (vaults less PnL owed); the vaults must be the pool's own mints."""
    if coin_vault.mint != amm.keys["coin_vault_mint"]:
        raise AccountDecodeError(
            f"coin_vault.mint must be {amm.keys['coin_vault_mint']}, got {coin_vault.mint}"
        )
    if pc_vault.mint != amm.keys["pc_vault_mint"]:
        raise AccountDecodeError(f"pc_vault.mint must be {amm.keys['pc_vault_mint']}, got {pc_vault.mint}")
    return RaydiumAmmV4Pool.from_vaults(
        coin_vault.amount,
        pc_vault.amount,
        need_take_pnl_coin=amm.need_take_pnl_coin,
        need_take_pnl_pc=amm.need_take_pnl_pc,
        swap_fee_numerator=amm.fees["swap_fee_numerator"],
        swap_fee_denominator=amm.fees["swap_fee_denominator"],
    )
