"""Declarative adapter manifests: venue differences are data (class attributes), not code.

An adapter class declares ``manifest = AdapterManifest(...)``; the registry stores it (Graph-of-Contracts,
DESIGN section 5) and the agent reads capabilities and endpoints from it instead of branching on venue names.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_SYMBOL = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}(-[A-Z0-9]+)*$")


class AdapterKind(enum.StrEnum):
    DATA_FEED = "data_feed"
    EXECUTION = "execution"


class VenueKind(enum.StrEnum):
    ORDER_BOOK = "order_book"
    CPMM = "cpmm"
    CLMM = "clmm"
    PERPETUAL = "perpetual"
    PREDICTION_MARKET = "prediction_market"


class Capability(enum.StrEnum):
    BOOKS = "books"
    TRADES = "trades"
    FUNDING = "funding"
    BOOK_CHECKSUM = "book_checksum"
    """The venue sends a checksum of the book, verified on every update."""
    SEQUENCE_NUMBERS = "sequence_numbers"
    """Updates are numbered: gaps are detected, not guessed."""
    REST_SNAPSHOTS = "rest_snapshots"
    SERVER_TIME = "server_time"
    IOC_LIMIT = "ioc_limit"
    CANCEL = "cancel"
    CLIENT_ORDER_IDS = "client_order_ids"
    """The venue deduplicates on client order ids (idempotent re-sends)."""
    BALANCES = "balances"
    ORDER_EVENTS = "order_events"


class ManifestError(ValueError):
    """A manifest field is missing or malformed."""


@dataclass(frozen=True)
class AdapterManifest:
    """What an adapter is and can do; every field validated on construction."""

    name: str
    version: str
    venue: str
    kind: AdapterKind
    venue_kind: VenueKind
    symbols: tuple[str, ...]
    """Normalized ``BASE-QUOTE`` symbols the adapter serves (empty: discovered at connect)."""
    capabilities: frozenset[Capability]
    endpoints: Mapping[str, str] = field(default_factory=dict)
    """Named URLs (``ws``, ``rest``, ``snapshot``...)."""
    ir_min: str = "1.0.0"
    ir_max_exclusive: str = "2.0.0"
    library: str | None = None
    """The parsing/connectivity library and version (``cryptofeed==2.4.1``), or None for our own code."""
    max_book_depth: int | None = None

    def __post_init__(self) -> None:
        for name in ("name", "venue"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _NAME.match(value):
                raise ManifestError(f"{name} must match {_NAME.pattern}, got {value!r}")
        for name in ("version", "ir_min", "ir_max_exclusive"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _SEMVER.match(value):
                raise ManifestError(f"{name} must be MAJOR.MINOR.PATCH, got {value!r}")
        if _semver(self.ir_min) >= _semver(self.ir_max_exclusive):
            raise ManifestError(
                f"ir_min {self.ir_min} must be below ir_max_exclusive {self.ir_max_exclusive}"
            )
        if not isinstance(self.kind, AdapterKind):
            raise ManifestError(f"kind must be an AdapterKind, got {self.kind!r}")
        if not isinstance(self.venue_kind, VenueKind):
            raise ManifestError(f"venue_kind must be a VenueKind, got {self.venue_kind!r}")
        for symbol in self.symbols:
            if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
                raise ManifestError(f"symbols entries must look like 'BTC-USD', got {symbol!r}")
        bad = [c for c in self.capabilities if not isinstance(c, Capability)]
        if bad:
            raise ManifestError(f"capabilities must be Capability members, got {bad!r}")
        for key, url in self.endpoints.items():
            if not isinstance(url, str) or not re.match(r"^(wss?|https?)://", url):
                raise ManifestError(f"endpoints[{key!r}] must be a ws(s)/http(s) URL, got {url!r}")
        if self.max_book_depth is not None and self.max_book_depth <= 0:
            raise ManifestError(f"max_book_depth must be > 0 or None, got {self.max_book_depth!r}")
        object.__setattr__(self, "endpoints", MappingProxyType(dict(self.endpoints)))

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready form (sorted, deterministic) for the registry."""
        return {
            "name": self.name,
            "version": self.version,
            "venue": self.venue,
            "kind": self.kind.value,
            "venue_kind": self.venue_kind.value,
            "symbols": sorted(self.symbols),
            "capabilities": sorted(c.value for c in self.capabilities),
            "endpoints": dict(sorted(self.endpoints.items())),
            "ir_min": self.ir_min,
            "ir_max_exclusive": self.ir_max_exclusive,
            "library": self.library,
            "max_book_depth": self.max_book_depth,
        }


def _semver(text: str) -> tuple[int, int, int]:
    a, b, c = text.split(".")
    return int(a), int(b), int(c)
