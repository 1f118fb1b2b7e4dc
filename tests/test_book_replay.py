"""Rebuilding the book from real Binance captures, checked against Binance's own bookTicker."""

from __future__ import annotations

import gzip
import logging
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import pytest
from kit import needs_data as kit_needs_data

from engine.book_replay import (
    BinanceBookReplay,
    BookTicker,
    CaptureParser,
    DepthDiff,
    DepthSnapshot,
    MalformedMessage,
    Trade,
    iter_messages,
)
from engine.model.instrument import DEFAULT_INSTRUMENTS
from engine.model.market import BookSide
from engine.model.orders import OrderSide

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ticks_l2"
BTC_0808 = DATA / "hftbacktest_binance_spot_btcusdt_20240808_ws.jsonl.gz"
BTC_0809 = DATA / "hftbacktest_binance_spot_btcusdt_20240809_ws.jsonl.gz"
ETH_0808 = DATA / "hftbacktest_binance_spot_ethusdt_20240808_ws.jsonl.gz"
BTC = DEFAULT_INSTRUMENTS["BTC/USDT"]
ETH = DEFAULT_INSTRUMENTS["ETH/USDT"]

needs_data = kit_needs_data(BTC_0808)


@dataclass
class TickerCheck:
    diffs: int = 0
    exact: int = 0  # diffs whose last update id a bookTicker carries: must agree, always
    inferred: int = 0  # compared with the newest ticker of a lower id (top unchanged since)
    inferred_mismatches: int = 0


def check_against_tickers(replay: BinanceBookReplay) -> TickerCheck:
    """Replay everything; after each diff compare the top with Binance's bookTicker.

    bookTicker carries the update id ``u`` whose result it shows, so when a diff ends on that id
    the book's best levels must equal it exactly. Tickers are pushed on every change of the top, so
    the newest ticker with a lower id should also agree; Binance's 100 ms depth stream very rarely
    conflates a level away, so that inferred check tolerates a handful of misses.
    """
    tickers: dict[int, BookTicker] = {}
    tops: list[tuple[int, tuple[int, int] | None, tuple[int, int] | None]] = []
    for msg in replay:
        if isinstance(msg, BookTicker):
            tickers[msg.update_id] = msg  # tickers may arrive before or after the batched diff
        elif isinstance(msg, DepthDiff):
            book = replay.book
            assert not book.is_crossed(), f"crossed after diff u={msg.last_seq}: {book!r}"
            tops.append((msg.last_seq, book.best_bid(), book.best_ask()))
    ids = sorted(tickers)
    check = TickerCheck(diffs=len(tops))
    for last_seq, bid, ask in tops:
        i = bisect_right(ids, last_seq) - 1
        if i < 0:
            continue
        t = tickers[ids[i]]
        agrees = (bid, ask) == ((t.bid_ticks, t.bid_lots), (t.ask_ticks, t.ask_lots))
        if t.update_id == last_seq:
            check.exact += 1
            assert agrees, (last_seq, bid, ask, t)
        else:
            check.inferred += 1
            check.inferred_mismatches += not agrees
    return check


@needs_data
def test_btc_capture_rebuilds_and_agrees_with_book_ticker() -> None:
    replay = BinanceBookReplay(BTC_0808, BTC)
    check = check_against_tickers(replay)
    stats = replay.stats
    assert stats.gaps == 0
    assert stats.malformed == 0
    assert stats.snapshots == 1
    # pinned counts of the capture: 3451 diffs, the first two end before the snapshot's id
    assert (stats.diffs_applied, stats.diffs_stale) == (3449, 2)
    assert (stats.tickers, stats.trades) == (28040, 9757)
    assert stats.qty_floored == 3  # legacy sub-lot resting sizes (see CaptureParser)
    assert check.diffs == 3449
    assert check.exact == 564  # diffs ending on an update id that a ticker carries verbatim
    assert check.exact + check.inferred == check.diffs
    assert check.inferred_mismatches == 0
    assert replay.book.seq == 50093421584
    assert replay.synced


@needs_data
def test_eth_capture_rebuilds_and_agrees_with_book_ticker() -> None:
    replay = BinanceBookReplay(ETH_0808, ETH)
    check = check_against_tickers(replay)
    assert replay.stats.gaps == 0
    assert replay.stats.malformed == 0
    assert check.diffs == replay.stats.diffs_applied > 3000
    assert check.exact > 500
    assert check.exact + check.inferred == check.diffs
    assert check.inferred_mismatches == 0


@needs_data
def test_consecutive_captures_chain_without_gaps() -> None:
    """The 0809 file continues 0808 (no snapshot of its own): update ids must chain across."""
    replay = BinanceBookReplay([BTC_0808, BTC_0809], BTC)
    check = check_against_tickers(replay)
    assert replay.stats.gaps == 0
    assert replay.stats.snapshots == 1
    assert check.diffs == replay.stats.diffs_applied == 3449 + 3044
    assert check.exact > 1000
    assert check.exact + check.inferred == check.diffs
    # two diffs in the 2024-08-09 fast move miss a level the ticker still shows (Binance's
    # aggregated depth stream drops it, then sends its removal a diff later): known, not ours
    assert check.inferred_mismatches <= 2
    assert replay.book.seq == 50093696318


@needs_data
def test_capture_without_snapshot_never_syncs() -> None:
    replay = BinanceBookReplay(BTC_0809, BTC)
    kinds = {type(m) for m in replay}
    assert kinds == {BookTicker, Trade}  # diffs wait for a snapshot that never comes
    assert not replay.synced
    assert replay.book.best_bid() is None
    assert replay.stats.diffs_applied == 0


@needs_data
def test_first_messages_convert_exactly() -> None:
    msgs = iter_messages(BTC_0808, BTC)
    first = next(msgs)
    assert isinstance(first, DepthDiff)
    assert (first.first_seq, first.last_seq) == (50093239189, 50093239202)
    assert first.ts_init == 1723161253937085768
    assert first.ts_event == 1723161255208 * 1_000_000
    assert first.bids[0] == (6_173_763, 0)
    assert first.asks[0] == (6_183_764, 154_698)  # "61837.64000000", "1.54698000"
    rest = list(msgs)
    trade = next(m for m in rest if isinstance(m, Trade))
    # {"t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true}
    assert trade.tick.trade_id == 3735683259
    assert (trade.tick.price_ticks, trade.tick.size_lots) == (6_183_763, 2_000)
    assert trade.tick.aggressor is OrderSide.SELL  # buyer was the maker
    assert trade.tick.ts_ns == 1723161255342 * 1_000_000
    snap = next(m for m in rest if isinstance(m, DepthSnapshot))
    assert snap.last_update_id == 50093239218
    assert (len(snap.bids), len(snap.asks)) == (1000, 1000)
    assert snap.bids[0] == (6_183_763, 378_826)


def test_parser_rejects_off_tick_prices_and_floors_sub_lot_sizes() -> None:
    parser = CaptureParser(BTC)
    assert parser.ticks("61837.63000000") == 6_183_763
    with pytest.raises(MalformedMessage):
        parser.ticks("61837.635")
    with pytest.raises(MalformedMessage):
        parser.ticks("NaN")
    with pytest.raises(MalformedMessage):
        parser.lots("-1")
    assert parser.lots("25.42618900") == 2_542_618  # real value from the capture
    assert parser.qty_floored == 1
    assert parser.lots("0.00001000") == 1
    assert parser.qty_floored == 1


def test_parser_skips_other_symbols_and_streams() -> None:
    parser = CaptureParser(BTC)
    eth = '1 {"stream":"ethusdt@trade","data":{"e":"trade","s":"ETHUSDT","t":1,"p":"1","q":"1"}}'
    assert parser.parse(eth) is None
    kline = '1 {"stream":"btcusdt@kline_1m","data":{"e":"kline","s":"BTCUSDT"}}'
    assert parser.parse(kline) is None


BAD_LINES = [
    "not a line\n",
    "1723161253937085768 {not json}\n",
    "abc {}\n",
    '1723161254000000000 {"stream":"btcusdt@bookTicker","data":{"s":"BTCUSDT","u":1}}\n',
    '1723161254000000000 {"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT",'
    '"t":1,"p":"61837.001","q":"0.1","T":1,"m":true}}\n',
]


def write_capture(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(lines)
    return path


def real_head(n: int) -> list[str]:
    with gzip.open(BTC_0808, "rt", encoding="utf-8") as fh:
        return [line for _, line in zip(range(n), fh, strict=False)]


@needs_data
def test_malformed_lines_are_logged_counted_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    head = real_head(2_000)
    lines = head[:5] + BAD_LINES[:3] + head[5:500] + BAD_LINES[3:] + head[500:] + ["\n"]
    path = write_capture(tmp_path / "capture.jsonl.gz", lines)
    clean = BinanceBookReplay(write_capture(tmp_path / "clean.jsonl.gz", head), BTC)
    dirty = BinanceBookReplay(path, BTC)
    with caplog.at_level(logging.WARNING, logger="engine.book_replay"):
        clean_msgs = list(clean)
        dirty_msgs = list(dirty)
    assert dirty.stats.malformed == len(BAD_LINES)
    assert dirty.stats.bad_lines == [6, 7, 8, 504, 505]
    assert len([r for r in caplog.records if r.name == "engine.book_replay"]) == len(BAD_LINES)
    assert dirty.stats.lines == len(head) + len(BAD_LINES)
    assert dirty_msgs == clean_msgs  # the bad lines changed nothing else
    assert dirty.stats.gaps == 0
    for side in BookSide:
        assert dirty.book.top(side, 1_000) == clean.book.top(side, 1_000)


@needs_data
def test_corrupt_diff_line_desyncs_the_book(tmp_path: Path) -> None:
    head = real_head(2_000)
    idx = next(i for i, line in enumerate(head) if i > 100 and "depthUpdate" in line)
    lines = [*head[:idx], head[idx][:80] + "\n", *head[idx + 1 :]]
    replay = BinanceBookReplay(write_capture(tmp_path / "capture.jsonl.gz", lines), BTC)
    diffs_after_gap = 0
    for msg in replay:
        if isinstance(msg, DepthDiff) and replay.stats.gaps:
            diffs_after_gap += 1
    assert replay.stats.malformed == 1
    assert replay.stats.gaps == 1  # the next diff no longer continues the update ids
    assert not replay.synced
    assert diffs_after_gap == 0  # nothing is applied to a book known to be wrong


def test_run_follows_binance_procedure_on_parsed_messages() -> None:
    """Buffer before the snapshot, drop stale, straddle once, resync after a gap."""

    def diff(first: int, last: int, bid: tuple[int, int]) -> DepthDiff:
        return DepthDiff(
            ts_init=last, ts_event=last, first_seq=first, last_seq=last, bids=(bid,), asks=()
        )

    def snap(last_id: int, bid: int) -> DepthSnapshot:
        return DepthSnapshot(ts_init=0, last_update_id=last_id, bids=((bid, 1),), asks=((500, 1),))

    d1, d2, d3 = diff(1, 10, (100, 1)), diff(11, 20, (101, 2)), diff(21, 30, (102, 3))
    d5, d6 = diff(41, 50, (103, 4)), diff(51, 60, (104, 5))
    s15, s55 = snap(15, 90), snap(55, 95)
    replay = BinanceBookReplay([], BTC)
    out = list(replay.run([d1, d2, s15, d3, d5, d6, s55]))
    # d1 is stale, d2 straddles 16, d3 continues; d5 gaps and waits, is older than the second
    # snapshot and dropped; d6 straddles 56
    assert out == [s15, d2, d3, s55, d6]
    assert replay.stats.gaps == 1  # d5 (41) did not continue d3 (30)
    assert replay.stats.diffs_stale == 2  # d1 before the first snapshot, d5 before the second
    assert replay.book.seq == 60
    assert replay.book.top(BookSide.BID, 5) == [(104, 5), (95, 1)]
