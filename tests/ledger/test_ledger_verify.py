"""Offline verification: a clean export passes; any altered byte is reported with its entry and field."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.ledger import Ed25519Signer, Ledger, NoteSigner, verify_export
from registry.ledger.verify import VerificationReport

ENTRIES = 9
BYTES_FIELDS = ("payload", "payload_hash", "previous_hash", "signature", "leaf_hash")


@pytest.fixture(scope="module")
def key() -> NoteSigner:
    return NoteSigner.generate("arbsphere.test/verify")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, key: NoteSigner) -> tuple[list[str], list[str]]:
    """The JSON-lines export and two earlier signed checkpoints (sizes 3 and 6)."""
    path = tmp_path_factory.mktemp("verify") / "ledger.sqlite"
    signers = [Ed25519Signer.from_seed(bytes([i]) * 32) for i in (5, 6)]
    earlier = []
    with Ledger.open(f"sqlite:///{path}", key) as ledger:
        for start in (0, 3, 6):
            ledger.append_many(
                [("PLAN_COMMITTED", b"plan %d" % i, signers[i % 2]) for i in range(start, start + 3)]
            )
            earlier.append(ledger.checkpoint().note)
        out = io.StringIO()
        ledger.export(out)
    return out.getvalue().splitlines(keepends=True), earlier[:2]


def _verify(lines: list[str], key: NoteSigner, **kwargs: Any) -> VerificationReport:
    return verify_export(io.StringIO("".join(lines)), key.verifier(), **kwargs)


def _edit(lines: list[str], index: int, field: str, value: object) -> list[str]:
    edited = list(lines)
    record = json.loads(edited[index + 1])
    record[field] = value
    edited[index + 1] = json.dumps(record) + "\n"
    return edited


def _flip(b64: str, bit: int) -> str:
    raw = bytearray(base64.b64decode(b64)) or bytearray(b"\x00")
    raw[(bit // 8) % len(raw)] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(raw)).decode()


def test_clean_export_passes_with_trusted_checkpoints(
    exported: tuple[list[str], list[str]], key: NoteSigner
) -> None:
    lines, earlier = exported
    report = _verify(lines, key, trusted_checkpoints=earlier)
    assert report.ok, report.problems
    assert (report.size, report.entries_checked, report.origin) == (ENTRIES, ENTRIES, key.name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, ENTRIES - 1), field=st.sampled_from(BYTES_FIELDS), bit=st.integers(0, 511))
def test_any_flipped_bit_in_an_entry_is_located(
    exported: tuple[list[str], list[str]], key: NoteSigner, index: int, field: str, bit: int
) -> None:
    lines, _ = exported
    record = json.loads(lines[index + 1])
    report = _verify(_edit(lines, index, field, _flip(record[field], bit)), key)
    assert not report.ok
    assert any(p.index == index for p in report.problems), report.problems


@pytest.mark.parametrize(
    ("field", "value", "expected_field"),
    [
        ("payload", base64.b64encode(b"plan 999").decode(), "payload"),
        ("kind", "RISK_HALT", "signature"),
        ("timestamp_unix_ms", 1, "timestamp_unix_ms"),
        ("actor_did", "did:key:z6MkiVpwA241guqtKWAkohHpcAry7S94QQb6ukW3GcCsugbK", "signature"),
        ("actor_did", "did:web:example.com", "actor_did"),
        ("index", 7, "index"),
        ("kind", "BOGUS", "format"),
        ("payload_hash", "not base64!", "format"),
        ("signature", base64.b64encode(b"short").decode(), "entry"),
    ],
)
def test_edited_fields_are_named(
    exported: tuple[list[str], list[str]], key: NoteSigner, field: str, value: object, expected_field: str
) -> None:
    lines, _ = exported
    report = _verify(_edit(lines, 4, field, value), key)
    assert any(p.index == 4 and p.field == expected_field for p in report.problems), report.problems
    assert any(p.field == "root" for p in report.problems) or field in (
        "payload",
        "timestamp_unix_ms",
        "index",
    )


def test_reordered_missing_and_extra_entries(exported: tuple[list[str], list[str]], key: NoteSigner) -> None:
    lines, _ = exported
    swapped = [lines[0], lines[2], lines[1], *lines[3:]]
    assert {p.field for p in _verify(swapped, key).problems} >= {"index", "previous_hash", "root"}
    missing = _verify(lines[:-1], key)
    assert any(p.field == "size" and "export has 8" in p.message for p in missing.problems)
    extra = _verify([*lines, lines[-1]], key)
    assert any("beyond the checkpoint" in p.message for p in extra.problems)


def _edit_header(lines: list[str], **changes: object) -> list[str]:
    header = json.loads(lines[0])
    header.update(changes)
    return [json.dumps(header) + "\n", *lines[1:]]


def test_checkpoint_tampering(exported: tuple[list[str], list[str]], key: NoteSigner) -> None:
    lines, _ = exported
    note: str = json.loads(lines[0])["checkpoint"]
    text, _, signature = note.partition("\n\n")
    body = text.split("\n")
    body[2] = _flip(body[2], 3)  # root hash
    report = _verify(_edit_header(lines, checkpoint="\n".join(body) + "\n\n" + signature), key)
    assert {p.field for p in report.problems} >= {"checkpoint", "root"}
    bad_sig = note[:-6] + ("A" if note[-6] != "A" else "B") + note[-5:]
    assert any(
        p.field == "checkpoint" for p in _verify(_edit_header(lines, checkpoint=bad_sig), key).problems
    )
    other_key = NoteSigner.generate(key.name)
    report = verify_export(io.StringIO("".join(lines)), other_key.verifier())
    assert any(p.field == "checkpoint" and "not signed by the log key" in p.message for p in report.problems)
    assert any(p.field == "origin" for p in _verify(_edit_header(lines, origin="elsewhere"), key).problems)
    assert any(p.field == "format" for p in _verify(_edit_header(lines, format="v0"), key).problems)


def test_rewritten_history_contradicts_a_trusted_checkpoint(
    tmp_path: Path, exported: tuple[list[str], list[str]], key: NoteSigner
) -> None:
    """A log operator re-signing a different history is caught by a checkpoint the auditor kept."""
    _, earlier = exported
    signer = Ed25519Signer.from_seed(bytes([9]) * 32)
    with Ledger.open(f"sqlite:///{tmp_path / 'forged.sqlite'}", key) as forged:
        forged.append_many([("PLAN_COMMITTED", b"forged %d" % i, signer) for i in range(ENTRIES)])
        out = io.StringIO()
        forged.export(out)
    assert verify_export(io.StringIO(out.getvalue()), key.verifier()).ok
    report = verify_export(io.StringIO(out.getvalue()), key.verifier(), trusted_checkpoints=earlier)
    assert [p.field for p in report.problems] == ["trusted checkpoint", "trusted checkpoint"]


def test_garbage_input_is_a_format_problem(key: NoteSigner) -> None:
    report = verify_export(io.StringIO("not json at all"), key.verifier())
    assert [p.field for p in report.problems] == ["format"]
    report = verify_export(io.StringIO('{"entries": 3}'), key.verifier())
    assert [p.field for p in report.problems] == ["format"]


def test_problem_list_is_capped(exported: tuple[list[str], list[str]], key: NoteSigner) -> None:
    lines, _ = exported
    broken = list(lines)
    for index in range(ENTRIES):
        broken = _edit(broken, index, "signature", _flip(json.loads(broken[index + 1])["signature"], 0))
    report = _verify(broken, key, max_problems=3)
    assert len(report.problems) == 3 and report.problems_dropped > 0 and not report.ok


def test_parallel_signature_checks_report_the_same(
    exported: tuple[list[str], list[str]], key: NoteSigner
) -> None:
    lines, earlier = exported
    assert _verify(lines, key, workers=2, trusted_checkpoints=earlier).ok
    broken = _edit(lines, 2, "signature", _flip(json.loads(lines[3])["signature"], 5))
    broken = _edit(broken, 7, "actor_did", "did:key:z6MkiVpwA241guqtKWAkohHpcAry7S94QQb6ukW3GcCsugbK")
    serial, parallel = _verify(broken, key), _verify(broken, key, workers=2)
    assert parallel.problems == serial.problems
    assert {(p.index, p.field) for p in parallel.problems} >= {(2, "signature"), (7, "signature")}
    with pytest.raises(ValueError, match="workers"):
        _verify(lines, key, workers=0)
