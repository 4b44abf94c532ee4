"""Shared helpers for the feed tests: replay a venue and rebuild books naively from its events."""

from __future__ import annotations

from pathlib import Path

from agents.feeds.recording import LineKind, RecordedLine
from agents.feeds.replay import ReplaySource, open_recording, replay_events
from sdk.adapters.conformance import BookModel
from sdk.adapters.events import FeedEvent


def recordings(shared_data: Path) -> Path:
    return shared_data / "recordings" / "cryptofeed"


def replay(shared_data: Path, venue: str) -> tuple[ReplaySource, list[FeedEvent]]:
    source = open_recording(venue, recordings(shared_data))
    events = list(replay_events(source.session, source.records))
    return source, events


def replace_record(records: list[RecordedLine], index: int, payload: str) -> list[RecordedLine]:
    old = records[index]
    out = list(records)
    out[index] = RecordedLine(old.kind, old.ts, payload, old.url, old.source)
    return out


def received_indices(records: list[RecordedLine], needle: str) -> list[int]:
    return [i for i, r in enumerate(records) if r.kind is LineKind.RECEIVED and needle in r.payload]


def model_of(events: list[FeedEvent]) -> BookModel:
    model = BookModel()
    for event in events:
        model.apply(event)
    return model
