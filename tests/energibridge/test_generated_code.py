"""The committed generated protobuf code matches the .proto sources, and the check notices drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from energibridge import codegen


def test_committed_generated_code_is_up_to_date() -> None:
    codegen.check()


def test_check_fails_when_a_proto_changes_without_regeneration(tmp_path: Path) -> None:
    proto_copy = tmp_path / "proto"
    shutil.copytree(codegen.PROTO_ROOT, proto_copy)
    ir = proto_copy / "arbsphere" / "energibridge" / "v1" / "ir.proto"
    text = ir.read_text()
    ir.write_text(text.replace("message IrVersion {", "message IrVersion {\n  string label = 4;", 1))
    assert codegen.stale_files(proto_copy) == ["ir_pb2.py", "ir_pb2.pyi"]
    with pytest.raises(codegen.StaleGeneratedCode, match="run `make proto`"):
        codegen.check(proto_copy)


def test_check_fails_when_generated_file_is_missing(tmp_path: Path) -> None:
    committed = tmp_path / "repo"
    shutil.copytree(codegen.ROOT / codegen.GENERATED_PACKAGE, committed / codegen.GENERATED_PACKAGE)
    (committed / codegen.GENERATED_PACKAGE / "coordinator_pb2_grpc.py").unlink()
    assert "coordinator_pb2_grpc.py" in codegen.stale_files(committed_root=committed)
