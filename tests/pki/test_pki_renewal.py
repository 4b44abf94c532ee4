"""``CertificateSource``: renewal at two thirds of the ttl, from the CA service or the directory, with
bounded retries and a clear error once the certificate has expired unrenewed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registry.pki import (
    CertificateBundle,
    CertificateExpired,
    DevCertificateAuthority,
    read_bundle,
    write_bundle,
)
from registry.pki import renewal as renewal_module
from registry.pki.issuance import RunningAuthority, serve_authority
from registry.pki.renewal import CertificateSource, RetryDelay

REGION = "eu-west"


@pytest.fixture(scope="module")
def ca() -> DevCertificateAuthority:
    return DevCertificateAuthority.ephemeral(REGION, created_at=datetime.now(UTC) - timedelta(days=1))


@pytest.fixture(scope="module")
def authority(ca: DevCertificateAuthority) -> Iterator[RunningAuthority]:
    running = serve_authority(ca)
    running.servicer.min_interval_s = 0.0
    yield running
    running.stop(0)


class Clock:
    def __init__(self) -> None:
        self.start = datetime.now(UTC)
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self.start + self.offset


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_renews_from_the_ca_at_two_thirds_and_writes_the_bundle_back(
    tmp_path: Path, ca: DevCertificateAuthority, authority: RunningAuthority
) -> None:
    clock = Clock()
    first = ca.issue_agent("binance", ttl=timedelta(seconds=60), now=clock.start)
    write_bundle(tmp_path, first)
    renewed: list[CertificateBundle] = []
    source = CertificateSource(
        tmp_path, ca_url=f"grpcs://127.0.0.1:{authority.port}", clock=clock, on_renewed=renewed.append
    )
    clock.offset = timedelta(seconds=30)
    assert source.get() is source.current and source.current.fingerprint_sha256 == first.fingerprint_sha256
    clock.offset = timedelta(seconds=41)  # past two thirds of 60 s
    fresh = source.get()
    assert fresh.fingerprint_sha256 != first.fingerprint_sha256
    assert fresh.spiffe_id == first.spiffe_id
    assert renewed == [fresh] and source.renewals == 1
    on_disk = read_bundle(tmp_path)  # a restart starts from the newest certificate
    assert on_disk.fingerprint_sha256 == fresh.fingerprint_sha256
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600


def test_a_directory_nobody_refreshes_is_retried_with_backoff_then_fails_clearly(
    tmp_path: Path, ca: DevCertificateAuthority
) -> None:
    clock = Clock()
    write_bundle(tmp_path, ca.issue_agent("kraken", ttl=timedelta(seconds=60), now=clock.start))
    failures: list[tuple[str, float]] = []
    source = CertificateSource(
        tmp_path,
        clock=clock,
        retry=RetryDelay(initial=0.2, maximum=0.4),
        on_failure=lambda reason, delay: failures.append((reason, delay)),
    )
    clock.offset = timedelta(seconds=45)
    for _ in range(200):  # a caller polling in a loop costs one attempt per delay, not one per call
        source.get()
    assert len(failures) == 1
    assert "nothing has renewed it" in failures[0][0]
    time.sleep(0.25)
    source.get()
    assert len(failures) == 2
    assert failures[1][1] > 0.1  # the delay grows (jitter keeps it within [max/2, max])
    clock.offset = timedelta(seconds=61)
    time.sleep(0.45)
    with pytest.raises(CertificateExpired) as info:
        source.get()
    message = str(info.value)
    assert "spiffe://eu-west/agent/kraken expired at" in message
    assert "nothing replaced it" in message and "--ca-url" in message
    assert "last attempt: " in message


def test_the_operator_replacing_the_certificate_is_picked_up(
    tmp_path: Path, ca: DevCertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(renewal_module, "DIR_POLL_S", 0.0)
    write_bundle(tmp_path, ca.issue_agent("bitstamp", ttl=timedelta(minutes=10)))
    source = CertificateSource(tmp_path)
    time.sleep(0.01)
    replacement = ca.issue_agent("bitstamp", ttl=timedelta(minutes=20))
    write_bundle(tmp_path, replacement)
    assert source.get().fingerprint_sha256 == replacement.fingerprint_sha256
    write_bundle(tmp_path, ca.issue_agent("someone-else", ttl=timedelta(minutes=30)))
    assert source.get().fingerprint_sha256 == replacement.fingerprint_sha256  # another identity: not used


def test_an_unreachable_ca_is_retried_before_expiry_and_named(
    tmp_path: Path, ca: DevCertificateAuthority
) -> None:
    clock = Clock()
    write_bundle(tmp_path, ca.issue_agent("gemini", ttl=timedelta(seconds=60), now=clock.start))
    failures: list[tuple[str, float]] = []
    source = CertificateSource(
        tmp_path,
        ca_url=f"127.0.0.1:{_free_port()}",
        clock=clock,
        retry=RetryDelay(initial=1.0, maximum=300.0),
        on_failure=lambda reason, delay: failures.append((reason, delay)),
    )
    clock.offset = timedelta(seconds=56)  # 4 s left
    source.get()
    ((reason, delay),) = failures
    assert "renewal of spiffe://eu-west/agent/gemini from 127.0.0.1:" in reason and "UNAVAILABLE" in reason
    assert delay <= 1.0  # capped by the time left, not the configured maximum


def test_a_renewal_for_another_identity_is_refused(tmp_path: Path, ca: DevCertificateAuthority) -> None:
    clock = Clock()
    write_bundle(tmp_path, ca.issue_agent("okx", ttl=timedelta(seconds=60), now=clock.start))
    failures: list[str] = []
    source = CertificateSource(
        tmp_path,
        ca_url="127.0.0.1:1",
        clock=clock,
        renew=lambda target, bundle: ca.issue_agent("binance", ttl=timedelta(seconds=60)),
        on_failure=lambda reason, delay: failures.append(reason),
    )
    clock.offset = timedelta(seconds=45)
    assert source.get().spiffe_id.name == "okx"
    assert failures and "expected a certificate for spiffe://eu-west/agent/okx" in failures[0]
