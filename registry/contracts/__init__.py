"""Graph-of-Contracts: the adapter registry.

Adapters register a manifest (name, semver version, venue kind, capabilities, the IR range they speak and
the FileDescriptorSet of their messages). Each registration is checked BACKWARD_TRANSITIVE against every
version of its line with wire/JSON rules in the spirit of buf's WIRE_JSON; the verdict, accepted or refused
with every violation, is stored and recorded on the governance ledger; the graph answers which adapter
versions can join a coordinator speaking IR ``X`` and how to upgrade from one version to another.

    registry = ContractRegistry(ContractStore.open("sqlite:///registry.db"), sink=ledger)
    registry.register(AdapterManifest.load(json_document, descriptor_set=pb_bytes))
    registry.compatible_with("1.2")
    registry.upgrade_path("coinbase-advanced", "1.0.0", "2.1.0")
"""

from registry.contracts.compatibility import IrRule, check_registration, compare
from registry.contracts.errors import (
    ContractError,
    ManifestError,
    NoUpgradePath,
    RegistrationRefused,
    UnknownAdapter,
    VerdictNotRecorded,
)
from registry.contracts.graph import ContractGraph, Edge
from registry.contracts.manifest import AdapterManifest
from registry.contracts.reference import (
    compile_descriptor_set,
    ir_descriptor_set,
    manifest_from_sdk,
    reference_manifest,
)
from registry.contracts.service import ContractRegistry
from registry.contracts.sink import InMemoryVerdictSink, JsonLinesVerdictSink, VerdictSink
from registry.contracts.store import ContractStore, RegisteredAdapter, StoredVerdict
from registry.contracts.verdict import VERDICT_KIND, RuleId, Verdict, Violation
from registry.contracts.wire import wire_violations
from sdk.adapters.manifest import Capability, canonical_json
from sdk.adapters.schema import Schema, load_schema
from sdk.adapters.versions import IrRange, SemVer, parse_ir_version

__all__ = [
    "VERDICT_KIND",
    "AdapterManifest",
    "Capability",
    "ContractError",
    "ContractGraph",
    "ContractRegistry",
    "ContractStore",
    "Edge",
    "InMemoryVerdictSink",
    "IrRange",
    "IrRule",
    "JsonLinesVerdictSink",
    "ManifestError",
    "NoUpgradePath",
    "RegisteredAdapter",
    "RegistrationRefused",
    "RuleId",
    "Schema",
    "SemVer",
    "StoredVerdict",
    "UnknownAdapter",
    "Verdict",
    "VerdictNotRecorded",
    "VerdictSink",
    "Violation",
    "canonical_json",
    "check_registration",
    "compare",
    "compile_descriptor_set",
    "ir_descriptor_set",
    "load_schema",
    "manifest_from_sdk",
    "parse_ir_version",
    "reference_manifest",
    "wire_violations",
]
