"""SPIFFE ID parsing: round trips for every valid identity, refusal of everything else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.pki import InvalidSpiffeId, SpiffeId, WorkloadRole

regions = st.from_regex(r"[a-z0-9._-]{1,40}", fullmatch=True)
names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,30}", fullmatch=True)


@st.composite
def identities(draw: st.DrawFn) -> SpiffeId:
    role = draw(st.sampled_from(list(WorkloadRole)))
    name = None if role.is_singleton else draw(names)
    return SpiffeId(draw(regions), role, name)


@settings(max_examples=200)
@given(identities())
def test_round_trip(identity: SpiffeId) -> None:
    assert SpiffeId.parse(identity.uri) == identity
    assert str(identity) == identity.uri
    assert identity.uri.startswith(f"spiffe://{identity.region}/{identity.role.value}")


def test_constructors() -> None:
    assert SpiffeId.agent("eu-west", "binance").uri == "spiffe://eu-west/agent/binance"
    assert SpiffeId.coordinator("eu-west").uri == "spiffe://eu-west/coordinator"
    assert SpiffeId.registry("eu-west").uri == "spiffe://eu-west/registry"
    assert SpiffeId.auditor("eu-west", "alice").uri == "spiffe://eu-west/auditor/alice"
    assert SpiffeId.for_role("eu-west", "agent", "kraken") == SpiffeId.agent("eu-west", "kraken")
    assert SpiffeId.agent("eu", "x").trust_domain_uri == "spiffe://eu"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://eu/agent/binance", "starting with 'spiffe://'"),
        ("spiffe://EU/agent/binance", "trust domain"),
        ("spiffe://eu:443/agent/binance", "port"),
        ("spiffe://user@eu/agent/binance", "user info"),
        ("spiffe://eu/agent/binance?x=1", "query"),
        ("spiffe://eu/agent/binance#f", "fragment"),
        ("spiffe://eu/agent/bin%41nce", "percent"),
        ("spiffe://eu", "workload path"),
        ("spiffe://eu/", "workload path"),
        ("spiffe:///agent/binance", "trust domain"),
        ("spiffe://eu/agent", "'/agent/<name>'"),
        ("spiffe://eu/agent/", "venue"),
        ("spiffe://eu/agent/binance/extra", "'/agent/<name>'"),
        ("spiffe://eu/agent/Binance", "venue"),
        ("spiffe://eu/agent/..", "venue"),
        ("spiffe://eu/agent/-x", "venue"),
        ("spiffe://eu/coordinator/x", "exactly '/coordinator'"),
        ("spiffe://eu/registry/x", "exactly '/registry'"),
        ("spiffe://eu/admin/root", "one of"),
        ("spiffe://eu//agent/x", "one of"),
        ("spiffe://" + "a" * 256 + "/coordinator", "1..255"),
        ("spiffe://eu/agent/" + "a" * 65, "1..64"),
    ],
)
def test_refused(uri: str, message: str) -> None:
    with pytest.raises(InvalidSpiffeId, match=message.replace("?", r"\?").replace(".", r"\.")):
        SpiffeId.parse(uri)


def test_constructor_validation() -> None:
    with pytest.raises(InvalidSpiffeId, match="coordinator identity has no name"):
        SpiffeId(region="eu", role=WorkloadRole.COORDINATOR, name="x")
    with pytest.raises(InvalidSpiffeId, match="needs a name"):
        SpiffeId(region="eu", role=WorkloadRole.AGENT)
    with pytest.raises(InvalidSpiffeId, match="role: expected one of"):
        SpiffeId.for_role("eu", "admin")
    with pytest.raises(InvalidSpiffeId, match="expected a string"):
        SpiffeId.parse(b"spiffe://eu/coordinator")  # type: ignore[arg-type]


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_arbitrary_text_parses_only_to_valid_identities(text: str) -> None:
    try:
        identity = SpiffeId.parse(text)
    except InvalidSpiffeId:
        return
    assert identity.uri == text
