"""Acceptance on the real recordings: every venue's books maintained through the live parsing path."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from agents.feeds.replay import open_recording, replay_events
from agents.feeds.sequence import UpdateIdChain, Verdict
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, FeedErrorKind, Resync
from tests.feeds.helpers_feeds import model_of, received_indices, recordings, replace_record, replay

pytestmark = pytest.mark.shared


def _errors(events):
    return [e for e in events if isinstance(e, FeedError | Resync)]


def _check_final_books(source, events):
    model = model_of(events)
    for symbol in source.symbols:
        book = source.session.book(symbol)
        assert book is not None, symbol
        assert not book.is_crossed(), symbol
        asks, bids = book.curve_levels(10**6)
        want_asks, want_bids = model.top(symbol, 10**6)
        assert (asks, bids) == (want_asks, want_bids), symbol
        assert all(size > 0 for _, size in asks + bids)


def test_kraken_every_recorded_checksum_matches_the_maintained_book(shared_data):
    source, events = replay(shared_data, "kraken")
    # count the checksummed book updates independently of the parser
    expected = 0
    for record in source.records:
        msg = json.loads(record.payload)
        if isinstance(msg, list) and str(msg[-2]).startswith("book") and "c" in msg[-3]:
            expected += 1
    assert expected == 4269
    assert source.session.maintainer.checksums_verified == expected
    assert _errors(events) == []
    assert sum(isinstance(e, BookUpdate) and e.checksum is not None for e in events) == expected
    _check_final_books(source, events)


def test_kraken_altered_size_is_caught_by_the_checksum_and_never_served(shared_data):
    source = open_recording("kraken", recordings(shared_data))
    index = received_indices(source.records, '"c":"')[100]
    msg = json.loads(source.records[index].payload)
    part = msg[1]
    side = "a" if "a" in part else "b"
    level = part[side][0]
    level[1] = "0.12345678" if level[1] != "0.12345678" else "0.22345678"
    symbol_pair = msg[-1]
    records = replace_record(source.records, index, json.dumps(msg))
    events = list(replay_events(source.session, records))
    errors = [e for e in events if isinstance(e, FeedError)]
    assert len(errors) == 1 and errors[0].kind is FeedErrorKind.CHECKSUM_MISMATCH
    symbol = errors[0].symbol
    assert symbol == symbol_pair.replace("XBT", "BTC").replace("/", "-")
    after = events[events.index(errors[0]) :]
    assert any(isinstance(e, Resync) and e.symbol == symbol for e in after)
    assert not any(isinstance(e, BookUpdate | BookSnapshot) and e.symbol == symbol for e in after)
    assert source.session.book(symbol) is None
    assert source.session.maintainer.dropped_updates > 0


def test_binance_chain_is_followed_on_the_recording(shared_data):
    source, events = replay(shared_data, "binance")
    assert _errors(events) == []
    snapshots = [e for e in events if isinstance(e, BookSnapshot)]
    updates = [e for e in events if isinstance(e, BookUpdate)]
    assert len(snapshots) == 4 and len(updates) == 172
    assert source.session.gaps == 0
    # consecutive applied updates of one symbol continue the chain exactly
    for symbol in source.symbols:
        ids = [
            json.loads(r.payload)["data"]
            for r in source.records
            if f'"s":"{symbol.replace("-", "")}"' in r.payload
        ]
        applied = [d for d in ids if d.get("e") == "depthUpdate"]
        chain = source.session.chains[symbol]
        assert chain.last_id == applied[-1]["u"]
    _check_final_books(source, events)


def test_update_id_chain_rules():
    chain = UpdateIdChain(100)
    assert chain.accept(90, 100) is Verdict.STALE
    assert chain.accept(95, 105) is Verdict.APPLY
    assert chain.accept(106, 110) is Verdict.APPLY
    assert chain.accept(108, 110) is Verdict.GAP  # the past once running: a mangled event, never skipped
    assert chain.accept(112, 115) is Verdict.GAP
    assert UpdateIdChain(100).accept(102, 110) is Verdict.GAP
    assert UpdateIdChain(100).accept(110, 105) is Verdict.GAP


def _binance_gap_setup(shared_data):
    source = open_recording("binance", recordings(shared_data))
    symbol_tag = '"s":"NKNUSDT"'
    depth = [
        i for i in received_indices(source.records, symbol_tag) if "depthUpdate" in source.records[i].payload
    ]
    return source, depth


def test_binance_injected_gap_voids_the_book_and_resyncs_from_a_fresh_snapshot(shared_data):
    # the clean run gives the true book after the message that follows the gap
    clean, depth = _binance_gap_setup(shared_data)
    cut, resume = depth[10], depth[11]
    clean_events = list(replay_events(clean.session, clean.records[: resume + 1]))
    true_book = clean.session.book("NKN-USDT")
    assert true_book is not None
    resume_u = json.loads(clean.records[resume].payload)["data"]["u"]
    fresh = {
        "lastUpdateId": resume_u,
        "bids": [[repr(p), repr(s)] for p, s in true_book.bids.levels(10**6)],
        "asks": [[repr(p), repr(s)] for p, s in true_book.asks.levels(10**6)],
    }
    assert clean_events

    source, _ = _binance_gap_setup(shared_data)
    url = "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000"
    source.session.feed.http_conn.add(url, json.dumps(fresh))
    records = source.records[:cut] + source.records[cut + 1 :]
    events = list(replay_events(source.session, records))
    gap = [e for e in events if isinstance(e, FeedError)]
    assert [e.kind for e in gap] == [FeedErrorKind.SEQUENCE_GAP] and gap[0].symbol == "NKN-USDT"
    assert "do not continue the chain" in gap[0].detail
    after = events[events.index(gap[0]) :]
    assert isinstance(after[1], Resync) and after[1].symbol == "NKN-USDT"
    # nothing for the symbol until the fresh snapshot, which is the true book
    later = [
        e
        for e in after
        if getattr(e, "symbol", None) == "NKN-USDT" and isinstance(e, BookSnapshot | BookUpdate)
    ]
    assert isinstance(later[0], BookSnapshot) and later[0].sequence == resume_u
    # after resync, the book ends equal to the clean replay's final book
    full = open_recording("binance", recordings(shared_data))
    list(replay_events(full.session, full.records))
    ours, truth = source.session.book("NKN-USDT"), full.session.book("NKN-USDT")
    assert ours is not None and truth is not None
    assert ours.curve_levels(10**6) == truth.curve_levels(10**6)
    assert source.session.gaps == 1


def test_binance_gap_without_a_snapshot_left_keeps_the_book_void(shared_data):
    source, depth = _binance_gap_setup(shared_data)
    records = source.records[: depth[10]] + source.records[depth[10] + 1 :]
    events = list(replay_events(source.session, records))
    kinds = [e.kind for e in events if isinstance(e, FeedError)]
    assert kinds == [FeedErrorKind.SEQUENCE_GAP, FeedErrorKind.SNAPSHOT_UNAVAILABLE]
    assert source.session.book("NKN-USDT") is None
    assert source.session.book("BLZ-ETH") is not None


def test_bitstamp_books_start_from_rest_snapshots_and_stay_consistent(shared_data):
    source, events = replay(shared_data, "bitstamp")
    assert _errors(events) == []
    snapshots = {e.symbol: e for e in events if isinstance(e, BookSnapshot)}
    assert len(snapshots) == 10
    # every REST snapshot is installed exactly as answered
    session = source.session
    for record in source.records:
        if record.url and "/order_book/" in record.url:
            body = json.loads(record.payload)
            symbol = session.feed.exchange_symbol_to_std_symbol(record.url.rsplit("/", 1)[-1])
            snap = snapshots[symbol]
            assert snap.bids == tuple((float(p), float(s)) for p, s in body["bids"])
            assert snap.asks == tuple((float(p), float(s)) for p, s in body["asks"])
            assert snap.exchange_ts == int(body["microtimestamp"]) / 1e6
            # diffs the snapshot already contains (microtimestamp <= its own) agree with it
            gate = int(body["microtimestamp"])
            book_levels = {("bid", float(p)): float(s) for p, s in body["bids"]}
            book_levels.update({("ask", float(p)): float(s) for p, s in body["asks"]})
            lowest_bid, highest_ask = float(body["bids"][-1][0]), float(body["asks"][-1][0])
            latest: dict[tuple[str, float], float] = {}
            for diff in source.records:
                if f'"channel":"diff_order_book_{record.url.rsplit("/", 1)[-1]}"' not in diff.payload.replace(
                    " ", ""
                ):
                    continue
                message = json.loads(diff.payload)
                if message.get("event") != "data":
                    continue
                data = message["data"]
                if int(data["microtimestamp"]) <= gate:
                    for side in ("bid", "ask"):
                        for p, s in data[side + "s"]:
                            latest[(side, float(p))] = float(s)
            for (side, price), size in latest.items():
                inside = price >= lowest_bid if side == "bid" else price <= highest_ask
                if inside:
                    assert book_levels.get((side, price), 0.0) == size, (symbol, side, price)
    assert session.discarded > 0
    _check_final_books(source, events)


def test_gemini_first_message_is_the_full_book_and_books_stay_consistent(shared_data):
    source, events = replay(shared_data, "gemini")
    assert _errors(events) == []
    first = {}
    for e in events:
        if isinstance(e, BookSnapshot | BookUpdate):
            first.setdefault(e.symbol, e)
    assert all(isinstance(e, BookSnapshot) and len(e.bids) > 10 for e in first.values())
    assert len(first) == 10
    _check_final_books(source, events)


def test_coinbase_legacy_level2_replay_is_consistent(shared_data):
    source, events = replay(shared_data, "coinbase")
    assert _errors(events) == []
    assert sum(isinstance(e, BookSnapshot) for e in events) == 10
    assert sum(isinstance(e, BookUpdate) for e in events) == 9719
    trades = [e for e in events if e.__class__.__name__ == "Trade"]
    assert len(trades) == 107 and all(t.exchange_ts is not None for t in trades)
    _check_final_books(source, events)


@pytest.mark.parametrize("venue", ["kraken", "binance", "bitstamp", "gemini", "coinbase"])
@pytest.mark.parametrize("damage", ["truncate", "garbage", "nan"])
def test_corrupted_messages_give_an_error_and_a_resync_never_a_wrong_book(shared_data, venue, damage):
    clean, _ = replay(shared_data, venue)
    source = open_recording(venue, recordings(shared_data))
    book_lines = [
        i
        for i, r in enumerate(source.records)
        if r.kind.value == "received"
        and any(k in r.payload for k in ("depthUpdate", "book-", "l2update", "l2_updates", "diff_order_book"))
    ]
    index = book_lines[3 * len(book_lines) // 4]  # past every snapshot
    payload = source.records[index].payload
    if damage == "truncate":
        damaged = payload[: len(payload) // 2]
    elif damage == "garbage":
        damaged = "\x00\x13garbage" + payload[5:]
    else:
        damaged = re.sub(r'("\d+\.\d+"),\s*"\d+\.\d+"', r'\1,"NaN"', payload, count=1)  # a size
        assert damaged != payload
    records = replace_record(source.records, index, damaged)
    events = list(replay_events(source.session, records))
    errors = [e for e in events if isinstance(e, FeedError)]
    assert errors, "the damaged message produced no error"
    assert errors[0].detail
    assert any(isinstance(e, Resync) for e in events)
    # never a wrong book: each symbol ends either void or equal to the clean replay's book
    for symbol in source.symbols:
        ours = source.session.book(symbol)
        if ours is None:
            continue
        truth = clean.session.book(symbol)
        assert truth is not None
        assert ours.curve_levels(10**6) == truth.curve_levels(10**6), (venue, damage, symbol)


def test_unreadable_record_line_is_a_malformed_error(shared_data):
    from agents.feeds.recording import LineKind, RecordedLine

    source = open_recording("gemini", recordings(shared_data))
    bad = RecordedLine(
        LineKind.CORRUPT, source.records[50].ts, "unrecognised record line 'xx'", None, "GEMINI.ws.1.0:52"
    )
    records = [*source.records[:50], bad, *source.records[50:]]
    events = list(replay_events(source.session, records))
    errors = [e for e in events if isinstance(e, FeedError)]
    assert errors[0].kind is FeedErrorKind.MALFORMED and "GEMINI.ws.1.0:52" in errors[0].detail
    assert len({e.symbol for e in events if isinstance(e, Resync)}) == 10


def test_decimal_strings_survive(shared_data):
    # Kraken keeps trailing zeros for the checksum: Decimal formatting never leaks scientific notation
    assert format(Decimal("0.00000010"), "f") == "0.00000010"
