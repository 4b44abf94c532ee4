"""The review's findings, one deterministic test each: what used to crash, hang or keep a wrong book.

The fuzz suites next to this file explore the same ground at random; these pin the exact inputs the
review reported (and the ones the suites found while being built) so a regression names its cause.
"""

from __future__ import annotations

import io
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from agents.feeds.replay import load_recording, replay_events
from agents.feeds.venues.coinbase_legacy import CoinbaseLegacySession
from agents.feeds.venues.guard import MAX_JSON_DEPTH, check_message, json_depth
from energibridge import IrValidationError, decode, decode_json, encode, encode_json, from_proto, to_proto
from energibridge.models import Instrument, PlanDelta
from registry.contracts import AdapterManifest, ManifestError, load_schema
from registry.contracts.wire import subtract_ranges
from registry.ledger import Ed25519Signer, Ledger, NoteSigner, verify_export
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, Resync

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))
from contracts_protos import BASE, compile_proto

RECORDINGS = ("recordings", "cryptofeed")


# -- IR ----------------------------------------------------------------------------------------------------
def _plan_message(**leg: str) -> Any:
    plan = PlanDelta(
        ir_version={"major": 1, "minor": 1, "patch": 0},
        session_id="s1",
        venue_id="coinbase",
        sequence=1,
        previous_sequence=0,
        legs=(
            {
                "instrument": "SOL-USD",
                "side": 1,
                "size": "1.5",
                "limit_price": "101.25",
                "deadline_unix_ms": 1_700_000_000_000,
                "idempotency_key": "k0",
                "asset": "SOL",
            },
        ),
        expected_profit_quote="0.42",
    )
    message = to_proto(plan)
    for name, value in leg.items():
        setattr(message.legs[0], name, value)
    return message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1e-999999999", "resolution"),  # used to decode to 0: not lossless
        ("1e2000000", "magnitude"),  # used to raise decimal.Overflow
        ("1e999999999", "magnitude"),
        ("1e-999999", "resolution"),  # the lot size that cost 26 s of CPU downstream
        ("1e-351", "resolution"),
        ("1" * 29, "significant digits"),  # used to be rounded to 28 digits
        ("9" * 5000, "characters"),
        ("0." + "0" * 400 + "1", "characters"),
    ],
)
def test_ir_decimals_beyond_their_bounds_are_refused_with_the_field_named(value: str, reason: str) -> None:
    with pytest.raises(IrValidationError, match=rf"PlanDelta\.legs\.0\.size.*{reason}"):
        from_proto(PlanDelta, _plan_message(size=value))
    with pytest.raises(IrValidationError, match=reason):
        decode(PlanDelta, _plan_message(size=value).SerializeToString())


@pytest.mark.parametrize(
    "value", ["0.000000000000000000000001", "1234567890.123456789012345678", "1E+24", repr(5e-324), "1e-350"]
)
def test_ir_decimals_within_bounds_are_read_exactly(value: str) -> None:
    plan = from_proto(PlanDelta, _plan_message(size=value))
    assert plan.legs[0].size == Decimal(value)
    assert decode(PlanDelta, encode(plan)) == plan == decode_json(PlanDelta, encode_json(plan))


def test_ir_json_form_refuses_numbers_for_decimals_and_deep_nesting() -> None:
    good = json.loads(
        Instrument(
            symbol="SOL-USD", asset="SOL", quote="USD", lot_size="0.01", min_notional="1", tick_size="0.01"
        ).model_dump_json()
    )
    with pytest.raises(IrValidationError, match=r"lot_size.*JSON string"):
        decode_json(Instrument, json.dumps({**good, "lot_size": 1.00000000000000000000001}))
    with pytest.raises(IrValidationError, match="min_notional"):
        decode_json(Instrument, json.dumps(good).replace('"1"', "1e-999999999"))
    with pytest.raises(IrValidationError):
        decode_json(Instrument, "[" * 100_000 + "]" * 100_000)


# -- feeds -------------------------------------------------------------------------------------------------
def test_nesting_is_measured_without_recursion() -> None:
    assert json_depth('[{"a":"[[[[\\"]]"},[[]]]') == 3
    assert json_depth('["]]]]]]", [[[[[]]]]]]') == 6  # closing brackets inside a string hide nothing
    assert json_depth("[" * 1_000_000) == 1_000_000
    with pytest.raises(Exception, match="nesting depth"):
        check_message("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))


@pytest.mark.shared
@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "[" * 600_000 + text,  # crashed the process in the C decoder (or RecursionError)
        lambda text: text.replace('"changes":[[', '"changes":[[' * 2_000, 1) + "]" * 2_000,
        lambda text: text.replace(
            '"changes":[["', '"changes":[[' + "1" + "0" * 400 + ',"', 1
        ),  # OverflowError
        lambda text: text.replace('"changes":[["buy","', '"changes":[["buy","1e-400",', 1),
    ],
)
def test_coinbase_legacy_unreadable_update_voids_and_asks_to_resubscribe(
    shared_data: Path, damage: Any
) -> None:
    loaded = load_recording("coinbase", shared_data.joinpath(*RECORDINGS))
    records = list(loaded.records)
    index = next(
        i for i, r in enumerate(records) if i > 200 and '"type":"l2update"' in r.payload.replace(" ", "")
    )
    session = loaded.open().session
    assert isinstance(session, CoinbaseLegacySession)
    list(replay_events(session, records[:index]))
    live = [s for s in session.symbols() if session.book(s) is not None]
    assert live
    text = json.dumps(json.loads(records[index].payload), separators=(",", ":"))
    events = session.on_message(damage(text), records[index].ts)
    assert any(isinstance(e, FeedError) for e in events)
    assert {e.symbol for e in events if isinstance(e, Resync)} == set(live)
    assert all(session.book(s) is None for s in session.symbols())
    assert session.reconnect_requested


@pytest.mark.shared
def test_gemini_update_for_another_symbol_voids_instead_of_being_dropped(shared_data: Path) -> None:
    loaded = load_recording("gemini", shared_data.joinpath(*RECORDINGS))
    records = list(loaded.records)
    index = next(i for i, r in enumerate(records) if i > 50 and '"l2_updates"' in r.payload)
    session = loaded.open().session
    list(replay_events(session, records[:index]))
    msg = json.loads(records[index].payload)
    msg["symbol"] = msg["symbol"][:-1] + ("X" if msg["symbol"][-1] != "X" else "Y")  # a flipped byte
    events = session.on_message(json.dumps(msg), records[index].ts)
    assert not any(isinstance(e, BookUpdate | BookSnapshot) for e in events)
    assert any(isinstance(e, FeedError) for e in events) and any(isinstance(e, Resync) for e in events)
    assert session.reconnect_requested and all(session.book(s) is None for s in session.symbols())


# -- registry ----------------------------------------------------------------------------------------------
def test_descriptor_set_with_non_utf8_names_is_a_manifest_error() -> None:
    document = descriptor_pb2.FileDescriptorSet.FromString(compile_proto(BASE))
    raw = document.SerializeToString()
    name = document.file[-1].message_type[0].field[0].name.encode()
    damaged = raw.replace(name, name[:1] + b"\xe6" + name[2:], 1)  # e.g. b'symb\xe6l': crashed 2 ways
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_schema(damaged)


def test_hostile_manifest_texts_are_manifest_errors() -> None:
    for text in (b"[" * 200_000, b'{"name": 1' + b"0" * 5000 + b"}", b"\xff\xfe", b"{" * 10):
        with pytest.raises(ManifestError):
            AdapterManifest.loads(text)
    document = {"name": "x", "ir_range": {"min_inclusive": "1" * 5000, "max_exclusive": "2"}}
    with pytest.raises(ManifestError, match="ir_range"):
        AdapterManifest.load(
            {**document, "version": "1.0.0", "venue_kind": "cpmm", "capabilities": ["books"]}
        )


def test_reserved_range_subtraction_is_linear() -> None:
    many = [(2 * i, 2 * i + 1) for i in range(1024)]
    assert subtract_ranges(many, many) == []
    gaps = [(2 * i + 1, 2 * i + 2) for i in range(1023)]
    assert subtract_ranges([(0, 4096)], many) == [*gaps, (2047, 4096)]


# -- ledger verifier ---------------------------------------------------------------------------------------
def test_verifier_reports_nested_and_undecodable_lines(tmp_path: Path) -> None:
    key = NoteSigner.generate("arbsphere.test/regressions")
    with Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}", key) as ledger:
        ledger.append_many([("JOIN", b"j%d" % i, Ed25519Signer.from_seed(bytes([9]) * 32)) for i in range(3)])
        out = io.StringIO()
        ledger.export(out)
    lines = out.getvalue().splitlines(keepends=True)
    nested = [lines[0], "[" * 625 + "]" * 625 + "\n", *lines[1:]]  # raised RecursionError
    report = verify_export(io.StringIO("".join(nested)), key.verifier())
    assert not report.ok and any(p.field == "format" for p in report.problems)
    path = tmp_path / "export.jsonl"
    path.write_bytes("".join(lines).encode().replace(b'"JOIN"', b'"JO\xffN"', 1))  # raised UnicodeDecodeError
    report = verify_export(path, key.verifier())
    assert not report.ok and any("UTF-8" in p.message for p in report.problems)
    doubled = lines[1].replace('{"index":0,', '{"index":0,"index":0,', 1)
    report = verify_export(io.StringIO("".join([lines[0], doubled, *lines[2:]])), key.verifier())
    assert not report.ok and any("twice" in p.message for p in report.problems)
