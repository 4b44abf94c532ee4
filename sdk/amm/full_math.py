"""512-bit-exact ``mulDiv`` with uint256 results (Uniswap ``FullMath`` semantics).

Python integers make the 512-bit intermediate trivial; what matters for exactness is to refuse exactly what
the contract refuses: a zero denominator and a result that does not fit in uint256. Shared by the v2 arbitrage
math (``@uniswap/lib`` FullMath) and the v3 libraries (``v3-core`` FullMath), whose semantics agree.
"""

from __future__ import annotations

from sdk.amm.errors import AmmRevert
from sdk.amm.uint import MAX_UINT256, require_uint


def mul_div(a: int, b: int, denominator: int) -> int:
    """``floor(a * b / denominator)`` for uint256 inputs; reverts on a zero denominator or uint256 overflow.

    Solidity's v3 FullMath has bare ``require``s here; the reason tokens are ours (``@uniswap/lib`` emits
    ``FullMath: FULLDIV_OVERFLOW`` for the overflow).
    """
    require_uint("a", a)
    require_uint("b", b)
    require_uint("denominator", denominator)
    if denominator == 0:
        raise AmmRevert("DIVISION_BY_ZERO", "mul_div denominator is 0")
    result = a * b // denominator
    if result > MAX_UINT256:
        raise AmmRevert("FULLDIV_OVERFLOW", "mul_div result does not fit in uint256")
    return result


def mul_div_rounding_up(a: int, b: int, denominator: int) -> int:
    """``ceil(a * b / denominator)``; reverts like :func:`mul_div`, also when rounding up overflows."""
    require_uint("a", a)
    require_uint("b", b)
    require_uint("denominator", denominator)
    if denominator == 0:
        raise AmmRevert("DIVISION_BY_ZERO", "mul_div_rounding_up denominator is 0")
    result = -(-(a * b) // denominator)
    if result > MAX_UINT256:
        raise AmmRevert("FULLDIV_OVERFLOW", "mul_div_rounding_up result does not fit in uint256")
    return result


def div_rounding_up(x: int, y: int) -> int:
    """``ceil(x / y)`` for uint256 (``UnsafeMath.divRoundingUp``); a zero ``y`` is refused, not mapped to 0.

    The assembly original returns 0 on a zero divisor; no caller in v3-core can pass one, so refusing it only
    turns a silent wrong answer into an error.
    """
    require_uint("x", x)
    require_uint("y", y)
    if y == 0:
        raise AmmRevert("DIVISION_BY_ZERO", "div_rounding_up divisor is 0")
    return -(-x // y)
