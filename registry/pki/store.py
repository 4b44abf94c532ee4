"""File-system adapter for keys and certificates: private files are 0600, written atomically.

A key file readable by group or others is refused on load (as ssh does): a leaked CA key lets anyone
mint identities for the region.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from registry.pki.certificates import CertificateBundle
from registry.pki.errors import AuthorityStoreError

KEY_FILE = "key.pem"
CERT_FILE = "cert.pem"
CA_FILE = "ca.pem"
MAX_PEM_BYTES = 1 << 20


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_secret_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 (never briefly wider), atomically."""
    _write_atomic(path, data, 0o600)


def write_public_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0644, atomically."""
    _write_atomic(path, data, 0o644)


def read_file(path: Path, *, secret: bool) -> bytes:
    """Read a PEM file; a secret one must not be accessible to group or others."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AuthorityStoreError(f"{path}: expected a file, found nothing") from None
    if not stat.S_ISREG(st.st_mode):
        raise AuthorityStoreError(f"{path}: expected a regular file")
    if secret and st.st_mode & 0o077:
        raise AuthorityStoreError(
            f"{path}: expected permissions 0600 for a private key, got {stat.S_IMODE(st.st_mode):04o}"
        )
    if st.st_size > MAX_PEM_BYTES:
        raise AuthorityStoreError(f"{path}: expected at most {MAX_PEM_BYTES} bytes, got {st.st_size}")
    return path.read_bytes()


def write_bundle(directory: Path, bundle: CertificateBundle) -> Path:
    """Write ``key.pem`` (0600), ``cert.pem`` and ``ca.pem`` into ``directory`` (created 0700)."""
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_secret_file(directory / KEY_FILE, bundle.key_pem)
    write_public_file(directory / CERT_FILE, bundle.cert_pem)
    write_public_file(directory / CA_FILE, bundle.ca_pem)
    return directory


def read_bundle(directory: Path) -> CertificateBundle:
    """Load and cross-check a bundle written by ``write_bundle``."""
    directory = Path(directory)
    return CertificateBundle.from_pem(
        read_file(directory / KEY_FILE, secret=True),
        read_file(directory / CERT_FILE, secret=False),
        read_file(directory / CA_FILE, secret=False),
    )
