"""A minute of sessions with 20 s certificates on every process (real processes, mTLS, the CA service).

The same code as ``python -m bench.soak_cert_rotation --minutes 5 --ttl 60`` (the issue's acceptance run),
shorter (``ARBSPHERE_ROTATION_S`` seconds, default 45) with shorter certificates, so every process renews
several times: no session may be dropped and no agent may reconnect except to switch to a renewed
certificate.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.soak_cert_rotation import RotationConfig, soak
from registry.ledger import Ledger, kind_name

DURATION_S = float(os.environ.get("ARBSPHERE_ROTATION_S", "45"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(int(DURATION_S) + 180)]


def test_sessions_survive_certificate_rotation_on_every_process(tmp_path: Path) -> None:
    report = soak(tmp_path, RotationConfig(duration_s=DURATION_S, ttl_s=20, agents=3), log=lambda line: None)
    m = report.metrics
    print({k: v for k, v in m.items() if k != "per_agent"})
    assert not report.problems, report.problems
    assert m["coordinator_rotations"] >= 2
    assert m["sessions_completed"] > 10
    assert m["sessions_with_dropped_members"] == m["sessions_abandoned"] == m["evictions"] == 0
    for venue, figures in m["per_agent"].items():
        assert figures["renewals"] >= 2, (venue, figures)
        assert figures["reconnects"] <= figures["renewals"], (venue, figures)
        assert figures["reconnects_other"] == figures["handshake_failures"] == 0, (venue, figures)
        assert figures["sessions_joined"] > 0, (venue, figures)

    # The ledger names every certificate in use: each coordinator rotation is a CERTIFICATE_ISSUED entry,
    # and each JOIN carries the serial of the certificate the agent authenticated with (renewals included).
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        entries = [(kind_name(e.kind), json.loads(e.payload)) for e in ledger.query(limit=100_000)]
    issued = [body for kind, body in entries if kind == "CERTIFICATE_ISSUED"]
    assert len(issued) >= m["coordinator_rotations"], (len(issued), m["coordinator_rotations"])
    assert all(body["spiffe_id"].endswith("/coordinator") and body["serial_number"] for body in issued)
    for venue in m["per_agent"]:
        joins = [body for kind, body in entries if kind == "JOIN" and body["subject"] == venue]
        serials = {body["certificate"]["serial_number"] for body in joins}
        assert len(serials) >= 2, (venue, serials)  # the first certificate and at least one renewal
