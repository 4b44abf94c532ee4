"""What the fuzz suites share: example budgets, hostile values, mutations of real inputs, and tallies.

Budgets are example counts, never wall time: CI runs each suite's default (derandomized by the ``ci``
profile in ``tests/conftest.py``, so a red run is a real regression); ``ARBSPHERE_FUZZ_EXAMPLES=N`` runs
every suite with ``N`` examples locally (e.g. ``ARBSPHERE_FUZZ_EXAMPLES=5000 pytest -s tests/fuzz``).

Each suite counts what it tried and how it ended (``Tally``) and prints the counts when it finishes
(``pytest -s`` shows them); a crash is any exception other than the component's documented error.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

ENV = "ARBSPHERE_FUZZ_EXAMPLES"


def examples(default: int) -> int:
    """This suite's example budget: ``default`` unless ``ARBSPHERE_FUZZ_EXAMPLES`` says otherwise."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{ENV} must be a positive integer, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{ENV} must be a positive integer, got {raw!r}")
    return value


def fuzz_settings(default: int) -> settings:
    """Settings for one fuzz property: the budget above, no per-example deadline (a replay takes a while
    on a busy runner), no health check that would fail a slow but correct run."""
    return settings(
        max_examples=examples(default),
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


@dataclass
class Tally:
    """What a suite tried and how each try ended, printed as one block."""

    name: str
    violations: tuple[str, ...] = ("crash",)
    """What must never happen; reported with its count even when it is 0."""
    tried: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def attempt(self, kind: str) -> None:
        self.tried[kind] += 1

    def outcome(self, what: str, count: int = 1) -> None:
        self.outcomes[what] += count

    def fail(self, what: str, detail: str) -> None:
        """Record a violation (a crash, a wrong book...) and raise so hypothesis shrinks it."""
        self.outcomes[what] += 1
        self.failures.append(f"{what}: {detail}")
        raise AssertionError(f"{self.name}: {what}: {detail}")

    def report(self) -> str:
        tried = ", ".join(f"{k} {v}" for k, v in sorted(self.tried.items()))
        ended = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()) if k not in self.violations)
        never = ", ".join(f"{k} {self.outcomes[k]}" for k in self.violations)
        return f"[fuzz] {self.name}: tried {sum(self.tried.values())} ({tried}); survived: {ended}; {never}"

    def print(self) -> None:
        print("\n" + self.report(), flush=True)


# -- hostile values ----------------------------------------------------------------------------------------
HUGE_TOKENS = (
    "1e999",
    "-1e999",
    "1e999999999",
    "1e-999999999",
    "1e-400",
    "1" + "0" * 400,
    "9" * 5000,
    "-0.0",
    "1e308",
    "123456789012345678901234567890.123456789012345678901234567890",
)
"""Numbers (as bare JSON tokens or inside strings) that overflow, underflow or lose digits."""

TEXT_VALUES = (
    "NaN",
    "Infinity",
    "-Infinity",
    "nan",
    "inf",
    "-1",
    "0",
    "",
    " ",
    "1_0",
    "0x10",
    "\u0661",
    "1e",
    "\x00",
    "\ud800",
)
"""Strings a decimal or identifier field must refuse or read exactly."""

WRONG_TYPES: tuple[Any, ...] = (None, True, False, 0, -1, 1.5, "", "x", [], [[]], {}, {"a": 1})


@dataclass(frozen=True)
class Mutation:
    """A named mutation of one JSON text."""

    kind: str
    apply: Callable[[str], str]


def _paths(node: Any, prefix: tuple[Any, ...] = (), out: list[tuple[Any, ...]] | None = None) -> list[Any]:
    """Every path to a node of a decoded JSON document (the root included), depth first."""
    paths: list[tuple[Any, ...]] = [] if out is None else out
    paths.append(prefix)
    if len(paths) > 20_000:
        return paths
    if isinstance(node, dict):
        for key, value in node.items():
            _paths(value, (*prefix, key), paths)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _paths(value, (*prefix, index), paths)
    return paths


_SENTINEL = "\u2063SENTINEL\u2063"


def replace_at(document: Any, path: tuple[Any, ...], raw: str) -> str:
    """``document`` as JSON text with the node at ``path`` replaced by the raw JSON text ``raw``."""
    copy = json.loads(json.dumps(document))
    if not path:
        return raw
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = _SENTINEL
    return json.dumps(copy, separators=(",", ":")).replace(json.dumps(_SENTINEL), raw, 1)


def remove_at(document: Any, path: tuple[Any, ...]) -> str:
    copy = json.loads(json.dumps(document))
    if not path:
        return ""
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return json.dumps(copy, separators=(",", ":"))


NESTING_DEPTHS = (33, 200, 1_000, 100_000, 600_000)
"""Nesting around a value: just past the parsers' bound, past ``json``'s recursion limit, and deep
enough to overflow the C stack of an unbounded decoder."""


@st.composite
def mutated_json(draw: st.DrawFn, text: str) -> tuple[str, str]:
    """``(kind, mutated text)`` of one JSON message: byte-level damage or a structural change at a node
    chosen among all of the document's nodes (deep nesting, huge numbers, wrong types, removal)."""
    kind = draw(
        st.sampled_from(
            [
                "bit_flip",
                "byte",
                "truncate",
                "splice",
                "nest",
                "huge_number",
                "huge_text",
                "bad_text",
                "wrong_type",
                "remove",
                "wrap_text",
            ]
        )
    )
    raw = text.encode("utf-8")
    if kind in ("bit_flip", "byte", "truncate", "splice"):
        if not raw:
            return kind, text
        at = draw(st.integers(0, len(raw) - 1))
        if kind == "bit_flip":
            flips = draw(st.integers(1, 3))
            data = bytearray(raw)
            for n in range(flips):
                spot = (at + n * draw(st.integers(0, 64))) % len(data)
                data[spot] ^= 1 << draw(st.integers(0, 7))
            return kind, bytes(data).decode("utf-8", "replace")
        if kind == "byte":
            data = bytearray(raw)
            data[at] = draw(st.integers(0, 255))
            return kind, bytes(data).decode("utf-8", "replace")
        if kind == "truncate":
            return kind, raw[:at].decode("utf-8", "replace")
        end = draw(st.integers(at, min(len(raw), at + 64)))
        if draw(st.booleans()):
            return kind, (raw[:at] + raw[end:]).decode("utf-8", "replace")  # a lost stretch
        return kind, (raw[:end] + raw[at:end] + raw[end:]).decode("utf-8", "replace")  # a repeated one
    if kind == "wrap_text":
        depth = draw(st.sampled_from(NESTING_DEPTHS))
        return kind, "[" * depth + text + ("]" * depth if draw(st.booleans()) else "")
    document = json.loads(text)
    paths = _paths(document)
    path = paths[draw(st.integers(0, len(paths) - 1))]
    if kind == "nest":
        depth = draw(st.sampled_from(NESTING_DEPTHS))
        inner = json.dumps(_get(document, path), separators=(",", ":"))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return kind, replace_at(document, path, opener * depth + inner + closer * depth)
    if kind == "huge_number":
        return kind, replace_at(document, path, draw(st.sampled_from(HUGE_TOKENS)))
    if kind == "huge_text":
        return kind, replace_at(document, path, json.dumps(draw(st.sampled_from(HUGE_TOKENS))))
    if kind == "bad_text":
        return kind, replace_at(document, path, json.dumps(draw(st.sampled_from(TEXT_VALUES))))
    if kind == "wrong_type":
        return kind, replace_at(document, path, json.dumps(draw(st.sampled_from(WRONG_TYPES))))
    if not path:
        return kind, ""
    return kind, remove_at(document, path)


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    node = document
    for key in path:
        node = node[key]
    return node


@st.composite
def damaged_bytes(draw: st.DrawFn, raw: bytes, *, splice_max: int) -> tuple[str, bytes]:
    """``raw`` with 1-4 damages of one kind: bit flips, bytes, a truncation, a long varint, or a splice of
    up to ``splice_max`` bytes copied from later on; returns ``(kind, damaged)``."""
    data = bytearray(raw)
    kind = draw(st.sampled_from(["bit_flip", "byte", "truncate", "splice", "varint"]))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "bit_flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "varint":  # a length or number turned into a long varint
            data[at : at + 1] = b"\xff" * draw(st.integers(1, 10)) + b"\x01"
        else:
            end = min(len(data), at + draw(st.integers(1, splice_max)))
            data[at:at] = data[at:end]
    return kind, bytes(data)
