"""The join-time adapter check: a coordinator started with ``--registry`` admits only registered adapters.

Every agent that joins names its adapter and version in its Hello; ``AdapterGate.admit`` asks the
registry (``registry.contracts.admission``) whether that version is registered and speaks the region's IR
version, records the verdict on the ledger (REGISTRY_VERDICT) and returns it. The servicer refuses a
join whose verdict lists violations with FAILED_PRECONDITION and the violations in the message, which the
agent reports and stops on (it is not a network blip: retrying cannot help).
"""

from __future__ import annotations

import threading
from pathlib import Path

from coordinator.session import AuditSink
from energibridge.version import CURRENT, IrVersion
from registry.contracts import ContractStore
from registry.contracts.admission import AdmissionVerdict, check_admission_in


class RegistryUnavailable(RuntimeError):
    """The registry named by ``--registry`` cannot be opened or read."""


class AdapterGate:
    """Admission against one registry store; thread-safe (each stream's thread may ask)."""

    def __init__(self, url: str, audit: AuditSink | None = None, *, ir: IrVersion = CURRENT) -> None:
        if "://" not in url:
            url = f"sqlite:///{Path(url)}"
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
            raise RegistryUnavailable(f"--registry: no registry database at {url.removeprefix('sqlite:///')}")
        try:
            self.store = ContractStore.open(url, create=False)
            self.registered = len(self.store.adapters())
        except Exception as exc:
            raise RegistryUnavailable(f"--registry: cannot read the registry at {url!r}: {exc}") from None
        self.url = url
        self.audit = audit
        self.ir = ir
        self._lock = threading.Lock()

    def admit(self, venue: str, adapter: str, version: str) -> AdmissionVerdict:
        with self._lock:
            verdict = check_admission_in(
                self.store, venue=venue, adapter=adapter, version=version, ir=self.ir
            )
        if self.audit is not None:
            self.audit.record("registry_verdict", venue, verdict.to_json_dict())
        return verdict

    def close(self) -> None:
        self.store.close()
