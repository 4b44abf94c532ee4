"""Run every benchmark module ``bench/bench_*.py`` (or those named on the command line).

Each module exposes ``main() -> dict[str, object]``: it prints its own table (ours vs a baseline side by
side, plus absolute figures) and writes the same figures to ``bench/results/<name>.json``.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    names = argv if argv else sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    failed: list[str] = []
    for name in names:
        module_name = name if name.startswith("bench_") else f"bench_{name}"
        print(f"\n=== {module_name} ===", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"bench.{module_name}").main()
        except Exception as exc:  # a broken benchmark must not hide the others' figures
            print(f"{module_name} FAILED: {exc!r}", file=sys.stderr)
            failed.append(module_name)
        print(f"({module_name}: {time.perf_counter() - started:.1f} s)", flush=True)
    if failed:
        print(f"failed benchmarks: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
