"""`arbsphere replay` and `arbsphere backtest`: recorded exchange messages through the live parsing path.

``replay`` pushes one venue's recording (``../shared/data/recordings/cryptofeed`` layout) through the very
session class the live agent uses and reports what came out: messages, snapshots, updates, resyncs, errors,
throughput, and the final top of each book. ``backtest`` replays several venues' recordings as one market
and trades it twice on paper, ArbSphere's federated plans next to the fixed-size two-venue bot, printing
profit and capture rate side by side (``agents.backtest`` documents what is real and what is synthetic).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_RECORDINGS = Path("../shared/data/recordings/cryptofeed")


def _print(event: dict[str, object]) -> None:
    print(json.dumps(event, sort_keys=True), flush=True)


def _recordings(path: Path) -> Path:
    if not path.is_dir():
        raise typer.BadParameter(f"{path} is not a directory of recordings", param_hint="--recordings")
    return path


def replay(
    venue: Annotated[
        str,
        typer.Option(help="Venue whose recording to replay (binance, bitstamp, coinbase, gemini, kraken)."),
    ],
    recordings: Annotated[Path, typer.Option(help="Folder of cryptofeed recordings.")] = DEFAULT_RECORDINGS,
    depth: Annotated[int, typer.Option(min=1, max=50, help="Levels per side shown at the end.")] = 3,
) -> None:
    """Replay one venue's recorded messages through the live parser; print counts and final books."""
    from agents.feeds.replay import load_recording, replay_events
    from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, Resync, Trade

    try:
        loaded = load_recording(venue, _recordings(recordings))
    except (ValueError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--venue") from None
    source = loaded.open()
    counts = {"snapshots": 0, "updates": 0, "resyncs": 0, "errors": 0, "trades": 0}
    errors: list[str] = []
    started = time.perf_counter()
    for event in replay_events(source.session, source.records):
        if isinstance(event, BookSnapshot):
            counts["snapshots"] += 1
        elif isinstance(event, BookUpdate):
            counts["updates"] += 1
        elif isinstance(event, Resync):
            counts["resyncs"] += 1
        elif isinstance(event, FeedError):
            counts["errors"] += 1
            if len(errors) < 5:
                errors.append(f"{event.kind.value}: {event.detail}"[:200])
        elif isinstance(event, Trade):
            counts["trades"] += 1
    elapsed = time.perf_counter() - started
    books: dict[str, object] = {}
    for symbol in source.symbols:
        book = source.session.book(symbol)
        if book is None:
            books[symbol] = "void"
            continue
        asks, bids = book.curve_levels(depth)
        books[symbol] = {"bids": bids, "asks": asks}
    messages = len(source.records)
    _print(
        {
            "event": "replay",
            "venue": venue,
            "messages": messages,
            "seconds": round(elapsed, 4),
            "messages_per_s": round(messages / elapsed) if elapsed > 0 else None,
            **counts,
            "first_errors": errors,
            "books": books,
        }
    )


def backtest(
    recordings: Annotated[Path, typer.Option(help="Folder of cryptofeed recordings.")] = DEFAULT_RECORDINGS,
    seed: Annotated[int, typer.Option(help="Seed of the injected cross-venue dislocations.")] = 0,
    dislocation_bps: Annotated[
        float, typer.Option(min=0.0, max=1000.0, help="Size of injected mispricings.")
    ] = 80.0,
    bot_usd: Annotated[float, typer.Option(min=1.0, help="The fixed-size bot's trade size (USD).")] = 1000.0,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Stop after this many 100 ms frames.")] = None,
) -> None:
    """Trade the recorded market on paper: ArbSphere's federated plans vs the fixed-size two-venue bot."""
    from agents.backtest import (
        DEFAULT_REPLAY,
        Dislocations,
        FixedSizeBaseline,
        MarketFrame,
        RecordedMarket,
        Strategy,
        run_backtest,
        venue_specs,
    )
    from arbsphere.federated import ArbSphereStrategy

    reference_price = 100.0
    market = RecordedMarket(
        _recordings(recordings),
        DEFAULT_REPLAY,
        dislocations=Dislocations(seed, bps=dislocation_bps) if dislocation_bps > 0 else None,
        anchor="tick" if dislocation_bps > 0 else "start",
        reference_price=reference_price,
        max_frames=max_frames,
    )
    specs = venue_specs(v.venue for v in DEFAULT_REPLAY)
    size = Decimal(repr(bot_usd)) / Decimal(repr(reference_price))
    strategies: list[Strategy] = [
        ArbSphereStrategy(specs, name="arbsphere", reference_price=reference_price),
        FixedSizeBaseline(specs, size, name="fixed_size_bot"),
    ]
    started = time.perf_counter()
    frames_seen = [0]

    def frames() -> Iterator[MarketFrame]:
        for frame in market.frames():
            frames_seen[0] += 1
            if frames_seen[0] % 50 == 0:
                typer.echo(f"  {frames_seen[0]} frames", err=True)
            yield frame

    result = run_backtest(frames(), strategies, specs)
    elapsed = time.perf_counter() - started
    ours, bot = result.strategies["arbsphere"], result.strategies["fixed_size_bot"]
    optimum = sum((t.optimum_usd or 0.0) for t in ours.ticks)
    _print(
        {
            "event": "backtest",
            "frames": result.frames,
            "seconds": round(elapsed, 2),
            "venues": [f"{v.venue}:{v.symbol}" for v in DEFAULT_REPLAY],
            "arbsphere_profit_usd": format(ours.profit_usd, ".4f"),
            "bot_profit_usd": format(bot.profit_usd, ".4f"),
            "arbsphere_over_bot": (float(ours.profit_usd) / float(bot.profit_usd))
            if bot.profit_usd > 0
            else None,
            "arbsphere_capture_of_optimum": (float(ours.profit_usd) / optimum) if optimum > 0 else None,
            "bot_capture_of_optimum": (float(bot.profit_usd) / optimum) if optimum > 0 else None,
            "optimum_usd": round(optimum, 4),
            "arbsphere_trades": ours.trades,
            "bot_trades": bot.trades,
            "arbsphere_fees_usd": format(ours.fees_usd, ".4f"),
            "bot_fees_usd": format(bot.fees_usd, ".4f"),
        }
    )
