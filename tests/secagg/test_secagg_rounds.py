"""Coordinator side: AggregationRound and Aggregator refusals, deadlines, retries among survivors."""

from __future__ import annotations

import numpy as np
import pytest
from secagg_helpers import make_clients

from coordinator.secagg import Abandoned, AggregateResult, AggregationRound, Aggregator, RetryWith
from energibridge.secagg import RoundStateError, SubmissionError

VENUES = ("a", "b", "c", "d")
VECTORS = {"a": [1.0, 2.0], "b": [-0.5, 4.0], "c": [3.0, -1.0], "d": [0.25, 0.25]}


def _round(**kwargs: object) -> AggregationRound:
    args: dict[str, object] = {"round_id": 3, "mask_set": VENUES, "length": 2, "deadline": 10.0}
    args.update(kwargs)
    return AggregationRound(**args)  # type: ignore[arg-type]


def test_a_complete_round_yields_the_decoded_sum() -> None:
    clients = make_clients(VENUES)
    rnd = _round()
    outcomes = [rnd.submit(v, clients[v].mask(3, rnd.mask_set, VECTORS[v])) for v in VENUES]
    assert outcomes[:-1] == [None, None, None]
    result = outcomes[-1]
    assert isinstance(result, AggregateResult)
    assert result.round_id == 3
    assert result.participants == VENUES
    assert result.total == pytest.approx((3.75, 5.25), abs=4 * 2.0**-33)
    assert rnd.poll(100.0) is result  # final


def test_submissions_are_refused_precisely() -> None:
    rnd = _round()
    rnd.submit("a", [0, 1])
    with pytest.raises(SubmissionError, match="sender 'a': a second masked vector for round 3"):
        rnd.submit("a", [0, 1])
    with pytest.raises(SubmissionError, match=r"sender 'zz': not in the mask set of round 3"):
        rnd.submit("zz", [0, 1])
    with pytest.raises(SubmissionError, match="words from 'b': expected 2 words, got 3"):
        rnd.submit("b", [0, 1, 2])
    with pytest.raises(
        SubmissionError, match=r"words from 'b'\[1\]: expected an int in \[0, 2\^64\), got -1"
    ):
        rnd.submit("b", [0, -1])
    with pytest.raises(SubmissionError, match=r"words from 'b'\[0\]: expected an int .* got float"):
        rnd.submit("b", [1.0, 2])  # type: ignore[list-item]
    with pytest.raises(SubmissionError, match="words from 'b': expected a 1-D uint64 array, got 1-D float64"):
        rnd.submit("b", np.zeros(2))  # type: ignore[arg-type]
    with pytest.raises(
        SubmissionError, match="words from 'b': expected a sequence of 2 uint64 words, got bytes"
    ):
        rnd.submit("b", b"ab")
    with pytest.raises(SubmissionError, match="sender: expected a str id, got NoneType"):
        rnd.submit(None, [0, 1])  # type: ignore[arg-type]
    assert rnd.received == {"a"}  # refusals changed nothing
    rnd.submit("b", np.array([2**64 - 1, 0], dtype=np.uint64))
    assert rnd.missing == ("c", "d")


def test_deadline_turns_missing_members_into_a_retry() -> None:
    rnd = _round()
    rnd.submit("a", [1, 2])
    rnd.submit("c", [3, 4])
    rnd.submit("d", [5, 6])
    assert rnd.poll(9.999) is None
    outcome = rnd.poll(10.0)
    assert outcome == RetryWith(round_id=3, survivors=("a", "c", "d"), dropped=("b",))
    with pytest.raises(SubmissionError, match=r"sender 'b': round 3 is closed \(RetryWith\)"):
        rnd.submit("b", [0, 0])
    assert rnd.poll(11.0) is outcome


def test_too_few_survivors_abandon_the_round() -> None:
    rnd = _round(min_participants=3)
    rnd.submit("a", [1, 2])
    rnd.submit("c", [3, 4])
    outcome = rnd.poll(20.0)
    assert isinstance(outcome, Abandoned)
    assert outcome.survivors == ("a", "c")
    assert outcome.dropped == ("b", "d")
    assert "fewer than min_participants=3" in outcome.reason


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"round_id": -1}, r"round_id: expected an int in \[0, 2\^64\)"),
        ({"mask_set": ["a"]}, r"mask_set: 1 member\(s\); expected at least 2"),
        ({"mask_set": ["a", "a"]}, "appears more than once"),
        ({"mask_set": "ab"}, "expected a sequence of venue ids, got str"),
        ({"length": 0}, r"length: expected an int in \[1, 1048576\], got 0"),
        ({"deadline": float("nan")}, "deadline: expected a finite number of seconds, got nan"),
        ({"deadline": None}, "deadline: expected a finite number of seconds, got None"),
    ],
)
def test_round_constructor_validates(kwargs: dict[str, object], expected: str) -> None:
    with pytest.raises(RoundStateError, match=expected):
        _round(**kwargs)


def test_poll_validates_now() -> None:
    with pytest.raises(RoundStateError, match="now: expected a finite number of seconds, got inf"):
        _round().poll(float("inf"))


def test_aggregator_allocates_increasing_round_ids_and_refuses_stale_ones() -> None:
    agg = Aggregator(VENUES, 2, first_round_id=40)
    clients = make_clients(VENUES)
    first = agg.open_round(deadline=1.0)
    assert first.round_id == 40
    with pytest.raises(RoundStateError, match="round 40 is still open"):
        agg.open_round(deadline=2.0)
    with pytest.raises(SubmissionError, match="round_id: 41 was never opened"):
        agg.submit(41, "a", [0, 0])
    result = None
    for v in VENUES:
        result = agg.submit(40, v, clients[v].mask(40, first.mask_set, VECTORS[v]))
    assert isinstance(result, AggregateResult)
    second = agg.open_round(deadline=2.0)
    assert second.round_id == 41
    with pytest.raises(SubmissionError, match="round_id: 40 is stale; the current round is 41"):
        agg.submit(40, "a", [0, 0])


def test_aggregator_retries_among_survivors_and_drops_the_missing_for_good() -> None:
    clients = make_clients(VENUES)
    agg = Aggregator(VENUES, 2)
    rnd = agg.open_round(deadline=5.0)
    for v in ("a", "b", "d"):  # c crashes before answering
        agg.submit(rnd.round_id, v, clients[v].mask(rnd.round_id, rnd.mask_set, VECTORS[v]))
    outcome = agg.poll(5.0)
    assert outcome == RetryWith(0, ("a", "b", "d"), ("c",))
    assert agg.members == ("a", "b", "d")
    assert agg.dropped == ("c",)
    retry = agg.open_round(deadline=10.0)
    assert (retry.round_id, retry.mask_set) == (1, ("a", "b", "d"))
    result = None
    for v in retry.mask_set:  # the same vectors, re-masked for the survivors under the fresh id
        result = agg.submit(1, v, clients[v].mask(1, retry.mask_set, VECTORS[v]))
    assert isinstance(result, AggregateResult)
    assert result.total == pytest.approx((0.75, 6.25), abs=3 * 2.0**-33)
    assert agg.poll(50.0) is result
    assert agg.members == ("a", "b", "d")  # a settled outcome is applied once


def test_aggregator_drop_and_abandon() -> None:
    agg = Aggregator(VENUES, 1, min_participants=2)
    agg.drop(["d"])
    assert agg.members == ("a", "b", "c")
    with pytest.raises(RoundStateError, match="'d' is not in the session roster"):
        agg.drop(["d"])
    rnd = agg.open_round(deadline=1.0)
    agg.submit(rnd.round_id, "a", [0])
    outcome = agg.poll(1.0)
    assert isinstance(outcome, Abandoned)
    assert list(agg.members) == ["a"]
    with pytest.raises(RoundStateError, match=r"mask_set: 1 member\(s\); expected at least 2"):
        agg.open_round(deadline=2.0)


def test_aggregator_validates() -> None:
    with pytest.raises(RoundStateError, match="no round has been opened"):
        Aggregator(VENUES, 1).poll(0.0)
    with pytest.raises(SubmissionError, match="round_id: 0 was never opened"):
        Aggregator(VENUES, 1).submit(0, "a", [0])
    with pytest.raises(RoundStateError, match="members: venue 'a' appears more than once"):
        Aggregator(["a", "a"], 1)
    with pytest.raises(RoundStateError, match=r"first_round_id: expected an int in \[0, 2\^64\)"):
        Aggregator(VENUES, 1, first_round_id=-5)
    last = Aggregator(VENUES, 1, first_round_id=2**64 - 1)
    last.open_round(1.0)
    last.poll(1.0)
    with pytest.raises(RoundStateError, match="round ids exhausted"):
        last.open_round(2.0)
