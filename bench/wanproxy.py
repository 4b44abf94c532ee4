"""A userspace WAN link for benchmarks: a TCP relay that delays every byte by half a round trip each way.

Used by ``bench_wan`` where the kernel has no ``netem`` queueing discipline (this machine's kernel ships
none: ``tc qdisc add ... netem`` answers "Specified qdisc kind is unknown"). Each listening port relays to
one target with its own one-way delay, jitter and loss; TLS passes through untouched, so the agent and the
coordinator still authenticate each other end to end.

Model, stated so the figures can be read honestly:

- delay: each chunk read from one side is written to the other ``delay + U(-jitter, +jitter)`` later, and
  never before the chunk that preceded it (TCP delivers in order);
- loss: TCP hides a lost segment behind a retransmission, so a "lost" chunk (probability ``loss``) is
  delivered late by the recovery a small gRPC message would see, a tail-loss probe: ``max(2 x RTT, 10 ms)``
  plus one more RTT for the retransmission to arrive. Real loss can also shrink the congestion window,
  which this does not model; on these small messages that matters little.

Run as ``python -m bench.wanproxy LISTEN_PORT:TARGET_HOST:TARGET_PORT ... --rtt-ms 10 --loss 0.01``; it
prints ``ready`` once every port listens and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import time
from dataclasses import dataclass

CHUNK = 65536


@dataclass(frozen=True)
class Link:
    rtt_s: float
    jitter_s: float
    loss: float

    def one_way_s(self, rng: random.Random) -> float:
        delay = self.rtt_s / 2 + (rng.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0)
        if self.loss and rng.random() < self.loss:
            delay += max(2 * self.rtt_s, 0.010) + self.rtt_s
        return max(0.0, delay)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link) -> None:
    """Relay one direction: chunks leave in order, each at its own delivery time."""
    rng = random.Random()  # timing noise only; nothing secret depends on it
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(deliver())
    last_due = 0.0
    try:
        while data := await reader.read(CHUNK):
            last_due = max(last_due, time.monotonic() + link.one_way_s(rng))
            queue.put_nowait((last_due, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((last_due, b""))
    with contextlib.suppress(ConnectionError, OSError):
        await sender


async def _serve(port: int, host: str, target_port: int, link: Link) -> asyncio.Server:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(host, target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pump(client_r, server_w, link), _pump(server_r, client_w, link))

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def _main(routes: list[str], link: Link) -> None:
    servers = []
    for route in routes:
        listen, host, target = route.split(":")
        servers.append(await _serve(int(listen), host, int(target), link))
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("routes", nargs="+", help="LISTEN_PORT:TARGET_HOST:TARGET_PORT")
    parser.add_argument("--rtt-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--loss", type=float, default=0.0)
    args = parser.parse_args()
    if args.rtt_ms < 0 or args.jitter_ms < 0 or not 0 <= args.loss < 1:
        parser.error("--rtt-ms and --jitter-ms must be >= 0 and --loss in [0, 1)")
    asyncio.run(_main(args.routes, Link(args.rtt_ms / 1e3, args.jitter_ms / 1e3, args.loss)))


if __name__ == "__main__":
    main()
