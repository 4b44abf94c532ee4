"""Graph queries: who can join a coordinator speaking IR X, and the upgrade path between two versions."""

from __future__ import annotations

import itertools

import pytest
from contracts_protos import BASE, manifest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.contracts import ContractGraph, NoUpgradePath, SemVer, UnknownAdapter, parse_ir_version
from registry.contracts.graph import adapter_node, ir_node, shortest_path
from sdk.adapters.manifest import Capability

V1_EXTRA = BASE.replace("  int64 size = 3;\n", "  int64 size = 3;\n  string venue = 4;\n")
BROKEN = BASE.replace("int64 size = 3;", "string size = 3;")


@pytest.fixture(scope="module")
def graph() -> ContractGraph:
    manifests = [
        manifest("1.0.0", ir_range=">=1.0,<2.0"),
        manifest("1.1.0", V1_EXTRA, ir_range=">=1.0,<2.0"),
        manifest("1.2.0", V1_EXTRA, ir_range=">=1.0,<3.0", capabilities=["books", "ioc_limit", "cancel"]),
        manifest("1.3.0", V1_EXTRA, ir_range=">=1.1,<3.0", capabilities=["books", "ioc_limit", "cancel"]),
        manifest("2.0.0", V1_EXTRA, ir_range=">=2.0,<3.0", capabilities=["books", "ioc_limit", "cancel"]),
        manifest("2.1.0", V1_EXTRA, ir_range=">=2.0,<3.0", capabilities=["books", "ioc_limit", "cancel"]),
        manifest("3.0.0", BROKEN, ir_range=">=2.0,<4.0", capabilities=["books", "ioc_limit", "cancel"]),
        manifest("1.0.0", name="other", ir_range=">=1.4,<2.0", venue_kind="cpmm", capabilities=["books"]),
    ]
    return ContractGraph(manifests, ir_versions=[parse_ir_version("1.5")])


def versions(found: list[SemVer]) -> list[str]:
    return [str(v) for v in found]


def test_speakers_of_an_ir_version(graph: ContractGraph) -> None:
    def names(ir: str, **kwargs: object) -> list[str]:
        return [f"{m.name}@{m.version}" for m in graph.speakers(parse_ir_version(ir), **kwargs)]  # type: ignore[arg-type]

    assert names("1.0") == ["demo-venue@1.0.0", "demo-venue@1.1.0", "demo-venue@1.2.0"]
    assert names("1.5") == [
        "demo-venue@1.0.0",
        "demo-venue@1.1.0",
        "demo-venue@1.2.0",
        "demo-venue@1.3.0",
        "other@1.0.0",
    ]
    assert names("2.3.1") == [
        "demo-venue@1.2.0",
        "demo-venue@1.3.0",
        "demo-venue@2.0.0",
        "demo-venue@2.1.0",
        "demo-venue@3.0.0",
    ]
    assert names("4.0") == []
    assert names("1.5", name="other") == ["other@1.0.0"]
    assert names("1.5", capabilities=[Capability.CANCEL]) == ["demo-venue@1.2.0", "demo-venue@1.3.0"]


def test_upgrade_within_a_line_is_direct(graph: ContractGraph) -> None:
    name = "demo-venue"
    assert versions(graph.upgrade_path(name, SemVer.parse("1.0.0"), SemVer.parse("1.3.0"))) == [
        "1.0.0",
        "1.3.0",
    ]
    assert versions(graph.upgrade_path(name, SemVer.parse("1.1.0"), SemVer.parse("1.1.0"))) == ["1.1.0"]


def test_upgrade_across_majors_goes_through_a_bridge_release(graph: ContractGraph) -> None:
    # 1.0.0 speaks only IR 1.x and 2.x only IR 2.x: the upgrade must pass through a release speaking both.
    path = graph.upgrade_path("demo-venue", SemVer.parse("1.0.0"), SemVer.parse("2.1.0"))
    assert versions(path) == ["1.0.0", "1.3.0", "2.1.0"]  # fewest hops; the newest bridge wins the tie
    upgrades = graph.upgrades("demo-venue")
    assert SemVer.parse("2.0.0") not in upgrades[SemVer.parse("1.1.0")]
    assert SemVer.parse("2.0.0") in upgrades[SemVer.parse("1.2.0")]


def test_no_path_over_a_wire_break(graph: ContractGraph) -> None:
    with pytest.raises(NoUpgradePath, match=r"from 1\.0\.0 to 3\.0\.0"):
        graph.upgrade_path("demo-venue", SemVer.parse("1.0.0"), SemVer.parse("3.0.0"))


def test_downgrades_and_unknown_versions_are_refused(graph: ContractGraph) -> None:
    with pytest.raises(NoUpgradePath, match="precedes"):
        graph.upgrade_path("demo-venue", SemVer.parse("2.0.0"), SemVer.parse("1.0.0"))
    with pytest.raises(UnknownAdapter, match=r"registered versions: 1\.0\.0"):
        graph.upgrade_path("demo-venue", SemVer.parse("1.0.0"), SemVer.parse("9.0.0"))
    with pytest.raises(UnknownAdapter, match="none"):
        graph.upgrade_path("missing", SemVer.parse("1.0.0"), SemVer.parse("1.0.1"))


def test_graph_nodes_and_edges(graph: ContractGraph) -> None:
    document = graph.to_json_dict()
    ids = {n["id"] for n in document["nodes"]}
    assert {ir_node(parse_ir_version(v)) for v in ("1.0", "1.1", "1.4", "1.5", "2.0")} <= ids
    assert adapter_node("demo-venue", SemVer.parse("3.0.0")) in ids
    edges = {(e["kind"], e["source"], e["target"]) for e in document["edges"]}
    assert ("speaks", "adapter:demo-venue@1.0.0", "ir:1.5.0") in edges
    assert ("speaks", "adapter:demo-venue@2.0.0", "ir:1.5.0") not in edges
    assert ("upgrades_to", "adapter:demo-venue@1.2.0", "adapter:demo-venue@2.0.0") in edges
    assert not any(kind == "upgrades_to" and target.endswith("@3.0.0") for kind, _, target in edges)
    assert document == graph.to_json_dict()


def test_duplicate_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate versions"):
        ContractGraph([manifest("1.0.0"), manifest("1.0.0")])


dags = st.integers(2, 7).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] < e[1])),
    )
)


def _all_paths(adjacency: dict[int, list[int]], start: int, goal: int) -> list[list[int]]:
    if start == goal:
        return [[start]]
    return [[start, *rest] for nxt in adjacency[start] for rest in _all_paths(adjacency, nxt, goal)]


@settings(max_examples=300, deadline=None)
@given(dags, st.data())
def test_shortest_path_matches_brute_force(
    dag: tuple[int, set[tuple[int, int]]], data: st.DataObject
) -> None:
    n, edges = dag
    adjacency: dict[int, list[int]] = {i: sorted(b for a, b in edges if a == i) for i in range(n)}
    start = data.draw(st.integers(0, n - 1))
    goal = data.draw(st.integers(start, n - 1))
    found = shortest_path(adjacency, start, goal, key=lambda v: v)
    candidates = _all_paths(adjacency, start, goal)
    if not candidates:
        assert found is None
        return
    assert found is not None and found in candidates
    assert len(found) == min(len(p) for p in candidates)
    assert all(b in adjacency[a] for a, b in itertools.pairwise(found))
