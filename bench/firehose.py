"""A websocket server that plays one venue's recorded messages at full speed (a benchmark's fake venue).

Run as its own process (``python -m bench.firehose VENUE PORT_FILE``) so the sender never competes with the
measured client for the interpreter lock. Every connection waits for the client's first message (its
subscription, ignored; at most 0.5 s, as URL-subscribed venues send none), then sends every recorded
received message of the venue as fast as the socket takes them, then closes (``--loop``: replays them
again and again on the same connection, for endurance runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

from aiohttp import web

from agents.feeds.recording import LineKind
from agents.feeds.replay import load_recording

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "cryptofeed"


def messages(venue: str) -> list[str]:
    loaded = load_recording(venue, DATA)
    return [r.payload for r in loaded.records if r.kind is LineKind.RECEIVED]


async def serve(venue: str, port_file: Path, *, loop_forever: bool = False) -> None:
    payloads = messages(venue)

    async def handler(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(max_msg_size=0, compress=False)
        await socket.prepare(request)
        # the subscription (venues that subscribe in the URL, like Binance, send none)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(socket.receive(), timeout=0.5)
        while True:
            for text in payloads:
                await socket.send_str(text)
            if not loop_forever:
                break
        await socket.close()
        return socket

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    port_file.write_text(f"{port} {len(payloads)}")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], Path(sys.argv[2]), loop_forever="--loop" in sys.argv[3:]))
