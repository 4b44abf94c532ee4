"""Graph-of-Contracts registry: cost of BACKWARD_TRANSITIVE checks on the real IR contract.

A line of adapter versions, each release adding one field to the IR's PlanDelta (the additive minor releases
semver expects). Ours checks a candidate against every earlier version; the baseline (BACKWARD, what most
schema registries default to) checks only the latest one and so misses breaks against older versions.
Also: registrations per second through the SQLite store, and an upgrade-path query across three majors.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from google.protobuf import descriptor_pb2

from bench.common import percentile, print_table, write_results
from registry.contracts import (
    AdapterManifest,
    ContractGraph,
    ContractRegistry,
    ContractStore,
    InMemoryVerdictSink,
    SemVer,
    check_registration,
    ir_descriptor_set,
)

LINE_LENGTH = 40
REPEATS = 30


def _descriptor(extra_fields: int, *, legacy: tuple[str, int] | None = None) -> bytes:
    """The IR with ``extra_fields`` new string fields on PlanDelta (numbers 100, 101, ...) and optionally a
    ``Legacy`` message whose field 1 has the given name and type."""
    ir_set = descriptor_pb2.FileDescriptorSet.FromString(ir_descriptor_set())
    ir_file = next(f for f in ir_set.file if f.name.endswith("ir.proto"))
    plan = next(m for m in ir_file.message_type if m.name == "PlanDelta")
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    for k in range(extra_fields):
        plan.field.add(
            name=f"ext_{k}",
            number=100 + k,
            json_name=f"ext{k}",
            label=optional,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        )
    if legacy is not None:
        name, kind = legacy
        ir_file.message_type.add(name="Legacy").field.add(
            name=name, number=1, json_name=name, label=optional, type=kind
        )
    return ir_set.SerializeToString(deterministic=True)


def _manifest(version: str, descriptor: bytes, ir_range: str = ">=1.0,<2.0") -> AdapterManifest:
    return AdapterManifest.load(
        {
            "name": "bench-venue",
            "version": version,
            "venue_kind": "order_book",
            "capabilities": ["books", "ioc_limit"],
            "ir_range": ir_range,
        },
        descriptor_set=descriptor,
    )


def _timed_ms(action: object, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1e3)
    return samples


def main() -> dict[str, object]:
    string, int64 = (
        descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    )
    # 1.0.0 has a Legacy message that 1.1.0 drops; the candidate brings Legacy back with field 1 reused:
    # harmless against the latest version, a misread of 1.0.0's data.
    line = [_manifest("1.0.0", _descriptor(0, legacy=("note", string)))]
    line += [_manifest(f"1.{k}.0", _descriptor(k)) for k in range(1, LINE_LENGTH)]
    good = _manifest(f"1.{LINE_LENGTH}.0", _descriptor(LINE_LENGTH))
    bad = _manifest(f"1.{LINE_LENGTH}.0", _descriptor(LINE_LENGTH, legacy=("count", int64)))

    transitive = _timed_ms(lambda: check_registration(good, line), REPEATS)
    latest_only = _timed_ms(lambda: check_registration(good, line[-1:]), REPEATS)
    refused_transitive = not check_registration(bad, line).accepted
    refused_latest = not check_registration(bad, line[-1:]).accepted

    with tempfile.TemporaryDirectory() as scratch:
        store = ContractStore.open(f"sqlite:///{Path(scratch) / 'bench.db'}")
        registry = ContractRegistry(store, InMemoryVerdictSink())
        started = time.perf_counter()
        for manifest in line:
            registry.register(manifest)
        register_s = time.perf_counter() - started
        store.close()

    majors = [
        *line[:10],
        _manifest("1.99.0", _descriptor(9), ">=1.0,<3.0"),
        *(_manifest(f"2.{k}.0", _descriptor(9 + k), ">=2.0,<3.0") for k in range(10)),
        _manifest("2.99.0", _descriptor(19), ">=2.0,<4.0"),
        *(_manifest(f"3.{k}.0", _descriptor(19 + k), ">=3.0,<4.0") for k in range(10)),
    ]

    def path_query() -> None:
        ContractGraph(majors).upgrade_path("bench-venue", SemVer.parse("1.0.0"), SemVer.parse("3.9.0"))

    path_ms = _timed_ms(path_query, 5)
    path = ContractGraph(majors).upgrade_path("bench-venue", SemVer.parse("1.0.0"), SemVer.parse("3.9.0"))

    metrics: dict[str, object] = {
        "line_versions": LINE_LENGTH,
        "check_transitive_p50_ms": percentile(transitive, 50),
        "check_transitive_p95_ms": percentile(transitive, 95),
        "check_latest_only_p50_ms": percentile(latest_only, 50),
        "check_per_version_p50_us": percentile(transitive, 50) * 1e3 / LINE_LENGTH,
        "old_break_refused_transitive": refused_transitive,
        "old_break_refused_latest_only": refused_latest,
        "register_sqlite_per_s": LINE_LENGTH / register_s,
        "upgrade_path_32_versions_p50_ms": percentile(path_ms, 50),
        "upgrade_path_hops": len(path) - 1,
    }
    print_table(
        f"registry: check against a line of {LINE_LENGTH} IR-sized versions",
        ["", "BACKWARD_TRANSITIVE (ours)", "BACKWARD latest only (baseline)"],
        [
            ["check p50 ms", metrics["check_transitive_p50_ms"], metrics["check_latest_only_p50_ms"]],
            ["refuses a break only 1.0.0 can see", refused_transitive, refused_latest],
        ],
    )
    print_table(
        "registry: absolute figures",
        ["metric", "value"],
        [[k, v] for k, v in metrics.items() if k not in {"check_latest_only_p50_ms"}],
    )
    write_results("registry", metrics)
    return metrics


if __name__ == "__main__":
    main()
