"""The adapter manifest: what an adapter author registers.

JSON form (``descriptor_set`` is base64; the CLI can also take it from a ``.pb`` file)::

    {"name": "coinbase-advanced", "version": "1.2.0", "venue_kind": "order_book",
     "capabilities": ["books", "trades", "ioc_limit", "cancel", "order_events"],
     "ir_range": ">=1.0,<2.0", "descriptor_set": "CrQBCg..."}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from energibridge.models.enums import VenueKind
from registry.contracts.errors import ManifestError
from registry.contracts.schema import MAX_DESCRIPTOR_SET_BYTES, Schema, load_schema
from registry.contracts.verdict import canonical_json
from registry.contracts.versions import IrRange, SemVer
from sdk.adapters.manifest import Capability

MAX_NAME_LENGTH = 64
MAX_MANIFEST_BYTES = 8 << 20
"""Longest manifest text: the base64 of a largest descriptor set and the other fields fit well within."""
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*$")


# One capability vocabulary across the product: the SDK's (what adapters declare) is what the registry checks.
_ONLY_FOR: Mapping[Capability, frozenset[VenueKind]] = {
    Capability.FUNDING: frozenset({VenueKind.PERPETUAL}),
}


def parse_capability(value: object, field: str = "capabilities") -> Capability:
    valid = ", ".join(c.value for c in Capability)
    if not isinstance(value, str):
        raise ManifestError(field, f"expected a capability name (any of {valid}), got {type(value).__name__}")
    try:
        return Capability(value)
    except ValueError:
        raise ManifestError(field, f"unknown capability {value!r}; expected any of {valid}") from None


def venue_kind_label(kind: VenueKind) -> str:
    return kind.name.lower()


def parse_venue_kind(value: object) -> VenueKind:
    """``"order_book"``, ``"ORDER_BOOK"``, ``"VENUE_KIND_ORDER_BOOK"`` or the protobuf number."""
    valid = ", ".join(venue_kind_label(k) for k in VenueKind)
    if isinstance(value, VenueKind):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return VenueKind(value)
        except ValueError:
            raise ManifestError(
                "venue_kind", f"unknown venue kind number {value}; expected one of {valid}"
            ) from None
    if isinstance(value, str):
        key = value.strip().upper().removeprefix("VENUE_KIND_")
        if key in VenueKind.__members__:
            return VenueKind[key]
        raise ManifestError("venue_kind", f"unknown venue kind {value!r}; expected one of {valid}")
    raise ManifestError("venue_kind", f"expected a venue kind name, got {type(value).__name__}")


class AdapterManifest(BaseModel):
    """One registered (or candidate) adapter version. Immutable; every field validated on construction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: SemVer
    venue_kind: VenueKind
    capabilities: tuple[Capability, ...]
    ir_range: IrRange
    descriptor_set: bytes

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ManifestError("name", f"expected a string, got {type(value).__name__}")
        if not 1 <= len(value) <= MAX_NAME_LENGTH or not _NAME.match(value):
            raise ManifestError(
                "name",
                f"expected 1-{MAX_NAME_LENGTH} lowercase letters/digits separated by '-', '_' or '.', "
                f"starting with a letter (e.g. 'coinbase-advanced'), got {value!r}",
            )
        return value

    @field_validator("venue_kind", mode="before")
    @classmethod
    def _venue_kind(cls, value: object) -> VenueKind:
        return parse_venue_kind(value)

    @field_validator("capabilities", mode="before")
    @classmethod
    def _capabilities(cls, value: object) -> tuple[Capability, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
            raise ManifestError(
                "capabilities", f"expected a list of capability names, got {type(value).__name__}"
            )
        valid = ", ".join(c.value for c in Capability)
        seen: set[Capability] = set()
        for item in value:
            capability = parse_capability(item)
            if capability in seen:
                raise ManifestError("capabilities", f"capability {capability.value!r} is listed twice")
            seen.add(capability)
        if not seen:
            raise ManifestError(
                "capabilities", f"an adapter needs at least one capability; expected any of {valid}"
            )
        return tuple(sorted(seen, key=lambda c: c.value))

    @field_validator("descriptor_set", mode="before")
    @classmethod
    def _descriptor_set(cls, value: object) -> bytes:
        if isinstance(value, str):
            if len(value) > (MAX_DESCRIPTOR_SET_BYTES * 4) // 3 + 4:
                raise ManifestError(
                    "descriptor_set", f"base64 text is longer than a {MAX_DESCRIPTOR_SET_BYTES}-byte set"
                )
            try:
                value = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ManifestError(
                    "descriptor_set", "expected base64 of a serialized FileDescriptorSet"
                ) from None
        if not isinstance(value, bytes | bytearray | memoryview):
            raise ManifestError(
                "descriptor_set", f"expected bytes or base64 text, got {type(value).__name__}"
            )
        raw = bytes(value)
        load_schema(raw)  # validates: parses, self-contained, builds in a fresh pool
        return raw

    @model_validator(mode="after")
    def _kind_capabilities(self) -> AdapterManifest:
        for capability in self.capabilities:
            kinds = _ONLY_FOR.get(capability)
            if kinds is not None and self.venue_kind not in kinds:
                allowed = ", ".join(sorted(venue_kind_label(k) for k in kinds))
                raise ManifestError(
                    "capabilities",
                    f"{capability.value!r} needs venue_kind {allowed}, but venue_kind is "
                    f"{venue_kind_label(self.venue_kind)!r}",
                )
        return self

    @field_serializer("venue_kind")
    def _ser_venue_kind(self, kind: VenueKind) -> str:
        return venue_kind_label(kind)

    @field_serializer("descriptor_set", when_used="json")
    def _ser_descriptor_set(self, raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    @classmethod
    def load(cls, data: Mapping[str, Any], descriptor_set: bytes | None = None) -> AdapterManifest:
        """Build from a JSON document; ``descriptor_set`` (e.g. read from a ``.pb`` file) fills the field when
        the document leaves it out. Every problem is reported as one ``ManifestError`` naming the fields."""
        if not isinstance(data, Mapping):
            raise ManifestError("manifest", f"expected a JSON object, got {type(data).__name__}")
        document = dict(data)
        if descriptor_set is not None:
            if "descriptor_set" in document:
                raise ManifestError(
                    "descriptor_set", "given both in the manifest and as a separate file; give one"
                )
            document["descriptor_set"] = descriptor_set
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            raise _manifest_error(exc) from None

    @classmethod
    def loads(cls, text: str | bytes, descriptor_set: bytes | None = None) -> AdapterManifest:
        """Build from JSON text (what the CLI reads from a file): size, encoding and nesting are checked
        before and while decoding, so hostile text ends as a ``ManifestError``, never as a crash."""
        if len(text) > MAX_MANIFEST_BYTES:
            raise ManifestError("manifest", f"is {len(text)} bytes, more than {MAX_MANIFEST_BYTES}")
        try:
            document = json.loads(text)
        except UnicodeDecodeError as exc:
            raise ManifestError("manifest", f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise ManifestError("manifest", f"is not JSON: {exc.msg} at line {exc.lineno}") from None
        except (RecursionError, ValueError) as exc:  # nesting past the decoder's depth; 4,300-digit numbers
            raise ManifestError(
                "manifest", f"is not a readable JSON document ({type(exc).__name__})"
            ) from None
        return cls.load(document, descriptor_set=descriptor_set)

    @property
    def wire_schema(self) -> Schema:
        return load_schema(self.descriptor_set)

    @property
    def line(self) -> str:
        """The adapter line: same name and semver major. Within a line every version must stay compatible
        with every other (semver's promise); a new major starts a new line."""
        return f"{self.name}@{self.version.major}"

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def descriptor_set_sha256(self) -> str:
        return hashlib.sha256(self.descriptor_set).hexdigest()

    def sha256(self) -> str:
        """Digest of the canonical JSON form (descriptor set included), identifying this exact manifest."""
        return hashlib.sha256(canonical_json(self.to_json_dict())).hexdigest()


def _manifest_error(exc: ValidationError) -> ManifestError:
    problems = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ManifestError):
            problems.append((cause.field, cause.reason))
            continue
        where = ".".join(str(p) for p in error["loc"]) or "manifest"
        problems.append((where, error["msg"]))
    if len(problems) == 1:
        return ManifestError(*problems[0])
    return ManifestError("manifest", "; ".join(f"{f}: {r}" for f, r in problems))
