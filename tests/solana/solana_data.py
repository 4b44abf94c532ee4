"""Loading the recorded Solana accounts of ``../shared/data/amm/solana`` in their three file formats."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

SOLANA = Path("amm") / "solana"


def load(shared_data: Path, relative: str) -> Any:
    return json.loads((shared_data / SOLANA / relative).read_text(encoding="utf-8"))


def account_bytes(entry: dict[str, Any]) -> bytes:
    """``data`` as base64 text (carbon), ``[base64, "base64"]`` (solana CLI) or a list of u8 (vixen)."""
    data = entry["data"]
    if isinstance(data, str):
        return base64.b64decode(data)
    if len(data) == 2 and data[1] == "base64":
        return base64.b64decode(data[0])
    return bytes(data)


def cpmm_state(shared_data: Path) -> dict[str, Any]:
    return load(shared_data, "raydium/raydium_cp_swap/cpmm_wsol_pump.json")  # type: ignore[no-any-return]


def fixed_tick_array_bytes(start: int, whirlpool: bytes, ticks: dict[int, tuple[int, int]]) -> bytes:
    """A fixed TickArray account: ``ticks`` maps offset -> (liquidity_net, liquidity_gross)."""
    import hashlib
    import struct

    out = bytearray(hashlib.sha256(b"account:TickArray").digest()[:8])
    out += struct.pack("<i", start)
    for offset in range(88):
        if offset in ticks:
            net, gross = ticks[offset]
            out += b"\x01" + net.to_bytes(16, "little", signed=True) + gross.to_bytes(16, "little")
            out += bytes(16 * 5)
        else:
            out += bytes(113)
    out += whirlpool
    return bytes(out)


def with_price(whirlpool_data: bytes, sqrt_price: int, tick: int) -> bytes:
    """The Whirlpool account bytes with another sqrt price and current tick (offsets 65 and 81)."""
    import struct

    data = bytearray(whirlpool_data)
    data[65:81] = sqrt_price.to_bytes(16, "little")
    data[81:85] = struct.pack("<i", tick)
    return bytes(data)


def whirlpool_bytes(
    *,
    config: bytes,
    mint_a: bytes,
    mint_b: bytes,
    tick_spacing: int,
    fee_rate: int,
    protocol_fee_rate: int,
    liquidity: int,
    sqrt_price: int,
    tick: int,
) -> bytes:
    """A Whirlpool account (653 bytes) with the given swap fields; vaults, fees owed and rewards zero."""
    import hashlib
    import struct

    out = bytearray(hashlib.sha256(b"account:Whirlpool").digest()[:8])
    out += config + bytes([255]) + struct.pack("<H", tick_spacing) + struct.pack("<H", tick_spacing)
    out += struct.pack("<HH", fee_rate, protocol_fee_rate)
    out += liquidity.to_bytes(16, "little") + sqrt_price.to_bytes(16, "little") + struct.pack("<i", tick)
    out += bytes(16)  # protocol fees owed a, b
    out += mint_a + bytes(32) + bytes(16) + mint_b + bytes(32) + bytes(16)
    out += bytes(8) + bytes(128 * 3)
    assert len(out) == 653
    return bytes(out)
