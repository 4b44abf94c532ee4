"""Exact on-chain AMM math: Uniswap v2 constant product and Uniswap v3 concentrated liquidity.

Integer results equal the Solidity contracts' (checked against the official test vectors in
``../shared/data/amm``), so plans sized with the continuous curves can be turned into exact execution amounts
here. Submodules: :mod:`sdk.amm.uniswap_v2`, :mod:`sdk.amm.uniswap_v3`, :mod:`sdk.amm.full_math`; errors in
:mod:`sdk.amm.errors`.
"""

from sdk.amm.errors import AmmError, AmmInputError, AmmRevert, UniswapV2Revert, UniswapV3Revert

__all__ = ["AmmError", "AmmInputError", "AmmRevert", "UniswapV2Revert", "UniswapV3Revert"]
