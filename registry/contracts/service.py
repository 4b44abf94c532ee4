"""The registry service: check, register (verdict stored, then recorded on the ledger), query the graph.

Registration runs the pure check under the adapter line's lock and stores the verdict (and, when accepted,
the adapter) in one transaction. The verdict then goes to the ledger sink outside that transaction, so a
ledger sharing the database never waits on the registry's lock; a verdict the sink could not take stays
pending in the store and is delivered, in order, by ``deliver_pending``. Each registration first drains that
backlog, so while the ledger is unreachable no further registration changes anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from energibridge.version import IrVersion
from registry.contracts.compatibility import check_registration
from registry.contracts.errors import RegistrationRefused, VerdictNotRecorded
from registry.contracts.graph import ContractGraph
from registry.contracts.manifest import AdapterManifest, parse_capability
from registry.contracts.sink import VerdictSink
from registry.contracts.store import ContractStore, RegisteredAdapter, StoredVerdict
from registry.contracts.verdict import VERDICT_KIND, Verdict
from sdk.adapters.manifest import Capability
from sdk.adapters.versions import SemVer, parse_ir_version


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ContractRegistry:
    """Graph-of-Contracts registry over a ``ContractStore``, recording every verdict through ``sink``."""

    def __init__(
        self, store: ContractStore, sink: VerdictSink, *, clock: Callable[[], int] = _now_ms
    ) -> None:
        self.store = store
        self.sink = sink
        self._clock = clock

    def check(self, manifest: AdapterManifest) -> Verdict:
        """Dry run: the verdict a registration would get now. Not stored, not recorded."""
        return check_registration(manifest, self.store.members(manifest.name, manifest.version.major))

    def register(self, manifest: AdapterManifest) -> Verdict:
        """Register ``manifest`` if compatible with its whole line, else raise ``RegistrationRefused``
        (carrying the verdict and every violation). Either way the verdict is stored and recorded."""
        self.deliver_pending()
        with self.store.line(manifest.name, manifest.version.major) as line:
            verdict = check_registration(manifest, line.members())
            now = self._clock()
            line.add_verdict(verdict, now)
            if verdict.accepted:
                line.add_adapter(manifest, verdict, now)
        self.deliver_pending()
        if not verdict.accepted:
            raise RegistrationRefused(verdict)
        return verdict

    def deliver_pending(self) -> int:
        """Record every verdict the ledger has not acknowledged, oldest first; return how many."""
        delivered = 0
        for pending in self.store.pending_verdicts():
            try:
                self.sink.record(VERDICT_KIND, pending.payload)
            except Exception as exc:
                raise VerdictNotRecorded(
                    f"verdict {pending.verdict.adapter} {pending.verdict.version} is stored but the ledger "
                    f"did not take it ({exc}); it stays pending and is retried"
                ) from exc
            self.store.mark_on_ledger(pending.id)
            delivered += 1
        return delivered

    def versions(self, name: str | None = None) -> list[RegisteredAdapter]:
        return self.store.adapters(name)

    def verdicts(self, name: str | None = None) -> list[StoredVerdict]:
        return self.store.verdicts(name)

    def graph(self, ir_versions: Iterable[IrVersion] = ()) -> ContractGraph:
        return ContractGraph((r.manifest for r in self.store.adapters()), ir_versions)

    def compatible_with(
        self, ir: IrVersion | str, *, name: str | None = None, capabilities: Iterable[Capability | str] = ()
    ) -> list[AdapterManifest]:
        """Adapter versions that can join a coordinator speaking ``ir``."""
        version = parse_ir_version(ir, "ir")
        wanted = [parse_capability(c, "capability") for c in capabilities]
        manifests = (r.manifest for r in self.store.adapters(name))
        return ContractGraph(manifests).speakers(version, name=name, capabilities=wanted)

    def upgrade_path(self, name: str, start: SemVer | str, goal: SemVer | str) -> list[SemVer]:
        graph = ContractGraph(r.manifest for r in self.store.adapters(name))
        return graph.upgrade_path(name, SemVer.parse(start, "from"), SemVer.parse(goal, "to"))
