"""BACKWARD_TRANSITIVE compatibility of an adapter version against its line. Pure: manifests in, verdict out.

An adapter line is one adapter name and one semver major (``AdapterManifest.line``). A candidate is checked
against *every* registered version of its line: each earlier version's data and calls must still be
understood by the candidate, and each later version (a hotfix may be registered after a newer minor) must
still understand the candidate's. Besides the wire rules, within a line the venue kind is fixed,
capabilities are only added and the IR range only widens, so upgrading an adapter inside a line never forces
a coordinator change.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from registry.contracts.manifest import AdapterManifest, venue_kind_label
from registry.contracts.verdict import RuleId, Verdict, Violation
from registry.contracts.wire import wire_violations


class IrRule(StrEnum):
    """How two IR ranges must relate: within a line the new range must cover the old (``COVERS``); for an
    upgrade across lines sharing one IR version is enough for a rolling upgrade (``OVERLAPS``)."""

    COVERS = "covers"
    OVERLAPS = "overlaps"


def contract_violations(old: AdapterManifest, new: AdapterManifest, ir_rule: IrRule) -> list[Violation]:
    """Manifest-level rules: venue kind, capabilities, IR range."""
    out: list[Violation] = []
    if old.venue_kind != new.venue_kind:
        out.append(
            Violation(
                rule=RuleId.VENUE_KIND_CHANGED,
                path="venue_kind",
                message="an adapter line serves one venue kind",
                old=venue_kind_label(old.venue_kind),
                new=venue_kind_label(new.venue_kind),
            )
        )
    for capability in sorted(set(old.capabilities) - set(new.capabilities)):
        out.append(
            Violation(
                rule=RuleId.CAPABILITY_REMOVED,
                path="capabilities",
                message=f"capability {capability.value!r} was removed; coordinators using it would break",
                old=capability.value,
                new=None,
            )
        )
    if ir_rule is IrRule.COVERS and not new.ir_range.covers(old.ir_range):
        out.append(
            Violation(
                rule=RuleId.IR_RANGE_NARROWED,
                path="ir_range",
                message=(
                    "the IR range must include every IR version an earlier version of the line speaks; "
                    "dropping IR versions needs a new major"
                ),
                old=str(old.ir_range),
                new=str(new.ir_range),
            )
        )
    if ir_rule is IrRule.OVERLAPS and not new.ir_range.overlaps(old.ir_range):
        out.append(
            Violation(
                rule=RuleId.IR_RANGE_DISJOINT,
                path="ir_range",
                message="no IR version is spoken by both, so no coordinator can host the upgrade",
                old=str(old.ir_range),
                new=str(new.ir_range),
            )
        )
    return out


def compare(old: AdapterManifest, new: AdapterManifest, ir_rule: IrRule = IrRule.COVERS) -> list[Violation]:
    """Every reason ``new`` cannot replace ``old`` (empty when it can)."""
    out = contract_violations(old, new, ir_rule)
    if old.descriptor_set != new.descriptor_set:  # identical sets are trivially compatible: skip the diff
        out += wire_violations(old.wire_schema, new.wire_schema)
    return out


def check_registration(candidate: AdapterManifest, registered: Sequence[AdapterManifest]) -> Verdict:
    """Verdict on registering ``candidate`` given everything already registered (other lines are ignored)."""
    line = sorted(
        (m for m in registered if m.line == candidate.line),
        key=lambda m: m.version.sort_key(),
    )
    earlier = [m for m in line if m.version < candidate.version]
    later = [m for m in line if m.version > candidate.version]
    violations: list[Violation] = []
    duplicate = next((m for m in line if m.version == candidate.version), None)
    if duplicate is not None:
        same = duplicate.sha256() == candidate.sha256()
        violations.append(
            Violation(
                rule=RuleId.VERSION_ALREADY_REGISTERED,
                path="version",
                message=(
                    "this exact manifest is already registered"
                    if same
                    else "a different manifest is registered under this version; releases are immutable, "
                    "publish a new version"
                ),
                old=duplicate.sha256(),
                new=candidate.sha256(),
                against=str(duplicate.version),
                direction="earlier",
            )
        )
    else:
        for old in earlier:
            violations += [v.versus(str(old.version), "earlier") for v in compare(old, candidate)]
        for new in later:
            violations += [v.versus(str(new.version), "later") for v in compare(candidate, new)]
    return Verdict(
        adapter=candidate.name,
        version=str(candidate.version),
        line=candidate.line,
        venue_kind=venue_kind_label(candidate.venue_kind),
        capabilities=tuple(c.value for c in candidate.capabilities),
        ir_range=str(candidate.ir_range),
        manifest_sha256=candidate.sha256(),
        descriptor_set_sha256=candidate.descriptor_set_sha256(),
        checked_against=tuple(str(m.version) for m in earlier) if duplicate is None else (),
        checked_later=tuple(str(m.version) for m in later) if duplicate is None else (),
        accepted=not violations,
        violations=tuple(violations),
    )
