"""The Whirlpool program's error codes, raised where the program raises them.

On chain an Anchor program fails with a custom error number ``6000 + index`` of its ``ErrorCode`` enum; the
name is what the program's own swap test cases expect (``ZeroTradableAmount``, ``TokenMaxExceeded``, ...).
:class:`WhirlpoolError` carries both, so a caller can match on ``err.code`` (the name) or ``err.number``.
Only the codes the math and swap paths can raise are listed by name in :data:`ERROR_NUMBERS`; the order (and
so each number) is the program's, so a number read from a failed transaction maps back to its name.
"""

from __future__ import annotations

from sdk.amm.errors import AmmRevert

ANCHOR_ERROR_OFFSET = 6000

# In the program's enum order: the position is the on-chain number minus 6000.
_ORDER = (  # noqa: SIM905 -- one name per enum variant, wrapped to the page; a literal list is 41 lines
    "InvalidEnum InvalidStartTick TickArrayExistInPool TickArrayIndexOutofBounds InvalidTickSpacing "
    "ClosePositionNotEmpty DivideByZero NumberCastError NumberDownCastError TickNotFound InvalidTickIndex "
    "SqrtPriceOutOfBounds LiquidityZero LiquidityTooHigh LiquidityOverflow LiquidityUnderflow "
    "LiquidityNetError "
    "TokenMaxExceeded TokenMinSubceeded MissingOrInvalidDelegate InvalidPositionTokenAmount "
    "InvalidTimestampConversion InvalidTimestamp InvalidTickArraySequence InvalidTokenMintOrder "
    "RewardNotInitialized InvalidRewardIndex RewardVaultAmountInsufficient FeeRateMaxExceeded "
    "ProtocolFeeRateMaxExceeded MultiplicationShiftRightOverflow MulDivOverflow MulDivInvalidInput "
    "MultiplicationOverflow InvalidSqrtPriceLimitDirection ZeroTradableAmount AmountOutBelowMinimum "
    "AmountInAboveMaximum TickArraySequenceInvalidIndex AmountCalcOverflow AmountRemainingOverflow"
).split()

#: Error name -> on-chain custom error number.
ERROR_NUMBERS: dict[str, int] = {name: ANCHOR_ERROR_OFFSET + i for i, name in enumerate(_ORDER)}
#: Not in the contiguous prefix above (later in the enum); the number is the program's.
ERROR_NUMBERS["PartialFillError"] = 6057


class WhirlpoolError(AmmRevert):
    """The Whirlpool program would fail with ``code`` (its ``ErrorCode`` variant name).

    ``number`` is the custom program error number a failed transaction reports (``6000 + index``).
    """

    def __init__(self, code: str, detail: str) -> None:
        if code not in ERROR_NUMBERS:
            raise ValueError(f"code must be a known Whirlpool ErrorCode name, got {code!r}")
        self.code = code
        self.number = ERROR_NUMBERS[code]
        super().__init__(code, detail, revert_string=f"{code} (custom program error {self.number})")
