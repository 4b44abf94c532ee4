"""`arbsphere events tail|store|replay` on an embedded log, and the agent config's ``events`` key."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agents.agent_config import ConfigError, parse_config
from arbsphere.cli import app
from registry.events.embedded import EmbeddedLog


def _log(path: Path) -> None:
    log = EmbeddedLog(path, source="agent:v1")
    log.append_many(
        [
            {"event": "plan", "venue": "v1", "session": "s", "sequence": 1, "legs": []},
            {"event": "notice", "detail": "x"},
            {"event": "execution", "venue": "v1", "session": "s", "sequence": 1, "status": "FILLED"},
        ]
    )
    log.close()


def test_tail_prints_records_filtered_and_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    _log(path)
    runner = CliRunner()
    result = runner.invoke(app, ["events", "tail", "--events", str(path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [r["seq"] for r in lines] == [1, 2, 3]
    assert lines[0]["source"] == "agent:v1"
    result = runner.invoke(app, ["events", "tail", "--events", str(path), "--kind", "execution"])
    assert [json.loads(line)["event"]["event"] for line in result.output.splitlines()] == ["execution"]
    result = runner.invoke(app, ["events", "tail", "--events", str(path), "--from", "-1"])
    assert [json.loads(line)["seq"] for line in result.output.splitlines()] == [3]


def test_store_then_replay_give_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    _log(path)
    runner = CliRunner()
    live, again = f"sqlite:///{tmp_path / 'a.sqlite'}", f"sqlite:///{tmp_path / 'b.sqlite'}"
    result = runner.invoke(app, ["events", "store", "--events", str(path), "--store", live])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["position"] == 3
    result = runner.invoke(app, ["events", "replay", "--events", str(path), "--store", again])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["position"] == 3
    assert (
        out["rows"]["ev_events"] == 3 and out["rows"]["ev_plans"] == 1 and out["rows"]["ev_executions"] == 1
    )
    from registry.events.store import EventStore

    a, b = EventStore.open(live), EventStore.open(again)
    assert a.dump() == b.dump()
    a.close()
    b.close()


def test_agent_config_takes_an_events_url() -> None:
    config = parse_config({"venue": "v1", "source": "simulator", "events": "nats://127.0.0.1:4222/agent-v1"})
    assert config.events == "nats://127.0.0.1:4222/agent-v1"
    assert parse_config({"venue": "v1", "source": "simulator"}).events is None
    try:
        parse_config({"venue": "v1", "source": "simulator", "events": ""})
    except ConfigError as exc:
        assert "events" in str(exc)
    else:
        raise AssertionError("an empty events URL was accepted")
