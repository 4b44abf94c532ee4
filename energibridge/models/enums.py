"""IR enums. Values equal the protobuf numbers; ``UNSPECIFIED`` (0) is never a valid value, so a peer
that forgot to set a field, or sent a number this version does not know, is refused."""

from __future__ import annotations

from enum import IntEnum


class VenueKind(IntEnum):
    ORDER_BOOK = 1
    CPMM = 2
    CLMM = 3
    PERPETUAL = 4
    PREDICTION_MARKET = 5


class Side(IntEnum):
    BUY = 1
    SELL = 2


class PrivacyMechanism(IntEnum):
    GAUSSIAN = 1
    LAPLACE = 2


class AuditKind(IntEnum):
    JOIN = 1
    LEAVE = 2
    CERTIFICATE_ISSUED = 3
    CREDENTIAL_ISSUED = 4
    REGISTRY_VERDICT = 5
    PLAN_COMMITTED = 6
    EXECUTION_REPORT = 7
    PRIVACY_SPEND = 8
    RISK_HALT = 9
    CONFIG_CHANGE = 10
    LEG_OUT = 11
    CONTROL = 12
    MARKET_MATCH = 13


class RoundStatus(IntEnum):
    OPEN = 1
    AGGREGATING = 2
    CLOSED = 3
    TIMED_OUT = 4
    ABORTED = 5


PROTO_ENUM_PREFIX: dict[type[IntEnum], str] = {
    VenueKind: "VENUE_KIND_",
    Side: "SIDE_",
    PrivacyMechanism: "PRIVACY_MECHANISM_",
    AuditKind: "AUDIT_KIND_",
    RoundStatus: "ROUND_STATUS_",
}
"""How each enum's members are spelled in the protobuf (buf-style prefixes)."""
