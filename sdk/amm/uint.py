"""Solidity integer widths and boundary checks for the exact AMM math.

Python integers are unbounded, Solidity's are not. Every public function of :mod:`sdk.amm` checks that its
arguments fit the Solidity type they stand for, so that an out-of-range value is refused here with a clear
message instead of silently producing a result the chain could never produce.
"""

from __future__ import annotations

from sdk.amm.errors import AmmInputError

MAX_UINT24 = (1 << 24) - 1
MAX_UINT112 = (1 << 112) - 1
MAX_UINT128 = (1 << 128) - 1
MAX_UINT160 = (1 << 160) - 1
MAX_UINT256 = (1 << 256) - 1
MIN_INT128 = -(1 << 127)
MAX_INT128 = (1 << 127) - 1
MIN_INT256 = -(1 << 255)
MAX_INT256 = (1 << 255) - 1


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def require_uint(name: str, value: object, bits: int = 256) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) in ``[0, 2**bits)``, else raise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise AmmInputError(
            f"{name} must be an int (uint{bits}), got {type(value).__name__} {_describe(value)}"
        )
    if value < 0:
        raise AmmInputError(f"{name} must be >= 0 (uint{bits}), got {_describe(value)}")
    if value >> bits:
        raise AmmInputError(f"{name} must be < 2**{bits} (uint{bits}), got {_describe(value)}")
    return value


def require_int(name: str, value: object, bits: int = 256) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) in ``[-2**(bits-1), 2**(bits-1))``, else raise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise AmmInputError(
            f"{name} must be an int (int{bits}), got {type(value).__name__} {_describe(value)}"
        )
    bound = 1 << (bits - 1)
    if not -bound <= value < bound:
        raise AmmInputError(
            f"{name} must be in [-2**{bits - 1}, 2**{bits - 1}) (int{bits}), got {_describe(value)}"
        )
    return value


def require_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool``; integers 0/1 are refused to catch swapped arguments."""
    if not isinstance(value, bool):
        raise AmmInputError(f"{name} must be a bool, got {type(value).__name__} {_describe(value)}")
    return value
