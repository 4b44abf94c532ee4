"""Agent-signed records (privacy spends, operator control actions) onto the ledger, checked first.

Records arrive on an agent's stream at any time (``Hub.records``). Each is validated against its kind's
schema and checked: the identity key must be bound to the stream's venue by an SVID of this region
(``Hub.identities``, as for execution reports), must be the identity the agent joined with (its Hello's
did:key, which its credential names when credentials are required) and must have signed the record. Only
then is it appended, with the signed bytes, so an auditor can check it against the agent's key without
trusting this coordinator (``registry.pki.agent_records.verify_record_entry``). A bad record is refused
back to its agent and the coordinator carries on.
"""

from __future__ import annotations

import queue

from coordinator.grpc_server import Hub
from coordinator.session import AuditSink
from energibridge.secagg import KeyAgreementError
from registry.pki.agent_records import RecordError, check_signature, record_fields


class AgentRecords:
    def __init__(self, hub: Hub, audit: AuditSink) -> None:
        self.hub = hub
        self.audit = audit
        self.recorded = 0
        self.refused = 0

    def drain(self) -> int:
        """Record every record that has arrived; returns how many were appended."""
        count = 0
        while True:
            try:
                venue, record = self.hub.records.get_nowait()
            except queue.Empty:
                return count
            try:
                event, fields = record_fields(venue, record)
                if self.hub.trust is None:
                    raise RecordError("AgentRecord: this coordinator has no region CA to check signatures")
                self.hub.verify_member(
                    venue,
                    record.identity_key,
                    record.certificate,
                    record.identity_binding,
                    where="AgentRecord",
                )
                fields.update(check_signature(record))
            except (RecordError, KeyAgreementError) as exc:
                self.refused += 1
                self.hub.error(venue, "REFUSED", str(exc), "record")
                continue
            self.audit.record(event, venue, fields)
            self.recorded += 1
            count += 1
