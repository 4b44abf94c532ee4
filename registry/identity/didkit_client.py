"""Parent side of the didkit worker: run it in a subprocess with a timeout and judge its answer.

Acceptance rule: an answer counts when stdout holds exactly one complete JSON line with our protocol
tag and the request id we sent. The exit code is then only logged: a non-zero exit AFTER such an
answer is the known crash of the archived didkit binding while the interpreter shuts down, which
happens after the work is done and the answer flushed, so the answer is as trustworthy as with exit 0
(and for verification the parent never relies on it alone: see ``DidkitCredentialService.verify``).
Without a complete answer (crash, timeout, garbage) the request is retried ``retries`` times; all
operations are pure, so a retry is safe.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.identity.didkit_protocol import PROTOCOL, WORKER_MODULE
from registry.identity.errors import DidkitRejected, DidkitUnavailable, DidkitWorkerError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
# Directory that holds the ``registry`` package, so the worker imports this same source tree.
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class WorkerRun:
    """A worker answer plus how it was obtained (exit codes of every attempt, for flakiness reports)."""

    result: Any
    didkit_version: str
    exit_codes: tuple[int, ...]
    stderr_tail: str

    @property
    def attempts(self) -> int:
        return len(self.exit_codes)


def worker_command(*, natural_exit: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", WORKER_MODULE]
    return [*cmd, "--natural-exit"] if natural_exit else cmd


def _env() -> dict[str, str]:
    env = dict(os.environ)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(_SOURCE_ROOT) if not existing else f"{_SOURCE_ROOT}{os.pathsep}{existing}"
    return env


def parse_answer(stdout: bytes, request_id: str) -> dict[str, Any] | None:
    """The answer if ``stdout`` is exactly one complete, well-formed answer line for ``request_id``."""
    if not stdout.endswith(b"\n") or stdout.count(b"\n") != 1:
        return None
    try:
        answer = json.loads(stdout)
    except ValueError:
        return None
    if not isinstance(answer, dict) or answer.get("protocol") != PROTOCOL:
        return None
    if answer.get("request_id") != request_id or not isinstance(answer.get("ok"), bool):
        return None
    if answer["ok"] and ("result" not in answer or not isinstance(answer.get("didkit_version"), str)):
        return None
    if not answer["ok"] and not isinstance(answer.get("error"), dict):
        return None
    return answer


def run_didkit_worker(
    op: str,
    arguments: Mapping[str, Any],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = 1,
    command: Sequence[str] | None = None,
) -> WorkerRun:
    """Run one didkit operation in a fresh subprocess; raise unless a complete answer came back."""
    if not 0 <= retries <= 5:
        raise ValueError(f"retries: expected 0..5, got {retries}")
    if not 0 < timeout <= 600:
        raise ValueError(f"timeout: expected (0, 600] seconds, got {timeout}")
    cmd = list(command) if command is not None else worker_command()
    exit_codes: list[int] = []
    last_problem = ""
    for _attempt in range(retries + 1):
        request_id = secrets.token_hex(16)
        request = {**arguments, "protocol": PROTOCOL, "request_id": request_id, "op": op}
        try:
            proc = subprocess.run(  # noqa: S603 - fixed argv: our interpreter and our module
                cmd,
                input=json.dumps(request).encode(),
                capture_output=True,
                timeout=timeout,
                env=_env(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            exit_codes.append(-1)
            last_problem = f"timed out after {timeout:g} s"
            log.warning("didkit worker %s: %s", op, last_problem)
            continue
        exit_codes.append(proc.returncode)
        stderr_tail = proc.stderr.decode(errors="replace")[-2000:]
        answer = parse_answer(proc.stdout, request_id)
        if answer is None:
            last_problem = (
                f"exit code {proc.returncode} without a complete answer; "
                f"stderr: {stderr_tail.strip()[-300:]!r}"
            )
            log.warning("didkit worker %s: %s", op, last_problem)
            continue
        if proc.returncode != 0:
            log.warning(
                "didkit worker %s: exit code %d after a complete answer; accepted (known crash of the "
                "archived didkit binding at interpreter exit)",
                op,
                proc.returncode,
            )
        if not answer["ok"]:
            error = answer["error"]
            message = f"{error.get('type')}: {error.get('message')}"
            if error.get("type") == "unavailable":
                raise DidkitUnavailable(f"didkit worker: {message}")
            if error.get("type") == "didkit":
                raise DidkitRejected(f"didkit worker {op}: {message}")
            raise DidkitWorkerError(f"didkit worker {op}: {message}")
        return WorkerRun(answer["result"], answer["didkit_version"], tuple(exit_codes), stderr_tail)
    raise DidkitWorkerError(
        f"didkit worker {op}: no answer after {len(exit_codes)} attempt(s); last: {last_problem}"
    )
