"""Gateway tokens: short-lived JWTs (HS256) naming an actor and a scope, signed with the gateway's secret.

The secret is a file readable by its owner only (0600, created on first use); whoever holds it mints
tokens, so ``arbsphere agent token`` (``arbsphere coordinator token``) runs on the gateway's host; each
gateway has its own secret, so a token for one is refused by another. A token carries ``sub`` (the actor
every control action is recorded under), ``scope`` (``read``, ``trade`` or ``admin``, each including the ones
below it), ``iat``, ``exp`` (at most ``MAX_TTL_S`` after ``iat``), ``aud`` and a random ``jti``.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt

from registry.pki.errors import AuthorityStoreError
from registry.pki.store import read_file, write_secret_file

ALGORITHM = "HS256"
AUDIENCE = "arbsphere-gateway"
DEFAULT_TTL_S = 900
MAX_TTL_S = 3600
MIN_SECRET_BYTES = 32


class Scope(enum.StrEnum):
    """What a gateway token lets its bearer do; each scope includes the ones below it."""

    READ = "read"
    TRADE = "trade"
    ADMIN = "admin"


SCOPE_INCLUDES: Mapping[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.TRADE: frozenset({Scope.READ, Scope.TRADE}),
    Scope.ADMIN: frozenset({Scope.READ, Scope.TRADE, Scope.ADMIN}),
}


class TokenError(Exception):
    """A token was missing, malformed, badly signed, expired or not for this gateway."""


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for, and what it may do."""

    actor: str
    scope: Scope
    expires: int

    def allows(self, needed: Scope) -> bool:
        return needed in SCOPE_INCLUDES[self.scope]


def load_or_create_secret(path: Path) -> bytes:
    """The signing secret in ``path`` (created with 32 random bytes, mode 0600, if absent). A file
    readable by group or others, or shorter than ``MIN_SECRET_BYTES``, is refused."""
    if not path.exists():
        write_secret_file(path, secrets.token_hex(MIN_SECRET_BYTES).encode())
    try:
        secret = read_file(path, secret=True).strip()
    except AuthorityStoreError as exc:
        raise TokenError(f"secret file: {exc}") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise TokenError(
            f"secret file: {path} holds {len(secret)} bytes, expected at least {MIN_SECRET_BYTES}"
        )
    return secret


class TokenIssuer:
    def __init__(self, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._clock = clock

    def issue(self, actor: str, scope: Scope | str, ttl_s: int = DEFAULT_TTL_S) -> str:
        if not actor.strip():
            raise TokenError("actor: expected a name, got an empty one")
        if not 0 < ttl_s <= MAX_TTL_S:
            raise TokenError(f"ttl: expected 1..{MAX_TTL_S} seconds, got {ttl_s}")
        now = int(self._clock())
        claims = {
            "sub": actor,
            "scope": Scope(scope).value,
            "iat": now,
            "exp": now + ttl_s,
            "aud": AUDIENCE,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)


class TokenVerifier:
    def __init__(self, secret: bytes, *, leeway_s: int = 0) -> None:
        self._secret = secret
        self._leeway = leeway_s

    def verify(self, token: str) -> Principal:
        """The token's principal; ``TokenError`` names what is wrong with it (never echoing it)."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                leeway=self._leeway,
                options={"require": ["sub", "scope", "iat", "exp", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        if int(claims["exp"]) - int(claims["iat"]) > MAX_TTL_S:
            raise TokenError(f"invalid token: lifetime beyond {MAX_TTL_S} s")
        try:
            scope = Scope(claims["scope"])
        except ValueError:
            raise TokenError(f"invalid token: unknown scope {claims['scope']!r}") from None
        actor = claims["sub"]
        if not isinstance(actor, str) or not actor.strip():
            raise TokenError("invalid token: empty subject")
        return Principal(actor, scope, int(claims["exp"]))
