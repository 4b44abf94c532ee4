"""Descriptor sets for the repository's own IR, and manifests for the reference adapters.

``ir_descriptor_set`` is taken from the committed generated modules (what this code base really speaks, no
compiler needed at runtime); json names are filled in exactly as ``protoc --descriptor_set_out`` writes them,
and a test proves the result equals compiling ``proto/`` with protoc. ``compile_descriptor_set`` is the
protoc path adapter authors use for their own ``.proto`` files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2

from sdk.adapters.manifest import DEFAULT_IR_RANGE, AdapterManifest, Capability
from sdk.adapters.schema import default_json_name

IR_PROTO_FILES = ("arbsphere/energibridge/v1/ir.proto", "arbsphere/energibridge/v1/coordinator.proto")


def compile_descriptor_set(proto_root: Path, files: Sequence[str] | None = None) -> bytes:
    """Compile ``files`` (relative to ``proto_root``; default: every ``.proto`` below it) with the bundled
    protoc into a self-contained FileDescriptorSet (``--include_imports``, well-known types available)."""
    import grpc_tools
    from grpc_tools import protoc

    root = Path(proto_root)
    names = (
        list(files) if files is not None else sorted(str(p.relative_to(root)) for p in root.rglob("*.proto"))
    )
    if not names:
        raise FileNotFoundError(f"no .proto files under {root}")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "set.pb"
        args = [
            "grpc_tools.protoc",
            f"-I{root}",
            f"-I{well_known}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            *names,
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed to compile {names} under {root} (see its messages above)")
        return out.read_bytes()


def _with_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in message.field:
            if not field.HasField("json_name"):
                field.json_name = default_json_name(field.name)
        _with_json_names(message.nested_type)


def ir_descriptor_set() -> bytes:
    """The whole EnergiBridge IR (every generated ``*_pb2`` module: messages and services) as a serialized
    FileDescriptorSet, dependencies before dependants as protoc orders them."""
    import importlib
    import pkgutil

    import energibridge.v1 as package

    modules = [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name)
        if info.name.endswith("_pb2")
    ]
    by_name = {m.DESCRIPTOR.name: m.DESCRIPTOR for m in modules}
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered or name not in by_name:
            return
        for dependency in by_name[name].dependencies:
            visit(dependency.name)
        ordered.append(name)

    for name in sorted(by_name):
        visit(name)
    files = []
    for name in ordered:
        proto = descriptor_pb2.FileDescriptorProto.FromString(by_name[name].serialized_pb)
        _with_json_names(proto.message_type)
        files.append(proto)
    return descriptor_pb2.FileDescriptorSet(file=files).SerializeToString(deterministic=True)


def reference_manifest(
    name: str,
    version: str,
    venue_kind: str,
    capabilities: Iterable[Capability | str],
    ir_range: str = DEFAULT_IR_RANGE,
) -> AdapterManifest:
    """Manifest of an adapter that speaks exactly this repository's IR (the reference adapters)."""
    return AdapterManifest.load(
        {
            "name": name,
            "version": version,
            "venue_kind": venue_kind,
            "capabilities": [c.value if isinstance(c, Capability) else c for c in capabilities],
            "ir_range": ir_range,
        },
        descriptor_set=ir_descriptor_set(),
    )


def manifest_from_sdk(declared: AdapterManifest, descriptor_set: bytes | None = None) -> AdapterManifest:
    """The registry form of an adapter class's ``manifest``: the same model, with a descriptor set (by
    default this repository's IR, which is what the reference adapters speak) and without the adapter-side
    details (venue, kind, symbols, endpoints...) that describe one running adapter, not its contract."""
    return AdapterManifest.load(
        {
            "name": declared.name,
            "version": str(declared.version),
            "venue_kind": declared.venue_kind,
            "capabilities": list(declared.capabilities),
            "ir_range": declared.ir_range,
        },
        descriptor_set=ir_descriptor_set() if descriptor_set is None else descriptor_set,
    )
