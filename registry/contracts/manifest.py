"""The adapter manifest the registry checks and stores: the SDK's model (``sdk.adapters.manifest``).

One model from the adapter class to the registry; this module re-exports it (and its parsing helpers) for
the registry's callers. JSON form (``descriptor_set`` is base64; the CLI can also take it from a ``.pb``
file)::

    {"name": "coinbase-advanced", "version": "1.2.0", "venue_kind": "order_book",
     "capabilities": ["books", "trades", "ioc_limit", "cancel", "order_events"],
     "ir_range": ">=1.0,<2.0", "descriptor_set": "CrQBCg..."}
"""

from __future__ import annotations

from sdk.adapters.manifest import (
    MAX_MANIFEST_BYTES,
    MAX_NAME_LENGTH,
    AdapterManifest,
    parse_capability,
    parse_venue_kind,
    venue_kind_label,
)

__all__ = [
    "MAX_MANIFEST_BYTES",
    "MAX_NAME_LENGTH",
    "AdapterManifest",
    "parse_capability",
    "parse_venue_kind",
    "venue_kind_label",
]
