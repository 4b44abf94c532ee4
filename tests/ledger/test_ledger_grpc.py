"""The LedgerAuditor gRPC service over real mutual TLS: auditors read and verify, others are refused."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from energibridge.v1 import ir_pb2
from registry.ledger import Ed25519Signer, Ledger, NoteSigner, verify_export
from registry.ledger.service import LedgerAuditorClient, serve
from registry.ledger.signed_note import open_checkpoint
from registry.pki import DevCertificateAuthority, SpiffeId, secure_channel, server_credentials

REGION = "ledger.test"


@pytest.fixture
def running(tmp_path: Path, log_key: NoteSigner) -> Iterator[tuple[Ledger, DevCertificateAuthority, int]]:
    ca = DevCertificateAuthority.ephemeral(REGION)
    signers = [Ed25519Signer.from_seed(bytes([i]) * 32) for i in (1, 2)]
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}", log_key)
    for start in (0, 4):
        ledger.append_many(
            [
                ("JOIN" if i < 2 else "PLAN_COMMITTED", b"e%d" % i, signers[i % 2])
                for i in range(start, start + 4)
            ]
        )
    server, port = serve(
        ledger, "127.0.0.1:0", server_credentials(ca.issue(SpiffeId.registry(REGION))), region=REGION
    )
    try:
        yield ledger, ca, port
    finally:
        server.stop(None)
        ledger.close()


def _client(
    ca: DevCertificateAuthority, port: int, bundle: object = None
) -> tuple[grpc.Channel, LedgerAuditorClient]:
    channel = secure_channel(f"127.0.0.1:{port}", bundle or ca.issue_auditor("alice"))  # type: ignore[arg-type]
    return channel, LedgerAuditorClient(channel, timeout=10)


def test_auditor_reads_and_verifies_everything(
    running: tuple[Ledger, DevCertificateAuthority, int], log_key: NoteSigner, tmp_path: Path
) -> None:
    ledger, ca, port = running
    channel, client = _client(ca, port)
    with channel:
        checkpoint = open_checkpoint(client.checkpoint(), log_key.verifier())
        assert checkpoint.size == 8
        assert client.get(5) == ledger.get(5)
        plans = client.query(kind=ir_pb2.AUDIT_KIND_PLAN_COMMITTED, limit=3)
        assert [e.index for e in plans] == [2, 3, 4]
        assert [e.index for e in client.query(after_index=6)] == [7]
        client.inclusion_proof(6).verify(checkpoint.root_hash)
        earlier = open_checkpoint(client.checkpoint(4), log_key.verifier())
        client.consistency_proof(4).verify(earlier.root_hash, checkpoint.root_hash)
        client.inclusion_proof(1, 4).verify(earlier.root_hash)
        export = tmp_path / "downloaded.jsonl"
        assert client.download_export(export) == export.stat().st_size > 0
    report = verify_export(export, log_key.verifier())
    assert report.ok and report.entries_checked == 8


def test_live_appends_are_visible(
    running: tuple[Ledger, DevCertificateAuthority, int], log_key: NoteSigner
) -> None:
    ledger, ca, port = running
    channel, client = _client(ca, port)
    with channel:
        ledger.append("RISK_HALT", b"halt", Ed25519Signer.from_seed(b"\x03" * 32))
        ledger.flush()
        latest = open_checkpoint(client.checkpoint(), log_key.verifier())
        assert latest.size == 9
        assert client.get(8).payload == b"halt"


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        (lambda c: c.get(99), grpc.StatusCode.NOT_FOUND, "no entry 99"),
        (lambda c: c.checkpoint(5), grpc.StatusCode.NOT_FOUND, "no checkpoint at size 5"),
        (lambda c: c.inclusion_proof(8), grpc.StatusCode.INVALID_ARGUMENT, "not below the tree size"),
        (lambda c: c.consistency_proof(9), grpc.StatusCode.INVALID_ARGUMENT, "size1"),
        (lambda c: c.query(kind=99), grpc.StatusCode.INVALID_ARGUMENT, "AuditKind"),
    ],
)
def test_bad_requests_get_precise_status(
    running: tuple[Ledger, DevCertificateAuthority, int], call: object, code: grpc.StatusCode, message: str
) -> None:
    _, ca, port = running
    channel, client = _client(ca, port)
    with channel, pytest.raises(grpc.RpcError) as caught:
        call(client)  # type: ignore[operator]
    assert caught.value.code() == code
    assert message in (caught.value.details() or "")


def test_agents_and_other_regions_are_refused(running: tuple[Ledger, DevCertificateAuthority, int]) -> None:
    _, ca, port = running
    channel, client = _client(ca, port, ca.issue_agent("binance"))
    with channel:
        for call in (
            client.checkpoint,
            lambda: client.get(0),
            lambda: client.download_export(Path("/dev/null")),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "peer role" in (caught.value.details() or "")
    foreign = DevCertificateAuthority.ephemeral(REGION)  # same name, different root: the handshake fails
    channel, client = _client(ca, port, foreign.issue_auditor("mallory"))
    with channel, pytest.raises(grpc.RpcError) as caught:
        client.checkpoint()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plaintext_is_not_served(running: tuple[Ledger, DevCertificateAuthority, int]) -> None:
    _, _, port = running
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as caught:
        LedgerAuditorClient(channel, timeout=5).checkpoint()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_export_stream_matches_local_export(
    running: tuple[Ledger, DevCertificateAuthority, int], tmp_path: Path
) -> None:
    ledger, ca, port = running
    local = io.StringIO()
    ledger.export(local)
    channel, client = _client(ca, port)
    with channel:
        client.download_export(tmp_path / "remote.jsonl")
    assert (tmp_path / "remote.jsonl").read_text() == local.getvalue()
