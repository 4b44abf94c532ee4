"""Pool accounts kept current from chain state, and the pool's cost curve rebuilt when they change.

Two pool kinds: an Orca Whirlpool (:class:`WhirlpoolFeed`) and a Raydium CPMM pool (:class:`CpmmFeed`), both
on the same loop (:class:`AccountFeed`).

:class:`WhirlpoolFeed` reads the pool account and the tick arrays a swap in either direction would be given
(three each way, at their PDAs), follows all of them with ``accountSubscribe``, and after every change
rebuilds the pool's :class:`~sdk.curves.whirlpool.WhirlpoolCurve` from the decoded exact state. When the
price leaves the loaded arrays' window (the pool's tick moved into another array), it re-reads the new window
and resubscribes. A socket that closes or fails is reopened with backoff, re-reading everything first (a
subscription does not replay what was missed).

Freshness: :meth:`AccountFeed.staleness_s` is the time since the feed last heard from the chain (a
notification or a read); each feed's ``curve()`` serves the curve only while that is within
``stale_after_s`` (2 s by default), so a stuck feed can never price a plan. The fallback (a Jupiter quote
curve) is the caller's decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from solders.pubkey import Pubkey
from websockets.exceptions import WebSocketException

from agents.retry import Backoff
from agents.solana.accounts import (
    AccountDecodeError,
    CpmmConfigAccount,
    CpmmPoolAccount,
    TickArrayAccount,
    TokenAccount,
    WhirlpoolAccount,
    cpmm_pool,
    decode_cpmm_config,
    decode_cpmm_pool,
    decode_tick_array,
    decode_token_account,
    decode_whirlpool,
    tick_array_address,
)
from agents.solana.rpc import AccountUpdate, SolanaRpc, SolanaRpcError
from sdk.amm.raydium import RaydiumCpmmPool
from sdk.amm.whirlpool import swap_tick_array_starts
from sdk.curves.cpmm import ConstantProductCurve
from sdk.curves.whirlpool import WhirlpoolCurve

log = logging.getLogger(__name__)

DEFAULT_STALE_AFTER_S = 2.0


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    """The pool as last heard: decoded accounts, the curve built from them, the slot and when it arrived."""

    pool: WhirlpoolAccount
    tick_arrays: tuple[TickArrayAccount, ...]
    curve: WhirlpoolCurve
    slot: int
    received_at: float


class AccountFeed:
    """What every pool feed shares: freshness, and the read-subscribe-apply loop with reconnects.

    Subclasses say which accounts they follow (:attr:`watched`), how to read them all (:meth:`load`) and how
    to take one update (:meth:`apply`, returning ``True`` when the set of accounts to follow changed).
    """

    def __init__(
        self,
        rpc: SolanaRpc,
        pool_address: Pubkey,
        *,
        stale_after_s: float,
        clock: Callable[[], float],
        backoff: Backoff | None,
    ) -> None:
        if not stale_after_s > 0:
            raise ValueError(f"stale_after_s must be > 0, got {stale_after_s!r}")
        self.rpc = rpc
        self.pool_address = pool_address
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._backoff = backoff or Backoff(initial=0.05, maximum=2.0)
        self._heard_at: float | None = None
        self._slot = 0
        self.rebuilds = 0
        self.reconnects = 0

    @property
    def watched(self) -> list[Pubkey]:
        raise NotImplementedError

    async def load(self) -> object:
        raise NotImplementedError

    def apply(self, update: AccountUpdate) -> bool:
        raise NotImplementedError

    def _heard(self, slot: int) -> bool:
        """Note that the chain was heard from; ``False`` if ``slot`` is older than what is held."""
        self._heard_at = self._clock()
        if slot < self._slot:
            return False
        self._slot = slot
        return True

    def staleness_s(self, now: float | None = None) -> float:
        """Seconds since the chain was last heard from (``inf`` before the first read)."""
        if self._heard_at is None:
            return float("inf")
        return (self._clock() if now is None else now) - self._heard_at

    def is_stale(self, now: float | None = None) -> bool:
        return self.staleness_s(now) > self.stale_after_s

    async def run(self, stop: asyncio.Event) -> None:
        """Read, subscribe, apply; re-read and resubscribe when the accounts change or the socket fails."""
        rng = random.Random()  # noqa: S311 -- backoff jitter, not a secret
        attempt = 0
        while not stop.is_set():
            try:
                await self.load()
                attempt = 0
                await self._follow(stop)
            except (TimeoutError, OSError, SolanaRpcError, AccountDecodeError) as err:
                log.warning("pool feed %s: %s; reconnecting", self.pool_address, err)
            except WebSocketException as err:
                log.warning("pool feed %s: socket closed (%s); reconnecting", self.pool_address, err)
            if stop.is_set():
                break
            self.reconnects += 1
            delay = self._backoff.delay(attempt, rng)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _follow(self, stop: asyncio.Event) -> None:
        updates = self.rpc.subscribe_accounts(self.watched)
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                step = asyncio.ensure_future(anext(updates))
                done, _ = await asyncio.wait({step, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if step not in done:
                    step.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await step  # let the generator unwind (closes the socket) before aclose
                    return
                try:
                    update = step.result()
                except StopAsyncIteration:
                    return  # socket closed: the caller re-reads and resubscribes
                if self.apply(update):
                    return  # the accounts to follow changed
        finally:
            stopper.cancel()
            await updates.aclose()


class WhirlpoolFeed(AccountFeed):
    """Chain state of one Whirlpool, with its curve.

    Parameters
    ----------
    rpc:
        Where to read and subscribe.
    pool_address:
        The Whirlpool account.
    decimals_a, decimals_b:
        Mint decimals of tokens A and B (the curve is in whole tokens).
    stale_after_s:
        Serve no curve once nothing was heard for longer than this.
    clock:
        Monotonic seconds (tests pass a fake one).
    on_rebuild:
        Called with every new snapshot (after the curve was rebuilt).
    """

    def __init__(
        self,
        rpc: SolanaRpc,
        pool_address: Pubkey,
        *,
        decimals_a: int,
        decimals_b: int,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        on_rebuild: Callable[[PoolSnapshot], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(rpc, pool_address, stale_after_s=stale_after_s, clock=clock, backoff=backoff)
        self.decimals_a = decimals_a
        self.decimals_b = decimals_b
        self._on_rebuild = on_rebuild
        self._pool: WhirlpoolAccount | None = None
        self._arrays: dict[Pubkey, TickArrayAccount | None] = {}
        self.snapshot: PoolSnapshot | None = None

    # ----------------------------------------------------------------- state

    def _window(self, pool: WhirlpoolAccount) -> list[Pubkey]:
        starts: list[int] = []
        for a_to_b in (True, False):
            for start in swap_tick_array_starts(pool.tick_current_index, pool.tick_spacing, a_to_b):
                if start not in starts:
                    starts.append(start)
        return [tick_array_address(self.pool_address, s) for s in starts]

    @property
    def watched(self) -> list[Pubkey]:
        """The accounts the feed follows: the pool, then its tick-array window."""
        return [self.pool_address, *self._arrays]

    def _rebuild(self, slot: int) -> None:
        pool = self._pool
        if pool is None:
            return
        arrays = tuple(a for a in self._arrays.values() if a is not None)
        curve = WhirlpoolCurve(
            pool.state(),
            [a.tick_array() for a in arrays],
            decimals_a=self.decimals_a,
            decimals_b=self.decimals_b,
        )
        self.snapshot = PoolSnapshot(pool, arrays, curve, slot, self._clock())
        self.rebuilds += 1
        if self._on_rebuild is not None:
            self._on_rebuild(self.snapshot)

    def apply(self, update: AccountUpdate) -> bool:
        """Take one account update; returns ``True`` if the tick-array window moved (re-read needed)."""
        if not self._heard(update.slot):
            return False  # older than what we hold (a read racing a notification)
        if update.data is None:
            raise AccountDecodeError(f"account {update.pubkey} does not exist (slot {update.slot})")
        if update.pubkey == self.pool_address:
            pool = decode_whirlpool(update.data)
            self._pool = pool
            moved = set(self._window(pool)) != set(self._arrays)
            if not moved:
                self._rebuild(update.slot)
            return moved
        if update.pubkey in self._arrays:
            array = decode_tick_array(update.data)
            if array.whirlpool != self.pool_address:
                raise AccountDecodeError(
                    f"tick array {update.pubkey} belongs to {array.whirlpool}, not {self.pool_address}"
                )
            self._arrays[update.pubkey] = array
            self._rebuild(update.slot)
        return False

    async def load(self) -> PoolSnapshot:
        """Read the pool and its window (again) and rebuild the curve."""
        (pool_update,) = await self.rpc.get_multiple_accounts([self.pool_address])
        if pool_update.data is None:
            raise AccountDecodeError(f"Whirlpool {self.pool_address} does not exist")
        pool = decode_whirlpool(pool_update.data)
        window = self._window(pool)
        updates = await self.rpc.get_multiple_accounts(window)
        arrays: dict[Pubkey, TickArrayAccount | None] = {}
        for update in updates:
            arrays[update.pubkey] = None if update.data is None else decode_tick_array(update.data)
        self._pool = pool
        self._arrays = arrays
        self._slot = max(pool_update.slot, *(u.slot for u in updates)) if updates else pool_update.slot
        self._heard_at = self._clock()
        self._rebuild(self._slot)
        assert self.snapshot is not None
        return self.snapshot

    def curve(self, now: float | None = None) -> WhirlpoolCurve | None:
        """The current curve, or ``None`` when the feed is stale or has not loaded."""
        if self.snapshot is None or self.is_stale(now):
            return None
        return self.snapshot.curve


@dataclass(frozen=True, slots=True)
class CpmmSnapshot:
    """A Raydium CPMM pool as last heard: its accounts, the exact swap state and the curve from it."""

    pool: CpmmPoolAccount
    config: CpmmConfigAccount
    swap_pool: RaydiumCpmmPool
    curve: ConstantProductCurve
    slot: int
    received_at: float


class CpmmFeed(AccountFeed):
    """Chain state of one Raydium CPMM pool (pool, its ``AmmConfig`` and both vaults), with its curve.

    The swap reserves are the vault balances less the fees the pool owes (:func:`agents.solana.accounts.
    cpmm_pool`); token 0 is the base. A pool whose swaps are disabled (status bit 2) serves no curve.
    """

    def __init__(
        self,
        rpc: SolanaRpc,
        pool_address: Pubkey,
        *,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        on_rebuild: Callable[[CpmmSnapshot], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(rpc, pool_address, stale_after_s=stale_after_s, clock=clock, backoff=backoff)
        self._on_rebuild = on_rebuild
        self._pool: CpmmPoolAccount | None = None
        self._config: CpmmConfigAccount | None = None
        self._vaults: dict[Pubkey, TokenAccount | None] = {}
        self.snapshot: CpmmSnapshot | None = None

    def _keys(self, pool: CpmmPoolAccount) -> list[Pubkey]:
        return [pool.amm_config, pool.token_0_vault, pool.token_1_vault]

    @property
    def watched(self) -> list[Pubkey]:
        return [self.pool_address] if self._pool is None else [self.pool_address, *self._keys(self._pool)]

    def _rebuild(self, slot: int) -> None:
        pool, config = self._pool, self._config
        if pool is None or config is None:
            return
        vault_0 = self._vaults.get(pool.token_0_vault)
        vault_1 = self._vaults.get(pool.token_1_vault)
        if vault_0 is None or vault_1 is None:
            return
        swap_pool = cpmm_pool(pool, config, vault_0, vault_1)
        curve = swap_pool.curve(decimals_0=pool.mint_0_decimals, decimals_1=pool.mint_1_decimals)
        self.snapshot = CpmmSnapshot(pool, config, swap_pool, curve, slot, self._clock())
        self.rebuilds += 1
        if self._on_rebuild is not None:
            self._on_rebuild(self.snapshot)

    def apply(self, update: AccountUpdate) -> bool:
        if not self._heard(update.slot):
            return False
        if update.data is None:
            raise AccountDecodeError(f"account {update.pubkey} does not exist (slot {update.slot})")
        if update.pubkey == self.pool_address:
            pool = decode_cpmm_pool(update.data)
            moved = self._pool is None or self._keys(pool) != self._keys(self._pool)
            self._pool = pool
            if moved:
                return True
        elif self._pool is not None and update.pubkey == self._pool.amm_config:
            self._config = decode_cpmm_config(update.data)
        elif update.pubkey in self._vaults:
            self._vaults[update.pubkey] = decode_token_account(update.data)
        else:
            return False
        self._rebuild(update.slot)
        return False

    async def load(self) -> CpmmSnapshot:
        (pool_update,) = await self.rpc.get_multiple_accounts([self.pool_address])
        if pool_update.data is None:
            raise AccountDecodeError(f"CPMM pool {self.pool_address} does not exist")
        pool = decode_cpmm_pool(pool_update.data)
        config_update, vault_0, vault_1 = await self.rpc.get_multiple_accounts(self._keys(pool))
        for name, update in (
            ("amm_config", config_update),
            ("token_0_vault", vault_0),
            ("token_1_vault", vault_1),
        ):
            if update.data is None:
                raise AccountDecodeError(
                    f"CPMM pool {self.pool_address}: {name} {update.pubkey} does not exist"
                )
        assert config_update.data is not None and vault_0.data is not None and vault_1.data is not None
        self._pool = pool
        self._config = decode_cpmm_config(config_update.data)
        self._vaults = {
            vault_0.pubkey: decode_token_account(vault_0.data),
            vault_1.pubkey: decode_token_account(vault_1.data),
        }
        self._slot = max(pool_update.slot, config_update.slot, vault_0.slot, vault_1.slot)
        self._heard_at = self._clock()
        self._rebuild(self._slot)
        assert self.snapshot is not None
        return self.snapshot

    def curve(self, now: float | None = None) -> ConstantProductCurve | None:
        """The current curve; ``None`` when stale, not loaded, or the pool's swaps are disabled."""
        snap = self.snapshot
        if snap is None or self.is_stale(now) or not snap.pool.swap_enabled:
            return None
        return snap.curve
