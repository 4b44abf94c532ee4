"""`arbsphere registry` commands: register, check, list and query the Graph-of-Contracts adapter registry.

Exit codes: 0 success; 1 the registration is (or would be) refused, or no answer exists (unknown version,
no upgrade path); 2 invalid input. ``--json`` prints one JSON document for scripts. Verdicts are recorded
on the governance ledger (``--ledger-url``) or, without one, in a JSON-lines log (``--verdict-log``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from arbsphere.commands.coordinator import load_or_create_log_key

if TYPE_CHECKING:
    from registry.contracts import AdapterManifest, ContractRegistry, Verdict
    from registry.identity import DidKeyPair

# The registry (SQLAlchemy, protobuf descriptors), identity and ledger are imported inside the commands,
# so that `arbsphere --help` stays fast.

app = typer.Typer(help="Graph-of-Contracts adapter registry.", no_args_is_help=True)

DEFAULT_DB = "sqlite:///arbsphere-registry.db"
DEFAULT_VERDICT_LOG = Path("arbsphere-registry-verdicts.jsonl")
T = TypeVar("T")


@dataclass(frozen=True)
class _Settings:
    db: str
    verdict_log: Path
    ledger_url: str | None = None
    ledger_key_file: Path = Path("var/ledger-log.key")
    signer_key_file: Path = Path("var/registry-signer.key")


@app.callback()
def main(
    ctx: typer.Context,
    *,
    db: Annotated[
        str,
        typer.Option("--db", envvar="ARBSPHERE_REGISTRY_DB", help="SQLAlchemy URL of the registry store."),
    ] = DEFAULT_DB,
    verdict_log: Annotated[
        Path,
        typer.Option(
            "--verdict-log",
            envvar="ARBSPHERE_REGISTRY_VERDICT_LOG",
            help="Where verdicts are recorded (JSONL).",
        ),
    ] = DEFAULT_VERDICT_LOG,
    ledger_url: Annotated[
        str | None,
        typer.Option(
            help="Record verdicts on this governance ledger (SQLAlchemy URL) instead of --verdict-log."
        ),
    ] = None,
    ledger_key_file: Annotated[Path, typer.Option(help="The ledger's log signing key file.")] = Path(
        "var/ledger-log.key"
    ),
    signer_key_file: Annotated[
        Path,
        typer.Option(help="The registry's did:key (Ed25519, 0600; created if absent) signing its entries."),
    ] = Path("var/registry-signer.key"),
) -> None:
    """Graph-of-Contracts adapter registry."""
    ctx.obj = _Settings(
        db=db,
        verdict_log=verdict_log,
        ledger_url=ledger_url,
        ledger_key_file=ledger_key_file,
        signer_key_file=signer_key_file,
    )


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _registry(ctx: typer.Context) -> Iterator[ContractRegistry]:
    from registry.contracts import ContractRegistry, ContractStore, JsonLinesVerdictSink
    from registry.ledger import Ledger

    settings: _Settings = ctx.obj
    try:
        store = ContractStore.open(settings.db)
    except Exception as exc:
        raise _fail(f"cannot open the registry store {settings.db!r}: {exc}", 2) from None
    if settings.ledger_url is None:
        try:
            yield ContractRegistry(store, JsonLinesVerdictSink(settings.verdict_log))
        finally:
            store.close()
        return
    try:
        ledger = Ledger.open(
            settings.ledger_url, load_or_create_log_key(settings.ledger_key_file, "arbsphere.log")
        )
    except Exception as exc:
        store.close()
        raise _fail(f"cannot open the ledger {settings.ledger_url!r}: {exc}", 2) from None
    try:
        yield ContractRegistry(store, ledger.recorder(_registry_signer(settings.signer_key_file)))
    finally:
        ledger.close()
        store.close()


def _registry_signer(path: Path) -> DidKeyPair:
    from registry.identity import DidKeyPair
    from registry.identity.keystore import load_did_key, save_did_key

    if path.exists():
        return load_did_key(path)
    pair = DidKeyPair.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_did_key(path, pair)
    return pair


def _guard(action: Callable[[], T]) -> T:
    """Run ``action``: invalid input exits 2; no answer (unknown version, no path, ledger down) exits 1."""
    from registry.contracts import ContractError, ManifestError, RegistrationRefused

    try:
        return action()
    except RegistrationRefused:
        raise
    except ManifestError as exc:
        raise _fail(f"invalid input: {exc}", 2) from None
    except ContractError as exc:
        raise _fail(str(exc), 1) from None


def _load_manifest(manifest: Path, descriptor_set: Path | None) -> AdapterManifest:
    from registry.contracts import AdapterManifest

    try:
        text = manifest.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read manifest {manifest}: {exc.strerror}", 2) from None
    raw: bytes | None = None
    if descriptor_set is not None:
        try:
            raw = descriptor_set.read_bytes()
        except OSError as exc:
            raise _fail(f"cannot read descriptor set {descriptor_set}: {exc.strerror}", 2) from None
    return _guard(lambda: AdapterManifest.loads(text, descriptor_set=raw))


def _emit_json(document: object) -> None:
    typer.echo(json.dumps(document, indent=2, sort_keys=True))


def _print_verdict(verdict: Verdict, *, dry_run: bool) -> None:
    action = "would be" if dry_run else "is"
    outcome = "ACCEPTED" if verdict.accepted else "REFUSED"
    against = ", ".join(verdict.checked_against + verdict.checked_later) or "none (first of its line)"
    typer.echo(
        f"{verdict.adapter} {verdict.version} ({verdict.line}) {action} {outcome}; checked against: {against}"
    )
    for violation in verdict.violations:
        typer.echo(f"  - {violation.render()}")


def _manifest_row(manifest: AdapterManifest) -> dict[str, Any]:
    from registry.contracts.manifest import venue_kind_label

    return {
        "name": manifest.name,
        "version": str(manifest.version),
        "line": manifest.line,
        "venue_kind": venue_kind_label(manifest.venue_kind),
        "capabilities": [c.value for c in manifest.capabilities],
        "ir_range": str(manifest.ir_range),
        "manifest_sha256": manifest.sha256(),
    }


def _print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        cells = [row[c] for c in columns]
        table.add_row(*(Text(", ".join(v) if isinstance(v, list) else str(v)) for v in cells))
    Console(highlight=False).print(table)


ManifestOption = Annotated[Path, typer.Option("--manifest", help="Manifest JSON file.")]
DescriptorOption = Annotated[
    Path | None,
    typer.Option("--descriptor-set", help="FileDescriptorSet (.pb) from protoc --include_imports."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command()
def register(
    ctx: typer.Context,
    *,
    manifest: ManifestOption,
    descriptor_set: DescriptorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register an adapter version; refused (exit 1) with every violation if it breaks its line."""
    from registry.contracts import RegistrationRefused

    candidate = _load_manifest(manifest, descriptor_set)
    with _registry(ctx) as registry:
        try:
            verdict = _guard(lambda: registry.register(candidate))
        except RegistrationRefused as exc:
            verdict = exc.verdict
        if as_json:
            _emit_json(verdict.to_json_dict())
        else:
            _print_verdict(verdict, dry_run=False)
    if not verdict.accepted:
        raise typer.Exit(1)


@app.command()
def check(
    ctx: typer.Context,
    *,
    manifest: ManifestOption,
    descriptor_set: DescriptorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Dry run: the verdict a registration would get now (nothing stored; with --ledger-url the verdict is
    recorded on the ledger, marked ``dry_run``)."""
    from registry.contracts import VERDICT_KIND, canonical_json

    candidate = _load_manifest(manifest, descriptor_set)
    settings: _Settings = ctx.obj
    with _registry(ctx) as registry:
        verdict = _guard(lambda: registry.check(candidate))
        if settings.ledger_url is not None:
            payload = canonical_json({**verdict.to_json_dict(), "dry_run": True})
            _guard(lambda: registry.sink.record(VERDICT_KIND, payload))
    if as_json:
        _emit_json(verdict.to_json_dict())
    else:
        _print_verdict(verdict, dry_run=True)
    if not verdict.accepted:
        raise typer.Exit(1)


@app.command("list")
def list_adapters(
    ctx: typer.Context,
    *,
    name: Annotated[str | None, typer.Option("--name", help="Only this adapter.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Registered adapter versions."""
    with _registry(ctx) as registry:
        rows = [
            _manifest_row(r.manifest) | {"registered_at_ms": r.registered_at_ms}
            for r in registry.versions(name)
        ]
    if as_json:
        _emit_json(rows)
    else:
        _print_table(
            "registered adapters", rows, ["name", "version", "venue_kind", "ir_range", "capabilities"]
        )


@app.command()
def compatible(
    ctx: typer.Context,
    *,
    ir: Annotated[str, typer.Option("--ir", help="The coordinator's IR version, e.g. 1.2.")],
    name: Annotated[str | None, typer.Option("--name", help="Only this adapter.")] = None,
    capability: Annotated[
        list[str] | None, typer.Option("--capability", help="Required capability (repeatable).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Adapter versions that can join a coordinator speaking IR version --ir."""
    from registry.contracts import parse_ir_version

    version = _guard(lambda: parse_ir_version(ir, "--ir"))
    with _registry(ctx) as registry:
        found = _guard(lambda: registry.compatible_with(version, name=name, capabilities=capability or ()))
    rows = [_manifest_row(m) for m in found]
    if as_json:
        _emit_json({"ir": str(version), "adapters": rows})
    else:
        _print_table(f"adapters speaking IR {version}", rows, ["name", "version", "venue_kind", "ir_range"])


@app.command("upgrade-path")
def upgrade_path(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Adapter name.")],
    start: Annotated[str, typer.Argument(metavar="FROM", help="Installed version.")],
    goal: Annotated[str, typer.Argument(metavar="TO", help="Target version.")],
    *,
    as_json: JsonOption = False,
) -> None:
    """Shortest chain of in-place upgrades from FROM to TO (exit 1 if none)."""
    with _registry(ctx) as registry:
        path = _guard(lambda: registry.upgrade_path(name, start, goal))
    steps = [str(v) for v in path]
    if as_json:
        _emit_json({"name": name, "path": steps})
    else:
        typer.echo(f"{name}: {' -> '.join(steps)}")


@app.command()
def graph(
    ctx: typer.Context,
    *,
    ir: Annotated[list[str] | None, typer.Option("--ir", help="Extra IR version node (repeatable).")] = None,
) -> None:
    """The whole graph (adapter and IR version nodes, speaks/upgrades_to edges) as JSON."""
    from registry.contracts import parse_ir_version

    versions = _guard(lambda: [parse_ir_version(text, "--ir") for text in ir or []])
    with _registry(ctx) as registry:
        _emit_json(registry.graph(versions).to_json_dict())


@app.command()
def verdicts(
    ctx: typer.Context,
    *,
    name: Annotated[str | None, typer.Option("--name", help="Only this adapter.")] = None,
) -> None:
    """Every stored verdict, oldest first, as JSON (with whether the ledger has it)."""
    with _registry(ctx) as registry:
        stored = registry.verdicts(name)
    _emit_json([{"on_ledger": s.on_ledger, "verdict": s.verdict.to_json_dict()} for s in stored])


@app.command("issuer-did")
def issuer_did(ctx: typer.Context) -> None:
    """Print the registry's did:key (from --signer-key-file, created 0600 if absent): what coordinators
    pass as --trusted-issuer to admit agents holding its credentials."""
    settings: _Settings = ctx.obj
    try:
        typer.echo(_registry_signer(settings.signer_key_file).did)
    except Exception as exc:
        raise _fail(f"--signer-key-file: {exc}", 2) from None


@app.command("issue-credential")
def issue_credential(
    ctx: typer.Context,
    *,
    venue: Annotated[str, typer.Option(help="The agent's venue (its SPIFFE name).")],
    region: Annotated[str, typer.Option(help="The region (SPIFFE trust domain) of the agent.")],
    adapter: Annotated[str, typer.Option(help="Adapter the agent runs (as registered).")],
    adapter_version: Annotated[str, typer.Option(help="Its semantic version.")],
    out: Annotated[Path, typer.Option(help="Where to write the credential (mode 0600).")],
    agent_state_dir: Annotated[
        Path | None,
        typer.Option(
            help="The agent's state directory: the credential names the did:key of its identity.key "
            "(created 0600 there if the agent has not run yet)."
        ),
    ] = None,
    subject_did: Annotated[
        str | None, typer.Option(help="The agent's did:key, instead of --agent-state-dir.")
    ] = None,
    ttl_hours: Annotated[
        float, typer.Option(help="Lifetime in hours (credentials outlive certificates; at most 366 days).")
    ] = 168.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")] = False,
) -> None:
    """Issue the verifiable credential (VC-JWT) that `agent run --credential-file` presents at join.

    It binds the agent's did:key to its SPIFFE ID, venue and adapter, signed by the registry's did:key
    (--signer-key-file; coordinators trust its DID with --trusted-issuer). With --ledger-url, a
    CREDENTIAL_ISSUED entry records the facts (subject, SPIFFE ID, expiry, issuer; never the token)."""
    from datetime import UTC, datetime, timedelta

    from registry.identity import IdentityError
    from registry.identity.credentials import AgentClaims
    from registry.identity.did_key import did_key_from_public_key
    from registry.identity.vc_jwt import JwtCredentialService
    from registry.pki import PkiError, SpiffeId
    from registry.pki.announcements import IDENTITY_FILE, load_or_create_identity
    from registry.pki.store import write_secret_file

    settings: _Settings = ctx.obj
    if (agent_state_dir is None) == (subject_did is None):
        raise _fail("give exactly one of --agent-state-dir or --subject-did (the agent's identity)", 2)
    if out.exists() and not force:
        raise _fail(f"--out: {out} exists (use --force to replace it)", 2)
    if not 0 < ttl_hours <= 366 * 24:
        raise _fail(f"--ttl-hours: expected 0 < hours <= {366 * 24}, got {ttl_hours}", 2)
    try:
        if agent_state_dir is not None:
            key = load_or_create_identity(agent_state_dir / IDENTITY_FILE)
            subject_did = did_key_from_public_key(key.public_key())
        assert subject_did is not None
        claims = AgentClaims(
            subject_did=subject_did,
            venue=venue,
            adapter=adapter,
            adapter_version=adapter_version,
            spiffe_id=SpiffeId.agent(region, venue),
        )
        issuer = _registry_signer(settings.signer_key_file)
        issued = JwtCredentialService().issue(
            issuer, claims, issued_at=datetime.now(UTC), ttl=timedelta(hours=ttl_hours)
        )
    except (IdentityError, PkiError, ValueError) as exc:
        raise _fail(f"invalid input: {exc}", 2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    write_secret_file(out, issued.encoded.encode())
    record = {"event": "credential_issued", **issued.ledger_record()}
    index: int | None = None
    if settings.ledger_url is not None:
        from registry.ledger import Ledger

        try:
            with Ledger.open(
                settings.ledger_url, load_or_create_log_key(settings.ledger_key_file, "arbsphere.log")
            ) as ledger:
                payload = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
                index = ledger.append_many([("CREDENTIAL_ISSUED", payload, issuer)], 30.0)[0]
        except Exception as exc:
            raise _fail(f"credential written to {out}, but the ledger did not take it: {exc}", 1) from None
    _emit_json({**record, "credential_file": str(out), "ledger_index": index})


@app.command()
def describe(
    venue: Annotated[str, typer.Option(help="A venue module of agents/venues (coinbase, gemini, ...).")],
    out: Annotated[Path, typer.Option(help="Where to write the manifest JSON.")] = Path("adapter.json"),
    descriptor_set_out: Annotated[
        Path, typer.Option(help="Where to write the FileDescriptorSet (.pb) of the messages it speaks.")
    ] = Path("adapter.pb"),
) -> None:
    """Write the registry manifest of a shipped venue adapter (its live feed and CCXT execution adapters as
    one manifest) and the descriptor set of the IR it speaks, ready for `registry check` / `register`."""
    from agents.execution.live import execution_adapter_class
    from agents.feeds.live_adapter import feed_adapter_class
    from agents.venues import venue_spec
    from registry.contracts.manifest import venue_kind_label
    from registry.contracts.reference import ir_descriptor_set

    try:
        spec = venue_spec(venue)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--venue") from None
    feed = feed_adapter_class(spec).manifest
    execution = execution_adapter_class(spec).manifest
    document = {
        "name": f"arbsphere-venue-{spec.name}",
        "version": str(feed.version),
        "venue_kind": venue_kind_label(feed.venue_kind),
        "capabilities": sorted({c.value for c in (*feed.capabilities, *execution.capabilities)}),
        "ir_range": str(feed.ir_range),
    }
    out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    descriptor_set_out.write_bytes(ir_descriptor_set())
    _emit_json({"manifest": str(out), "descriptor_set": str(descriptor_set_out), **document})
