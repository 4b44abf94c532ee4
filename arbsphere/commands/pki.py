"""`arbsphere pki` commands: create a region's dev CA, issue short-lived workload certificates, and serve
their renewals over mutual TLS (`pki serve`, ``registry.pki.issuance``).

Every command prints one JSON object on stdout (``serve``: one JSON line per event; facts only, never key
material) so scripts can use it; errors go to stderr with exit code 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

# ``registry.pki`` (cryptography, X.509) is imported inside the commands, so that `arbsphere --help` stays
# fast. The TTL bounds the help text needs are restated here; a test keeps them equal to
# ``registry.pki.certificates.MIN_LEAF_TTL`` and ``MAX_LEAF_TTL``.
MIN_LEAF_TTL = timedelta(seconds=1)
MAX_LEAF_TTL = timedelta(hours=24)

app = typer.Typer(help="Dev certificate authority: short-lived mTLS certificates.", no_args_is_help=True)

T = TypeVar("T")


def _run(action: Callable[[], T]) -> T:
    from registry.pki import PkiError

    try:
        return action()
    except PkiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _emit(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload, indent=2, sort_keys=True))


@app.command()
def init(
    *,
    directory: Annotated[
        Path, typer.Option("--dir", help="Directory for the CA key (0600) and certificate.")
    ],
    region: Annotated[str, typer.Option(help="Region name = SPIFFE trust domain, e.g. eu-west.")],
    validity_days: Annotated[int, typer.Option(help="Lifetime of the root certificate in days.")] = 365,
) -> None:
    """Create a new region root CA in DIR (refuses to overwrite an existing one)."""
    from registry.pki import DevCertificateAuthority
    from registry.pki.certificates import certificate_fingerprint

    if not 1 <= validity_days <= 3650:
        typer.echo(f"error: --validity-days: expected 1..3650, got {validity_days}", err=True)
        raise typer.Exit(2)
    ca = _run(
        lambda: DevCertificateAuthority.create(directory, region, validity=timedelta(days=validity_days))
    )
    _emit(
        {
            "region": ca.region,
            "directory": str(directory),
            "ca_fingerprint_sha256": certificate_fingerprint(ca.certificate),
            "not_after": ca.not_after.isoformat(),
        }
    )


@app.command()
def issue(
    *,
    directory: Annotated[Path, typer.Option("--dir", help="CA directory created by `pki init`.")],
    role: Annotated[str, typer.Option(help="agent | coordinator | registry | auditor")] = "agent",
    venue: Annotated[str | None, typer.Option(help="Venue name (role agent).")] = None,
    name: Annotated[str | None, typer.Option(help="Auditor name (role auditor).")] = None,
    ttl: Annotated[
        int,
        typer.Option(
            help=f"Lifetime in seconds ({int(MIN_LEAF_TTL.total_seconds())}.."
            f"{int(MAX_LEAF_TTL.total_seconds())})."
        ),
    ] = 3600,
    dns: Annotated[list[str] | None, typer.Option(help="Server DNS SAN (repeatable).")] = None,
    ip: Annotated[list[str] | None, typer.Option(help="Server IP SAN (repeatable).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default DIR/issued/<role>[-<name>]).")
    ] = None,
    ledger_url: Annotated[
        str | None,
        typer.Option(
            help="Record a CERTIFICATE_ISSUED entry on this governance ledger (SQLAlchemy URL or SQLite "
            "file), signed by the CA's ledger identity (DIR/ledger-signer.key, 0600, created on first use)."
        ),
    ] = None,
    ledger_key_file: Annotated[Path, typer.Option(help="The ledger's log signing key file.")] = Path(
        "var/ledger-log.key"
    ),
) -> None:
    """Issue a leaf certificate and write key.pem (0600), cert.pem and ca.pem."""
    from registry.pki import DevCertificateAuthority, SpiffeId, write_bundle

    def work() -> tuple[dict[str, Any], str]:
        ca = DevCertificateAuthority.load(directory)
        workload_name = _workload_name(role, venue, name)
        spiffe_id = SpiffeId.for_role(ca.region, role, workload_name)
        bundle = ca.issue(spiffe_id, ttl=timedelta(seconds=ttl), dns_names=dns, ip_addresses=ip)
        target = out or directory / "issued" / (role if workload_name is None else f"{role}-{workload_name}")
        write_bundle(target, bundle)
        return {**bundle.issuance_record(), "directory": str(target)}, ca.region

    record, region = _run(work)
    if ledger_url is not None:
        record["ledger_index"] = _record_issuance(directory, region, record, ledger_url, ledger_key_file)
    _emit(record)


CA_LEDGER_SIGNER = "ledger-signer.key"


def _record_issuance(
    directory: Path, region: str, record: dict[str, Any], ledger_url: str, ledger_key_file: Path
) -> int:
    """Append CERTIFICATE_ISSUED (serial, SPIFFE ID, validity, fingerprint: no key material) and return its
    index. The certificate is already written: a ledger that refuses it fails the command (exit 1)."""
    from coordinator.service import load_or_create_log_key
    from registry.identity import DidKeyPair
    from registry.identity.keystore import load_did_key, save_did_key
    from registry.ledger import Ledger

    try:
        signer_path = directory / CA_LEDGER_SIGNER
        if signer_path.exists():
            signer = load_did_key(signer_path)
        else:
            signer = DidKeyPair.generate()
            save_did_key(signer_path, signer)
        facts = {k: v for k, v in record.items() if k != "directory"}
        payload = {"event": "certificate_issued", "region": region, "subject": facts["spiffe_id"], **facts}
        data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        if "://" not in ledger_url:  # a SQLite file path, as `ledger --db` takes it
            ledger_url = f"sqlite:///{Path(ledger_url)}"
        if ledger_url.startswith("sqlite:///"):
            Path(ledger_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        log_key = load_or_create_log_key(ledger_key_file, f"arbsphere.{region}.log")
        with Ledger.open(ledger_url, log_key) as ledger:
            return ledger.append_many([("CERTIFICATE_ISSUED", data, signer)], 30.0)[0]
    except Exception as exc:
        typer.echo(f"error: certificate written, but the ledger did not take it: {exc}", err=True)
        raise typer.Exit(1) from None


def _workload_name(role: str, venue: str | None, name: str | None) -> str | None:
    from registry.pki import PkiError, WorkloadRole

    if role == WorkloadRole.AGENT.value:
        if venue is None or name is not None:
            raise PkiError("--venue: role agent needs --venue (and no --name)")
        return venue
    if role == WorkloadRole.AUDITOR.value:
        if name is None or venue is not None:
            raise PkiError("--name: role auditor needs --name (and no --venue)")
        return name
    if venue is not None or name is not None:
        raise PkiError(f"--role {role}: takes neither --venue nor --name")
    return None


@app.command()
def inspect(
    bundle_dir: Annotated[Path, typer.Argument(help="Directory with key.pem, cert.pem, ca.pem.")],
) -> None:
    """Show a bundle's identity and validity, and verify it against its CA (exit 2 if invalid)."""
    from registry.pki import read_bundle, verify_leaf

    def work() -> dict[str, Any]:
        bundle = read_bundle(bundle_dir)
        now = datetime.now(UTC)
        verify_leaf(bundle.cert_pem, bundle.ca_pem, now=now)
        return {
            **bundle.issuance_record(),
            "remaining_seconds": int(bundle.remaining(now).total_seconds()),
            "renewal_due": bundle.renewal_due(now),
        }

    _emit(_run(work))


@app.command()
def serve(
    *,
    directory: Annotated[Path, typer.Option("--dir", help="CA directory created by `pki init`.")],
    host: Annotated[str, typer.Option(help="Listen address (mutual TLS only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port; 0 picks a free one (see --port-file).")] = 0,
    port_file: Annotated[Path | None, typer.Option(help="Write the bound port here.")] = None,
    max_ttl: Annotated[
        int,
        typer.Option(
            help="Longest ttl of a renewed certificate (s); a renewal keeps the ttl of the certificate it "
            "renews, at most this."
        ),
    ] = 3600,
    dns: Annotated[list[str] | None, typer.Option(help="DNS SAN of this service (repeatable).")] = None,
    ip: Annotated[list[str] | None, typer.Option(help="IP SAN of this service (repeatable).")] = None,
) -> None:
    """Serve certificate renewals over mutual TLS (until SIGINT/SIGTERM), one JSON line per event.

    A workload presents its current, valid certificate and sends a CSR for a key it made itself; it gets a
    certificate for the same SPIFFE ID with the same ttl (``registry.pki.issuance``). Agents and the
    coordinator use it with ``--ca-url grpcs://HOST:PORT``. Enrolment (a first certificate, or one that
    expired) stays with `pki issue`."""
    import signal
    import threading

    from registry.pki import DevCertificateAuthority
    from registry.pki.issuance import serve_authority

    low, high = int(MIN_LEAF_TTL.total_seconds()), int(MAX_LEAF_TTL.total_seconds())
    if not low <= max_ttl <= high:
        typer.echo(
            f"error: --max-ttl: expected {low}..{high}, got {max_ttl}",
            err=True,
        )
        raise typer.Exit(2)
    lock = threading.Lock()

    def emit(event: dict[str, object]) -> None:
        with lock:
            print(json.dumps(event, sort_keys=True), flush=True)

    ca = _run(lambda: DevCertificateAuthority.load(directory))
    running = _run(
        lambda: serve_authority(
            ca,
            host=host,
            port=port,
            max_ttl=timedelta(seconds=max_ttl),
            dns_names=dns,
            ip_addresses=ip,
            emit=emit,
        )
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if port_file is not None:
        port_file.write_text(str(running.port))
    emit(
        {"event": "listening", "host": host, "port": running.port, "region": ca.region, "max_ttl_s": max_ttl}
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        running.stop()
    emit({"event": "stopped", "renewals": running.servicer.issued})
