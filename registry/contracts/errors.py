"""Errors of the contracts registry; each names the field or object at fault and what was expected.

``ContractError`` and ``ManifestError`` are the SDK's (``sdk.adapters.errors``), where the manifest model
lives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdk.adapters.errors import ContractError, ManifestError

if TYPE_CHECKING:
    from registry.contracts.verdict import Verdict


__all__ = [
    "ContractError",
    "ManifestError",
    "NoUpgradePath",
    "RegistrationRefused",
    "UnknownAdapter",
    "VerdictNotRecorded",
]


class RegistrationRefused(ContractError):
    """The registration broke compatibility; ``verdict.violations`` lists every reason."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        rules = sorted({v.rule for v in verdict.violations})
        super().__init__(
            f"registration of {verdict.adapter} {verdict.version} refused: "
            f"{len(verdict.violations)} violation(s) ({', '.join(rules)})"
        )


class UnknownAdapter(ContractError, LookupError):
    """No registered adapter version matches the request."""


class NoUpgradePath(ContractError):
    """No chain of compatible registered versions leads from one version to the other."""


class VerdictNotRecorded(ContractError):
    """The verdict is stored but the ledger sink failed; ``ContractRegistry.deliver_pending`` retries."""
