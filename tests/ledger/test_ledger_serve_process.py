"""`arbsphere ledger serve` as a real process: the auditor service answers with the right status codes."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa

from energibridge.v1 import ledger_pb2, ledger_pb2_grpc
from registry.ledger import Ed25519Signer, Ledger, NoteSigner
from registry.pki import DevCertificateAuthority, SpiffeId, secure_channel, write_bundle
from tests.federation.test_fed_processes import cli, spawn

pytestmark = pytest.mark.slow
REGION = "audit.test"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """The ledger's database as the service is told it: a SQLAlchemy URL and, for PostgreSQL, a schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}", None
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_schema")


@pytest.fixture
def service(
    tmp_path: Path, backend: tuple[str, str | None]
) -> Iterator[tuple[Callable[[], None], DevCertificateAuthority, int]]:
    url, schema = backend
    signer = Ed25519Signer.generate()
    with Ledger.open(url, NoteSigner.generate("audit.test/log"), schema=schema) as ledger:
        ledger.append_many([("JOIN", b'{"n":%d}' % i, signer) for i in range(4)])
    ca = DevCertificateAuthority.create(tmp_path / "ca", REGION)
    write_bundle(tmp_path / "svc", ca.issue(SpiffeId.registry(REGION)))
    port_file = tmp_path / "port"
    args = [
        "ledger",
        "serve",
        "--db",
        url,
        "--cert-dir",
        str(tmp_path / "svc"),
        "--port-file",
        str(port_file),
    ]
    process = spawn(cli(*args, *(["--schema", schema] if schema else [])))

    def tamper() -> None:  # one payload byte changed behind the ledger's back
        engine = sa.create_engine(url)
        if schema:
            engine = engine.execution_options(schema_translate_map={None: schema})
        table = sa.Table("ledger_entries", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(table.update().where(table.c.idx == 2).values(payload=b'{"n":9}'))
        engine.dispose()

    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text()):
            assert process.poll() is None, "the auditor service exited"
            assert time.monotonic() < deadline, "the auditor service did not start"
            time.sleep(0.05)
        yield tamper, ca, int(port_file.read_text())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    """The status a call fails with (a streaming answer is read to its end)."""
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    return info.value.code()


def test_bad_requests_missing_entries_and_tampered_rows(
    service: tuple[Callable[[], None], DevCertificateAuthority, int],
) -> None:
    tamper, ca, port = service
    pb = ledger_pb2
    with secure_channel(f"127.0.0.1:{port}", ca.issue_auditor("alice")) as channel:
        stub = ledger_pb2_grpc.LedgerAuditorStub(channel)
        assert stub.GetEntry(pb.GetEntryRequest(index=1), timeout=10).index == 1
        bad: list[Callable[[], object]] = [
            lambda: stub.GetEntry(pb.GetEntryRequest(index=2**63)),
            lambda: stub.GetEntry(pb.GetEntryRequest(index=2**64 - 1)),
            lambda: stub.QueryEntries(pb.QueryEntriesRequest(kind=999)),  # type: ignore[arg-type]
            lambda: stub.QueryEntries(pb.QueryEntriesRequest(limit=10**9)),
            lambda: stub.QueryEntries(pb.QueryEntriesRequest(after_index=2**64 - 1)),
            lambda: stub.QueryEntries(pb.QueryEntriesRequest(actor_did="x" * 10_000)),
            lambda: stub.GetCheckpoint(pb.GetCheckpointRequest(tree_size=2**64 - 1)),
            lambda: stub.ProveInclusion(pb.ProveInclusionRequest(index=9)),
            lambda: stub.ProveConsistency(pb.ProveConsistencyRequest(size1=0)),
        ]
        assert [code_of(call) for call in bad] == [grpc.StatusCode.INVALID_ARGUMENT] * len(bad)
        missing: list[Callable[[], object]] = [
            lambda: stub.GetEntry(pb.GetEntryRequest(index=4)),
            lambda: stub.GetCheckpoint(pb.GetCheckpointRequest(tree_size=3)),
        ]
        assert [code_of(call) for call in missing] == [grpc.StatusCode.NOT_FOUND] * 2

        tamper()
        tampered: list[Callable[[], object]] = [
            lambda: stub.GetEntry(pb.GetEntryRequest(index=2)),
            lambda: stub.ProveInclusion(pb.ProveInclusionRequest(index=2)),
            lambda: stub.QueryEntries(pb.QueryEntriesRequest()),
        ]
        assert [code_of(call) for call in tampered] == [grpc.StatusCode.DATA_LOSS] * 3
        assert stub.GetEntry(pb.GetEntryRequest(index=1), timeout=10).index == 1

    with secure_channel(f"127.0.0.1:{port}", ca.issue_agent("venue")) as channel:
        stub = ledger_pb2_grpc.LedgerAuditorStub(channel)
        assert (
            code_of(lambda: stub.GetEntry(pb.GetEntryRequest(index=1))) == grpc.StatusCode.PERMISSION_DENIED
        )
