"""Errors raised by the exact AMM math.

Two kinds, both ``ValueError`` so callers can catch either broadly:

* :class:`AmmInputError` - the caller handed us something that is not a valid on-chain value at all (a
  negative reserve, a float where an integer is required, a number wider than its Solidity type). Solidity
  cannot even represent these, so there is no revert string to mirror.
* :class:`AmmRevert` - a well-formed input that the Solidity code would *revert* on. ``reason`` carries the
  revert string where the contract has one (``"SPL"``, ``"INSUFFICIENT_LIQUIDITY"``, ``"K"``, ...) and a
  descriptive token of ours where the contract uses a bare ``require`` (documented at each raise site).
"""

from __future__ import annotations


class AmmError(ValueError):
    """Base class of every error raised by :mod:`sdk.amm`."""


class AmmInputError(AmmError):
    """An argument is not a representable value (wrong type, negative, wider than its Solidity type)."""


class AmmRevert(AmmError):
    """The Solidity reference would revert on these inputs.

    ``reason`` is the bare condition (``"K"``, ``"SPL"``, ...); ``revert_string`` is the full string the
    contract emits where it has one (``"UniswapV2: K"``), else equal to ``reason``.
    """

    def __init__(self, reason: str, detail: str, *, revert_string: str | None = None) -> None:
        self.reason = reason
        self.revert_string = revert_string if revert_string is not None else reason
        self.detail = detail
        shown = (
            self.revert_string
            if reason in self.revert_string
            else f"{reason} (on chain: {self.revert_string})"
        )
        super().__init__(f"{shown}: {detail}")


class UniswapV2Revert(AmmRevert):
    """A revert of the Uniswap v2 pair or library (``UniswapV2: ...`` / ``UniswapV2Library: ...``)."""


class UniswapV3Revert(AmmRevert):
    """A revert of the Uniswap v3 pool or one of its math libraries."""
