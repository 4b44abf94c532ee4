"""A small Solana JSON-RPC client: ``getMultipleAccounts`` over HTTP, ``accountSubscribe`` over websocket.

The wire format (request bodies, response and notification parsing) is ``solders``' RPC types, the maintained
Rust-backed implementation of the Solana RPC schema; the transports are the standard library (HTTP POST, run
in a worker thread) and ``websockets``. Accounts are always requested base64-encoded, so the bytes handed on
are exactly the account data the decoders in :mod:`agents.solana.accounts` expect.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

import websockets
from solders.account_decoder import UiAccountEncoding
from solders.commitment_config import CommitmentLevel
from solders.pubkey import Pubkey
from solders.rpc.config import RpcAccountInfoConfig
from solders.rpc.requests import AccountSubscribe, GetMultipleAccounts, GetRecentPrioritizationFees
from solders.rpc.responses import (
    AccountNotification,
    GetMultipleAccountsResp,
    GetRecentPrioritizationFeesResp,
    SubscriptionError,
    SubscriptionResult,
    parse_websocket_message,
)

#: Solana's ``getMultipleAccounts`` limit per request.
MAX_ACCOUNTS_PER_REQUEST = 100


class SolanaRpcError(RuntimeError):
    """The RPC node answered with an error, or with something that is not a valid answer."""


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """One account's data at a slot (``data`` is ``None`` if the account does not exist)."""

    pubkey: Pubkey
    slot: int
    data: bytes | None
    owner: Pubkey | None = None


def _config(commitment: CommitmentLevel) -> RpcAccountInfoConfig:
    return RpcAccountInfoConfig(encoding=UiAccountEncoding.Base64, commitment=commitment)


class SolanaRpc:
    """JSON-RPC over ``http_url`` and subscriptions over ``ws_url`` at one commitment level."""

    def __init__(
        self,
        http_url: str,
        ws_url: str,
        *,
        commitment: CommitmentLevel = CommitmentLevel.Confirmed,
        timeout_s: float = 10.0,
    ) -> None:
        self.http_url = http_url
        self.ws_url = ws_url
        self.commitment = commitment
        self.timeout_s = timeout_s
        self._next_id = 0

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _post(self, body: str) -> str:
        if not self.http_url.startswith(("http://", "https://")):
            raise SolanaRpcError(f"http_url must be http(s), got {self.http_url!r}")
        request = urllib.request.Request(  # noqa: S310 -- scheme checked just above
            self.http_url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 -- operator's URL
            return str(response.read().decode())

    async def get_multiple_accounts(self, pubkeys: Sequence[Pubkey]) -> list[AccountUpdate]:
        """Current data of ``pubkeys`` (in order), in requests of at most 100 accounts."""
        out: list[AccountUpdate] = []
        for i in range(0, len(pubkeys), MAX_ACCOUNTS_PER_REQUEST):
            chunk = list(pubkeys[i : i + MAX_ACCOUNTS_PER_REQUEST])
            request = GetMultipleAccounts(chunk, _config(self.commitment), id=self._id())
            text = await asyncio.to_thread(self._post, request.to_json())
            if '"error"' in text:
                error = json.loads(text).get("error")
                if error is not None:
                    raise SolanaRpcError(f"getMultipleAccounts failed: {error}")
            try:
                parsed = GetMultipleAccountsResp.from_json(text)
            except ValueError as err:
                raise SolanaRpcError(f"getMultipleAccounts answer is not valid: {text[:200]!r}") from err
            if not isinstance(parsed, GetMultipleAccountsResp):
                raise SolanaRpcError(f"getMultipleAccounts failed: {parsed}")
            slot = parsed.context.slot
            for key, account in zip(chunk, parsed.value, strict=True):
                if account is None:
                    out.append(AccountUpdate(key, slot, None))
                else:
                    out.append(AccountUpdate(key, slot, bytes(account.data), account.owner))
        return out

    async def recent_prioritization_fees(self, pubkeys: Sequence[Pubkey] = ()) -> list[int]:
        """``getRecentPrioritizationFees``: the fees (micro-lamports per compute unit) of recent slots, for
        transactions locking ``pubkeys`` writable."""
        request = GetRecentPrioritizationFees(list(pubkeys) or None, id=self._id())
        text = await asyncio.to_thread(self._post, request.to_json())
        try:
            parsed = GetRecentPrioritizationFeesResp.from_json(text)
        except ValueError as err:
            raise SolanaRpcError(f"getRecentPrioritizationFees answer is not valid: {text[:200]!r}") from err
        if not isinstance(parsed, GetRecentPrioritizationFeesResp):
            raise SolanaRpcError(f"getRecentPrioritizationFees failed: {parsed}")
        return [fee.prioritization_fee for fee in parsed.value]

    async def subscribe_accounts(self, pubkeys: Sequence[Pubkey]) -> AsyncGenerator[AccountUpdate, None]:
        """Every change of ``pubkeys`` as it is notified (``accountSubscribe`` per account, one socket).

        The iterator ends when the socket closes; the caller reconnects (and re-reads the accounts, since
        changes while disconnected are not replayed).
        """
        async with websockets.connect(self.ws_url, max_size=2**24) as ws:
            pending: dict[int, Pubkey] = {}
            for key in pubkeys:
                request_id = self._id()
                pending[request_id] = key
                await ws.send(AccountSubscribe(key, _config(self.commitment), id=request_id).to_json())
            by_subscription: dict[int, Pubkey] = {}
            async for raw in ws:
                text = raw if isinstance(raw, str) else raw.decode()
                try:
                    messages = parse_websocket_message(text)
                except ValueError as err:
                    raise SolanaRpcError(f"websocket message is not valid: {text[:200]!r}") from err
                for message in messages:
                    if isinstance(message, SubscriptionResult):
                        if message.id not in pending:
                            raise SolanaRpcError(f"subscription answer for unknown request id {message.id}")
                        by_subscription[message.result] = pending.pop(message.id)
                    elif isinstance(message, SubscriptionError):
                        raise SolanaRpcError(f"accountSubscribe failed: {message.error}")
                    elif isinstance(message, AccountNotification):
                        account_key = by_subscription.get(message.subscription)
                        if account_key is None:
                            continue  # a subscription we did not make (or already dropped)
                        value = message.result.value
                        slot = message.result.context.slot
                        yield AccountUpdate(account_key, slot, bytes(value.data), value.owner)
