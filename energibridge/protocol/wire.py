"""Mapping between the round protocol (``messages``, ``venue``) and the EnergiBridge protobuf, both ways.

Every value that arrives from the network passes through here before it reaches a core: non-finite
numbers, misaligned vectors, bad decimals and unknown IR majors are refused with the field named.

Numbers an agent sends are bounded *before any arithmetic*: a decimal string is checked for length,
characters, digit count, exponent and range before it is formatted, quantized or compared with anything
else, so ``"1e999999999"`` or ``"1e-999999"`` costs a length check, never a billion-digit string or a
``decimal.Overflow`` deep in a core. Floats have ranges, keys their exact length, sequences a ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from energibridge.errors import IrValidationError
from energibridge.protocol.contribution import PROBES, FloatArray
from energibridge.protocol.messages import Mode, RoundBroadcast
from energibridge.protocol.venue import VenueInfo
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import ir_pb2
from energibridge.version import CURRENT, IrVersion, negotiate

MAX_ASSETS = 1024
MAX_WORDS = (PROBES + 4) * MAX_ASSETS + 5
MAX_NAME_CHARS = 64
"""Asset names and session ids an agent sends back: printable ASCII, at most this long."""
MAX_SEQUENCE = 1 << 53
"""Plan sequences (a coordinator commits one per session: 2^53 sessions outlast any deployment). An agent
claiming more could otherwise push the region's sequence past uint64 with one Hello."""
MAX_LATENCY_BUDGET_MS = 3_600_000
PRICE_RANGE = (1e-12, 1e12)
"""Reference mids, in quote per unit: anything outside is a unit error or an attack, never a market."""
COST_BOUND = 1e12
"""Largest |quote amount| an agent may report (cost deltas, PnL): a trillion per session is no arbitrage."""
X25519_KEY_BYTES = 32
_KEY_PROBE = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


@dataclass(frozen=True)
class DecimalBounds:
    """What a decimal string from the network may look like, checked before it is parsed into arithmetic.

    ``min_exponent`` bounds the exponent of the last digit (resolution), ``max_adjusted`` the exponent
    of the first (magnitude); with ``max_digits`` they bound the work any later operation can do."""

    low: Decimal
    high: Decimal
    max_chars: int = 40
    max_digits: int = 28
    min_exponent: int = -18
    max_adjusted: int = 18


LOT_BOUNDS = DecimalBounds(Decimal("1e-12"), Decimal("1e6"), max_digits=18, min_exponent=-12)
"""Lot sizes: 1e-12 (finer than any venue's) to 1e6 units, at most 18 significant digits."""
PNL_BOUNDS = DecimalBounds(Decimal(-COST_BOUND), Decimal(COST_BOUND))
"""Quote amounts (an execution report's PnL vs plan): |x| <= 1e12, resolution >= 1e-18."""
_MODES = {Mode.ADMM: cpb.ROUND_MODE_ADMM, Mode.PRICE: cpb.ROUND_MODE_PRICE}
_MODES_BACK = {v: k for k, v in _MODES.items()}


def _version() -> ir_pb2.IrVersion:
    return ir_pb2.IrVersion(major=CURRENT.major, minor=CURRENT.minor, patch=CURRENT.patch)


def _finite_vector(values: Sequence[float], field: str, n: int) -> FloatArray:
    array = np.asarray(list(values), dtype=np.float64)
    if array.shape != (n,):
        raise IrValidationError(field, f"expected {n} values, got {array.shape[0]}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise IrValidationError(f"{field}[{int(bad[0])}]", f"must be finite, got {array[bad[0]]!r}")
    return array


def bounded_decimal(text: str, field: str, bounds: DecimalBounds) -> Decimal:
    """Parse a decimal an agent sent, refusing (with the field named) anything outside ``bounds``.

    Length and characters are checked on the raw text, digits and exponents on the parsed tuple, and only
    then the range: no step costs more than the ``max_chars`` it was given."""
    if not isinstance(text, str) or not 1 <= len(text) <= bounds.max_chars:
        shown = text[:40] if isinstance(text, str) else type(text).__name__
        raise IrValidationError(field, f"expected 1..{bounds.max_chars} characters, got {shown!r}")
    if not text.isascii() or not text.isprintable():
        raise IrValidationError(field, f"expected an ASCII decimal string, got {text!r}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise IrValidationError(field, f"expected a decimal string, got {text!r}") from None
    if not value.is_finite():
        raise IrValidationError(field, f"must be finite, got {text!r}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    digits = len(value.as_tuple().digits)
    if digits > bounds.max_digits:
        raise IrValidationError(field, f"expected at most {bounds.max_digits} digits, got {digits}")
    if exponent < bounds.min_exponent or (value != 0 and value.adjusted() > bounds.max_adjusted):
        raise IrValidationError(
            field,
            f"exponent out of range: resolution must be >= 1e{bounds.min_exponent} and magnitude "
            f"< 1e{bounds.max_adjusted + 1}, got {text!r}",
        )
    if not bounds.low <= value <= bounds.high:
        raise IrValidationError(field, f"must lie in [{bounds.low}, {bounds.high}], got {text!r}")
    return value


def bounded_float(value: float, field: str, low: float, high: float) -> float:
    """A finite float in ``[low, high]`` (NaN and infinities refused), with the field named."""
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise IrValidationError(field, f"must be a finite number in [{low:g}, {high:g}], got {number!r}")
    return number


def bounded_name(text: str, field: str, limit: int = MAX_NAME_CHARS) -> str:
    """An identifier (asset, session id) an agent sent: 1..``limit`` printable ASCII characters."""
    if not 1 <= len(text) <= limit or not text.isascii() or not text.isprintable():
        raise IrValidationError(field, f"expected 1..{limit} printable ASCII characters, got {text[:80]!r}")
    return text


def x25519_key(raw: bytes, field: str) -> bytes:
    """A session public key: exactly 32 bytes and not a low-order point (whose shared secret is all zeros,
    which would crash every peer's key agreement instead of just this member's)."""
    key = bytes(raw)
    if len(key) != X25519_KEY_BYTES:
        raise IrValidationError(field, f"expected {X25519_KEY_BYTES} bytes, got {len(key)}")
    try:
        _KEY_PROBE.exchange(X25519PublicKey.from_public_bytes(key))
    except ValueError:
        raise IrValidationError(field, "is a low-order X25519 point (no shared secret)") from None
    return key


def session_mids(reported: Sequence[float], assets: Sequence[str]) -> dict[str, float]:
    """The public mids a SessionKey reports: one per session asset, 0 for none; others are refused."""
    if len(reported) not in (0, len(assets)):
        raise IrValidationError(
            "SessionKey.reference_prices", f"expected 0 or {len(assets)} values, got {len(reported)}"
        )
    mids: dict[str, float] = {}
    for i, (asset, price) in enumerate(zip(assets, reported, strict=False)):
        if price == 0:
            continue
        mids[asset] = bounded_float(price, f"SessionKey.reference_prices[{i}]", *PRICE_RANGE)
    return mids


def sequence(value: int, field: str) -> int:
    if not 0 <= value <= MAX_SEQUENCE:
        raise IrValidationError(field, f"expected 0..{MAX_SEQUENCE}, got {value}")
    return int(value)


def hello_message(
    info: VenueInfo,
    *,
    agent_did: str = "",
    last_sequence: int = 0,
    credential: str = "",
    adapter: str = "",
    adapter_version: str = "",
) -> cpb.Hello:
    assets = sorted(info.lot_sizes)
    return cpb.Hello(
        ir_version=_version(),
        venue_id=info.venue_id,
        agent_did=agent_did,
        assets=assets,
        latency_budget_ms=info.latency_budget_ms,
        lot_sizes=[format(info.lot_sizes[a], "f") for a in assets],
        reference_prices=[info.reference_prices[a] for a in assets],
        last_sequence=last_sequence,
        credential=credential,
        adapter=adapter,
        adapter_version=adapter_version,
    )


def venue_info(hello: cpb.Hello) -> tuple[VenueInfo, IrVersion]:
    """Validate a Hello; returns the venue's public info and the negotiated IR version."""
    version = IrVersion(
        major=hello.ir_version.major, minor=hello.ir_version.minor, patch=hello.ir_version.patch
    )
    agreed = negotiate(CURRENT, version)
    bounded_name(hello.venue_id, "Hello.venue_id")
    assets = list(hello.assets)
    if not assets or len(assets) > MAX_ASSETS or len(set(assets)) != len(assets):
        raise IrValidationError("Hello.assets", f"expected 1..{MAX_ASSETS} unique assets, got {len(assets)}")
    for i, asset in enumerate(assets):
        bounded_name(asset, f"Hello.assets[{i}]")
    if len(hello.lot_sizes) != len(assets) or len(hello.reference_prices) != len(assets):
        raise IrValidationError("Hello.lot_sizes", "lot_sizes and reference_prices must align with assets")
    prices = [
        bounded_float(p, f"Hello.reference_prices[{i}]", *PRICE_RANGE)
        for i, p in enumerate(hello.reference_prices)
    ]
    if not 0 < hello.latency_budget_ms <= MAX_LATENCY_BUDGET_MS:
        raise IrValidationError(
            "Hello.latency_budget_ms", f"expected 1..{MAX_LATENCY_BUDGET_MS}, got {hello.latency_budget_ms}"
        )
    sequence(hello.last_sequence, "Hello.last_sequence")
    lots = {
        a: bounded_decimal(t, f"Hello.lot_sizes[{i}]", LOT_BOUNDS)
        for i, (a, t) in enumerate(zip(assets, hello.lot_sizes, strict=True))
    }
    for i, lot in enumerate(lots.values()):
        if lot <= 0:
            raise IrValidationError(f"Hello.lot_sizes[{i}]", f"must be > 0, got {lot}")
    info = VenueInfo(
        venue_id=hello.venue_id,
        lot_sizes=lots,
        reference_prices=dict(zip(assets, prices, strict=True)),
        latency_budget_ms=int(hello.latency_budget_ms),
    )
    return info, agreed


def time_rounds(
    session_id: str,
    round_id: int,
    participants: Sequence[str],
    *,
    opened_unix_ms: int,
    deadline_unix_ms: int,
    status: int = ir_pb2.ROUND_STATUS_OPEN,
) -> ir_pb2.TimeRounds:
    """The round's TimeRounds: who is in it and until when (an agent knows its deadline)."""
    return ir_pb2.TimeRounds(
        ir_version=_version(),
        session_id=session_id,
        round_id=round_id,
        opened_unix_ms=opened_unix_ms,
        deadline_unix_ms=deadline_unix_ms,
        participants=list(participants),
        status=status,  # type: ignore[arg-type]  # an enum value (int) of RoundStatus
    )


def round_open(
    broadcast: RoundBroadcast,
    assets: Sequence[str],
    *,
    secagg_round_id: int,
    mask_set: Sequence[str],
    timing: tuple[int, int] = (0, 0),
) -> cpb.RoundOpen:
    """``timing``: (opened, deadline) in unix ms for the round's TimeRounds."""
    version = _version()
    mean = broadcast.previous_mean
    return cpb.RoundOpen(
        signals=ir_pb2.SharedSignals(
            ir_version=version,
            session_id=broadcast.session_id,
            round_id=broadcast.round_id,
            assets=list(assets),
            consensus_prices=broadcast.prices.tolist(),
            imbalance=[] if mean is None else mean.tolist(),
            primal_residual=broadcast.primal_residual,
            dual_residual=broadcast.dual_residual,
            aggregated_liquidity_quote=broadcast.liquidity_quote,
            participants=len(mask_set),
        ),
        round=time_rounds(
            broadcast.session_id,
            broadcast.round_id,
            mask_set,
            opened_unix_ms=timing[0],
            deadline_unix_ms=timing[1],
        ),
        duals=ir_pb2.DualVariables(
            ir_version=version,
            session_id=broadcast.session_id,
            round_id=broadcast.round_id,
            assets=list(assets),
            scaled_duals=broadcast.scaled_duals.tolist(),
            rho=float(broadcast.rho[0]),
            rho_per_asset=broadcast.rho.tolist(),
        ),
        mask_set=list(mask_set),
        mode=_MODES[broadcast.mode],
        phase=cpb.ROUND_PHASE_ITERATE,
        over_relaxation=broadcast.over_relaxation,
        best_response_eps=broadcast.best_response_eps,
        rebase=broadcast.rebase,
        accepted_previous=sorted(broadcast.accepted_previous),
        secagg_round_id=secagg_round_id,
        has_previous_mean=mean is not None,
        mix_low=[] if broadcast.mix is None else broadcast.mix[0].tolist(),
        mix_high=[] if broadcast.mix is None else broadcast.mix[1].tolist(),
        mix_weight=[] if broadcast.mix is None else broadcast.mix[2].tolist(),
        probe_prices=[] if broadcast.probe is None else broadcast.probe.reshape(-1).tolist(),
    )


def rounding_open(
    session_id: str,
    round_id: int,
    assets: Sequence[str],
    *,
    secagg_round_id: int,
    mask_set: Sequence[str],
    timing: tuple[int, int] = (0, 0),
) -> cpb.RoundOpen:
    """The rounding-phase request (no optimisation payload beyond the session's identity)."""
    version = _version()
    return cpb.RoundOpen(
        signals=ir_pb2.SharedSignals(
            ir_version=version,
            session_id=session_id,
            round_id=round_id,
            assets=list(assets),
            participants=len(mask_set),
        ),
        round=time_rounds(
            session_id, round_id, mask_set, opened_unix_ms=timing[0], deadline_unix_ms=timing[1]
        ),
        mask_set=list(mask_set),
        phase=cpb.ROUND_PHASE_ROUNDING,
        secagg_round_id=secagg_round_id,
    )


def broadcast_from(message: cpb.RoundOpen, assets: Sequence[str]) -> RoundBroadcast:
    """Validate a RoundOpen into the engine's broadcast (agent side)."""
    signals, duals = message.signals, message.duals
    if signals.ir_version.major != CURRENT.major:
        raise IrValidationError(
            "RoundOpen.signals.ir_version", f"unknown major version {signals.ir_version.major}"
        )
    if list(signals.assets) != list(assets) or list(duals.assets) != list(assets):
        raise IrValidationError("RoundOpen.signals.assets", f"expected the session's assets {list(assets)}")
    n = len(assets)
    if message.mode not in _MODES_BACK:
        raise IrValidationError("RoundOpen.mode", f"unknown round mode {message.mode}")
    rho = _finite_vector(duals.rho_per_asset, "RoundOpen.duals.rho_per_asset", n)
    if np.any(rho <= 0):
        raise IrValidationError("RoundOpen.duals.rho_per_asset", "must be > 0")
    alpha = message.over_relaxation
    if not (math.isfinite(alpha) and 0 < alpha < 2):
        raise IrValidationError("RoundOpen.over_relaxation", f"must be in (0, 2), got {alpha!r}")
    eps = message.best_response_eps
    if not (math.isfinite(eps) and 0 < eps < 1):
        raise IrValidationError("RoundOpen.best_response_eps", f"must be in (0, 1), got {eps!r}")
    mix = None
    if message.mix_low or message.mix_high or message.mix_weight:
        weight = _finite_vector(message.mix_weight, "RoundOpen.mix_weight", n)
        if np.any((weight < 0) | (weight > 1)):
            raise IrValidationError("RoundOpen.mix_weight", "must lie in [0, 1]")
        mix = (
            _finite_vector(message.mix_low, "RoundOpen.mix_low", n),
            _finite_vector(message.mix_high, "RoundOpen.mix_high", n),
            weight,
        )
    probe = None
    if message.probe_prices:
        probe = _finite_vector(message.probe_prices, "RoundOpen.probe_prices", PROBES * n).reshape(PROBES, n)
    return RoundBroadcast(
        session_id=signals.session_id,
        round_id=signals.round_id,
        mode=_MODES_BACK[message.mode],
        rho=rho,
        scaled_duals=_finite_vector(duals.scaled_duals, "RoundOpen.duals.scaled_duals", n),
        prices=_finite_vector(signals.consensus_prices, "RoundOpen.signals.consensus_prices", n),
        previous_mean=(
            _finite_vector(signals.imbalance, "RoundOpen.signals.imbalance", n)
            if message.has_previous_mean
            else None
        ),
        over_relaxation=alpha,
        best_response_eps=eps,
        rebase=message.rebase,
        accepted_previous=frozenset(message.accepted_previous),
        mix=mix,
        probe=probe,
    )


def words_from(message: cpb.MaskedContribution, length: int) -> list[int]:
    if len(message.masked) != length:
        raise IrValidationError(
            "MaskedContribution.masked", f"expected {length} words, got {len(message.masked)}"
        )
    return list(message.masked)
