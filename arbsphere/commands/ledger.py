"""`arbsphere ledger` commands: what an auditor (and the log operator) runs against the governance ledger.

Read commands print JSON. They read either the database directly (``--db``, read-only) or, for auditors
without database access, the region's ``LedgerAuditor`` service over mutual TLS (``--server`` with the
auditor's certificate ``--bundle``). ``verify`` needs neither: it re-checks an export against the log's
public key. With ``--vkey``, proofs are also checked against the log's signed checkpoints before printing.
Bytes are standard base64 throughout, like the checkpoints.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer

if TYPE_CHECKING:
    from registry.ledger.entry import LedgerEntry
    from registry.ledger.export import ExportFormat
    from registry.ledger.ledger import ConsistencyProof, InclusionProof, Ledger
    from registry.ledger.service import LedgerAuditorClient
    from registry.ledger.signed_note import NoteSigner, NoteVerifier

# The ledger (SQLAlchemy), its gRPC client and the PKI are imported inside the commands, so that
# `arbsphere --help` stays fast. The two facts the help text needs are restated here; a test keeps them
# equal to ``registry.ledger.ledger.DEFAULT_DB_PATH`` and ``registry.ledger.entry.kind_names()``.
DEFAULT_DB_PATH = Path("var") / "ledger.sqlite"
KIND_NAMES = (
    "JOIN",
    "LEAVE",
    "CERTIFICATE_ISSUED",
    "CREDENTIAL_ISSUED",
    "REGISTRY_VERDICT",
    "PLAN_COMMITTED",
    "EXECUTION_REPORT",
    "PRIVACY_SPEND",
    "RISK_HALT",
    "CONFIG_CHANGE",
    "LEG_OUT",
    "CONTROL",
    "MARKET_MATCH",
)

app = typer.Typer(help="Query and verify the governance ledger.", no_args_is_help=True)

DB_ENV = "ARBSPHERE_LEDGER_DB"
KEY_ENV = "ARBSPHERE_LEDGER_KEY_FILE"

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar=DB_ENV,
        help=f"Ledger database: a SQLAlchemy URL or a SQLite file path (default ./{DEFAULT_DB_PATH}).",
    ),
]
SchemaOption = Annotated[
    str | None, typer.Option("--schema", help="PostgreSQL schema holding the ledger tables.")
]
VkeyOption = Annotated[
    str | None,
    typer.Option(
        "--vkey", help="The log's verifier key '<name>+<hex id>+<base64 key>' (trusted out of band)."
    ),
]
VkeyFileOption = Annotated[
    Path | None, typer.Option("--vkey-file", help="File holding the log's verifier key.", dir_okay=False)
]


ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server", envvar="ARBSPHERE_LEDGER_SERVER", help="LedgerAuditor service host:port (mTLS)."
    ),
]
BundleOption = Annotated[
    Path | None,
    typer.Option(
        "--bundle",
        envvar="ARBSPHERE_LEDGER_BUNDLE",
        help="Directory with your key.pem, cert.pem and ca.pem (from `arbsphere pki issue`).",
        file_okay=False,
    ),
]


class _Source(Protocol):
    """What the read commands need, from the database or from the auditor service."""

    def checkpoint_note(self, size: int | None) -> str | None: ...

    def get(self, index: int) -> LedgerEntry: ...

    def query(
        self,
        *,
        actor: str | None,
        kind: int | None,
        since_ms: int | None,
        until_ms: int | None,
        after_index: int | None,
        limit: int,
    ) -> list[LedgerEntry]: ...

    def inclusion_proof(self, index: int, size: int | None) -> InclusionProof: ...

    def consistency_proof(self, size1: int, size2: int | None) -> ConsistencyProof: ...

    def export(self, out: Path, fmt: ExportFormat) -> None: ...


class _DatabaseSource:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def checkpoint_note(self, size: int | None) -> str | None:
        stored = self.ledger.checkpoint() if size is None else self.ledger.checkpoint_at(size)
        return None if stored is None else stored.note

    def get(self, index: int) -> LedgerEntry:
        return self.ledger.get(index)

    def query(self, **filters: Any) -> list[LedgerEntry]:
        return self.ledger.query(**filters)

    def inclusion_proof(self, index: int, size: int | None) -> InclusionProof:
        return self.ledger.inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int | None) -> ConsistencyProof:
        return self.ledger.consistency_proof(size1, size2)

    def export(self, out: Path, fmt: ExportFormat) -> None:
        if str(out) == "-":
            self.ledger.export(sys.stdout, fmt)
            return
        with out.open("w", encoding="utf-8") as handle:
            self.ledger.export(handle, fmt)


class _RemoteSource:
    def __init__(self, client: LedgerAuditorClient) -> None:
        self.client = client

    def checkpoint_note(self, size: int | None) -> str | None:
        import grpc

        try:
            return self.client.checkpoint(size)
        except grpc.RpcError as exc:
            if size is not None and exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    def get(self, index: int) -> LedgerEntry:
        return self.client.get(index)

    def query(self, **filters: Any) -> list[LedgerEntry]:
        return self.client.query(**filters)

    def inclusion_proof(self, index: int, size: int | None) -> InclusionProof:
        return self.client.inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int | None) -> ConsistencyProof:
        return self.client.consistency_proof(size1, size2)

    def export(self, out: Path, fmt: ExportFormat) -> None:
        if fmt != "jsonl":
            raise CliError("--format: the auditor service exports JSON lines only")
        if str(out) == "-":
            raise CliError("--out: give a file when exporting from --server")
        self.client.download_export(out)


@contextmanager
def _source(db: str, schema: str | None, server: str | None, bundle: Path | None) -> Iterator[_Source]:
    from registry.ledger.ledger import Ledger
    from registry.ledger.service import LedgerAuditorClient
    from registry.pki import read_bundle, secure_channel

    if server is None:
        if bundle is not None:
            raise CliError("--bundle is for --server; reading the database needs no certificate")
        with Ledger.open(_url(db), None, schema=schema) as ledger:
            yield _DatabaseSource(ledger)
        return
    if bundle is None:
        raise CliError("--server needs --bundle (your auditor key.pem, cert.pem and ca.pem)")
    with secure_channel(server, read_bundle(bundle)) as channel:
        yield _RemoteSource(LedgerAuditorClient(channel))


class CliError(Exception):
    """A user-facing error: printed as ``error: ...`` with exit status 2."""


def _url(db: str) -> str:
    return db if "://" in db else f"sqlite:///{Path(db)}"


@contextmanager
def _errors() -> Iterator[None]:
    import grpc
    import sqlalchemy as sa

    from registry.ledger.entry import EntryError
    from registry.ledger.export import ExportFormatError
    from registry.ledger.ledger import LedgerError
    from registry.ledger.merkle import ProofError
    from registry.ledger.signed_note import NoteError
    from registry.ledger.store import StoreError
    from registry.pki import PkiError

    try:
        yield
    except (
        CliError,
        LedgerError,
        StoreError,
        EntryError,
        NoteError,
        ProofError,
        ExportFormatError,
        OSError,
        ValueError,
    ) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except PkiError as exc:
        typer.echo(f"error: certificate bundle: {exc}", err=True)
        raise typer.Exit(2) from exc
    except grpc.RpcError as exc:
        typer.echo(f"error: server: {exc.code().name}: {exc.details()}", err=True)
        raise typer.Exit(2) from exc
    except sa.exc.SQLAlchemyError as exc:
        typer.echo(f"error: database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(2) from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _entry_json(entry: LedgerEntry) -> dict[str, Any]:
    from registry.ledger.entry import kind_name

    return {
        "index": entry.index,
        "kind": kind_name(entry.kind),
        "timestamp_unix_ms": entry.timestamp_ms,
        "actor_did": entry.actor_did,
        "payload": _b64(entry.payload),
        "payload_hash": _b64(entry.payload_hash),
        "previous_hash": _b64(entry.previous_hash),
        "signature": _b64(entry.signature),
        "entry_hash": _b64(entry.entry_hash()),
    }


def _echo_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2))


def _parse_time(name: str, value: str | None) -> int | None:
    """Unix milliseconds, or an ISO 8601 time (UTC when no offset is given)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"{name}: expected unix milliseconds or an ISO 8601 time, got {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    millis = int(moment.timestamp() * 1000)
    if millis < 0:
        raise CliError(f"{name}: times before 1970 are not in the ledger, got {value!r}")
    return millis


def _load_vkey(vkey: str | None, vkey_file: Path | None) -> NoteVerifier:
    from registry.ledger.signed_note import NoteVerifier

    if (vkey is None) == (vkey_file is None):
        raise CliError("give exactly one of --vkey or --vkey-file (the log's public verifier key)")
    if vkey is not None:
        return NoteVerifier.parse(vkey)
    assert vkey_file is not None
    return NoteVerifier.parse(vkey_file.read_text(encoding="utf-8"))


def _load_skey(path: Path) -> NoteSigner:
    from registry.ledger.signed_note import NoteSigner

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"key file: cannot read {path}: {exc.strerror}") from exc
    return NoteSigner.parse(text)


@app.command()
def keygen(
    origin: Annotated[
        str, typer.Option("--origin", help="Log identity, e.g. 'arbsphere.example/region-eu'.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the private key (mode 0600).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing key file.")] = False,
) -> None:
    """Create a log signing key; prints the verifier key to give auditors."""
    from registry.ledger.signed_note import NoteSigner

    with _errors():
        if out.exists() and not force:
            raise CliError(f"key file {out} exists; pass --force to overwrite it")
        from registry.pki.store import write_secret_file

        signer = NoteSigner.generate(origin)
        out.parent.mkdir(parents=True, exist_ok=True)
        # Atomic and 0600 from the first byte, also over an existing (perhaps 0644) file with --force.
        write_secret_file(out, (signer.to_skey() + "\n").encode())
        typer.echo(signer.verifier().to_vkey())


@app.command()
def vkey(
    key_file: Annotated[
        Path, typer.Option("--key-file", envvar=KEY_ENV, help="The log's private key (from `keygen`).")
    ],
) -> None:
    """Print the log's verifier key (what auditors pin), read from its private key file."""
    with _errors():
        typer.echo(_load_skey(key_file).verifier().to_vkey())


@app.command("rotate-key")
def rotate_key(
    key_file: Annotated[
        Path, typer.Option("--key-file", envvar=KEY_ENV, help="The log's private key (from `keygen`).")
    ],
    db: DbOption = str(DEFAULT_DB_PATH),
    schema: SchemaOption = None,
    entry: Annotated[
        bool,
        typer.Option(
            "--entry",
            help="Rotate the coordinator's entry-signing identity (beside the log key), not the log key.",
        ),
    ] = False,
) -> None:
    """Replace the log's checkpoint key (or, with --entry, the coordinator's entry-signing identity),
    recording the rotation as an entry of the ledger itself before the new key is used.

    Log key: a CONFIG_CHANGE ``log_key_rotated`` entry naming the previous and the next verifier key, signed
    by the coordinator's entry identity and covered by a checkpoint under the previous key, so an auditor
    who pinned the old key learns the new one from the log. Entry identity: ``entry_key_rotated`` naming the
    previous and next did:key, signed by the previous identity, with the next key's signature over the
    same statement (it proves possession). Stop the coordinator first: the ledger has one writer. Prints
    the new verifier key (log) or did:key (entry)."""
    import json
    import os

    from cryptography.hazmat.primitives import serialization

    from coordinator.service import entry_key_path, load_or_create_entry_signer
    from registry.ledger.entry import Ed25519Signer
    from registry.ledger.ledger import Ledger
    from registry.ledger.signed_note import NoteSigner
    from registry.pki.store import write_secret_file

    with _errors():
        log_key = _load_skey(key_file)
        entry_path = entry_key_path(key_file)
        if entry and not entry_path.exists():
            raise CliError(f"no entry identity at {entry_path}: nothing to rotate (the coordinator makes it)")
        current = load_or_create_entry_signer(entry_path)
        with Ledger.open(_url(db), log_key, schema=schema) as ledger:
            origin = log_key.name
            if entry:
                successor = Ed25519Signer.generate()
                statement = {"event": "entry_key_rotated", "origin": origin, "previous": current.did,
                             "next": successor.did}  # fmt: skip
                canonical = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
                body = {**statement, "subject": current.did, "next_proof": successor.sign(canonical).hex()}
                signer = current
                shown = successor.did
            else:
                next_key = NoteSigner.generate(origin)
                body = {"event": "log_key_rotated", "origin": origin, "subject": current.did,
                        "previous_vkey": log_key.verifier().to_vkey(),
                        "next_vkey": next_key.verifier().to_vkey()}  # fmt: skip
                signer = current
                shown = next_key.verifier().to_vkey()
            data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
            # The successor is on disk (0600, beside the key it replaces) before anything depends on it: a
            # crash from here on leaves it there for the operator, never a log no key can extend.
            target = entry_path if entry else key_file
            pending = target.with_name(target.name + ".next")
            if entry:
                write_secret_file(
                    pending,
                    successor.private_key.private_bytes(
                        serialization.Encoding.Raw,
                        serialization.PrivateFormat.Raw,
                        serialization.NoEncryption(),
                    ),
                )
            else:
                write_secret_file(pending, (next_key.to_skey() + "\n").encode())
            ledger.append("CONFIG_CHANGE", data, signer)
            ledger.flush(timeout=30.0)
            if not entry:
                ledger.rotate_log_key(next_key)
        os.replace(pending, target)
        typer.echo(shown)


@app.command()
def serve(
    *,
    cert_dir: Annotated[
        Path,
        typer.Option(
            "--cert-dir",
            help="The service's bundle (key.pem, cert.pem, ca.pem), e.g. `pki issue --role registry`.",
            file_okay=False,
        ),
    ],
    db: DbOption = str(DEFAULT_DB_PATH),
    schema: SchemaOption = None,
    host: Annotated[str, typer.Option("--host", help="Listen address (mutual TLS only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Listen port; 0 picks a free one.", min=0)] = 0,
    port_file: Annotated[Path | None, typer.Option("--port-file", help="Write the bound port here.")] = None,
) -> None:
    """Serve the read-only LedgerAuditor gRPC service over mutual TLS until stopped (SIGINT/SIGTERM).

    Only auditors of the bundle's region (``spiffe://<region>/auditor/<name>``) may read; bad requests are
    answered INVALID_ARGUMENT, missing entries NOT_FOUND and rows changed behind the ledger's back
    DATA_LOSS. The database is opened read-only: the coordinator keeps writing it."""
    import signal
    import threading

    from registry.ledger.ledger import Ledger
    from registry.ledger.service import serve as serve_auditor
    from registry.pki import read_bundle, server_credentials

    stop = threading.Event()
    with _errors():
        if port > 65535:
            raise CliError(f"--port: expected 0..65535, got {port}")
        bundle = read_bundle(cert_dir)
        region = bundle.spiffe_id.region
        with Ledger.open(_url(db), None, schema=schema) as ledger:
            server, bound = serve_auditor(ledger, f"{host}:{port}", server_credentials(bundle), region=region)
            try:
                if port_file is not None:
                    port_file.write_text(str(bound))
                for signum in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(signum, lambda *_: stop.set())
                typer.echo(
                    json.dumps(
                        {
                            "event": "listening",
                            "service": "LedgerAuditor",
                            "host": host,
                            "port": bound,
                            "region": region,
                            "readers": f"spiffe://{region}/auditor/*",
                        }
                    )
                )
                stop.wait()
            finally:
                server.stop(1.0).wait()
        typer.echo(json.dumps({"event": "stopped", "service": "LedgerAuditor"}))


@app.command()
def init(
    key_file: Annotated[
        Path, typer.Option("--key-file", envvar=KEY_ENV, help="The log's private key (from `keygen`).")
    ],
    db: DbOption = str(DEFAULT_DB_PATH),
    schema: SchemaOption = None,
) -> None:
    """Create the ledger (tables and the signed empty checkpoint) if it does not exist yet."""
    from registry.ledger.ledger import Ledger

    with _errors():
        signer = _load_skey(key_file)
        with Ledger.open(_url(db), signer, schema=schema) as ledger:
            typer.echo(ledger.checkpoint().note, nl=False)


def _verified_root(source: _Source, size: int, verifier: NoteVerifier) -> bytes:
    from registry.ledger.signed_note import open_checkpoint

    note = source.checkpoint_note(size)
    if note is None:
        raise CliError(f"the log signed no checkpoint at size {size}; cannot check the proof against one")
    checkpoint = open_checkpoint(note, verifier)
    if checkpoint.size != size:
        raise CliError(f"checkpoint for size {size} says size {checkpoint.size}")
    return checkpoint.root_hash


def _optional_vkey(vkey: str | None, vkey_file: Path | None) -> NoteVerifier | None:
    return None if vkey is None and vkey_file is None else _load_vkey(vkey, vkey_file)


@app.command()
def checkpoint(
    *,
    size: Annotated[
        int | None, typer.Option("--size", help="The checkpoint at this size (default: latest).")
    ] = None,
    db: DbOption = str(DEFAULT_DB_PATH),
    schema: SchemaOption = None,
    server: ServerOption = None,
    bundle: BundleOption = None,
    vkey: VkeyOption = None,
    vkey_file: VkeyFileOption = None,
) -> None:
    """Print the latest signed checkpoint (verified first when a verifier key is given)."""
    from registry.ledger.signed_note import open_checkpoint

    with _errors():
        verifier = _optional_vkey(vkey, vkey_file)
        with _source(db, schema, server, bundle) as source:
            note = source.checkpoint_note(size)
        if note is None:
            raise CliError(f"--size: the log signed no checkpoint at size {size}")
        if verifier is not None:
            open_checkpoint(note, verifier)
        typer.echo(note, nl=False)


@app.command()
def get(
    index: Annotated[int, typer.Argument(help="Entry index (0-based).", min=0)],
    db: DbOption = str(DEFAULT_DB_PATH),
    schema: SchemaOption = None,
    server: ServerOption = None,
    bundle: BundleOption = None,
) -> None:
    """Print one entry as JSON."""
    with _errors(), _source(db, schema, server, bundle) as source:
        _echo_json(_entry_json(source.get(index)))


@app.command()
def query(
    *,
    actor: Annotated[str | None, typer.Option("--actor", help="Actor did:key.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help=f"One of {', '.join(KIND_NAMES)}.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this time (unix ms or ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Before this time (unix ms or ISO 8601).")
    ] = None,
    after: Annotated[
        int | None, typer.Option("--after", help="Only entries after this index.", min=0)
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many entries.", min=1, max=100_000)
    ] = 1000,
    db: DbOption = str(DEFAULT_DB_PATH),
    schema: SchemaOption = None,
    server: ServerOption = None,
    bundle: BundleOption = None,
) -> None:
    """Print matching entries as JSON lines, in index order."""
    from registry.ledger.entry import parse_kind

    with _errors():
        since_ms, until_ms = _parse_time("--since", since), _parse_time("--until", until)
        if since_ms is not None and until_ms is not None and until_ms < since_ms:
            raise CliError(f"--until ({until}) is before --since ({since})")
        number = None if kind is None else parse_kind(kind)
        with _source(db, schema, server, bundle) as source:
            entries = source.query(
                actor=actor, kind=number, since_ms=since_ms, until_ms=until_ms, after_index=after, limit=limit
            )
        for entry in entries:
            typer.echo(json.dumps(_entry_json(entry), separators=(",", ":")))


@app.command("prove-inclusion")
def prove_inclusion(
    index: Annotated[int, typer.Argument(help="Entry index.", min=0)],
    *,
    size: Annotated[
        int | None, typer.Option("--size", help="Tree size (default: latest checkpoint).")
    ] = None,
    db: DbOption = str(DEFAULT_DB_PATH),
    schema: SchemaOption = None,
    server: ServerOption = None,
    bundle: BundleOption = None,
    vkey: VkeyOption = None,
    vkey_file: VkeyFileOption = None,
) -> None:
    """Print an RFC 9162 inclusion proof of an entry (checked against the signed checkpoint with --vkey)."""
    with _errors():
        verifier = _optional_vkey(vkey, vkey_file)
        with _source(db, schema, server, bundle) as source:
            proof = source.inclusion_proof(index, size)
            root = None if verifier is None else _verified_root(source, proof.size, verifier)
        if root is not None:
            proof.verify(root)
        _echo_json(
            {
                "index": proof.index,
                "tree_size": proof.size,
                "leaf_hash": _b64(proof.leaf_hash),
                "proof": [_b64(node) for node in proof.path],
                "verified_root_hash": None if root is None else _b64(root),
            }
        )


@app.command("prove-consistency")
def prove_consistency(
    size1: Annotated[int, typer.Argument(help="The older tree size (> 0).", min=1)],
    size2: Annotated[
        int | None, typer.Argument(help="The newer tree size (default: latest checkpoint).")
    ] = None,
    *,
    db: DbOption = str(DEFAULT_DB_PATH),
    schema: SchemaOption = None,
    server: ServerOption = None,
    bundle: BundleOption = None,
    vkey: VkeyOption = None,
    vkey_file: VkeyFileOption = None,
) -> None:
    """Print an RFC 9162 consistency proof between two sizes (checked against the checkpoints with --vkey)."""
    with _errors():
        verifier = _optional_vkey(vkey, vkey_file)
        with _source(db, schema, server, bundle) as source:
            proof = source.consistency_proof(size1, size2)
            roots = (
                None
                if verifier is None
                else (
                    _verified_root(source, proof.size1, verifier),
                    _verified_root(source, proof.size2, verifier),
                )
            )
        if roots is not None:
            proof.verify(*roots)
        _echo_json(
            {
                "size1": proof.size1,
                "size2": proof.size2,
                "proof": [_b64(node) for node in proof.path],
                "verified_root1": None if roots is None else _b64(roots[0]),
                "verified_root2": None if roots is None else _b64(roots[1]),
            }
        )


@app.command()
def export(
    *,
    out: Annotated[Path, typer.Option("--out", help="Output file ('-' for stdout).")],
    fmt: Annotated[
        str, typer.Option("--format", help="'jsonl' (streaming) or 'json' (one document).")
    ] = "jsonl",
    db: DbOption = str(DEFAULT_DB_PATH),
    schema: SchemaOption = None,
    server: ServerOption = None,
    bundle: BundleOption = None,
) -> None:
    """Export the latest checkpoint and every entry it covers, for offline verification."""
    with _errors():
        if fmt not in ("jsonl", "json"):
            raise CliError(f"--format: expected 'jsonl' or 'json', got {fmt!r}")
        with _source(db, schema, server, bundle) as source:
            source.export(out, "jsonl" if fmt == "jsonl" else "json")
        if str(out) != "-":
            typer.echo(
                f"exported to {out}; check it with `arbsphere ledger verify {out} --vkey ...`", err=True
            )


@app.command()
def verify(
    export_file: Annotated[
        Path, typer.Argument(help="An export from `arbsphere ledger export`.", dir_okay=False)
    ],
    *,
    vkey: VkeyOption = None,
    vkey_file: VkeyFileOption = None,
    trusted: Annotated[
        list[Path] | None,
        typer.Option("--trusted-checkpoint", help="An earlier signed checkpoint you kept (repeatable)."),
    ] = None,
    max_problems: Annotated[int, typer.Option("--max-problems", min=1)] = 100,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=256, help="Processes checking signatures in parallel.")
    ] = 1,
) -> None:
    """Verify an export offline: every leaf, the root, the chain, every signature, the checkpoint."""
    from registry.ledger.verify import verify_export

    with _errors():
        verifier = _load_vkey(vkey, vkey_file)
        notes = [path.read_text(encoding="utf-8") for path in trusted or []]
        report = verify_export(
            export_file, verifier, trusted_checkpoints=notes, max_problems=max_problems, workers=workers
        )
    if report.ok:
        typer.echo(
            f"OK: {report.entries_checked} entries of {report.origin} verified; "
            f"root {_b64(report.root_hash)} at size {report.size} signed by {verifier.name}"
        )
        return
    for problem in report.problems:
        typer.echo(f"FAIL {problem}", err=True)
    if report.problems_dropped:
        typer.echo(f"... and {report.problems_dropped} more problems", err=True)
    typer.echo(f"verification FAILED: {len(report.problems) + report.problems_dropped} problems", err=True)
    raise typer.Exit(1)
