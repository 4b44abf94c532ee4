"""A websocket server that plays one venue's messages at full speed (a benchmark's fake venue).

Run as its own process so the sender never competes with the measured client for the interpreter lock:

- ``python -m bench.firehose VENUE PORT_FILE [--loop]`` plays the venue's recorded received messages;
- ``python -m bench.firehose VENUE PORT_FILE --stream FILE`` plays the messages of ``FILE`` (one per line, as
  ``bench.streams`` builds them for the live-feed benchmark).

Every connection waits for the client's first message (its subscription, ignored; at most 0.5 s, as
URL-subscribed venues send none), then sends every message as fast as the socket takes them, then waits for
the client to close (``--loop``: plays them again and again on the same connection, for endurance runs).

The server side of RFC 6455 is written out here (upgrade, unmasked text frames, close, pong) instead of using
a web framework: the frames are encoded once, before any client connects, and written in 256 KiB chunks, so
sending costs next to nothing per message and the measured client is the only bottleneck (a framework's
per-message ``send`` capped the rate near the fastest clients' own).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.feeds.recording import LineKind
from agents.feeds.replay import load_recording

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "cryptofeed"
CHUNK_BYTES = 256 * 1024
SUBSCRIBE_WAIT_S = 0.5
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OP_CLOSE = 0x8
_OP_PING = 0x9
_OP_PONG = 0xA


def messages(venue: str) -> list[str]:
    loaded = load_recording(venue, DATA)
    return [r.payload for r in loaded.records if r.kind is LineKind.RECEIVED]


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked, final server frame."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


def encode(texts: Sequence[str]) -> bytes:
    """Every message as a text frame, back to back."""
    return b"".join(frame(text.encode("utf-8")) for text in texts)


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One client frame (clients always mask): ``(opcode, payload)``."""
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(size)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    request = await reader.readuntil(b"\r\n\r\n")
    key = b""
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    if not key:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        return False
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())  # RFC 6455's handshake digest
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return True


async def serve(
    venue: str, port_file: Path, *, loop_forever: bool = False, stream: Path | None = None
) -> None:
    texts = stream.read_text().splitlines() if stream is not None else messages(venue)
    payload = memoryview(encode(texts))

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        closing = asyncio.Event()
        subscribed = asyncio.Event()
        pongs: list[bytes] = []

        async def listen() -> None:
            """Client frames: the subscription (ignored), pings (answered between chunks), the close."""
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:
                    opcode, data = await _read_frame(reader)
                    subscribed.set()
                    if opcode == _OP_PING:
                        pongs.append(data)
                    elif opcode == _OP_CLOSE:
                        break
            closing.set()

        try:
            if not await _handshake(reader, writer):
                return
            listener = asyncio.ensure_future(listen())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscribed.wait(), timeout=SUBSCRIBE_WAIT_S)
            while not closing.is_set():
                for offset in range(0, len(payload), CHUNK_BYTES):
                    writer.write(payload[offset : offset + CHUNK_BYTES])
                    while pongs:
                        writer.write(frame(pongs.pop(0), _OP_PONG))
                    await writer.drain()
                    if closing.is_set():
                        break
                if not loop_forever:
                    break
            await closing.wait()
            writer.write(frame(struct.pack("!H", 1000), _OP_CLOSE))
            await writer.drain()
            listener.cancel()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    port_file.write_text(f"{port} {len(texts)}")
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str]) -> None:
    stream = Path(argv[argv.index("--stream") + 1]) if "--stream" in argv else None
    asyncio.run(serve(argv[0], Path(argv[1]), loop_forever="--loop" in argv[2:], stream=stream))


if __name__ == "__main__":
    main(sys.argv[1:])
