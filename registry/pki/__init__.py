"""Region PKI: a dev CA issuing short-lived SPIFFE X.509-SVIDs, and the gRPC mTLS helpers around them.

Typical use::

    ca = DevCertificateAuthority.create(Path("pki"), "eu-west")          # or .load(...) / .ephemeral(...)
    server_bundle = ca.issue_coordinator(ttl=timedelta(hours=1))
    rotating = RotatingServerCredentials(server_bundle)
    server.add_secure_port("127.0.0.1:0", rotating.credentials)
    ...
    peer = require_peer(context, region="eu-west", roles={WorkloadRole.AGENT})   # in a servicer
    ...
    channel = secure_channel(f"127.0.0.1:{port}", ca.issue_agent("binance"))   # in an agent
"""

from registry.pki.authority import DevCertificateAuthority
from registry.pki.certificates import (
    DEFAULT_LEAF_TTL,
    MAX_LEAF_TTL,
    MIN_LEAF_TTL,
    CertificateBundle,
    check_validity,
    spiffe_id_from_pem,
    verify_leaf,
)
from registry.pki.errors import (
    AuthorityStoreError,
    CertificateError,
    CertificateExpired,
    InvalidSpiffeId,
    PeerIdentityError,
    PkiError,
    UntrustedCertificate,
)
from registry.pki.grpc_tls import (
    RotatingServerCredentials,
    authorize_peer,
    channel_credentials,
    peer_spiffe_id,
    require_peer,
    secure_channel,
    server_credentials,
)
from registry.pki.spiffe import SpiffeId, WorkloadRole
from registry.pki.store import read_bundle, write_bundle

__all__ = [
    "DEFAULT_LEAF_TTL",
    "MAX_LEAF_TTL",
    "MIN_LEAF_TTL",
    "AuthorityStoreError",
    "CertificateBundle",
    "CertificateError",
    "CertificateExpired",
    "DevCertificateAuthority",
    "InvalidSpiffeId",
    "PeerIdentityError",
    "PkiError",
    "RotatingServerCredentials",
    "SpiffeId",
    "UntrustedCertificate",
    "WorkloadRole",
    "authorize_peer",
    "channel_credentials",
    "check_validity",
    "peer_spiffe_id",
    "read_bundle",
    "require_peer",
    "secure_channel",
    "server_credentials",
    "spiffe_id_from_pem",
    "verify_leaf",
    "write_bundle",
]
