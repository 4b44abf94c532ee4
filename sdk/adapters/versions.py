"""Adapter versions (Semantic Versioning 2.0.0) and the IR version range an adapter speaks.

Adapter versions order by semver precedence (pre-releases before their release). Build metadata is refused:
two versions differing only in build metadata have equal precedence, so the registry could not order them.
IR versions are the plain ``MAJOR.MINOR.PATCH`` of ``energibridge.IrVersion``; a range is normalised to a
half-open interval ``[lower, upper)``, which every comparator (``>= > <= < ==``) reduces to because IR
versions are discrete triples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from energibridge.version import IrVersion
from sdk.adapters.errors import ManifestError

MAX_VERSION_LENGTH = 128
MAX_COMPONENT = 2**32 - 1

_NUMERIC = r"0|[1-9]\d*"
_PRERELEASE_ID = r"0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*"
_SEMVER = re.compile(
    rf"^(?P<major>{_NUMERIC})\.(?P<minor>{_NUMERIC})\.(?P<patch>{_NUMERIC})"
    rf"(?:-(?P<pre>(?:{_PRERELEASE_ID})(?:\.(?:{_PRERELEASE_ID}))*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$",
    re.ASCII,
)
_IR_VERSION = re.compile(rf"^({_NUMERIC})(?:\.({_NUMERIC}))?(?:\.({_NUMERIC}))?$", re.ASCII)
_CLAUSE = re.compile(r"^(>=|<=|==|>|<|=)\s*(\S+)$", re.ASCII)
MAX_IR_VERSION_LENGTH = 32
"""Longest IR version text (three components of at most ten digits); checked before any parsing."""


def _component(text: str, field: str, what: str) -> int:
    value = int(text)
    if value > MAX_COMPONENT:
        raise ManifestError(field, f"{what} component {value} exceeds {MAX_COMPONENT}")
    return value


@dataclass(frozen=True, order=False)
class SemVer:
    """A semantic version ``MAJOR.MINOR.PATCH[-PRERELEASE]``, ordered by semver precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: object, field: str = "version") -> SemVer:
        if isinstance(text, SemVer):
            return text
        if not isinstance(text, str):
            raise ManifestError(field, f"expected a semantic version string, got {type(text).__name__}")
        if len(text) > MAX_VERSION_LENGTH:
            raise ManifestError(field, f"version is {len(text)} characters, at most {MAX_VERSION_LENGTH}")
        match = _SEMVER.match(text)
        if match is None:
            raise ManifestError(
                field,
                f"expected a semantic version MAJOR.MINOR.PATCH[-PRERELEASE] (e.g. 1.4.0), got {text!r}",
            )
        if match["build"] is not None:
            raise ManifestError(
                field,
                f"build metadata '+{match['build']}' is not allowed: versions differing only in build "
                "metadata have equal precedence and could not be ordered",
            )
        pre = tuple(match["pre"].split(".")) if match["pre"] else ()
        for identifier in pre:
            if identifier.isdigit() and int(identifier) > MAX_COMPONENT:
                raise ManifestError(field, f"pre-release identifier {identifier} exceeds {MAX_COMPONENT}")
        return cls(
            _component(match["major"], field, "major"),
            _component(match["minor"], field, "minor"),
            _component(match["patch"], field, "patch"),
            pre,
        )

    @classmethod
    def _validate(cls, value: object) -> SemVer:
        return cls.parse(value)

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def sort_key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """Precedence: numeric identifiers below alphanumeric ones, a release after its pre-releases."""
        ids = tuple((0, int(i), "") if i.isdigit() else (1, 0, i) for i in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, ids)

    def __lt__(self, other: SemVer) -> bool:
        return self.sort_key() < other.sort_key()

    def __le__(self, other: SemVer) -> bool:
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: SemVer) -> bool:
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: SemVer) -> bool:
        return self.sort_key() >= other.sort_key()

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{'.'.join(self.prerelease)}" if self.prerelease else core

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


def parse_ir_version(text: object, field: str = "ir_version") -> IrVersion:
    """``"1"``, ``"1.2"`` or ``"1.2.3"`` (missing components are 0) as an ``IrVersion``."""
    if isinstance(text, IrVersion):
        return text
    if not isinstance(text, str):
        raise ManifestError(field, f"expected an IR version string like '1.2', got {type(text).__name__}")
    if len(text) > MAX_IR_VERSION_LENGTH:
        raise ManifestError(field, f"IR version is {len(text)} characters, at most {MAX_IR_VERSION_LENGTH}")
    match = _IR_VERSION.match(text.strip())
    if match is None:
        raise ManifestError(field, f"expected an IR version MAJOR[.MINOR[.PATCH]] (e.g. 1.2), got {text!r}")
    major, minor, patch = (_component(g or "0", field, "IR version") for g in match.groups())
    return IrVersion(major=major, minor=minor, patch=patch)


def _next_patch(version: IrVersion, field: str) -> IrVersion:
    if version.patch >= MAX_COMPONENT:
        raise ManifestError(field, f"no IR version follows {version}")
    return IrVersion(major=version.major, minor=version.minor, patch=version.patch + 1)


@dataclass(frozen=True)
class IrRange:
    """The IR versions an adapter speaks: ``lower <= v < upper``. An upper bound is mandatory, because an
    adapter cannot vouch for IR majors that do not exist yet."""

    lower: IrVersion
    upper: IrVersion

    def __post_init__(self) -> None:
        if not self.lower < self.upper:
            raise ManifestError(
                "ir_range", f"range is empty: lower bound {self.lower} >= upper bound {self.upper}"
            )

    @classmethod
    def parse(cls, value: object, field: str = "ir_range") -> IrRange:
        """``">=1.0,<2.0"`` (comparators ``>= > <= < ==``) or ``{"min_inclusive", "max_exclusive"}``."""
        if isinstance(value, IrRange):
            return value
        if isinstance(value, dict):
            return cls._from_mapping(value, field)
        if not isinstance(value, str):
            raise ManifestError(
                field, f"expected a range string like '>=1.0,<2.0' or a mapping, got {type(value).__name__}"
            )
        clauses = [c.strip() for c in value.split(",")]
        if len(value) > 256 or not value.strip() or any(not c for c in clauses):
            raise ManifestError(
                field, f"expected comma-separated comparators like '>=1.0,<2.0', got {value!r}"
            )
        lower = IrVersion(major=0, minor=0, patch=0)
        upper: IrVersion | None = None
        for clause in clauses:
            match = _CLAUSE.match(clause)
            if match is None:
                raise ManifestError(
                    field, f"clause {clause!r} must be a comparator (>=, >, <=, <, ==) followed by a version"
                )
            op, version = match[1], parse_ir_version(match[2], field)
            if op in {">=", ">", "==", "="}:
                bound = _next_patch(version, field) if op == ">" else version
                lower = max(lower, bound)
            if op in {"<", "<=", "==", "="}:
                bound = version if op == "<" else _next_patch(version, field)
                upper = bound if upper is None else min(upper, bound)
        if upper is None:
            raise ManifestError(
                field,
                f"{value!r} has no upper bound: add one such as '<{lower.major + 1}.0' (IR majors break)",
            )
        if not lower < upper:
            raise ManifestError(field, f"{value!r} contains no IR version (lower {lower} >= upper {upper})")
        return cls(lower, upper)

    @classmethod
    def _from_mapping(cls, value: dict[Any, Any], field: str) -> IrRange:
        expected = {"min_inclusive", "max_exclusive"}
        if set(value) != expected:
            got = sorted(k[:40] if isinstance(k, str) else f"<{type(k).__name__}>" for k in list(value)[:10])
            raise ManifestError(field, f"mapping needs exactly the keys {sorted(expected)}, got {got}")
        lower = parse_ir_version(value["min_inclusive"], f"{field}.min_inclusive")
        upper = parse_ir_version(value["max_exclusive"], f"{field}.max_exclusive")
        if not lower < upper:
            raise ManifestError(field, f"range is empty: min_inclusive {lower} >= max_exclusive {upper}")
        return cls(lower, upper)

    @classmethod
    def _validate(cls, value: object) -> IrRange:
        return cls.parse(value)

    def contains(self, version: IrVersion) -> bool:
        return self.lower <= version < self.upper

    def covers(self, other: IrRange) -> bool:
        """Every IR version ``other`` speaks, this range speaks too."""
        return self.lower <= other.lower and other.upper <= self.upper

    def overlaps(self, other: IrRange) -> bool:
        return max(self.lower, other.lower) < min(self.upper, other.upper)

    def __str__(self) -> str:
        return f">={self.lower},<{self.upper}"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )
