"""What one admitted agent sends is bounded before any arithmetic (in-process, fast).

Each hostile value from the reliability campaign is refused with the field named, by a check whose cost
does not depend on the value's magnitude; hypothesis drives arbitrary text through the decimal bound and
arbitrary reports through the report path. The write-ahead entry and the ledger recovery are checked here
too, on a real SQLite ledger. Each test prints what it tried and what survived.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.audit import LedgerAudit
from coordinator.grpc_server import ExecutionReports, Hub, report_payload
from coordinator.service import recover
from coordinator.session import CommitAck, SessionDriver
from energibridge.errors import IrValidationError
from energibridge.protocol import wire
from energibridge.protocol.venue import VenueInfo
from energibridge.v1 import coordinator_pb2 as cpb
from registry.ledger import Ed25519Signer, Ledger, NoteSigner, kind_name

DIGEST = bytes(range(32))


def hello(**overrides: Any) -> cpb.Hello:
    info = VenueInfo("v1", {"BTC": Decimal("0.0001"), "ETH": Decimal("0.001")}, {"BTC": 6e4, "ETH": 3e3}, 500)
    message = wire.hello_message(info)
    for name, value in overrides.items():
        if isinstance(value, list):
            del getattr(message, name)[:]
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


def report(**overrides: Any) -> cpb.ExecutionReport:
    fields: dict[str, Any] = {
        "session_id": "s1",
        "venue_id": "v1",
        "sequence": 3,
        "plan_digest": DIGEST,
        "status": cpb.EXECUTION_STATUS_FILLED,
        "fill_count": 1,
        "pnl_vs_plan_quote": "1.25",
        "legs": 1,
        "completed_unix_ms": 1_800_000_000_000,
    }
    fields.update(overrides)
    return cpb.ExecutionReport(**fields)


HOSTILE_HELLOS = [
    ({"lot_sizes": ["1e-999999", "0.001"]}, "Hello.lot_sizes[0]"),
    ({"lot_sizes": ["1e999999", "0.001"]}, "Hello.lot_sizes[0]"),
    ({"lot_sizes": ["1e-999999999", "0.001"]}, "Hello.lot_sizes[0]"),
    ({"lot_sizes": ["0.0001", "1" * 41]}, "Hello.lot_sizes[1]"),
    ({"lot_sizes": ["0.0001", "0"]}, "Hello.lot_sizes[1]"),
    ({"lot_sizes": ["0.0001", "-0.001"]}, "Hello.lot_sizes[1]"),
    ({"lot_sizes": ["0.0001", "\u0661"]}, "Hello.lot_sizes[1]"),  # an Arabic-Indic digit Decimal would take
    ({"reference_prices": [1e300, 3e3]}, "Hello.reference_prices[0]"),
    ({"reference_prices": [6e4, float("nan")]}, "Hello.reference_prices[1]"),
    ({"latency_budget_ms": 0}, "Hello.latency_budget_ms"),
    ({"latency_budget_ms": 4_000_000_000}, "Hello.latency_budget_ms"),
    ({"last_sequence": (1 << 64) - 1}, "Hello.last_sequence"),
    ({"assets": ["BTC", "x" * 65], "venue_id": "v1"}, "Hello.assets[1]"),
    ({"venue_id": "v\n1"}, "Hello.venue_id"),
]


@pytest.mark.parametrize(("overrides", "field"), HOSTILE_HELLOS)
def test_a_hostile_hello_is_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(IrValidationError) as caught:
        wire.venue_info(hello(**overrides))
    assert caught.value.field == field
    print(f"tried Hello {overrides!s:.60}: refused at {field}")


HOSTILE_PNL = ["1e2000000", "1e999999999", "-1e999999999", "1e-999999999", "1e13", "9" * 29, "1" * 65, "NaN"]


@pytest.mark.parametrize("pnl", HOSTILE_PNL)
def test_a_hostile_pnl_is_refused_before_it_is_formatted(pnl: str) -> None:
    with pytest.raises(IrValidationError) as caught:
        report_payload("v1", report(pnl_vs_plan_quote=pnl))
    assert caught.value.field == "ExecutionReport.pnl_vs_plan_quote"
    print(f"tried pnl_vs_plan_quote={pnl[:20]!r}: refused ({caught.value.reason[:60]})")


@pytest.mark.parametrize(
    ("key", "why"),
    [(b"\x01" * 5, "32 bytes"), (b"", "32 bytes"), (b"\x01" * 33, "32 bytes"), (bytes(32), "low-order")],
)
def test_a_malformed_session_key_is_refused(key: bytes, why: str) -> None:
    with pytest.raises(IrValidationError, match=why):
        wire.x25519_key(key, "SessionKey.x25519_public_key")
    assert len(wire.x25519_key(bytes(range(1, 33)), "k")) == 32


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60) | st.from_regex(r"-?[0-9]{0,30}(\.[0-9]{0,30})?([eE][-+]?[0-9]{1,12})?"))
def test_any_text_is_a_bounded_decimal_or_a_named_refusal(text: str) -> None:
    try:
        value = wire.bounded_decimal(text, "f", wire.PNL_BOUNDS)
    except IrValidationError as exc:
        assert exc.field == "f"
        return
    assert value.is_finite() and abs(value) <= Decimal(wire.COST_BOUND)
    assert len(format(value, "f")) <= 64  # formatting it can never build a huge string


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=50)
    | st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,12})?", fullmatch=True),
    st.just(3) | st.integers(0, (1 << 64) - 1),
    st.sampled_from([*cpb.ExecutionStatus.values(), 77]),
    st.just(DIGEST) | st.binary(max_size=40),
)
def test_any_report_is_recorded_or_refused_never_raises(
    pnl: str, sequence: int, status: int, digest: bytes
) -> None:
    audit = Audit()
    hub = Hub()
    reports = ExecutionReports(hub, audit)
    reports.expect("s1", [CommitAck("v1", 3, b"h" * 32, DIGEST)])
    hub.reports.put(
        ("v1", report(pnl_vs_plan_quote=pnl, sequence=sequence, status=status, plan_digest=digest))
    )
    recorded = reports.drain()
    assert recorded + reports.refused == 1
    for _, _, payload in audit.entries:
        assert len(json.dumps(payload)) < 2_000


class Audit:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, Mapping[str, object]]] = []

    def record(self, kind: str, actor: str, payload: Mapping[str, object]) -> None:
        self.entries.append((kind, actor, dict(payload)))


def test_an_unmatched_report_is_refused_before_its_fields_are_read() -> None:
    hub = Hub()
    reports = ExecutionReports(hub, Audit())
    hub.reports.put(("v1", report(pnl_vs_plan_quote="1e999999999")))  # no plan was committed
    assert reports.drain() == 0 and reports.refused == 1
    assert "no plan 3" in hub.refused[-1]
    print("tried an unmatched report with pnl 1e999999999: refused as unmatched, no field parsed")


def test_latency_budgets_are_clamped_to_the_operator_floor_and_ceiling() -> None:
    def venues(*budgets: int) -> dict[str, VenueInfo]:
        return {f"v{i}": VenueInfo(f"v{i}", {}, {}, b) for i, b in enumerate(budgets)}

    driver = SessionDriver(object(), venues(1, 5000), latency_bounds_ms=(250, 60_000))  # type: ignore[arg-type]
    assert driver.session_budget_s() == 0.25
    driver.venues = venues(10**9, 10**9)
    assert driver.session_budget_s() == 60.0
    driver.venues = venues(800, 5000)
    assert driver.session_budget_s() == 0.8
    print("tried budgets 1 ms and 1e9 ms: sessions run 250 ms and 60 s")


def test_the_ledger_gives_back_the_sequence_and_the_plans_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    key = NoteSigner.generate("arbsphere.t.log")
    with Ledger.open(url, key) as ledger:
        audit = LedgerAudit(ledger, Ed25519Signer.generate())
        for sequence in (1, 2, 7):
            audit.record(
                "plan_intent",
                f"s{sequence}",
                {"session": f"s{sequence}", "sequence": sequence, "members": ["a", "b"]},
            )
        audit.record(
            "plan_committed",
            "a",
            {"session": "s7", "sequence": 7, "state_hash": "00", "plan_digest": DIGEST.hex()},
        )
        audit.record("execution_report", "a", {"session": "s2", "sequence": 2})
        audit.flush()
    with Ledger.open(url, key) as ledger:
        state = recover(ledger)
        kinds = {kind_name(e.kind) for e in ledger.query()}
    assert kinds == {"PLAN_COMMITTED", "EXECUTION_REPORT"}
    assert state.sequence == 7
    assert state.plans[("a", 7)] == ("s7", DIGEST)
    assert state.plans[("b", 7)] == ("s7", None)  # committed, never acknowledged: the report names it
    assert state.reported == {("a", 2)}
    print(f"recovered sequence {state.sequence} and {len(state.plans)} committed plans from the ledger")
