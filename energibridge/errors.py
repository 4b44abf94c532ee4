"""Errors raised at the IR boundary. Each names the offending field and says what was expected."""

from __future__ import annotations


class EnergiBridgeError(ValueError):
    """Base of every IR boundary error."""


class IrValidationError(EnergiBridgeError):
    """A message or model field holds a value the IR does not allow."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class IncompatibleVersion(EnergiBridgeError):
    """Two peers speak IR versions that cannot interoperate (different major versions)."""

    def __init__(self, local: str, remote: str, reason: str) -> None:
        self.local = local
        self.remote = remote
        super().__init__(f"incompatible IR versions: local {local}, remote {remote}: {reason}")


class MessageTooLarge(EnergiBridgeError):
    """Encoded message exceeds the configured size limit."""

    def __init__(self, size: int, limit: int, message_type: str) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"{message_type}: encoded size {size} bytes exceeds the limit of {limit} bytes")
