"""The adapter manifest: what an adapter is, can do and speaks (one model, adapter class to registry).

An adapter class declares ``manifest = AdapterManifest(...)`` (venue differences are data, not code); the
agent reads capabilities and endpoints from it instead of branching on venue names, and the registry
(Graph-of-Contracts, DESIGN section 5, ``registry.contracts``) checks and stores the very same model, loaded
from its JSON form (``descriptor_set`` is base64; the CLI can also take it from a ``.pb`` file)::

    {"name": "coinbase-advanced", "version": "1.2.0", "venue_kind": "order_book",
     "capabilities": ["books", "trades", "ioc_limit", "cancel", "order_events"],
     "ir_range": ">=1.0,<2.0", "descriptor_set": "CrQBCg..."}

The registry's fields (name, semver version, venue kind, capabilities, IR range, descriptor set) identify a
contract; the adapter-side fields (venue, kind, symbols, endpoints, library, book depth) describe one
running adapter and are optional, so a registry document needs none of them and its digest ignores them
when absent. Every field is validated on construction; every error is a ``ManifestError`` naming the field.
"""

from __future__ import annotations

import base64
import binascii
import enum
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
from energibridge.version import CURRENT
from sdk.adapters.errors import ManifestError
from sdk.adapters.schema import MAX_DESCRIPTOR_SET_BYTES, Schema, load_schema
from sdk.adapters.versions import IrRange, SemVer

__all__ = [
    "DEFAULT_IR_RANGE",
    "MAX_MANIFEST_BYTES",
    "MAX_NAME_LENGTH",
    "AdapterKind",
    "AdapterManifest",
    "Capability",
    "ManifestError",
    "VenueKind",
    "canonical_json",
    "parse_capability",
    "parse_venue_kind",
    "venue_kind_label",
]

MAX_NAME_LENGTH = 64
MAX_MANIFEST_BYTES = 8 << 20
"""Longest manifest text: the base64 of a largest descriptor set and the other fields fit well within."""
DEFAULT_IR_RANGE = f">={CURRENT.major}.0.0,<{CURRENT.major + 1}.0.0"
"""The whole current IR major: minors are additive and peers negotiate down to the lower one."""
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*$")
_VENUE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_SYMBOL = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}(-[A-Z0-9]+)*$")
_URL = re.compile(r"^(wss?|https?)://")


class AdapterKind(enum.StrEnum):
    DATA_FEED = "data_feed"
    EXECUTION = "execution"


class Capability(enum.StrEnum):
    """The one capability vocabulary: what adapters declare is what the registry checks."""

    BOOKS = "books"
    TRADES = "trades"
    FUNDING = "funding"
    BOOK_CHECKSUM = "book_checksum"
    """The venue sends a checksum of the book, verified on every update."""
    SEQUENCE_NUMBERS = "sequence_numbers"
    """Updates are numbered: gaps are detected, not guessed."""
    REST_SNAPSHOTS = "rest_snapshots"
    SERVER_TIME = "server_time"
    IOC_LIMIT = "ioc_limit"
    CANCEL = "cancel"
    CLIENT_ORDER_IDS = "client_order_ids"
    """The venue deduplicates on client order ids (idempotent re-sends)."""
    BALANCES = "balances"
    ORDER_EVENTS = "order_events"


_ONLY_FOR: Mapping[Capability, frozenset[VenueKind]] = {
    Capability.FUNDING: frozenset({VenueKind.PERPETUAL}),
}


def canonical_json(document: object) -> bytes:
    """Deterministic JSON bytes: sorted keys, compact separators, UTF-8, no NaN/inf."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def parse_capability(value: object, field: str = "capabilities") -> Capability:
    valid = ", ".join(c.value for c in Capability)
    if isinstance(value, Capability):
        return value
    if not isinstance(value, str):
        raise ManifestError(field, f"expected a capability name (any of {valid}), got {type(value).__name__}")
    try:
        return Capability(value)
    except ValueError:
        raise ManifestError(field, f"unknown capability {value!r}; expected any of {valid}") from None


def venue_kind_label(kind: VenueKind) -> str:
    """``order_book``, ``perpetual``, ...: the JSON spelling of a venue kind."""
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
    """One adapter (version): immutable, every field validated on construction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: SemVer
    venue_kind: VenueKind
    capabilities: tuple[Capability, ...]
    ir_range: IrRange
    descriptor_set: bytes | None = None
    """Serialized, self-contained FileDescriptorSet of the messages the adapter speaks (the registry needs
    it; an adapter class may leave it out)."""
    venue: str | None = None
    kind: AdapterKind | None = None
    symbols: tuple[str, ...] = ()
    """Normalized ``BASE-QUOTE`` symbols the adapter serves (empty: discovered at connect)."""
    endpoints: dict[str, str] = {}
    """Named URLs (``ws``, ``rest``, ``snapshot``...)."""
    library: str | None = None
    """The parsing/connectivity library and version (``cryptofeed==2.4.1``), or None for our own code."""
    max_book_depth: int | None = None

    def __init__(self, **data: Any) -> None:
        """Keyword construction (an adapter class's declaration); any invalid field is a ``ManifestError``."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _manifest_error(exc) from None

    # -- validation ----------------------------------------------------------------------------------
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
    def _descriptor_set(cls, value: object) -> bytes | None:
        if value is None:
            return None
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

    @field_validator("venue", mode="before")
    @classmethod
    def _venue(cls, value: object) -> object:
        if value is not None and (not isinstance(value, str) or not _VENUE.match(value)):
            raise ManifestError("venue", f"expected a venue id matching {_VENUE.pattern}, got {value!r}")
        return value

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: object) -> object:
        if value is None or isinstance(value, AdapterKind):
            return value
        if isinstance(value, str) and value in AdapterKind.__members__.values():
            return AdapterKind(value)
        valid = ", ".join(k.value for k in AdapterKind)
        raise ManifestError("kind", f"expected one of {valid}, got {value!r}")

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ManifestError("symbols", f"expected a list of symbols, got {type(value).__name__}")
        for symbol in value:
            if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
                raise ManifestError("symbols", f"symbols entries must look like 'BTC-USD', got {symbol!r}")
        return tuple(value)

    @field_validator("endpoints", mode="before")
    @classmethod
    def _endpoints(cls, value: object) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise ManifestError(
                "endpoints", f"expected a mapping of names to URLs, got {type(value).__name__}"
            )
        for key, url in value.items():
            if not isinstance(key, str) or not isinstance(url, str) or not _URL.match(url):
                raise ManifestError(
                    "endpoints", f"endpoints[{key!r}] must be a ws(s)/http(s) URL, got {url!r}"
                )
        return dict(sorted(value.items()))

    @field_validator("max_book_depth", mode="before")
    @classmethod
    def _depth(cls, value: object) -> object:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ManifestError("max_book_depth", f"expected an integer > 0 or None, got {value!r}")
        return value

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

    # -- serialisation -------------------------------------------------------------------------------
    @field_serializer("venue_kind")
    def _ser_venue_kind(self, kind: VenueKind) -> str:
        return venue_kind_label(kind)

    @field_serializer("descriptor_set", when_used="json")
    def _ser_descriptor_set(self, raw: bytes | None) -> str | None:
        return None if raw is None else base64.b64encode(raw).decode("ascii")

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

    def evolve(self, **changes: object) -> AdapterManifest:
        """A copy with ``changes`` applied and validated again (``model_copy`` would skip validation)."""
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        fields.update(changes)
        return type(self)(**fields)

    # -- what the registry and the agent read ----------------------------------------------------------
    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    @property
    def wire_schema(self) -> Schema:
        if self.descriptor_set is None:
            raise ManifestError("descriptor_set", f"{self.name} {self.version} declares no descriptor set")
        return load_schema(self.descriptor_set)

    @property
    def line(self) -> str:
        """The adapter line: same name and semver major. Within a line every version must stay compatible
        with every other (semver's promise); a new major starts a new line."""
        return f"{self.name}@{self.version.major}"

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON form; fields left at their defaults (no descriptor set, no adapter-side details) are
        omitted, so a registry document's form and digest do not depend on fields it never had."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def descriptor_set_sha256(self) -> str:
        return hashlib.sha256(self.descriptor_set or b"").hexdigest()

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
