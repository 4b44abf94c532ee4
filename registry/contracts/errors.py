"""Errors of the contracts registry; each names the field or object at fault and what was expected."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry.contracts.verdict import Verdict


class ContractError(ValueError):
    """Base of every registry error."""


class ManifestError(ContractError):
    """A manifest field holds a value the registry does not accept."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


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
