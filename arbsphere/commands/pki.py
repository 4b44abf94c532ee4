"""`arbsphere pki` commands: create a region's dev CA and issue short-lived workload certificates.

Every command prints one JSON object on stdout (facts only, never key material) so scripts can use it;
errors go to stderr with exit code 2.
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
) -> None:
    """Issue a leaf certificate and write key.pem (0600), cert.pem and ca.pem."""
    from registry.pki import DevCertificateAuthority, SpiffeId, write_bundle

    def work() -> dict[str, Any]:
        ca = DevCertificateAuthority.load(directory)
        workload_name = _workload_name(role, venue, name)
        spiffe_id = SpiffeId.for_role(ca.region, role, workload_name)
        bundle = ca.issue(spiffe_id, ttl=timedelta(seconds=ttl), dns_names=dns, ip_addresses=ip)
        target = out or directory / "issued" / (role if workload_name is None else f"{role}-{workload_name}")
        write_bundle(target, bundle)
        return {**bundle.issuance_record(), "directory": str(target)}

    _emit(_run(work))


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
