"""`arbsphere events`: read an agent's or coordinator's event log, and build the event store from it.

``--events`` names the log as ``agent run`` and ``coordinator serve`` write it: a file (the embedded log,
``events.jsonl`` in the agent's state directory or next to the coordinator's ledger) or
``nats://host:port/<scope>`` (JetStream; the scope is ``agent-<venue>`` or ``coordinator-<region>``).

- ``tail`` prints records as JSON lines (``--follow`` waits for new ones);
- ``store`` runs the store writer: a durable consumer that applies the log to the event store and
  acknowledges; killed and restarted it resumes after its last acknowledged record;
- ``replay`` rebuilds the event store from the whole log (the same rows the store writer wrote).
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from registry.events.log import EventLog, EventLogError, open_log

app = typer.Typer(
    help="The event log: tail it, and build or rebuild the event store from it.", no_args_is_help=True
)

EventsOption = Annotated[
    str, typer.Option("--events", help="The log: a file (embedded) or nats://host:port/<scope> (JetStream).")
]
StoreOption = Annotated[str, typer.Option("--store", help="SQLAlchemy URL of the event store.")]


def _print(event: dict[str, object]) -> None:
    print(json.dumps(event, sort_keys=True), flush=True)


def _open(url: str) -> EventLog:
    try:
        return open_log(url, scope="default", source="events-cli")
    except EventLogError as exc:
        raise typer.BadParameter(str(exc), param_hint="--events") from None


@app.command("tail")
def tail_command(
    events: EventsOption,
    start: Annotated[
        int, typer.Option("--from", help="First sequence to print (negative: from the end).")
    ] = 1,
    follow: Annotated[bool, typer.Option(help="Keep waiting for new records.")] = False,
    kind: Annotated[list[str] | None, typer.Option(help="Only these event kinds (repeatable).")] = None,
) -> None:
    """Print the log's records as JSON lines: {"seq", "ts", "source", "event"}."""
    log = _open(events)
    kinds = set(kind or ())
    try:
        at = start if start > 0 else max(1, log.last_sequence() + 1 + start)
        while True:
            for record in log.read(at):
                at = record.sequence + 1
                if not kinds or record.kind in kinds:
                    _print(record.to_json())
            if not follow:
                break
            time.sleep(0.2)
    except EventLogError as exc:
        raise typer.BadParameter(str(exc), param_hint="--events") from None
    except KeyboardInterrupt:
        pass
    finally:
        log.close()


@app.command("store")
def store_command(
    events: EventsOption,
    store: StoreOption = "sqlite:///var/events-store.sqlite",
    consumer: Annotated[str, typer.Option(help="Durable consumer name.")] = "store",
    follow: Annotated[bool, typer.Option(help="Keep applying new records until stopped.")] = False,
) -> None:
    """Apply the log to the event store through a durable consumer (resumes where it acknowledged)."""
    from registry.events.store import EventStore, StoreWriter

    _mkdir_for(store)
    log = _open(events)
    target = EventStore.open(store)
    try:
        writer = StoreWriter(log, target, name=consumer)
        try:
            position = writer.run(follow=follow)
        except KeyboardInterrupt:
            position = target.position()
        finally:
            writer.close()
        _print({"event": "store", "position": position, "log": log.url, "store": store})
    except EventLogError as exc:
        raise typer.BadParameter(str(exc), param_hint="--events") from None
    finally:
        target.close()
        log.close()


@app.command("replay")
def replay_command(events: EventsOption, store: StoreOption = "sqlite:///var/events-store.sqlite") -> None:
    """Rebuild the event store from the whole log (drops and re-creates its tables)."""
    from registry.events.store import EventStore, replay

    _mkdir_for(store)
    log = _open(events)
    target = EventStore.open(store)
    try:
        position = replay(log, target)
        counts = target.counts()
        _print({"event": "replayed", "position": position, "log": log.url, "store": store, "rows": counts})
    except EventLogError as exc:
        raise typer.BadParameter(str(exc), param_hint="--events") from None
    finally:
        target.close()
        log.close()


def _mkdir_for(url: str) -> None:
    from pathlib import Path

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
