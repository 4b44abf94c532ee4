"""Errors raised by the dev certificate authority and the mTLS helpers."""

from __future__ import annotations


class PkiError(Exception):
    """Base class: every PKI failure names what was expected and what arrived."""


class InvalidSpiffeId(PkiError, ValueError):
    """A SPIFFE ID (or a region / venue / auditor name that goes into one) is malformed."""


class CertificateError(PkiError, ValueError):
    """A certificate or key is malformed, inconsistent, or not an ArbSphere X.509-SVID."""


class CertificateExpired(CertificateError):
    """A certificate is outside its validity window at the time it was checked."""


class UntrustedCertificate(CertificateError):
    """A certificate does not chain to the region CA (or violates the leaf profile)."""


class PeerIdentityError(PkiError):
    """The TLS peer of a gRPC call has no usable SPIFFE identity, or the wrong one."""


class AuthorityStoreError(PkiError):
    """The CA directory is missing, incomplete, has unsafe permissions, or already exists."""
