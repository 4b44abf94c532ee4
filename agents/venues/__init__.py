"""The supported exchanges, one module each (see ``agents.venues.spec``)."""

from __future__ import annotations

from agents.venues.spec import VenueOrders, VenueSpec, ccxt_symbol

_NAMES = ("binance", "binance_futures", "bitstamp", "bybit", "coinbase", "gemini", "hyperliquid", "kraken")


def venue_spec(name: str) -> VenueSpec:
    """The spec of exchange ``name`` (imported on first use: each module pulls in its cryptofeed class)."""
    if name not in _NAMES:
        raise ValueError(f"exchange must be one of {list(_NAMES)}, got {name!r}")
    import importlib

    module = importlib.import_module(f"agents.venues.{name}")
    spec = module.SPEC
    assert isinstance(spec, VenueSpec)
    return spec


def by_ccxt_id(ccxt_id: str) -> VenueSpec:
    """The spec whose ccxt exchange id is ``ccxt_id``."""
    # The module named like the ccxt exchange first: it is the usual match, and the only import needed.
    for name in sorted(_NAMES, key=lambda n: n != ccxt_id):
        spec = venue_spec(name)
        if spec.ccxt_id == ccxt_id:
            return spec
    raise ValueError(f"no venue module speaks ccxt exchange {ccxt_id!r}; supported: {list(_NAMES)}")


def names() -> tuple[str, ...]:
    return _NAMES


__all__ = ["VenueOrders", "VenueSpec", "by_ccxt_id", "ccxt_symbol", "names", "venue_spec"]
