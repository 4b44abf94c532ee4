"""Gateway tokens, re-exported from ``registry.gateway.tokens`` (shared with the coordinator's gateway)."""

from registry.gateway.tokens import (
    ALGORITHM,
    AUDIENCE,
    DEFAULT_TTL_S,
    MAX_TTL_S,
    MIN_SECRET_BYTES,
    Principal,
    TokenError,
    TokenIssuer,
    TokenVerifier,
    load_or_create_secret,
)

__all__ = [
    "ALGORITHM",
    "AUDIENCE",
    "DEFAULT_TTL_S",
    "MAX_TTL_S",
    "MIN_SECRET_BYTES",
    "Principal",
    "TokenError",
    "TokenIssuer",
    "TokenVerifier",
    "load_or_create_secret",
]
