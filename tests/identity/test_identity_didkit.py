"""The didkit path (always in a subprocess), its interoperability with our VC-JWT, and its exit policy.

didkit's archived Python binding crashes at interpreter exit after async calls (observed here in most
natural exits). ``test_repeated_worker_runs_always_answer`` runs the worker 20 times in each exit mode
and shows every run still yields a valid answer; it records how many exit codes were non-zero.
"""

from __future__ import annotations

import json
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from registry.identity import (
    AgentClaims,
    CredentialFormat,
    CredentialInvalid,
    DidKeyPair,
    DidkitCredentialService,
    DidkitUnavailable,
    DidkitWorkerError,
    JwtCredentialService,
)
from registry.identity.didkit_client import parse_answer, run_didkit_worker, worker_command
from registry.identity.didkit_protocol import PROTOCOL
from registry.pki import SpiffeId

REGISTRY = DidKeyPair.generate()
AGENT = DidKeyPair.generate()
CLAIMS = AgentClaims(AGENT.did, "kraken", "kraken-spot", "2.0.1", SpiffeId.agent("eu-west", "kraken"))
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def didkit_version() -> str:
    try:
        run = run_didkit_worker("version", {})
    except DidkitUnavailable as exc:
        pytest.skip(f"didkit cannot be imported: {exc}")
    assert isinstance(run.result, str)
    return run.result


@pytest.fixture(scope="module")
def service(didkit_version: str) -> DidkitCredentialService:
    return DidkitCredentialService()


@pytest.fixture(scope="module")
def vectors(shared_data: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared_data / "identity/didkit/didkit_test_vectors.json").read_text())
    return data


def test_didkit_matches_the_external_vectors_and_our_derivation(
    didkit_version: str, vectors: dict[str, Any]
) -> None:
    assert didkit_version == "0.3.3"
    jwk = vectors["jwk_ed25519_private"]
    assert run_didkit_worker("key_to_did", {"key": jwk}).result == vectors["key_to_did_key"]
    vm = run_didkit_worker("key_to_verification_method", {"key": jwk}).result
    assert vm == vectors["key_to_verification_method_key"]
    # The upstream test flow: issue the template credential, verify it, compare the report shape.
    did = vectors["key_to_did_key"]
    credential = dict(vectors["unsigned_credential_template"], issuer=did)
    options = dict(vectors["issue_proof_options"], verificationMethod=vm)
    signed = run_didkit_worker(
        "issue_credential", {"credential": credential, "proof_options": options, "key": jwk}
    )
    report = run_didkit_worker(
        "verify_credential", {"credential": signed.result, "proof_options": vectors["verify_proof_options"]}
    )
    assert json.loads(report.result) == vectors["expected_verify_result_shape"]
    # A fresh random key: didkit and our own did:key code agree.
    fresh = DidKeyPair.generate()
    assert run_didkit_worker("key_to_did", {"key": fresh.private_jwk()}).result == fresh.did


def test_didkit_issues_and_verifies(service: DidkitCredentialService) -> None:
    issued = service.issue(REGISTRY, CLAIMS, issued_at=NOW, ttl=timedelta(days=2))
    assert issued.format is CredentialFormat.VC_LDP
    proof = issued.credential["proof"]
    assert proof["type"] == "Ed25519Signature2018"
    assert proof["verificationMethod"] == REGISTRY.verification_method
    verified = service.verify(issued.encoded, trusted_issuers={REGISTRY.did}, now=NOW + timedelta(hours=1))
    assert verified.claims == CLAIMS and verified.format is CredentialFormat.VC_LDP

    tampered = json.loads(issued.encoded)
    tampered["credentialSubject"]["adapterVersion"] = "9.9.9"
    with pytest.raises(CredentialInvalid, match="proof: didkit reports"):
        service.verify(json.dumps(tampered), trusted_issuers={REGISTRY.did}, now=NOW)
    with pytest.raises(CredentialInvalid, match="issuer: expected one of"):
        service.verify(issued.encoded, trusted_issuers={AGENT.did}, now=NOW)
    with pytest.raises(CredentialInvalid, match="expired"):
        service.verify(issued.encoded, trusted_issuers={REGISTRY.did}, now=NOW + timedelta(days=3))
    wrong_vm = json.loads(issued.encoded)
    wrong_vm["proof"]["verificationMethod"] = AGENT.verification_method
    with pytest.raises(CredentialInvalid, match=r"proof\.verificationMethod"):
        service.verify(json.dumps(wrong_vm), trusted_issuers={REGISTRY.did}, now=NOW)


def test_didkit_alone_does_not_check_expiry(service: DidkitCredentialService) -> None:
    """Why our service checks expirationDate itself: didkit 0.3.3 reports no error for an expired VC."""
    past = NOW - timedelta(days=30)
    issued = service.issue(REGISTRY, CLAIMS, issued_at=past, ttl=timedelta(days=1))
    report = run_didkit_worker(
        "verify_credential",
        {"credential": issued.encoded, "proof_options": {"proofPurpose": "assertionMethod"}},
    )
    assert json.loads(report.result)["errors"] == []
    with pytest.raises(CredentialInvalid, match="expired"):
        service.verify(issued.encoded, trusted_issuers={REGISTRY.did}, now=NOW)


def test_vc_jwt_interoperates_with_didkit(didkit_version: str) -> None:
    jwt_service = JwtCredentialService()
    ours = jwt_service.issue(REGISTRY, CLAIMS, issued_at=NOW, ttl=timedelta(days=1))
    report = run_didkit_worker(
        "verify_credential",
        {
            "credential": ours.encoded,
            "proof_options": {"proofPurpose": "assertionMethod", "proofFormat": "jwt"},
        },
    )
    assert json.loads(report.result) == {"checks": ["JWS"], "warnings": [], "errors": []}

    # didkit's own VC-JWT (no "typ", float NumericDates) passes our cryptography-only verifier.
    theirs = run_didkit_worker(
        "issue_credential",
        {
            "credential": ours.credential,
            "proof_options": {
                "proofPurpose": "assertionMethod",
                "verificationMethod": REGISTRY.verification_method,
                "proofFormat": "jwt",
            },
            "key": REGISTRY.private_jwk(),
        },
    ).result
    assert isinstance(theirs, str) and theirs.count(".") == 2
    verified = jwt_service.verify(theirs, trusted_issuers={REGISTRY.did}, now=NOW)
    assert verified.claims == CLAIMS


@pytest.mark.slow
def test_repeated_worker_runs_always_answer(
    didkit_version: str, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """20 runs per exit mode, no retries: each must give a valid, verified answer on its own."""
    jwk = REGISTRY.private_jwk()
    credential = {
        "@context": "https://www.w3.org/2018/credentials/v1",
        "id": "urn:uuid:0",
        "type": ["VerifiableCredential"],
        "issuer": REGISTRY.did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": AGENT.did},
    }
    options = {"proofPurpose": "assertionMethod", "verificationMethod": REGISTRY.verification_method}
    nonzero: dict[str, list[int]] = {}
    for mode, natural in (("natural_exit", True), ("fast_exit", False)):
        codes = []
        for _ in range(20):
            run = run_didkit_worker(
                "issue_credential",
                {"credential": credential, "proof_options": options, "key": jwk},
                retries=0,
                command=worker_command(natural_exit=natural),
            )
            assert run.attempts == 1
            signed = json.loads(run.result)
            assert signed["proof"]["verificationMethod"] == REGISTRY.verification_method
            codes.append(run.exit_codes[0])
        nonzero[mode] = [c for c in codes if c != 0]
        record_property(f"didkit_worker_{mode}_nonzero_exits", len(nonzero[mode]))
    with capsys.disabled():
        print(
            f"\ndidkit worker, 20 runs each: natural exit -> {len(nonzero['natural_exit'])} non-zero "
            f"exit codes {sorted(set(nonzero['natural_exit']))}; fast exit (os._exit after flush) -> "
            f"{len(nonzero['fast_exit'])} non-zero"
        )


# -- the acceptance rule, with stand-in workers that misbehave on purpose (no didkit needed) --------

_ANSWER_THEN_CRASH = textwrap.dedent(
    """
    import json, os, signal, sys
    req = json.loads(sys.stdin.read())
    sys.stdout.write(json.dumps({"protocol": req["protocol"], "request_id": req["request_id"], "ok": True,
                                 "result": "fine", "didkit_version": "stub"}) + "\\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGSEGV)
    """
)
_CRASH_FIRST = textwrap.dedent(
    """
    import json, os, signal, sys
    req = json.loads(sys.stdin.read())
    marker = sys.argv[1]
    if not os.path.exists(marker):
        open(marker, "w").close()
        sys.stdout.write('{"protocol": "')  # half an answer, then die
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGABRT)
    sys.stdout.write(json.dumps({"protocol": req["protocol"], "request_id": req["request_id"], "ok": True,
                                 "result": "second", "didkit_version": "stub"}) + "\\n")
    """
)


def test_nonzero_exit_after_complete_answer_is_accepted(caplog: pytest.LogCaptureFixture) -> None:
    run = run_didkit_worker("version", {}, retries=0, command=[sys.executable, "-c", _ANSWER_THEN_CRASH])
    assert run.result == "fine"
    assert run.exit_codes[0] < 0  # killed by SIGSEGV
    assert "after a complete answer; accepted" in caplog.text


def test_crash_before_answer_is_retried_then_reported(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", _CRASH_FIRST, str(tmp_path / "marker")]
    run = run_didkit_worker("version", {}, retries=1, command=cmd)
    assert run.result == "second" and run.attempts == 2 and run.exit_codes[0] != 0
    (tmp_path / "marker").unlink()
    with pytest.raises(DidkitWorkerError, match="no answer after 1 attempt"):
        run_didkit_worker("version", {}, retries=0, command=cmd)


def test_timeout_is_reported() -> None:
    cmd = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(DidkitWorkerError, match="timed out"):
        run_didkit_worker("version", {}, retries=0, timeout=0.5, command=cmd)


def test_answer_parsing_is_strict() -> None:
    good = {"protocol": PROTOCOL, "request_id": "abc", "ok": True, "result": 1, "didkit_version": "0.3.3"}
    line = json.dumps(good).encode() + b"\n"
    assert parse_answer(line, "abc") == good
    assert parse_answer(line, "other") is None  # stale or foreign answer
    assert parse_answer(line[:-1], "abc") is None  # no terminating newline: maybe truncated
    assert parse_answer(line[:-10] + b"\n", "abc") is None
    assert parse_answer(b"noise\n" + line, "abc") is None
    assert parse_answer(json.dumps({**good, "protocol": "x"}).encode() + b"\n", "abc") is None
    assert parse_answer(json.dumps({**good, "ok": "yes"}).encode() + b"\n", "abc") is None


def test_worker_reports_bad_requests(didkit_version: str) -> None:
    with pytest.raises(DidkitWorkerError, match="bad_request: op: expected one of"):
        run_didkit_worker("sign_anything", {})
    with pytest.raises(DidkitWorkerError, match="bad_request: credential: expected a value"):
        run_didkit_worker("verify_credential", {"proof_options": {}})
