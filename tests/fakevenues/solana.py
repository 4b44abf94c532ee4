"""A fake Solana RPC node: JSON-RPC over HTTP and ``accountSubscribe`` over websocket, playing given accounts.

One aiohttp application on 127.0.0.1 (ephemeral port), in a thread with its own loop: ``POST /`` answers
``getMultipleAccounts``, ``getAccountInfo``, ``getSlot`` and ``getRecentPrioritizationFees`` in the RPC's
own JSON shapes (accounts base64-encoded), ``GET /`` upgrades to the websocket API with ``accountSubscribe``
/ ``accountUnsubscribe`` and ``accountNotification`` messages. The chain moves only when told:
``set_account`` bumps the slot, stores the data and notifies every subscriber of that account. Faults:
``stall()`` withholds notifications (a stuck feed: the data changes, nobody hears), ``resume()`` releases
them, ``drop_ws()`` closes every socket.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from solders.pubkey import Pubkey

from tests.fakevenues.base import AppServer


@dataclass
class FakeAccount:
    data: bytes
    owner: Pubkey
    lamports: int = 1_000_000


def _ui(account: FakeAccount) -> dict[str, Any]:
    return {
        "data": [base64.b64encode(account.data).decode(), "base64"],
        "executable": False,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": 18446744073709551615,
        "space": len(account.data),
    }


class FakeSolanaNode(AppServer):
    """The accounts of a few pools, served as a Solana RPC node would."""

    name = "solana"

    def __init__(self, accounts: Mapping[Pubkey, FakeAccount], *, slot: int = 1000) -> None:
        super().__init__()
        self.accounts: dict[Pubkey, FakeAccount] = dict(accounts)
        self.slot = slot
        self.priority_fees: list[int] = [0, 1000, 5000, 10000, 20000]
        self.requests: list[str] = []
        self.stalled = False
        self._held: list[tuple[web.WebSocketResponse, str]] = []
        self._subs: dict[int, tuple[web.WebSocketResponse, Pubkey]] = {}
        self._next_sub = 1
        self._sockets: set[web.WebSocketResponse] = set()
        self._tasks: set[asyncio.Future[None]] = set()

    # ------------------------------------------------------------------ control (from any thread)

    def set_account(self, key: Pubkey, data: bytes) -> None:
        """Change an account's data at a new slot and notify its subscribers."""

        def apply() -> None:
            self.slot += 1
            previous = self.accounts.get(key)
            owner = previous.owner if previous else Pubkey.default()
            self.accounts[key] = FakeAccount(data, owner)
            for sub, (socket, sub_key) in list(self._subs.items()):
                if sub_key == key:
                    self._send(socket, self._notification(sub, self.accounts[key]))

        self._call(apply)

    def stall(self) -> None:
        self._call(lambda: setattr(self, "stalled", True))

    def resume(self) -> None:
        def apply() -> None:
            self.stalled = False
            held, self._held = self._held, []
            for socket, text in held:
                self._send(socket, text)

        self._call(apply)

    def drop_ws(self) -> None:
        async def close_all() -> None:
            for socket in list(self._sockets):
                await socket.close()

        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(5)

    # ------------------------------------------------------------------ protocol

    def _notification(self, sub: int, account: FakeAccount) -> str:
        return json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "accountNotification",
                "params": {
                    "result": {"context": {"slot": self.slot}, "value": _ui(account)},
                    "subscription": sub,
                },
            }
        )

    def _send(self, socket: web.WebSocketResponse, text: str) -> None:
        if self.stalled:
            self._held.append((socket, text))
            return
        if not socket.closed:
            task = asyncio.ensure_future(socket.send_str(text))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _context(self) -> dict[str, Any]:
        return {"slot": self.slot, "apiVersion": "2.0.0"}

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        method = request.get("method")
        params = request.get("params") or []
        self.requests.append(str(method))
        result: Any
        if method == "getMultipleAccounts":
            keys = [Pubkey.from_string(k) for k in params[0]]
            values = [_ui(self.accounts[k]) if k in self.accounts else None for k in keys]
            result = {"context": self._context(), "value": values}
        elif method == "getAccountInfo":
            key = Pubkey.from_string(params[0])
            result = {
                "context": self._context(),
                "value": _ui(self.accounts[key]) if key in self.accounts else None,
            }
        elif method == "getSlot":
            result = self.slot
        elif method == "getRecentPrioritizationFees":
            result = [
                {"slot": self.slot - i, "prioritizationFee": f} for i, f in enumerate(self.priority_fees)
            ]
        else:
            return {
                "jsonrpc": "2.0",
                "error": {"code": -32601, "message": "Method not found"},
                "id": request.get("id"),
            }
        return {"jsonrpc": "2.0", "result": result, "id": request.get("id")}

    async def _http(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(self.answer(body))

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.add(socket)
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                req = json.loads(message.data)
                if req.get("method") == "accountSubscribe":
                    sub = self._next_sub
                    self._next_sub += 1
                    self._subs[sub] = (socket, Pubkey.from_string(req["params"][0]))
                    await socket.send_str(json.dumps({"jsonrpc": "2.0", "result": sub, "id": req["id"]}))
                elif req.get("method") == "accountUnsubscribe":
                    self._subs.pop(int(req["params"][0]), None)
                    await socket.send_str(json.dumps({"jsonrpc": "2.0", "result": True, "id": req["id"]}))
        finally:
            self._sockets.discard(socket)
            for sub, (s, _) in list(self._subs.items()):
                if s is socket:
                    del self._subs[sub]
        return socket

    # ------------------------------------------------------------------ server

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self._http)
        app.router.add_get("/", self._ws)
        return app

    async def _shutdown(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        await super()._shutdown()

    def _call(self, fn: Any) -> None:
        loop = self.loop
        if loop is None:
            fn()
            return
        done = threading.Event()

        def wrapped() -> None:
            try:
                fn()
            finally:
                done.set()

        loop.call_soon_threadsafe(wrapped)
        done.wait(5)
