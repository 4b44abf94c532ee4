"""Regenerate, or check, the committed Python code generated from ``proto/``.

The generated ``*_pb2.py``, ``*_pb2_grpc.py`` and their ``.pyi`` stubs are committed (so installs need no
compiler) and CI proves they match the ``.proto`` sources: ``check`` regenerates into a scratch directory
and compares byte for byte.

The ``.proto`` files keep their protobuf package ``arbsphere.energibridge.v1`` and their paths
(``proto/arbsphere/energibridge/v1/*.proto``), so message, service and descriptor file names on the wire
never change. Only the Python modules move: protoc writes them as ``arbsphere/energibridge/v1/*_pb2.py``,
and ``generate`` relocates them into the IR package (``energibridge/v1/``), rewriting the generated
module paths (imports, each module's own name) to match.
"""

from __future__ import annotations

import filecmp
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_PACKAGE = Path("arbsphere") / "energibridge" / "v1"
"""Where protoc writes the modules of the ``.proto`` files (their path under ``proto/``)."""
GENERATED_PACKAGE = Path("energibridge") / "v1"
"""Where the committed modules live (importable as ``energibridge.v1``)."""
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")

_PROTOC_MODULE = ".".join(PROTO_PACKAGE.parts)
_PYTHON_MODULE = ".".join(GENERATED_PACKAGE.parts)
_MODULE_PATH = re.compile(r"\barbsphere([./])energibridge\1v1\1(?=\w+_pb2(?:_grpc)?\b)")


class StaleGeneratedCode(RuntimeError):
    """The committed generated code does not match what the ``.proto`` files produce."""


def proto_files(proto_root: Path) -> list[Path]:
    files = sorted(proto_root.rglob("*.proto"))
    if not files:
        raise FileNotFoundError(f"no .proto files under {proto_root}")
    return files


def _plugin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    found = shutil.which(name) if not candidate.exists() else str(candidate)
    if found is None:
        raise FileNotFoundError(f"{name} not found; install the dev extras (mypy-protobuf)")
    return found


def relocate(text: str) -> str:
    """Generated code as protoc writes it for ``arbsphere/energibridge/v1``, moved to ``energibridge/v1``:
    imports of sibling modules and module names change; proto names, descriptors and service paths do not."""
    text = text.replace(f"from {_PROTOC_MODULE} import ", f"from {_PYTHON_MODULE} import ")
    return _MODULE_PATH.sub("energibridge\\1v1\\1", text)


def generate(proto_root: Path = PROTO_ROOT, out_root: Path = ROOT) -> list[Path]:
    """Compile every ``.proto`` under ``proto_root`` into ``out_root / GENERATED_PACKAGE``; return the
    generated files."""
    from grpc_tools import protoc  # heavy import, only when generating

    files = proto_files(proto_root)
    package = out_root / GENERATED_PACKAGE
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch)
        args = [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--python_out={raw}",
            f"--grpc_python_out={raw}",
            f"--mypy_out={raw}",
            f"--mypy_grpc_out={raw}",
            *(str(f.relative_to(proto_root)) for f in files),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {[str(f) for f in files]}")
        produced = sorted(p for p in raw.rglob("*") if p.name.endswith(GENERATED_SUFFIXES))
        outside = [str(p.relative_to(raw)) for p in produced if p.parent != raw / PROTO_PACKAGE]
        if outside:
            raise RuntimeError(
                f"generated modules outside {PROTO_PACKAGE}: {outside} (only one package is relocated)"
            )
        package.mkdir(parents=True, exist_ok=True)
        for source in produced:
            target = package / source.name
            target.write_bytes(relocate(source.read_bytes().decode("utf-8")).encode("utf-8"))
            written.append(target)
    init = package / "__init__.py"
    if not init.exists():
        init.write_bytes(b"")
    return written


def stale_files(proto_root: Path = PROTO_ROOT, committed_root: Path = ROOT) -> list[str]:
    """Names of generated files that differ from (or are missing in) ``committed_root``."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = generate(proto_root, Path(scratch))
        committed_dir = committed_root / GENERATED_PACKAGE
        fresh_names = {p.name for p in fresh}
        stale = [
            p.name
            for p in fresh
            if not (committed_dir / p.name).exists()
            or not filecmp.cmp(p, committed_dir / p.name, shallow=False)
        ]
        if committed_dir.exists():
            stale += [
                p.name
                for p in committed_dir.iterdir()
                if p.name.endswith(GENERATED_SUFFIXES) and p.name not in fresh_names
            ]
        return sorted(stale)


def check(proto_root: Path = PROTO_ROOT, committed_root: Path = ROOT) -> None:
    stale = stale_files(proto_root, committed_root)
    if stale:
        raise StaleGeneratedCode(
            f"generated code is stale for {', '.join(stale)}: run `make proto` and commit the result"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "check"
    if command == "generate":
        for path in generate():
            print(path.relative_to(ROOT))
        return 0
    if command == "check":
        try:
            check()
        except StaleGeneratedCode as exc:
            print(exc, file=sys.stderr)
            return 1
        print("generated code is up to date")
        return 0
    print(f"unknown command {command!r}; expected 'generate' or 'check'", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
