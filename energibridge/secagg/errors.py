"""Errors of the secure-aggregation layer.

Every refusal is a ``SecAggError`` (a ``ValueError``), so a transport adapter can map the whole family to one
"invalid argument" answer while tests and logs keep the precise kind.
"""

from __future__ import annotations


class SecAggError(ValueError):
    """Base class: an input or protocol step was refused; the message names the field and the reason."""


class EncodingError(SecAggError):
    """A float vector cannot be represented in the fixed-point ring (NaN, inf, out of range, bad shape)."""


class KeyAgreementError(SecAggError):
    """A public key, a peer directory or a key announcement is malformed, inconsistent or not authentic."""


class MaskingError(SecAggError):
    """The agent refuses to mask: unsafe mask set, stale or replayed round id, unknown peer."""


class SubmissionError(SecAggError):
    """The coordinator refuses a masked vector: unknown sender, duplicate, wrong length, stale round."""


class RoundStateError(SecAggError):
    """A coordinator-side call does not fit the current state (e.g. opening a round while one is open)."""
