"""The coordinator's audit sink: session events go to the governance ledger, off the round hot path.

Appends are enqueued (the ledger batches and writes them on its own thread); ``flush`` waits until they
are durable, which the coordinator does once per session, not per round, and once more before a plan is
sent for commit (write-ahead).

Kinds: ``plan_intent`` (PLAN_COMMITTED, one per session, subject the session: sequence and members, durable
before PlanCommit goes out) and ``plan_committed`` (PLAN_COMMITTED, one per acknowledging venue: state hash
and plan digest). A session that cannot finish is ``session_abandoned`` (RISK_HALT, with the reason); a
member that leaves, is dropped or evicted is ``leave`` (LEAVE, with the reason). An agent's report of a
leg-out is ``leg_out`` (LEG_OUT); the session that took its residual over is ``hedge`` (LEG_OUT: session,
sequence and the venues whose residuals it hedged). Agent-signed records are ``privacy_spend``
(PRIVACY_SPEND) and ``control`` (CONTROL: an operator's control action, with its actor); the join-time
check of an agent's adapter against the registry is ``registry_verdict`` (REGISTRY_VERDICT).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from registry.ledger import EntrySigner, Ledger

KINDS: Mapping[str, str] = {
    "join": "JOIN",
    "leave": "LEAVE",
    "session_start": "CONFIG_CHANGE",
    "plan_intent": "PLAN_COMMITTED",
    "plan_committed": "PLAN_COMMITTED",
    "session_abandoned": "RISK_HALT",
    "asset_abandoned": "RISK_HALT",
    "plan_refused": "RISK_HALT",
    "certificate_issued": "CERTIFICATE_ISSUED",
    "execution_report": "EXECUTION_REPORT",
    "leg_out": "LEG_OUT",
    "hedge": "LEG_OUT",
    "privacy_spend": "PRIVACY_SPEND",
    "control": "CONTROL",
    "registry_verdict": "REGISTRY_VERDICT",
}


class LedgerAudit:
    def __init__(self, ledger: Ledger, signer: EntrySigner) -> None:
        self.ledger = ledger
        self.signer = signer

    def record(self, kind: str, actor: str, payload: Mapping[str, object]) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown audit event kind {kind!r}; expected one of {sorted(KINDS)}")
        body = {"event": kind, "subject": actor, **payload}
        data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        self.ledger.append(KINDS[kind], data, self.signer)

    def flush(self) -> None:
        self.ledger.flush(timeout=30.0)
