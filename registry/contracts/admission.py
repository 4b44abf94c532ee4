"""Admission at join: is the adapter an agent runs registered, and does it speak the region's IR?

A coordinator started with a registry asks this for every agent that joins (``coordinator serve
--registry``). The agent names its adapter and version in its Hello (IR 1.2); the verdict lists every
violation (unnamed adapter, malformed version, version not registered, IR range that excludes the region's
IR version), is recorded on the ledger (REGISTRY_VERDICT, ``event: join_check``) and, when refused, goes
back to the agent with FAILED_PRECONDITION.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from energibridge.version import IrVersion

# Through the package (its modules are being moved to ``sdk.adapters``; the package re-exports them).
from registry.contracts import ManifestError, SemVer

if TYPE_CHECKING:
    from registry.contracts import ContractStore

ADMISSION_FORMAT = "arbsphere.registry.admission/1"


@dataclass(frozen=True)
class AdmissionViolation:
    rule: str
    path: str
    message: str

    def render(self) -> str:
        return f"[{self.rule}] {self.path}: {self.message}"


@dataclass(frozen=True)
class AdmissionVerdict:
    """The registry's answer for one join: accepted iff there is no violation."""

    venue: str
    adapter: str
    version: str
    ir: str
    violations: tuple[AdmissionViolation, ...] = field(default=())
    ir_range: str | None = None

    @property
    def accepted(self) -> bool:
        return not self.violations

    def to_json_dict(self) -> dict[str, object]:
        return {
            "format": ADMISSION_FORMAT,
            "event": "join_check",
            "venue": self.venue,
            "adapter": self.adapter,
            "version": self.version,
            "ir": self.ir,
            "ir_range": self.ir_range,
            "accepted": self.accepted,
            "violations": [{"rule": v.rule, "path": v.path, "message": v.message} for v in self.violations],
        }

    def render(self) -> str:
        head = f"adapter {self.adapter or '<none>'} {self.version or '<none>'} of {self.venue}"
        if self.accepted:
            return f"{head} is registered and speaks IR {self.ir}"
        return f"{head} refused by the registry: " + "; ".join(v.render() for v in self.violations)


def check_admission(
    lookup: Callable[[str], list[tuple[SemVer, str]]],
    *,
    venue: str,
    adapter: str,
    version: str,
    ir: IrVersion,
) -> AdmissionVerdict:
    """Pure check: ``lookup(name)`` gives the registered ``(version, ir_range)`` of adapter ``name``."""
    shown_version = version[:64]
    if not adapter:
        return AdmissionVerdict(
            venue,
            "",
            shown_version,
            str(ir),
            (
                AdmissionViolation(
                    "ADAPTER_UNNAMED",
                    "Hello.adapter",
                    "the agent names no adapter (agents speaking IR 1.2 do); this region admits only "
                    "registered adapters",
                ),
            ),
        )
    name = adapter[:128]
    try:
        wanted = SemVer.parse(version, "Hello.adapter_version")
    except ManifestError as exc:
        return AdmissionVerdict(
            venue,
            name,
            shown_version,
            str(ir),
            (AdmissionViolation("ADAPTER_VERSION_INVALID", "Hello.adapter_version", str(exc)),),
        )
    registered = lookup(name)
    match = next(((v, r) for v, r in registered if v == wanted), None)
    if match is None:
        known = ", ".join(str(v) for v, _ in registered) or "none"
        return AdmissionVerdict(
            venue,
            name,
            str(wanted),
            str(ir),
            (
                AdmissionViolation(
                    "ADAPTER_NOT_REGISTERED",
                    "Hello.adapter_version",
                    f"{name} {wanted} is not registered (registered versions: {known})",
                ),
            ),
        )
    _, ir_range = match
    return AdmissionVerdict(venue, name, str(wanted), str(ir), (), ir_range)


def check_admission_in(
    store: ContractStore, *, venue: str, adapter: str, version: str, ir: IrVersion
) -> AdmissionVerdict:
    """``check_admission`` against a registry store, including the IR range of the registered version."""

    def lookup(name: str) -> list[tuple[SemVer, str]]:
        return [(r.manifest.version, str(r.manifest.ir_range)) for r in store.adapters(name)]

    verdict = check_admission(lookup, venue=venue, adapter=adapter, version=version, ir=ir)
    if not verdict.accepted or verdict.ir_range is None:
        return verdict
    registered = next(
        r.manifest for r in store.adapters(verdict.adapter) if str(r.manifest.version) == verdict.version
    )
    if registered.ir_range.contains(ir):
        return verdict
    return AdmissionVerdict(
        venue,
        verdict.adapter,
        verdict.version,
        str(ir),
        (
            AdmissionViolation(
                "IR_INCOMPATIBLE",
                "ir_range",
                f"{verdict.adapter} {verdict.version} speaks IR {registered.ir_range}, "
                f"the region speaks {ir}",
            ),
        ),
        verdict.ir_range,
    )
