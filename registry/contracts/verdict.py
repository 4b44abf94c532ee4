"""Violations and verdicts: the structured, hashable outcome of a compatibility check.

A verdict's canonical bytes (UTF-8 JSON, sorted keys, no whitespace, no timestamps) are what the ledger
records, so the same check always yields the same bytes and the same hash.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from sdk.adapters.manifest import canonical_json

VERDICT_FORMAT: Final = "arbsphere.registry.verdict/1"
VERDICT_KIND = "registry_verdict"
"""Ledger entry kind of a verdict (``AuditKind.REGISTRY_VERDICT``)."""
POLICY: Final = "BACKWARD_TRANSITIVE"
RULE_SET: Final = "WIRE_JSON+SERVICES+CONTRACT"


class RuleId(StrEnum):
    """Every rule a registration can break. Wire/JSON rules follow buf's WIRE_JSON category; service rules
    also refuse deleting a service or RPC (a coordinator calling it would fail); contract rules cover the
    manifest itself."""

    # fields
    FIELD_NUMBER_REUSED = "FIELD_NUMBER_REUSED"
    FIELD_TYPE_CHANGED = "FIELD_TYPE_CHANGED"
    FIELD_CARDINALITY_CHANGED = "FIELD_CARDINALITY_CHANGED"
    FIELD_ONEOF_CHANGED = "FIELD_ONEOF_CHANGED"
    FIELD_JSON_NAME_CHANGED = "FIELD_JSON_NAME_CHANGED"
    FIELD_RENUMBERED = "FIELD_RENUMBERED"
    FIELD_DELETED_NUMBER_UNRESERVED = "FIELD_DELETED_NUMBER_UNRESERVED"
    FIELD_DELETED_NAME_UNRESERVED = "FIELD_DELETED_NAME_UNRESERVED"
    REQUIRED_FIELD_ADDED = "REQUIRED_FIELD_ADDED"
    # messages and reservations
    RESERVED_NUMBER_REMOVED = "RESERVED_NUMBER_REMOVED"
    RESERVED_NAME_REMOVED = "RESERVED_NAME_REMOVED"
    MESSAGE_WIRE_FORMAT_CHANGED = "MESSAGE_WIRE_FORMAT_CHANGED"
    PACKAGE_CHANGED = "PACKAGE_CHANGED"
    # enums
    ENUM_VALUE_NAME_CHANGED = "ENUM_VALUE_NAME_CHANGED"
    ENUM_VALUE_RENUMBERED = "ENUM_VALUE_RENUMBERED"
    ENUM_VALUE_DELETED_NUMBER_UNRESERVED = "ENUM_VALUE_DELETED_NUMBER_UNRESERVED"
    ENUM_VALUE_DELETED_NAME_UNRESERVED = "ENUM_VALUE_DELETED_NAME_UNRESERVED"
    # services
    SERVICE_DELETED = "SERVICE_DELETED"
    RPC_DELETED = "RPC_DELETED"
    RPC_REQUEST_TYPE_CHANGED = "RPC_REQUEST_TYPE_CHANGED"
    RPC_RESPONSE_TYPE_CHANGED = "RPC_RESPONSE_TYPE_CHANGED"
    RPC_CLIENT_STREAMING_CHANGED = "RPC_CLIENT_STREAMING_CHANGED"
    RPC_SERVER_STREAMING_CHANGED = "RPC_SERVER_STREAMING_CHANGED"
    RPC_IDEMPOTENCY_CHANGED = "RPC_IDEMPOTENCY_CHANGED"
    MESSAGE_REFERENCED_BY_SERVICE_DELETED = "MESSAGE_REFERENCED_BY_SERVICE_DELETED"
    # the manifest
    VERSION_ALREADY_REGISTERED = "VERSION_ALREADY_REGISTERED"
    IR_RANGE_NARROWED = "IR_RANGE_NARROWED"
    IR_RANGE_DISJOINT = "IR_RANGE_DISJOINT"
    VENUE_KIND_CHANGED = "VENUE_KIND_CHANGED"
    CAPABILITY_REMOVED = "CAPABILITY_REMOVED"


Direction = Literal["earlier", "later"]


class Violation(BaseModel):
    """One broken rule. ``path`` names the element (``pkg.Message.field``, ``pkg.Service.Rpc``, a manifest
    field); ``old``/``new`` describe it before and after; ``against`` is the registered version it was
    checked against and ``direction`` says which side was the candidate: ``earlier`` (candidate read data of
    an earlier version) or ``later`` (an already registered later version must stay compatible with it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: RuleId
    message: str
    path: str
    old: str | None = None
    new: str | None = None
    against: str | None = None
    direction: Direction | None = None

    def versus(self, against: str, direction: Direction) -> Violation:
        return self.model_copy(update={"against": against, "direction": direction})

    def render(self) -> str:
        change = f" [{self.old or '-'} -> {self.new or '-'}]" if self.old or self.new else ""
        where = f" (vs {self.against}, {self.direction})" if self.against else ""
        return f"{self.rule}: {self.path}: {self.message}{change}{where}"


class Verdict(BaseModel):
    """Outcome of checking one manifest against its adapter line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["arbsphere.registry.verdict/1"] = VERDICT_FORMAT
    adapter: str
    version: str
    line: str
    venue_kind: str
    capabilities: tuple[str, ...]
    ir_range: str
    manifest_sha256: str
    descriptor_set_sha256: str
    policy: Literal["BACKWARD_TRANSITIVE"] = POLICY
    rule_set: Literal["WIRE_JSON+SERVICES+CONTRACT"] = RULE_SET
    checked_against: tuple[str, ...]
    checked_later: tuple[str, ...]
    accepted: bool
    violations: tuple[Violation, ...]

    @model_validator(mode="after")
    def _accepted_iff_clean(self) -> Verdict:
        if self.accepted == bool(self.violations):
            raise ValueError(
                f"accepted: must be {not self.violations} with {len(self.violations)} violation(s), "
                f"got {self.accepted}"
            )
        return self

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def canonical_json(self) -> bytes:
        return canonical_json(self.to_json_dict())

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json()).hexdigest()
