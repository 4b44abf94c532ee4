"""The registry over its store: one behavioural suite, run on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from contracts_protos import BASE, manifest

from registry.contracts import (
    VERDICT_KIND,
    ContractRegistry,
    ContractStore,
    InMemoryVerdictSink,
    JsonLinesVerdictSink,
    NoUpgradePath,
    RegistrationRefused,
    RuleId,
    VerdictNotRecorded,
)

EXTRA = BASE.replace("  int64 size = 3;\n", "  int64 size = 3;\n  string venue = 4;\n")
BROKEN = BASE.replace("int64 size = 3;", "string size = 3;")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


class RegistrySuite:
    """Every behavioural test of the registry store; subclasses provide ``store``."""

    @pytest.fixture
    def store(self) -> Iterator[ContractStore]:
        raise NotImplementedError

    @pytest.fixture
    def reopen(self) -> ContractStore:
        raise NotImplementedError

    @pytest.fixture
    def sink(self) -> InMemoryVerdictSink:
        return InMemoryVerdictSink()

    @pytest.fixture
    def registry(self, store: ContractStore, sink: InMemoryVerdictSink) -> ContractRegistry:
        return ContractRegistry(store, sink, clock=Clock())

    def test_accepted_registration_is_stored_and_recorded(
        self, registry: ContractRegistry, sink: InMemoryVerdictSink
    ) -> None:
        verdict = registry.register(manifest("1.0.0"))
        assert verdict.accepted
        assert sink.entries == [(VERDICT_KIND, verdict.canonical_json())]
        [stored] = registry.versions()
        assert stored.manifest == manifest("1.0.0")
        assert stored.manifest_sha256 == manifest("1.0.0").sha256()
        assert stored.verdict_sha256 == verdict.sha256()
        assert stored.registered_at_ms == 1_700_000_000_001

    def test_refused_registration_is_recorded_with_its_violations_but_not_stored(
        self, registry: ContractRegistry, sink: InMemoryVerdictSink
    ) -> None:
        registry.register(manifest("1.0.0"))
        with pytest.raises(RegistrationRefused) as info:
            registry.register(manifest("1.1.0", BROKEN))
        verdict = info.value.verdict
        assert [v.rule for v in verdict.violations] == [RuleId.FIELD_TYPE_CHANGED]
        assert "FIELD_TYPE_CHANGED" in str(info.value)
        assert [str(r.manifest.version) for r in registry.versions()] == ["1.0.0"]
        kind, payload = sink.entries[-1]
        assert kind == VERDICT_KIND and payload == verdict.canonical_json()
        assert json.loads(payload)["violations"][0]["path"] == "demo.v1.Quote.size"
        assert [s.verdict.accepted for s in registry.verdicts()] == [True, False]
        assert all(s.on_ledger for s in registry.verdicts())

    def test_transitive_refusal_through_the_store(self, registry: ContractRegistry) -> None:
        registry.register(manifest("1.0.0", BASE + "message Legacy { string note = 1; }\n"))
        registry.register(manifest("1.1.0"))
        with pytest.raises(RegistrationRefused) as info:
            registry.register(manifest("1.2.0", BASE + "message Legacy { int64 count = 1; }\n"))
        assert {(v.rule, v.against) for v in info.value.verdict.violations} == {
            (RuleId.FIELD_NUMBER_REUSED, "1.0.0")
        }

    def test_dry_run_check_stores_and_records_nothing(
        self, registry: ContractRegistry, sink: InMemoryVerdictSink
    ) -> None:
        registry.register(manifest("1.0.0"))
        verdict = registry.check(manifest("1.1.0", BROKEN))
        assert not verdict.accepted
        assert len(sink.entries) == 1 and len(registry.verdicts()) == 1 and len(registry.versions()) == 1

    def test_duplicate_version_is_refused(self, registry: ContractRegistry) -> None:
        registry.register(manifest("1.0.0"))
        with pytest.raises(RegistrationRefused) as info:
            registry.register(manifest("1.0.0"))
        assert [v.rule for v in info.value.verdict.violations] == [RuleId.VERSION_ALREADY_REGISTERED]

    def test_ledger_outage_keeps_the_verdict_pending_until_delivered(
        self, registry: ContractRegistry, sink: InMemoryVerdictSink
    ) -> None:
        sink.fail_with = ConnectionError("ledger down")
        with pytest.raises(VerdictNotRecorded, match="ledger down"):
            registry.register(manifest("1.0.0"))
        assert [str(r.manifest.version) for r in registry.versions()] == ["1.0.0"]
        assert [p.verdict.version for p in registry.store.pending_verdicts()] == ["1.0.0"]
        sink.fail_with = None
        registry.register(manifest("1.1.0", EXTRA))  # delivers the backlog first, in order
        assert [json.loads(p)["version"] for _, p in sink.entries] == ["1.0.0", "1.1.0"]
        assert registry.store.pending_verdicts() == []
        assert registry.deliver_pending() == 0

    def test_queries_over_stored_versions(self, registry: ContractRegistry) -> None:
        registry.register(manifest("1.0.0", ir_range=">=1.0,<2.0"))
        registry.register(manifest("1.1.0", EXTRA, ir_range=">=1.0,<3.0"))
        registry.register(manifest("2.0.0", EXTRA, ir_range=">=2.0,<3.0"))
        registry.register(manifest("3.0.0", BROKEN, ir_range=">=2.0,<3.0"))
        registry.register(manifest("0.9.0", name="other", capabilities=["books"]))
        listed = [(r.manifest.name, str(r.manifest.version)) for r in registry.versions()]
        assert listed == [
            ("demo-venue", "1.0.0"),
            ("demo-venue", "1.1.0"),
            ("demo-venue", "2.0.0"),
            ("demo-venue", "3.0.0"),
            ("other", "0.9.0"),
        ]
        speakers = [str(m.version) for m in registry.compatible_with("2.5", name="demo-venue")]
        assert speakers == ["1.1.0", "2.0.0", "3.0.0"]
        assert [m.name for m in registry.compatible_with("1.0", capabilities=["ioc_limit"])] == [
            "demo-venue",
            "demo-venue",
        ]
        assert [str(v) for v in registry.upgrade_path("demo-venue", "1.0.0", "2.0.0")] == [
            "1.0.0",
            "1.1.0",
            "2.0.0",
        ]
        with pytest.raises(NoUpgradePath):
            registry.upgrade_path("demo-venue", "1.0.0", "3.0.0")
        graph = registry.graph().to_json_dict()
        assert len([n for n in graph["nodes"] if n["type"] == "adapter"]) == 5

    def test_data_survives_reopening(self, registry: ContractRegistry, reopen: ContractStore) -> None:
        registry.register(manifest("1.0.0"))
        registry.store.close()
        again = ContractRegistry(reopen, InMemoryVerdictSink())
        assert [str(r.manifest.version) for r in again.versions()] == ["1.0.0"]
        with pytest.raises(RegistrationRefused):
            again.register(manifest("1.1.0", BROKEN))
        reopen.close()

    def test_concurrent_registrations_of_one_line_are_serialised(
        self, store: ContractStore, reopen: ContractStore
    ) -> None:
        """Two incompatible versions race; the line lock makes the second one see the first."""

        def slow_clock() -> int:
            time.sleep(0.05)  # read inside the transaction: widens the window a missing lock would open
            return 1

        ContractRegistry(store, InMemoryVerdictSink()).register(manifest("1.0.0"))
        candidates = [
            manifest("1.1.0", EXTRA),
            manifest("1.2.0", EXTRA.replace("string venue", "int64 venue")),
        ]
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def attempt(target: ContractStore, candidate: object) -> None:
            registry = ContractRegistry(target, InMemoryVerdictSink(), clock=slow_clock)
            barrier.wait()
            try:
                registry.register(candidate)  # type: ignore[arg-type]
                outcomes.append("accepted")
            except RegistrationRefused:
                outcomes.append("refused")

        threads = [
            threading.Thread(target=attempt, args=(target, candidate))
            for target, candidate in zip((store, reopen), candidates, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["accepted", "refused"]
        assert len(store.adapters()) == 2
        reopen.close()


class TestSqliteRegistry(RegistrySuite):
    @pytest.fixture
    def path(self, tmp_path: Path) -> Path:
        return tmp_path / "registry.db"

    @pytest.fixture
    def store(self, path: Path) -> Iterator[ContractStore]:
        store = ContractStore.open(f"sqlite:///{path}")
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, path: Path, store: ContractStore) -> ContractStore:
        return ContractStore.open(f"sqlite:///{path}")


@pytest.mark.postgres
class TestPostgresRegistry(RegistrySuite):
    @pytest.fixture
    def store(self, postgres_url: str, postgres_schema: str) -> Iterator[ContractStore]:
        store = ContractStore.open(postgres_url, schema=postgres_schema)
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, postgres_url: str, postgres_schema: str, store: ContractStore) -> ContractStore:
        return ContractStore.open(postgres_url, schema=postgres_schema)


def test_json_lines_sink_appends_one_line_per_verdict(tmp_path: Path) -> None:
    store = ContractStore.open(f"sqlite:///{tmp_path / 'r.db'}")
    log = tmp_path / "verdicts.jsonl"
    registry = ContractRegistry(store, JsonLinesVerdictSink(log))
    registry.register(manifest("1.0.0"))
    with pytest.raises(RegistrationRefused):
        registry.register(manifest("1.1.0", BROKEN))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["kind"], x["payload"]["accepted"]) for x in lines] == [
        (VERDICT_KIND, True),
        (VERDICT_KIND, False),
    ]
    store.close()
