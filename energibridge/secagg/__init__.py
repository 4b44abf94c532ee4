"""Secure aggregation: the coordinator learns ``sum_i c_i`` over a round's mask set and nothing else.

Pure and transport-agnostic; deterministic given the keys. This package holds the protocol both sides
share (encoding, keys, masks, errors) and the agent's half; the coordinator's half (``AggregationRound``,
``Aggregator``) lives in ``coordinator.secagg``. The pieces:

- ``FixedPointCodec``: float vector -> signed fixed point mod 2^64 and back (precision in ``fixedpoint``).
- ``keys``: X25519 per session, HKDF-SHA256 pair seeds, Ed25519-signed ``KeyAnnouncement`` of public keys.
- ``masks``: per (pair seed, round id, mask set) ChaCha20 mask streams, added for higher peers and subtracted
  for lower ones, so they cancel in the sum.
- ``MaskingClient`` (agent): refuses unsafe requests (set of one, stale or replayed round ids, growing sets).
- ``AggregationRound`` / ``Aggregator`` (coordinator, in ``coordinator.secagg``): sum, decode, deadline ->
  ``RetryWith(survivors)``.

Protocol per round: the coordinator sends ``(round_id, mask_set)``; each member answers
``MaskingClient.mask(round_id, mask_set, c_i)``; the coordinator feeds the answers to ``Aggregator.submit``.
On a dropout the round is re-run among the survivors under a fresh round id, and the dropped venue leaves the
session; no seed ever leaves an agent (see ``coordinator.secagg.rounds`` for why not Bonawitz-style seed
recovery).

Threat model, precisely:

- Honest-but-curious coordinator (follows the protocol, reads everything it gets), including real dropouts:
  it learns the sum of each completed round and nothing about any individual vector. Masked vectors are
  ChaCha20 output added to the encoding, pair seeds never leave agents.
- Coordinator substituting public keys: defeated when agents accept the directory only through
  ``verify_announcements`` against the registry's identity keys.
- Coordinator lying about a dropout (it received venue k's vector, claims k missed the deadline, and gets
  the survivors' re-run): it learns ``c_k`` of that round exactly, as the difference of the two sums.
  Bonawitz-style self-masks with an unmasking step would stop the exact leak at the price of a second round
  trip in every round, but not its approximation: the exchange ADMM drives ``sum_i x_i`` to 0, so near
  convergence any sum over the survivors, after a real dropout or a claimed one, is already close to
  ``-x_k``. Built-in limits: each lie removes k from the session for good (clients never mask with a
  left-out venue again; k itself sees it was left out), mask sets never fall below ``min_mask_set``; the
  residual leak is the differential-privacy layer's to bound.
- Colluding agents: a sum over ``n`` members minus the ``n - 1`` colluders' own inputs is the last member's
  input; that is inherent to any sum. With two members, each learns the other's value from the sum (if the sum
  is broadcast).
"""

from __future__ import annotations

from energibridge.secagg.client import MaskingClient
from energibridge.secagg.errors import (
    EncodingError,
    KeyAgreementError,
    MaskingError,
    RoundStateError,
    SecAggError,
    SubmissionError,
)
from energibridge.secagg.fixedpoint import DEFAULT_FRAC_BITS, FixedPointCodec
from energibridge.secagg.keys import (
    KeyAnnouncement,
    announce,
    derive_pair_seed,
    generate_private_key,
    public_key_bytes,
    verify_announcements,
)

__all__ = [
    "DEFAULT_FRAC_BITS",
    "EncodingError",
    "FixedPointCodec",
    "KeyAgreementError",
    "KeyAnnouncement",
    "MaskingClient",
    "MaskingError",
    "RoundStateError",
    "SecAggError",
    "SubmissionError",
    "announce",
    "derive_pair_seed",
    "generate_private_key",
    "public_key_bytes",
    "verify_announcements",
]
