"""Child process for the crash-durability test: appends forever, printing the highest acknowledged index.

Usage: python ledger_crash_child.py <url> <schema or ''> <log key file>
A line ``acked <n>`` is printed only after ``flush()`` returned, i.e. once entries 0..n are durable.
"""

from __future__ import annotations

import sys
from pathlib import Path

from registry.ledger import Ed25519Signer, Ledger, NoteSigner


def main() -> None:
    url, schema, key_file = sys.argv[1], sys.argv[2] or None, Path(sys.argv[3])
    ledger = Ledger.open(url, NoteSigner.parse(key_file.read_text()), schema=schema, max_batch=40)
    signer = Ed25519Signer.from_seed(b"\x07" * 32)
    next_payload = ledger.size()
    print("ready", flush=True)
    while True:
        for _ in range(25):
            ledger.append("EXECUTION_REPORT", b"report %d" % next_payload, signer)
            next_payload += 1
        indices = ledger.flush()
        print(f"acked {max(indices)}", flush=True)


if __name__ == "__main__":
    main()
