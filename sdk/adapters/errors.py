"""Errors of adapter contracts (manifests, versions, descriptor sets); each names the field at fault.

The registry (``registry.contracts``) raises these same classes for the manifests it checks: one manifest
model, one error vocabulary, from the adapter author's tests to the registry's verdict.
"""

from __future__ import annotations


class ContractError(ValueError):
    """Base of every contract error (the registry's own errors derive from it too)."""


class ManifestError(ContractError):
    """A manifest field holds a value that is not accepted."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")
