"""Mapping between the round protocol (``messages``, ``venue``) and the EnergiBridge protobuf, both ways.

Every value that arrives from the network passes through here before it reaches a core: non-finite
numbers, misaligned vectors, bad decimals and unknown IR majors are refused with the field named.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import numpy as np

from energibridge.errors import IrValidationError
from energibridge.protocol.contribution import FloatArray
from energibridge.protocol.messages import Mode, RoundBroadcast
from energibridge.protocol.venue import VenueInfo
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import ir_pb2
from energibridge.version import CURRENT, IrVersion, negotiate

MAX_ASSETS = 1024
MAX_WORDS = 2 * MAX_ASSETS + 2
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


def _decimal(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise IrValidationError(field, f"expected a decimal string, got {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise IrValidationError(field, f"must be a finite decimal > 0, got {text!r}")
    return value


def hello_message(
    info: VenueInfo, *, agent_did: str = "", last_sequence: int = 0, credential: str = ""
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
    )


def venue_info(hello: cpb.Hello) -> tuple[VenueInfo, IrVersion]:
    """Validate a Hello; returns the venue's public info and the negotiated IR version."""
    version = IrVersion(
        major=hello.ir_version.major, minor=hello.ir_version.minor, patch=hello.ir_version.patch
    )
    agreed = negotiate(CURRENT, version)
    if not hello.venue_id:
        raise IrValidationError("Hello.venue_id", "must not be empty")
    assets = list(hello.assets)
    if not assets or len(assets) > MAX_ASSETS or len(set(assets)) != len(assets):
        raise IrValidationError("Hello.assets", f"expected 1..{MAX_ASSETS} unique assets, got {len(assets)}")
    if len(hello.lot_sizes) != len(assets) or len(hello.reference_prices) != len(assets):
        raise IrValidationError("Hello.lot_sizes", "lot_sizes and reference_prices must align with assets")
    prices = _finite_vector(hello.reference_prices, "Hello.reference_prices", len(assets))
    if np.any(prices <= 0):
        raise IrValidationError("Hello.reference_prices", "must be > 0")
    if hello.latency_budget_ms <= 0:
        raise IrValidationError("Hello.latency_budget_ms", "must be > 0")
    lots = {
        a: _decimal(t, f"Hello.lot_sizes[{i}]")
        for i, (a, t) in enumerate(zip(assets, hello.lot_sizes, strict=True))
    }
    info = VenueInfo(
        venue_id=hello.venue_id,
        lot_sizes=lots,
        reference_prices={a: float(p) for a, p in zip(assets, prices, strict=True)},
        latency_budget_ms=int(hello.latency_budget_ms),
    )
    return info, agreed


def round_open(
    broadcast: RoundBroadcast,
    assets: Sequence[str],
    *,
    secagg_round_id: int,
    mask_set: Sequence[str],
) -> cpb.RoundOpen:
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
            participants=len(mask_set),
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
    )


def rounding_open(
    session_id: str, round_id: int, assets: Sequence[str], *, secagg_round_id: int, mask_set: Sequence[str]
) -> cpb.RoundOpen:
    """The rounding-phase request (no optimisation payload beyond the session's identity)."""
    version = _version()
    return cpb.RoundOpen(
        signals=ir_pb2.SharedSignals(
            ir_version=version,
            session_id=session_id,
            round_id=round_id,
            assets=list(assets),
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
    )


def words_from(message: cpb.MaskedContribution, length: int) -> list[int]:
    if len(message.masked) != length:
        raise IrValidationError(
            "MaskedContribution.masked", f"expected {length} words, got {len(message.masked)}"
        )
    return list(message.masked)
