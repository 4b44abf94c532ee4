"""Fixtures for the ledger tests: keys and a controllable clock."""

from __future__ import annotations

import pytest

from registry.ledger import Ed25519Signer, NoteSigner

ORIGIN = "arbsphere.test/ledger"


class FakeClock:
    """Milliseconds that advance only when the test says so."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def log_key() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


@pytest.fixture
def signers() -> list[Ed25519Signer]:
    return [Ed25519Signer.from_seed(bytes([i]) * 32) for i in range(1, 4)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
