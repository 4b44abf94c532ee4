"""SPIFFE IDs of ArbSphere workloads in a region (the SPIFFE trust domain).

``spiffe://<region>/agent/<venue>``, ``spiffe://<region>/coordinator``, ``spiffe://<region>/registry`` (the
ledger and registry services) and ``spiffe://<region>/auditor/<name>``: the URI SAN of every leaf is one of
these. Parsing is strict (the SPIFFE ID spec's character set for the trust domain and path segments, plus
our role layouts) because this string is what servers authorise on: a lenient parser is a bypass.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from registry.pki.errors import InvalidSpiffeId

SCHEME = "spiffe://"
MAX_TRUST_DOMAIN_LEN = 255
MAX_NAME_LEN = 64

_TRUST_DOMAIN_RE = re.compile(r"[a-z0-9._-]+")
# Our names are lower-case so that "Binance" and "binance" can never be two identities.
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")


class WorkloadRole(enum.StrEnum):
    """What a certificate holder is allowed to be in a region."""

    AGENT = "agent"
    COORDINATOR = "coordinator"
    REGISTRY = "registry"
    AUDITOR = "auditor"

    @property
    def is_singleton(self) -> bool:
        """A region has one coordinator and one registry: their IDs carry no name."""
        return self in (WorkloadRole.COORDINATOR, WorkloadRole.REGISTRY)


def validate_region(region: str, *, field: str = "region") -> str:
    """Return ``region`` if it is a valid SPIFFE trust domain, else raise naming ``field``."""
    if not isinstance(region, str):
        raise InvalidSpiffeId(f"{field}: expected a string, got {type(region).__name__}")
    if not region or len(region) > MAX_TRUST_DOMAIN_LEN:
        raise InvalidSpiffeId(
            f"{field}: expected 1..{MAX_TRUST_DOMAIN_LEN} characters, got {len(region)}: {region!r}"
        )
    if not _TRUST_DOMAIN_RE.fullmatch(region):
        raise InvalidSpiffeId(
            f"{field}: expected only lower-case letters, digits, '.', '-', '_' (a SPIFFE trust domain), "
            f"got {region!r}"
        )
    return region


def validate_name(name: str, *, field: str) -> str:
    """Return ``name`` (a venue or auditor name) if it is a valid single SPIFFE path segment."""
    if not isinstance(name, str):
        raise InvalidSpiffeId(f"{field}: expected a string, got {type(name).__name__}")
    if not name or len(name) > MAX_NAME_LEN:
        raise InvalidSpiffeId(f"{field}: expected 1..{MAX_NAME_LEN} characters, got {len(name)}: {name!r}")
    if not _NAME_RE.fullmatch(name):
        raise InvalidSpiffeId(
            f"{field}: expected lower-case letters, digits, '.', '-', '_' starting with a letter or digit, "
            f"got {name!r}"
        )
    return name


@dataclass(frozen=True, slots=True)
class SpiffeId:
    """A parsed, validated workload identity. ``str(spiffe_id)`` is the URI."""

    region: str
    role: WorkloadRole
    name: str | None = None

    def __post_init__(self) -> None:
        validate_region(self.region)
        if not isinstance(self.role, WorkloadRole):
            raise InvalidSpiffeId(f"role: expected a WorkloadRole, got {self.role!r}")
        if self.role.is_singleton:
            if self.name is not None:
                raise InvalidSpiffeId(f"name: a {self.role.value} identity has no name, got {self.name!r}")
        else:
            if self.name is None:
                raise InvalidSpiffeId(f"name: an {self.role.value} identity needs a name, got None")
            validate_name(self.name, field="venue" if self.role is WorkloadRole.AGENT else "auditor name")

    @classmethod
    def agent(cls, region: str, venue: str) -> SpiffeId:
        """``spiffe://<region>/agent/<venue>``."""
        return cls(region, WorkloadRole.AGENT, venue)

    @classmethod
    def coordinator(cls, region: str) -> SpiffeId:
        """``spiffe://<region>/coordinator``."""
        return cls(region, WorkloadRole.COORDINATOR, None)

    @classmethod
    def registry(cls, region: str) -> SpiffeId:
        """``spiffe://<region>/registry``."""
        return cls(region, WorkloadRole.REGISTRY, None)

    @classmethod
    def for_role(cls, region: str, role: WorkloadRole | str, name: str | None = None) -> SpiffeId:
        """Build from a role given as text (CLI input); the error names the accepted roles."""
        try:
            parsed = WorkloadRole(role)
        except ValueError:
            raise InvalidSpiffeId(
                f"role: expected one of {[r.value for r in WorkloadRole]}, got {role!r}"
            ) from None
        return cls(region, parsed, name)

    @classmethod
    def auditor(cls, region: str, name: str) -> SpiffeId:
        """``spiffe://<region>/auditor/<name>``."""
        return cls(region, WorkloadRole.AUDITOR, name)

    @property
    def path(self) -> str:
        """The URI path, e.g. ``/agent/binance``."""
        if self.name is None:
            return f"/{self.role.value}"
        return f"/{self.role.value}/{self.name}"

    @property
    def uri(self) -> str:
        """The full SPIFFE ID URI."""
        return f"{SCHEME}{self.region}{self.path}"

    @property
    def trust_domain_uri(self) -> str:
        """``spiffe://<region>``, the identity of the region's signing CA."""
        return f"{SCHEME}{self.region}"

    def __str__(self) -> str:
        return self.uri

    @classmethod
    def parse(cls, uri: str, *, field: str = "spiffe_id") -> SpiffeId:
        """Parse one of the ArbSphere layouts; anything else is refused with the reason."""
        if not isinstance(uri, str):
            raise InvalidSpiffeId(f"{field}: expected a string, got {type(uri).__name__}")
        if len(uri) > 2048:
            raise InvalidSpiffeId(f"{field}: expected at most 2048 characters, got {len(uri)}")
        if not uri.startswith(SCHEME):
            raise InvalidSpiffeId(f"{field}: expected a URI starting with {SCHEME!r}, got {uri!r}")
        rest = uri[len(SCHEME) :]
        trust_domain, slash, path = rest.partition("/")
        if any(c in uri for c in "?#%@") or ":" in trust_domain:
            raise InvalidSpiffeId(
                f"{field}: expected no query, fragment, percent-encoding, user info or port, got {uri!r}"
            )
        validate_region(trust_domain, field=f"{field} trust domain")
        if not slash or not path:
            raise InvalidSpiffeId(f"{field}: expected a workload path after the trust domain, got {uri!r}")
        segments = path.split("/")
        try:
            role = WorkloadRole(segments[0])
        except ValueError:
            raise InvalidSpiffeId(
                f"{field}: expected the path to start with one of "
                f"{[r.value for r in WorkloadRole]}, got {uri!r}"
            ) from None
        if role.is_singleton:
            if len(segments) != 1:
                raise InvalidSpiffeId(f"{field}: expected exactly '/{role.value}', got {uri!r}")
            return cls(trust_domain, role, None)
        if len(segments) != 2:
            raise InvalidSpiffeId(f"{field}: expected '/{role.value}/<name>', got {uri!r}")
        return cls(trust_domain, role, segments[1])
