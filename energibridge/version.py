"""IR semantic versions and negotiation: the major must match, the minor is additive.

Two peers agree on ``major.min(minor_a, minor_b)``: the newer side must not send fields the older side does
not know about, and proto3 ignores unknown fields anyway, so the lower minor is always safe.
"""

from __future__ import annotations

import re
from functools import total_ordering
from typing import ClassVar

from google.protobuf.message import Message
from pydantic import ConfigDict, Field

from energibridge.base import IrModel
from energibridge.errors import IncompatibleVersion, IrValidationError
from energibridge.v1 import ir_pb2

_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


@total_ordering
class IrVersion(IrModel):
    """Semantic version of the EnergiBridge IR."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    PROTO: ClassVar[type[Message]] = ir_pb2.IrVersion

    major: int = Field(ge=0, le=2**32 - 1)
    minor: int = Field(ge=0, le=2**32 - 1)
    patch: int = Field(default=0, ge=0, le=2**32 - 1)

    @classmethod
    def parse(cls, text: str) -> IrVersion:
        match = _SEMVER.match(text.strip())
        if match is None:
            raise IrValidationError("ir_version", f"expected MAJOR.MINOR.PATCH, got {text!r}")
        return cls(major=int(match[1]), minor=int(match[2]), patch=int(match[3]))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, IrVersion):
            return NotImplemented
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)


CURRENT = IrVersion(major=1, minor=3, patch=0)
"""The IR version this code base speaks."""

SESSION_LAYOUT_SINCE = IrVersion(major=1, minor=3, patch=0)
"""The first version of today's session contribution (IR 1.3 added each answer's rounded plan, probe
demands and demand slope to the masked vector). The layout is not additive like a proto field: an older
peer's vector cannot be summed with a newer one's, so a coordinator refuses peers below it at join."""

SUPPORTED_MAJOR = CURRENT.major


def negotiate(local: IrVersion, remote: IrVersion) -> IrVersion:
    """The version two peers use: same major required, lower minor wins (patch of that side)."""
    if local.major != remote.major:
        raise IncompatibleVersion(str(local), str(remote), "major versions differ; no translation exists")
    return min(local, remote)


def require_supported(version: IrVersion, field: str = "ir_version") -> IrVersion:
    """Refuse a message whose major version this code does not speak."""
    if version.major != SUPPORTED_MAJOR:
        raise IncompatibleVersion(
            str(CURRENT), str(version), f"{field}: unknown major version {version.major}"
        )
    return version
