"""The offline ledger verifier under hostile exports: a report naming the problem, never an exception.

A real export (JSON lines and the single-document form) of a ledger with signed entries from two actors is
damaged line by line (byte flips, truncation, lost or repeated stretches, nesting up to 600,000 levels,
huge numbers, wrong types, removed fields) or as a whole file (nesting, non-UTF-8 bytes, garbage). The
verifier must return a report for every one of them (an exception of any kind is a crash), and it must be
sound: a report that says ``ok`` means every value in the export is the one the log signed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.ledger import Ed25519Signer, Ledger, NoteSigner, verify_export
from registry.ledger.export import ExportHeader, row_from_json
from tests.fuzz.fuzz_support import NESTING_DEPTHS, Tally, fuzz_settings, mutated_json

pytestmark = pytest.mark.timeout(600)

TALLY = Tally("ledger verifier", ("crash", "unsound"))


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    key = NoteSigner.generate("arbsphere.test/fuzz-verify")
    signers = [Ed25519Signer.from_seed(bytes([i]) * 32) for i in (7, 8)]
    directory = tmp_path_factory.mktemp("fuzz-verify")
    with Ledger.open(f"sqlite:///{directory / 'ledger.sqlite'}", key) as ledger:
        ledger.append_many([("PLAN_COMMITTED", b"plan %d" % i, signers[i % 2]) for i in range(6)])
        ledger.append_many([("EXECUTION_REPORT", b"report %d" % i, signers[i % 2]) for i in range(3)])
        lines, document = io.StringIO(), io.StringIO()
        ledger.export(lines)
        ledger.export(document, "json")
    return {
        "key": key,
        "jsonl": lines.getvalue().splitlines(keepends=True),
        "json": document.getvalue(),
        "directory": directory,
    }


def _meaning(raw: bytes) -> Any:
    """What an export says (its header and entry rows as the export format reads them), or ``None``
    when it says nothing readable; spellings the format treats as equal (a kind in lower case, blank
    lines) mean the same."""
    try:
        text = raw.decode("utf-8")
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].strip() == "{":  # the single-document form
            first = json.loads(text)
            entries = first.pop("entries")
        else:
            first = json.loads(lines[0])
            entries = [json.loads(line) for line in lines[1:]]
        return ExportHeader.from_json(first), [row_from_json(entry) for entry in entries]
    except Exception:  # unreadable in any way: it means nothing
        return None


@st.composite
def _export(draw: st.DrawFn, exports: dict[str, Any]) -> tuple[str, bytes]:
    """``(kind, export bytes)``."""
    form = draw(st.sampled_from(["jsonl", "json", "whole"]))
    if form == "jsonl":
        lines = list(exports["jsonl"])
        index = draw(st.integers(0, len(lines) - 1))
        kind, text = draw(mutated_json(lines[index].rstrip("\n")))
        lines[index] = text + "\n"
        return f"line {kind}", "".join(lines).encode("utf-8", "surrogatepass")
    if form == "json":
        kind, text = draw(mutated_json(exports["json"]))
        return f"document {kind}", text.encode("utf-8", "surrogatepass")
    whole = "".join(exports["jsonl"]).encode()
    choice = draw(st.sampled_from(["nested line", "non-utf8", "garbage", "empty", "blank lines"]))
    if choice == "nested line":
        depth = draw(st.sampled_from(NESTING_DEPTHS))
        at = draw(st.integers(1, len(exports["jsonl"])))
        lines = list(exports["jsonl"])
        lines.insert(at, "[" * depth + "]" * depth + "\n")
        return f"whole {choice}", "".join(lines).encode()
    if choice == "non-utf8":
        at = draw(st.integers(0, len(whole) - 1))
        return f"whole {choice}", whole[:at] + bytes([draw(st.integers(0x80, 0xFF))]) + whole[at + 1 :]
    if choice == "garbage":
        return f"whole {choice}", draw(st.binary(min_size=1, max_size=256))
    if choice == "empty":
        return f"whole {choice}", b""
    return f"whole {choice}", whole.replace(b"\n", b"\n\n")


def test_hostile_exports_give_a_report_never_an_exception(exports: dict[str, Any]) -> None:
    verifier = exports["key"].verifier()
    clean = verify_export(io.StringIO("".join(exports["jsonl"])), verifier)
    assert clean.ok, clean.problems
    path: Path = exports["directory"] / "export.jsonl"
    truth = _meaning("".join(exports["jsonl"]).encode())
    assert truth is not None and truth == _meaning(exports["json"].encode())

    @fuzz_settings(500)
    @given(st.data())
    def explore(data: st.DataObject) -> None:
        kind, raw = data.draw(_export(exports))
        TALLY.attempt(kind)
        path.write_bytes(raw)
        try:
            report = verify_export(path, verifier)
        except Exception as exc:  # anything escaping the verifier is the crash we count
            TALLY.fail("crash", f"{type(exc).__name__}: {exc!s:.200} on a {kind}")
        if report.ok and _meaning(raw) != truth:
            TALLY.fail("unsound", f"a {kind} that changed the export's meaning verified as ok")
        TALLY.outcome("verified ok" if report.ok else "problems reported")

    try:
        explore()
    finally:
        TALLY.print()
    assert not TALLY.failures, TALLY.report()
