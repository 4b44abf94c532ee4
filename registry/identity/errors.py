"""Errors of the identity layer (DIDs, verifiable credentials, the didkit worker)."""

from __future__ import annotations


class IdentityError(Exception):
    """Base class; messages name the field, what was expected and what arrived."""


class InvalidDid(IdentityError, ValueError):
    """A DID, multibase key or JWK is malformed or of an unsupported kind."""


class CredentialInvalid(IdentityError):
    """A credential failed verification: bad shape, signature, issuer, time window or binding."""


class DidkitUnavailable(IdentityError):
    """didkit cannot be imported in the worker process (verification still works via VC-JWT)."""


class DidkitWorkerError(IdentityError):
    """The didkit worker timed out, crashed before answering, or answered something unusable."""


class DidkitRejected(DidkitWorkerError):
    """didkit ran and refused the input (a DIDKitException), e.g. a malformed credential."""
