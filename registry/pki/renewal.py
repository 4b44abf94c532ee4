"""A workload's current certificate, renewed before two thirds of its life, with bounded retries.

``CertificateSource`` is what agents and the coordinator hold instead of a bundle. It starts from the bundle
in ``cert_dir`` and, once two thirds of the certificate's ttl have passed (``CertificateBundle.renewal_due``):

- with a CA service (``ca_url``), fetches a renewal for a key made here (``registry.pki.issuance``) and
  writes it back to ``cert_dir`` (key 0600, atomically), so a restart starts from the newest certificate;
- without one, re-reads ``cert_dir``, where the operator (or a sidecar) is expected to put a new one.

Either way a failure is retried with capped exponential backoff (``RetryDelay``), never in a loop: an
unreachable CA or a directory that nothing refreshes costs one attempt per delay, and once the certificate
has expired ``get`` raises ``CertificateExpired`` saying which certificate, when, and what was last tried.
A certificate replaced in ``cert_dir`` by the operator is picked up at once (its mtime is watched).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from registry.pki.certificates import CertificateBundle
from registry.pki.errors import CertificateExpired, PkiError
from registry.pki.issuance import parse_ca_url, renew_certificate
from registry.pki.store import CERT_FILE, read_bundle, write_bundle

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Renew = Callable[[str, CertificateBundle], CertificateBundle]
DIR_POLL_S = 1.0
"""How often ``cert_dir``'s certificate file is checked for a replacement (one ``stat``)."""


@dataclass(frozen=True, slots=True)
class RetryDelay:
    """Capped exponential backoff with jitter: attempt ``n`` (1-based) waits ``initial * 2**(n-1)``
    seconds scaled by a uniform factor in [0.5, 1], at most ``maximum``."""

    initial: float = 1.0
    maximum: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(
                f"RetryDelay: expected 0 < initial <= maximum, got {self.initial}, {self.maximum}"
            )

    def after(self, failures: int, rng: random.Random) -> float:
        base = min(self.maximum, self.initial * 2 ** min(max(failures - 1, 0), 32))
        return float(base * rng.uniform(0.5, 1.0))


class CertificateSource:
    """The newest valid certificate of one workload (thread-safe); ``source()`` is ``source.get()``."""

    def __init__(
        self,
        cert_dir: Path,
        *,
        ca_url: str | None = None,
        server_name: str | None = None,
        clock: Clock = lambda: datetime.now(UTC),
        retry: RetryDelay | None = None,
        renew: Renew | None = None,
        on_renewed: Callable[[CertificateBundle], object] | None = None,
        on_failure: Callable[[str, float], object] | None = None,
    ) -> None:
        self.cert_dir = Path(cert_dir)
        self.ca_target = parse_ca_url(ca_url) if ca_url else None
        self.server_name = server_name or (self.ca_target or "localhost").rpartition(":")[0].strip("[]")
        """The name the CA service's certificate must carry (default: the host of ``ca_url``)."""
        self.clock = clock
        self.retry = retry or RetryDelay()
        self._renew: Renew = renew or (
            lambda target, bundle: renew_certificate(target, bundle, server_name=self.server_name)
        )
        self.on_renewed = on_renewed
        """Called with each new bundle (the caller's event; never with the key's bytes logged)."""
        self.on_failure = on_failure
        """Called with the reason and the seconds until the next attempt."""
        self._lock = threading.Lock()
        self._bundle = read_bundle(self.cert_dir)
        self._stamp = self._mtime()
        self._polled = time.monotonic()
        self._failures = 0
        self._next_try = 0.0
        self._rng = random.Random()  # noqa: S311 (jitter, not a secret)
        self.last_error = ""
        self.renewals = 0

    @property
    def current(self) -> CertificateBundle:
        """The bundle held now (no I/O, no renewal)."""
        with self._lock:
            return self._bundle

    def __call__(self) -> CertificateBundle:
        return self.get()

    def get(self) -> CertificateBundle:
        """The current bundle, renewed first if due; ``CertificateExpired`` if it expired unrenewed."""
        self.refresh()
        bundle = self.current
        now = self.clock()
        if bundle.is_expired(now):
            tried = f"; last attempt: {self.last_error}" if self.last_error else ""
            how = (
                f"the CA service at {self.ca_target} did not renew it"
                if self.ca_target
                else "nothing replaced it (pass --ca-url to renew from the region's CA service, or "
                "re-issue it with `arbsphere pki issue --out DIR`)"
            )
            raise CertificateExpired(
                f"{self.cert_dir / CERT_FILE}: the certificate of {bundle.spiffe_id.uri} expired at "
                f"{bundle.not_after.isoformat()} (now {now.isoformat()}) and {how}{tried}"
            )
        return bundle

    def _mtime(self) -> float:
        try:
            return (self.cert_dir / CERT_FILE).stat().st_mtime
        except OSError:
            return 0.0

    def _replaced(self) -> bool:
        """The certificate file changed since it was last read (checked at most every ``DIR_POLL_S``)."""
        now = time.monotonic()
        if now - self._polled < DIR_POLL_S:
            return False
        self._polled = now
        return self._mtime() != self._stamp

    def refresh(self) -> bool:
        """Renew (or re-read) if due and not backing off; True if a new bundle is now current."""
        with self._lock:
            bundle = self._bundle
            now = self.clock()
            replaced = self._replaced()
            if not replaced and (not bundle.renewal_due(now) or time.monotonic() < self._next_try):
                return False
            try:
                if self.ca_target is not None and not replaced:
                    fresh = self._renew(self.ca_target, bundle)
                    self._check(fresh, bundle, now)
                    write_bundle(self.cert_dir, fresh)
                    self._stamp = self._mtime()
                else:
                    fresh = read_bundle(self.cert_dir)
                    self._stamp = self._mtime()
                    self._check(fresh, bundle, now)
            except (PkiError, OSError) as exc:
                if replaced and not bundle.renewal_due(now):
                    log.warning("%s: replaced certificate not used: %s", self.cert_dir, exc)
                    return False
                self._failed(str(exc), bundle, now)
                return False
            self._bundle = fresh
            self._failures = 0
            self._next_try = 0.0
            self.last_error = ""
            self.renewals += 1
        if self.on_renewed is not None:
            self.on_renewed(fresh)
        return True

    def _check(self, fresh: CertificateBundle, held: CertificateBundle, now: datetime) -> None:
        if fresh.fingerprint_sha256 == held.fingerprint_sha256:
            raise PkiError(
                f"{self.cert_dir / CERT_FILE}: still the certificate expiring at "
                f"{held.not_after.isoformat()}; nothing has renewed it"
            )
        if fresh.spiffe_id != held.spiffe_id:
            raise PkiError(
                f"{self.cert_dir / CERT_FILE}: expected a certificate for {held.spiffe_id.uri}, "
                f"got {fresh.spiffe_id.uri}"
            )
        if fresh.is_expired(now) or fresh.not_after < held.not_after:
            raise PkiError(
                f"{self.cert_dir / CERT_FILE}: the new certificate expires at {fresh.not_after.isoformat()}, "
                f"before the one held ({held.not_after.isoformat()})"
            )

    def _failed(self, reason: str, bundle: CertificateBundle, now: datetime) -> None:
        self._failures += 1
        delay = self.retry.after(self._failures, self._rng)
        left = (bundle.not_after - now).total_seconds()
        if left > 0:
            # Several attempts before expiry, however long the configured maximum.
            delay = min(delay, max(self.retry.initial, left / 4))
        self._next_try = time.monotonic() + delay
        self.last_error = reason
        log.warning(
            "certificate renewal of %s failed (%d in a row), next attempt in %.1f s: %s",
            bundle.spiffe_id.uri,
            self._failures,
            delay,
            reason,
        )
        if self.on_failure is not None:
            self.on_failure(reason, delay)


def renewal_record(bundle: CertificateBundle, source: CertificateSource) -> dict[str, object]:
    """JSON-ready facts of a renewal for an operator's event (no key material)."""
    return {
        "spiffe_id": bundle.spiffe_id.uri,
        "serial_number": f"{bundle.serial_number:x}",
        "not_after": bundle.not_after.isoformat(),
        "renewal_at": bundle.renewal_at().isoformat(),
        "from": "ca" if source.ca_target else "cert_dir",
        "renewals": source.renewals,
    }
