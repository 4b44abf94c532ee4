"""The Graph of Contracts: adapter versions and IR versions, joined by "speaks" and "upgrades to" edges.

- ``speaks``: adapter version -> IR version inside its declared range. A coordinator speaking IR ``X``
  accepts exactly the adapter versions with an edge to ``X`` (``speakers``).
- ``upgrades_to``: adapter version ``a`` -> a later version ``b`` of the same adapter that can replace it in
  place: ``b`` is wire/JSON compatible with ``a``, keeps its venue kind and capabilities, and shares at least
  one IR version with it (so one coordinator can host both during a rolling upgrade). Inside a line this
  holds for every pair by construction; across majors it holds only where the author kept compatibility.

``upgrade_path`` is a breadth-first search over ``upgrades_to``: fewest hops, ties broken towards the newest
intermediate release, so the answer is deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from energibridge.version import IrVersion
from registry.contracts.compatibility import IrRule, compare
from registry.contracts.errors import NoUpgradePath, UnknownAdapter
from registry.contracts.manifest import AdapterManifest, venue_kind_label
from sdk.adapters.manifest import Capability
from sdk.adapters.versions import SemVer

EdgeKind = Literal["speaks", "upgrades_to"]
N = TypeVar("N", bound=Hashable)


def shortest_path(
    adjacency: Mapping[N, Sequence[N]], start: N, goal: N, *, key: Callable[[N], Any]
) -> list[N] | None:
    """Breadth-first search: a path with the fewest edges from ``start`` to ``goal``, or None. Neighbours are
    visited in descending ``key`` order: the choice among equally short paths is deterministic and favours
    higher (newer) intermediate nodes."""
    previous: dict[N, N | None] = {start: None}
    queue: deque[N] = deque([start])
    while queue:
        current = queue.popleft()
        if current == goal:
            path = [current]
            while (before := previous[path[-1]]) is not None:
                path.append(before)
            return path[::-1]
        for nxt in sorted(adjacency.get(current, ()), key=key, reverse=True):
            if nxt not in previous:
                previous[nxt] = current
                queue.append(nxt)
    return None


def adapter_node(name: str, version: SemVer) -> str:
    return f"adapter:{name}@{version}"


def ir_node(version: IrVersion) -> str:
    return f"ir:{version}"


@dataclass(frozen=True)
class Edge:
    kind: EdgeKind
    source: str
    target: str


class ContractGraph:
    """Immutable view over a set of registered manifests. ``ir_versions`` are the IR releases to show as
    nodes; by default every range's lower bound (queries work for any IR version regardless)."""

    def __init__(self, manifests: Iterable[AdapterManifest], ir_versions: Iterable[IrVersion] = ()) -> None:
        self._by_name: dict[str, list[AdapterManifest]] = {}
        for manifest in manifests:
            self._by_name.setdefault(manifest.name, []).append(manifest)
        for versions in self._by_name.values():
            versions.sort(key=lambda m: m.version.sort_key())
            seen = [str(m.version) for m in versions]
            if len(set(seen)) != len(seen):
                raise ValueError(f"manifests: duplicate versions of {versions[0].name}: {seen}")
        known = set(ir_versions) | {m.ir_range.lower for ms in self._by_name.values() for m in ms}
        self.ir_versions: tuple[IrVersion, ...] = tuple(sorted(known))
        self._upgrades: dict[str, dict[SemVer, list[SemVer]]] = {}

    def manifests(self, name: str | None = None) -> list[AdapterManifest]:
        names = [name] if name is not None else sorted(self._by_name)
        return [m for n in names for m in self._by_name.get(n, [])]

    def get(self, name: str, version: SemVer) -> AdapterManifest:
        for manifest in self._by_name.get(name, []):
            if manifest.version == version:
                return manifest
        known = ", ".join(str(m.version) for m in self._by_name.get(name, [])) or "none"
        raise UnknownAdapter(f"adapter {name} {version} is not registered (registered versions: {known})")

    def speakers(
        self, ir: IrVersion, *, name: str | None = None, capabilities: Iterable[Capability] = ()
    ) -> list[AdapterManifest]:
        """Adapter versions that can join a coordinator speaking ``ir`` (and have all ``capabilities``)."""
        wanted = set(capabilities)
        return [m for m in self.manifests(name) if m.ir_range.contains(ir) and wanted <= set(m.capabilities)]

    def upgrades(self, name: str) -> dict[SemVer, list[SemVer]]:
        """``upgrades_to`` adjacency of one adapter, computed once per graph."""
        if name not in self._upgrades:
            versions = self._by_name.get(name, [])
            adjacency: dict[SemVer, list[SemVer]] = {m.version: [] for m in versions}
            for i, old in enumerate(versions):
                for new in versions[i + 1 :]:
                    if not compare(old, new, IrRule.OVERLAPS):
                        adjacency[old.version].append(new.version)
            self._upgrades[name] = adjacency
        return self._upgrades[name]

    def upgrade_path(self, name: str, start: SemVer, goal: SemVer) -> list[SemVer]:
        """Shortest chain ``start -> ... -> goal`` of in-place upgrades; raises ``NoUpgradePath``."""
        self.get(name, start)
        self.get(name, goal)
        if goal < start:
            raise NoUpgradePath(f"{name}: {goal} precedes {start}; upgrade paths only move forward")
        path = shortest_path(self.upgrades(name), start, goal, key=lambda v: v.sort_key())
        if path is None:
            raise NoUpgradePath(
                f"{name}: no chain of compatible registered versions leads from {start} to {goal}"
            )
        return path

    def edges(self) -> list[Edge]:
        out: list[Edge] = []
        for manifest in self.manifests():
            source = adapter_node(manifest.name, manifest.version)
            out += [
                Edge("speaks", source, ir_node(ir))
                for ir in self.ir_versions
                if manifest.ir_range.contains(ir)
            ]
        for name in sorted(self._by_name):
            for old, targets in self.upgrades(name).items():
                out += [
                    Edge("upgrades_to", adapter_node(name, old), adapter_node(name, new))
                    for new in sorted(targets, key=lambda v: v.sort_key())
                ]
        return out

    def to_json_dict(self) -> dict[str, Any]:
        nodes: list[dict[str, Any]] = [
            {
                "id": adapter_node(m.name, m.version),
                "type": "adapter",
                "name": m.name,
                "version": str(m.version),
                "line": m.line,
                "venue_kind": venue_kind_label(m.venue_kind),
                "capabilities": [c.value for c in m.capabilities],
                "ir_range": str(m.ir_range),
            }
            for m in self.manifests()
        ]
        nodes += [{"id": ir_node(v), "type": "ir", "version": str(v)} for v in self.ir_versions]
        edges = [{"kind": e.kind, "source": e.source, "target": e.target} for e in self.edges()]
        return {"nodes": nodes, "edges": edges}
