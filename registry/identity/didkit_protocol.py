"""Constants shared by the didkit worker and its parent (kept apart so neither imports the other)."""

from __future__ import annotations

PROTOCOL = "arbsphere-didkit-worker/1"
WORKER_MODULE = "registry.identity.didkit_worker"
MAX_REQUEST_BYTES = 1 << 20
