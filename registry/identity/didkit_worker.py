"""Subprocess entry point that runs didkit: ``python -m registry.identity.didkit_worker``.

Protocol: one JSON request on stdin, exactly one JSON line on stdout::

    request: {"protocol": "arbsphere-didkit-worker/1", "request_id": "<hex>", "op": "<op>", ...args}
    success: {"protocol": ..., "request_id": ..., "ok": true, "result": ..., "didkit_version": "0.3.3"}
    failure: {"protocol": ..., "request_id": ..., "ok": false,
              "error": {"type": "unavailable|bad_request|didkit|internal", "message": ...}}

Why a separate process: didkit's Python binding (archived upstream) crashes at interpreter exit after
its async functions ran (SIGSEGV/SIGABRT while its runtime is torn down; observed here in most runs).
The worker therefore writes and flushes its answer, then leaves with ``os._exit(0)``, skipping the
teardown. ``--natural-exit`` keeps the normal interpreter exit, to measure the upstream behaviour. The
parent treats a non-zero exit after a complete answer as a success (see ``didkit_client``). Private keys
arrive on stdin, never on the command line or in the environment.

Besides the package ``__init__`` that ``-m`` runs, it imports only the standard library and didkit.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from registry.identity.didkit_protocol import MAX_REQUEST_BYTES, PROTOCOL

OPS = ("version", "key_to_did", "key_to_verification_method", "issue_credential", "verify_credential")


class BadRequest(Exception):
    pass


def _text(request: dict[str, Any], name: str) -> str:
    """didkit takes JSON text: objects are serialised, strings (e.g. a JWT) pass through."""
    if name not in request:
        raise BadRequest(f"{name}: expected a value, got none")
    value = request[name]
    return value if isinstance(value, str) else json.dumps(value)


def handle(request: dict[str, Any]) -> Any:
    op = request.get("op")
    if op not in OPS:
        raise BadRequest(f"op: expected one of {list(OPS)}, got {op!r}")
    import didkit  # deferred: an ImportError becomes an "unavailable" answer, not a crash

    if op == "version":
        return didkit.get_version()
    if op == "key_to_did":
        return didkit.key_to_did("key", _text(request, "key"))

    # didkit's coroutines are created by pyo3-asyncio and need a running loop at call time.
    async def call() -> Any:
        if op == "key_to_verification_method":
            return await didkit.key_to_verification_method("key", _text(request, "key"))
        if op == "issue_credential":
            return await didkit.issue_credential(
                _text(request, "credential"), _text(request, "proof_options"), _text(request, "key")
            )
        return await didkit.verify_credential(_text(request, "credential"), _text(request, "proof_options"))

    return asyncio.run(call())


def answer_for(raw: bytes) -> dict[str, Any]:
    base: dict[str, Any] = {"protocol": PROTOCOL, "request_id": None}
    try:
        if len(raw) > MAX_REQUEST_BYTES:
            raise BadRequest(f"request: expected at most {MAX_REQUEST_BYTES} bytes, got {len(raw)}")
        try:
            request = json.loads(raw)
        except ValueError:
            raise BadRequest("request: expected a JSON object, got unparsable data") from None
        if not isinstance(request, dict):
            raise BadRequest(f"request: expected a JSON object, got {type(request).__name__}")
        base["request_id"] = request.get("request_id")
        if request.get("protocol") != PROTOCOL:
            raise BadRequest(f"protocol: expected {PROTOCOL!r}, got {request.get('protocol')!r}")
        result = handle(request)
        import didkit

        return {**base, "ok": True, "result": result, "didkit_version": didkit.get_version()}
    except BadRequest as exc:
        return {**base, "ok": False, "error": {"type": "bad_request", "message": str(exc)}}
    except ImportError as exc:
        return {
            **base,
            "ok": False,
            "error": {"type": "unavailable", "message": f"cannot import didkit: {exc}"},
        }
    except Exception as exc:  # every failure must still produce an answer
        kind = "didkit" if type(exc).__name__ == "DIDKitException" else "internal"
        return {**base, "ok": False, "error": {"type": kind, "message": f"{type(exc).__name__}: {exc}"}}


def main(argv: list[str]) -> int:
    natural_exit = "--natural-exit" in argv
    answer = answer_for(sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1))
    sys.stdout.write(json.dumps(answer, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    if not natural_exit:
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
