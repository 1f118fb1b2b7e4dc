"""Market-data views: build the model, then the view, feed real snapshots, assert on the view."""

from __future__ import annotations

import csv
import gzip
import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from snapshots import (
    T0_NS,
    book_view,
    candle_view,
    default_candles,
    default_levels,
    default_trades,
    evolve,
    make_fill,
    make_snapshot,
    order_view,
    trade_view,
)

from engine.model.instrument import DEFAULT_INSTRUMENTS
from engine.snapshot import CandleView
from widgets import theme
from widgets.candle_chart import CandleChartWidget
from widgets.chart_model import BarSeries, fill_markers
from widgets.depth_chart import DepthChartWidget
from widgets.ladder import (
    MINE_COL,
    PRICE_COL,
    SIZE_COL,
    TOTAL_COL,
    LadderModel,
    LadderWidget,
    RowKind,
)
from widgets.selection import SymbolSelection
from widgets.trades_tape import OURS_ROLE, TRADE_ROLE, TradesTapeWidget

D = Decimal
BTC = "BTC/USDT"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DISPLAY = Qt.ItemDataRole.DisplayRole
W = TypeVar("W", bound=QWidget)


pytestmark = pytest.mark.usefixtures("no_leaked_threads_or_timers")


@pytest.fixture
def selection() -> SymbolSelection:
    return SymbolSelection(BTC)


def text(model: QAbstractItemModel, row: int, col: int) -> str:
    return str(model.index(row, col).data(DISPLAY))


def _show(qtbot: QtBot, widget: W, width: int = 420, height: int = 900) -> W:
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


# ================================================================ ladder
@pytest.fixture
def ladder(qtbot: QtBot, selection: SymbolSelection) -> LadderWidget:
    return _show(qtbot, LadderWidget(selection, depth=20))


def test_ladder_shows_best_levels_spread_and_cumulative(ladder: LadderWidget) -> None:
    ladder.apply_snapshot(make_snapshot())
    model = ladder.view.model()
    depth = 20
    assert model.rowCount() == 2 * depth + 1
    # Best ask sits just above the spread row, best bid just below; BTC: 2 price / 5 qty places.
    assert text(model, depth - 1, PRICE_COL) == "60,000.10"
    assert text(model, depth - 1, SIZE_COL) == "0.03000"
    assert text(model, depth + 1, PRICE_COL) == "60,000.00"
    assert text(model, depth + 1, SIZE_COL) == "0.03000"
    # Worst shown ask on top, worst bid at the bottom.
    assert text(model, 0, PRICE_COL) == "60,002.00"
    assert text(model, 2 * depth, PRICE_COL) == "59,998.10"
    # Cumulative sizes: 0.03, +0.01, +0.04, +0.01 ... (SIZE_PATTERN x 0.01).
    assert [text(model, depth - 1 - i, TOTAL_COL) for i in range(4)] == [
        "0.03000",
        "0.04000",
        "0.08000",
        "0.09000",
    ]
    assert [text(model, depth + 1 + i, TOTAL_COL) for i in range(4)] == [
        "0.03000",
        "0.04000",
        "0.08000",
        "0.09000",
    ]
    assert text(model, 2 * depth, TOTAL_COL) == "0.88000"
    spread = text(model, depth, 0)
    assert "spread 0.10" in spread
    assert "mid 60,000.05" in spread
    assert ladder.view.columnSpan(depth, 0) == 4
    # Colours: ask prices red, bid prices green; bars only on size/total of level rows.
    assert model.index(depth - 1, PRICE_COL).data(Qt.ItemDataRole.ForegroundRole) == (
        theme.qcolor(theme.ASK)
    )
    assert model.index(depth + 1, PRICE_COL).data(Qt.ItemDataRole.ForegroundRole) == (
        theme.qcolor(theme.BID)
    )


def test_ladder_uses_instrument_precision(ladder: LadderWidget, selection: SymbolSelection) -> None:
    ladder.apply_snapshot(make_snapshot())
    selection.set_symbol("XRP/USDT")  # tick 0.0001, lot 0.1
    model = ladder.model
    assert text(model, 19, PRICE_COL) == "0.5001"
    assert text(model, 21, PRICE_COL) == "0.5000"
    assert text(model, 21, SIZE_COL) == "300.0"
    assert "mid 0.50005" in text(model, 20, 0)


def test_ladder_thin_book_leaves_far_rows_blank(ladder: LadderWidget) -> None:
    book = book_view(bids=[("59990.00", "1.5")], asks=[("60010.00", "0.25"), ("60011.00", "2")])
    ladder.apply_snapshot(make_snapshot(books={BTC: book}))
    model = ladder.model
    assert text(model, 19, PRICE_COL) == "60,010.00"
    assert text(model, 18, PRICE_COL) == "60,011.00"
    assert text(model, 18, TOTAL_COL) == "2.25000"
    assert text(model, 17, PRICE_COL) == ""
    assert model.row_info(17) == (RowKind.EMPTY, None)
    assert text(model, 21, SIZE_COL) == "1.50000"
    assert text(model, 22, PRICE_COL) == ""


def test_ladder_without_one_side_has_no_spread(ladder: LadderWidget) -> None:
    book = book_view(bids=[], asks=[("60010.00", "0.25")])
    ladder.apply_snapshot(make_snapshot(books={BTC: book}))
    assert "no spread" in text(ladder.model, 20, 0)
    assert text(ladder.model, 19, PRICE_COL) == "60,010.00"


def test_ladder_marks_our_open_orders(ladder: LadderWidget) -> None:
    orders = [
        order_view("b1", side="buy", qty="0.05", price="59999.80"),  # on a public level
        order_view("b2", side="buy", qty="0.01", price="59999.80"),  # same price: summed
        order_view("b3", side="buy", qty="0.04", price="59999.95"),  # between levels
        order_view("s1", side="sell", qty="0.02", price="60000.20", filled_qty="0.005"),
        order_view("x1", side="sell", qty="0.5", price="60000.30", status="cancelled"),
        order_view("e1", symbol="ETH/USDT", side="buy", qty="1", price="59999.90"),
    ]
    ladder.apply_snapshot(make_snapshot(orders=orders))
    model = ladder.model
    rows = {text(model, r, PRICE_COL): r for r in range(model.rowCount())}
    assert text(model, rows["59,999.80"], MINE_COL) == "0.06000"
    assert text(model, rows["60,000.20"], MINE_COL) == "0.01500"  # remaining, not original
    assert text(model, rows["60,000.30"], MINE_COL) == ""  # cancelled: not shown
    assert text(model, rows["59,999.90"], MINE_COL) == ""  # another symbol's order
    # A price only we quote gets its own row, with no public size, between its neighbours.
    own_only = rows["59,999.95"]
    assert own_only == 22  # best bid 60000.00 at 21, then our 59999.95, then 59999.90
    assert text(model, own_only, MINE_COL) == "0.04000"
    assert text(model, own_only, SIZE_COL) == ""
    assert text(model, own_only, TOTAL_COL) == "0.03000"
    assert model.index(own_only, MINE_COL).data(Qt.ItemDataRole.BackgroundRole) == (
        theme.qcolor(theme.OWN_ORDER_BG)
    )
    assert text(model, 40, PRICE_COL) == "59,998.20"  # the 20th bid dropped out of view


def _click_row(qtbot: QtBot, ladder: LadderWidget, row: int) -> None:
    index = ladder.model.index(row, PRICE_COL)
    ladder.view.scrollTo(index)
    rect = ladder.view.visualRect(index)
    assert ladder.view.viewport().rect().contains(rect.center())
    viewport = ladder.view.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())  # type: ignore[no-untyped-call]


def test_clicking_an_ask_buys_and_a_bid_sells_at_that_price(
    qtbot: QtBot, ladder: LadderWidget, selection: SymbolSelection
) -> None:
    ladder.apply_snapshot(make_snapshot())
    with qtbot.waitSignal(selection.price_clicked) as blocker:
        _click_row(qtbot, ladder, 18)  # second-best ask
    assert blocker.args == ["buy", D("60000.20")]
    assert isinstance(blocker.args[1], Decimal)
    with qtbot.waitSignal(selection.price_clicked) as blocker:
        _click_row(qtbot, ladder, 21)  # best bid
    assert blocker.args == ["sell", D("60000.00")]


def test_clicking_spread_or_blank_rows_emits_nothing(
    qtbot: QtBot, ladder: LadderWidget, selection: SymbolSelection
) -> None:
    ladder.apply_snapshot(make_snapshot(books={BTC: book_view(levels=3)}))
    with qtbot.assertNotEmitted(selection.price_clicked):
        _click_row(qtbot, ladder, 20)  # spread
        _click_row(qtbot, ladder, 5)  # blank (only 3 asks)


def test_ladder_same_snapshot_twice_does_no_work(qtbot: QtBot, ladder: LadderWidget) -> None:
    model = ladder.model
    changed: list[tuple[int, int]] = []
    resets: list[bool] = []
    model.dataChanged.connect(lambda tl, br, roles=(): changed.append((tl.row(), br.row())))
    model.modelReset.connect(lambda: resets.append(True))
    snap = make_snapshot()
    ladder.apply_snapshot(snap)
    assert model.rebuilds == 1
    assert len(changed) == 1
    ladder.apply_snapshot(snap)
    assert ladder.skipped == 1
    assert model.rebuilds == 1
    assert len(changed) == 1
    # A new frame whose book is a new but equal object: rows compared, nothing emitted.
    same = evolve(snap, books={BTC: book_view(seq=2)})
    ladder.apply_snapshot(same)
    assert len(changed) == 1
    # Shrink the worst bid (0.08 -> 0.07): one row changes, nothing else (no max moved).
    bids = list(default_levels(BTC, "bid"))
    bids[19] = (bids[19][0], D("0.07"))
    ladder.apply_snapshot(evolve(same, books={BTC: book_view(bids=bids, seq=3)}))
    assert changed[1:] == [(40, 40)]
    assert text(model, 40, SIZE_COL) == "0.07000"
    assert not resets


def test_ladder_depth_is_configurable(qtbot: QtBot, selection: SymbolSelection) -> None:
    ladder = _show(qtbot, LadderWidget(selection, depth=5))
    ladder.apply_snapshot(make_snapshot())
    assert ladder.model.rowCount() == 11
    assert text(ladder.model, 4, PRICE_COL) == "60,000.10"
    assert text(ladder.model, 0, PRICE_COL) == "60,000.50"
    with qtbot.waitSignal(ladder.model.modelReset):
        ladder.set_depth(3)
    assert ladder.model.rowCount() == 7
    assert text(ladder.model, 2, PRICE_COL) == "60,000.10"
    assert text(ladder.model, 6, TOTAL_COL) == "0.08000"
    assert ladder.view.columnSpan(3, 0) == 4
    with pytest.raises(ValueError, match="depth"):
        LadderModel(0)


def test_ladder_follows_symbol_selection(ladder: LadderWidget, selection: SymbolSelection) -> None:
    ladder.apply_snapshot(make_snapshot())
    selection.set_symbol("ETH/USDT")
    assert text(ladder.model, 19, PRICE_COL) == "3,000.05"
    assert text(ladder.model, 21, SIZE_COL) == "0.3000"


def _texts(model: LadderModel) -> list[tuple[str, ...]]:
    columns = range(model.columnCount())
    return [tuple(text(model, r, c) for c in columns) for r in range(model.rowCount())]


def test_ladder_redoes_only_the_rows_that_changed(ladder: LadderWidget) -> None:
    """A frame re-formats exactly the rows whose texts changed; the same book in a new snapshot
    re-formats nothing and signals nothing. (The time per frame is a ``make bench`` row.)"""
    base = make_snapshot()
    ladder.apply_snapshot(base)
    model = ladder.model
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b: changed.append((a.row(), b.row())))
    bids = list(default_levels(BTC, "bid"))
    frames = [
        [(p, q + D("0.01")) if i == 3 else (p, q) for i, (p, q) in enumerate(bids)],  # one size
        [(p - D("0.10"), q) for p, q in bids],  # the bids move down a tick
        bids[:12],  # the book thins out
        bids,
    ]
    for seq, levels in enumerate(frames, start=2):
        before_texts, formatted, signals = _texts(model), model.rows_formatted, len(changed)
        ladder.apply_snapshot(evolve(base, books={BTC: book_view(bids=levels, seq=seq)}))
        after_texts = _texts(model)
        moved = [r for r in range(model.rowCount()) if before_texts[r] != after_texts[r]]
        assert moved, "each frame changes something visible"
        if seq == 2:  # one size: that row and the running totals below it, nothing else
            assert moved == list(range(model.spread_row + 1 + 3, model.rowCount()))
        assert model.rows_formatted - formatted == len(moved)
        assert len(changed) == signals + 1  # one dataChanged per frame, over the changed rows
        first, last = changed[-1]
        assert first <= moved[0]
        assert moved[-1] <= last

    # The same levels in a new snapshot object: compared, found equal, nothing redone.
    formatted, signals, rebuilds = model.rows_formatted, len(changed), model.rebuilds
    ladder.apply_snapshot(evolve(base, books={BTC: book_view(bids=bids, seq=99)}))
    assert model.rows_formatted == formatted
    assert len(changed) == signals
    assert model.rebuilds == rebuilds


# ================================================================ depth chart
def test_depth_chart_curves_are_cumulative_depth(qtbot: QtBot, selection: SymbolSelection) -> None:
    chart = _show(qtbot, DepthChartWidget(selection), 600, 400)
    snap = make_snapshot()
    chart.apply_snapshot(snap)
    book = snap.books[BTC]
    bx, by = chart.bid_curve.getData()
    ax, ay = chart.ask_curve.getData()
    bid_cum = np.cumsum([float(q) for _, q in book.bids])
    ask_cum = np.cumsum([float(q) for _, q in book.asks])
    # Bids: x ascending, so the best bid (largest price, smallest cumulative) is last.
    np.testing.assert_allclose(by, bid_cum[::-1])
    np.testing.assert_allclose(bx[1:], [float(p) for p, _ in reversed(book.bids)])
    assert bx[0] < bx[1]  # the outermost level has width too
    np.testing.assert_allclose(ay, ask_cum)
    np.testing.assert_allclose(ax[:-1], [float(p) for p, _ in book.asks])
    assert ax[-1] > ax[-2]
    assert by[-1] == pytest.approx(0.03)
    assert ay[-1] == pytest.approx(0.88)
    assert chart.mid_line.value() == pytest.approx(60000.05)
    assert chart.mid_line.isVisible()
    chart.grab()  # paints without errors


def test_depth_chart_skips_unchanged_books_and_limits_depth(
    qtbot: QtBot, selection: SymbolSelection
) -> None:
    chart = _show(qtbot, DepthChartWidget(selection, levels=5), 600, 400)
    chart.redraw_interval_s = 0.0  # no frame-rate throttle: every changed book redraws
    snap = make_snapshot()
    chart.apply_snapshot(snap)
    chart.apply_snapshot(snap)
    chart.apply_snapshot(evolve(snap, books={BTC: book_view(seq=9)}))  # equal content
    assert chart.redraws == 1
    assert len(chart.ask_curve.getData()[1]) == 5
    chart.apply_snapshot(evolve(snap, books={BTC: book_view(bids=[], asks=[("60001", "1")])}))
    assert chart.redraws == 2
    _, bid_y = chart.bid_curve.getData()
    assert bid_y is None or len(bid_y) == 0  # pyqtgraph reports an empty curve as None
    assert not chart.mid_line.isVisible()


# ================================================================ trades tape
@pytest.fixture
def tape(qtbot: QtBot, selection: SymbolSelection) -> TradesTapeWidget:
    return _show(qtbot, TradesTapeWidget(selection, max_rows=12), 400, 400)


def test_tape_shows_newest_first_coloured_by_aggressor(tape: TradesTapeWidget) -> None:
    snap = make_snapshot()
    tape.apply_snapshot(snap)
    model = tape.view.model()
    trades = snap.trades[BTC]  # oldest first, as the engine keeps them
    assert model.rowCount() == len(trades)
    assert [model.index(r, 0).data(TRADE_ROLE).trade_id for r in range(model.rowCount())] == list(
        range(10, 0, -1)
    )
    assert text(model, 0, 0) == "12:34:56.789"
    assert text(model, 1, 0) == "12:34:56.539"
    newest = trades[-1]
    assert text(model, 0, 1) == f"{newest.price:,.2f}"
    assert text(model, 0, 2) == "0.02000"
    for row in range(model.rowCount()):
        trade = model.index(row, 0).data(TRADE_ROLE)
        colour = theme.BID if trade.aggressor == "buy" else theme.ASK
        assert model.index(row, 1).data(Qt.ItemDataRole.ForegroundRole) == theme.qcolor(colour)


def test_tape_accepts_newest_first_input(tape: TradesTapeWidget) -> None:
    trades = tuple(reversed(default_trades(BTC)))
    tape.apply_snapshot(make_snapshot(trades={BTC: trades}))
    assert tape.model.index(0, 0).data(TRADE_ROLE).trade_id == 10


def test_tape_flags_our_fills(tape: TradesTapeWidget) -> None:
    trades = default_trades(BTC)
    ours = trades[-3]  # a buy lifting 60000.10
    vwap_ts = trades[-6].ts_ns
    fills = (
        make_fill("f-1", price=ours.price, ts_event=ours.ts_ns),
        # Swept two levels: the fill price is a VWAP that no print shows; matched by time.
        make_fill("f-2", price="60000.15", levels=2, ts_event=vwap_ts),
        # Same time as a trade but another symbol: not ours.
        make_fill("f-3", symbol="ETH/USDT", price="3000.05", ts_event=trades[-1].ts_ns),
    )
    tape.apply_snapshot(make_snapshot(fills=fills))
    model = tape.model
    flagged = [
        model.index(r, 0).data(TRADE_ROLE).ts_ns
        for r in range(model.rowCount())
        if model.index(r, 0).data(OURS_ROLE)
    ]
    assert flagged == [ours.ts_ns, vwap_ts]
    row = next(r for r in range(model.rowCount()) if model.index(r, 0).data(OURS_ROLE))
    assert model.index(row, 2).data(Qt.ItemDataRole.BackgroundRole) == theme.qcolor(
        theme.OWN_FILL_BG
    )


def test_tape_inserts_new_trades_without_reset(qtbot: QtBot, tape: TradesTapeWidget) -> None:
    model = tape.model
    snap = make_snapshot()
    tape.apply_snapshot(snap)
    tape.apply_snapshot(snap)
    assert tape.skipped == 1
    resets_before = model.resets
    old = snap.trades[BTC]
    new = (
        trade_view(price="60000.00", qty="0.5", aggressor="sell", trade_id=11, ts_ns=T0_NS + 10**8),
        trade_view(
            price="60000.20", qty="0.7", aggressor="buy", trade_id=12, ts_ns=T0_NS + 2 * 10**8
        ),
    )
    with qtbot.waitSignal(model.rowsInserted) as inserted:
        tape.apply_snapshot(evolve(snap, trades={BTC: old + new}))
    assert inserted.args[1:] == [0, 1]
    assert model.resets == resets_before
    assert model.rowCount() == 12
    assert [text(model, r, 2) for r in range(3)] == ["0.70000", "0.50000", "0.02000"]
    # Three more: max_rows is 12, so the oldest rows go at the bottom.
    more = tuple(trade_view(trade_id=13 + i, ts_ns=T0_NS + (3 + i) * 10**8) for i in range(3))
    with qtbot.waitSignal(model.rowsRemoved):
        tape.apply_snapshot(evolve(snap, trades={BTC: old[3:] + new + more}))
    assert model.rowCount() == 12
    assert model.index(0, 0).data(TRADE_ROLE).trade_id == 15
    assert model.index(11, 0).data(TRADE_ROLE).trade_id == 4
    assert model.resets == resets_before
    assert model.inserted == 2 + 3


def test_tape_reflags_rows_when_a_fill_arrives_later(qtbot: QtBot, tape: TradesTapeWidget) -> None:
    snap = make_snapshot()
    tape.apply_snapshot(snap)
    model = tape.model
    resets = model.resets
    target = snap.trades[BTC][-2]
    with qtbot.waitSignal(model.dataChanged) as changed:
        tape.apply_snapshot(
            evolve(snap, fills=(make_fill(price=target.price, ts_event=target.ts_ns),))
        )
    assert changed.args[0].row() == changed.args[1].row() == 1
    assert model.index(1, 0).data(OURS_ROLE) is True
    assert model.resets == resets


def test_tape_follows_symbol(tape: TradesTapeWidget, selection: SymbolSelection) -> None:
    tape.apply_snapshot(make_snapshot())
    selection.set_symbol("SOL/USDT")
    assert text(tape.model, 0, 1) == "150.02"
    assert text(tape.model, 0, 2) == "2.000"


# ================================================================ candle data model (Qt-free)
def _assert_series_matches(series: BarSeries, candles: tuple[CandleView, ...]) -> None:
    assert len(series) == len(candles)
    np.testing.assert_array_equal(series.ts_ns, [c.ts_open_ns for c in candles])
    np.testing.assert_array_equal(series.time, [c.ts_open_ns / 1e9 for c in candles])
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(
            getattr(series, name), [float(getattr(c, name)) for c in candles], err_msg=name
        )


def _bump_last(candles: tuple[CandleView, ...], close: str, volume: str) -> tuple[CandleView, ...]:
    last = candles[-1]
    high = max(last.high, D(close))
    low = min(last.low, D(close))
    return (*candles[:-1], candle_view(last.ts_open_ns, last.open, high, low, close, volume))


def test_bar_series_arrays_match_candles_incrementally() -> None:
    candles = default_candles(BTC, 30)
    series = BarSeries(60)
    change = series.update(candles)
    assert change.reset
    _assert_series_matches(series, candles)
    writes = series.writes

    assert not series.update(candles).changed  # same tuple: nothing
    assert series.writes == writes

    # The forming bar updates: only it is rewritten.
    candles = _bump_last(candles, "60003.00", "9.5")
    change = series.update(candles)
    assert (change.first_changed, change.appended, change.dropped) == (29, 0, 0)
    assert series.writes == writes + 1
    _assert_series_matches(series, candles)

    # A bar closes and the window slides by one: old last rewritten, one appended, one dropped.
    step = 60 * 10**9
    nxt = candle_view(candles[-1].ts_open_ns + step, "60003", "60004", "60002", "60003.5", "1")
    candles = (*candles[1:], nxt)
    change = series.update(candles)
    assert (change.dropped, change.appended, change.first_changed, change.count) == (1, 1, 28, 30)
    assert series.writes == writes + 3
    _assert_series_matches(series, candles)

    # Equal values in a new tuple: no change reported.
    assert not series.update(tuple(candles)).changed

    # Unrelated history (other symbol / restart): rebuilt from scratch.
    other = default_candles("ETH/USDT", 5, now_ns=T0_NS + 3600 * 10**9)
    assert series.update(other).reset
    _assert_series_matches(series, other)
    with pytest.raises(ValueError, match="read-only"):
        series.close[0] = 1.0  # views for plotting, not a back door into the model
    assert series.update(()).reset
    assert len(series) == 0


def test_bar_series_grows_and_compacts() -> None:
    series = BarSeries(60, capacity=8)
    candles = default_candles(BTC, 200, now_ns=T0_NS)
    window = 20
    series.update(candles[:window])
    for end in range(window + 1, 201):  # slide a 20-bar window over 200 bars
        part = candles[end - window : end]
        change = series.update(part)
        assert not change.reset
        assert change.dropped == 1
    _assert_series_matches(series, candles[-window:])
    assert series.writes == window + 2 * (200 - window)


def _load_real_1m(symbol: str, rows: int) -> tuple[CandleView, ...]:
    path = DATA / "binance_spot_5pairs_1m_2026-03-23_to_2026-04-22.csv.gz"
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        picked = itertools.islice((r for r in reader if r["symbol"] == symbol), rows)
        return tuple(
            candle_view(
                int(r["open_time_ms"]) * 1_000_000,
                r["open"],
                r["high"],
                r["low"],
                r["close"],
                r["volume"],
            )
            for r in picked
        )


def test_bar_series_follows_real_binance_minutes() -> None:
    """Replay real BTCUSDT 1m bars as the engine would publish them: forming bar, close, slide."""
    bars = _load_real_1m("BTCUSDT", 400)
    assert len(bars) == 400
    series = BarSeries(60)
    window = 240
    for end in range(1, len(bars) + 1):
        done = bars[max(0, end - window) : end - 1]
        last = bars[end - 1]
        # The forming bar first appears at its open, then grows to its final values.
        forming = candle_view(last.ts_open_ns, last.open, last.open, last.open, last.open, "0")
        series.update((*done, forming))
        series.update((*done, last))
    _assert_series_matches(series, bars[-window:])
    fresh = BarSeries(60)
    fresh.update(bars[-window:])
    for name in ("time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(series, name), getattr(fresh, name))
    lo, hi = series.index_range(float(series.time[10]), float(series.time[20]))
    assert (lo, hi) == (10, 21)


def test_fill_markers_pick_the_symbol_and_side() -> None:
    fills = (
        make_fill("f-1", side="buy", price="60000.10", ts_event=T0_NS),
        make_fill("f-2", side="sell", price="59990.00", ts_event=T0_NS - 90 * 10**9),
        make_fill("f-3", symbol="ETH/USDT", price="3000.05"),
    )
    markers = fill_markers(fills, BTC)
    assert len(markers) == 2
    np.testing.assert_allclose(markers.time, [T0_NS / 1e9, T0_NS / 1e9 - 90])
    np.testing.assert_allclose(markers.price, [60000.10, 59990.00])
    assert markers.is_buy.tolist() == [True, False]


# ================================================================ candle chart widget
def test_candle_chart_draws_candles_volume_and_fills(
    qtbot: QtBot, selection: SymbolSelection
) -> None:
    chart = _show(qtbot, CandleChartWidget(selection), 700, 450)
    chart.redraw_interval_s = 0.0  # no frame-rate throttle in this test
    candles = default_candles(BTC, 300)
    fills = (
        make_fill("f-1", side="buy", price="60000.10", ts_event=T0_NS),
        make_fill("f-2", side="sell", price="59999.90", ts_event=T0_NS - 120 * 10**9),
    )
    snap = make_snapshot(candles={BTC: candles}, fills=fills)
    chart.apply_snapshot(snap)
    _assert_series_matches(chart.series, candles)
    assert chart.candle_item.series is chart.series
    assert chart.volume_item.series is chart.series

    spots = chart.fill_item.data
    assert len(spots) == 2
    np.testing.assert_allclose(spots["x"], [T0_NS / 1e9, T0_NS / 1e9 - 120])
    np.testing.assert_allclose(spots["y"], [60000.10, 59999.90])
    assert list(spots["symbol"]) == ["t1", "t"]  # up for the buy, down for the sell

    axis = chart.volume_plot.getAxis("bottom")
    assert isinstance(axis, pg.DateAxisItem)
    assert axis.utcOffset == 0
    # The view shows the newest bar on the right edge.
    (x0, x1), _ = chart.price_plot.getViewBox().viewRange()
    assert x0 < chart.series.time[-1] < x1

    # Bounds the ViewBox autoranges on: whole history in x, visible lows/highs in y.
    assert chart.candle_item.dataBounds(0) == (
        candles[0].ts_open_ns / 1e9,
        candles[-1].ts_open_ns / 1e9 + 60,
    )
    low = min(float(c.low) for c in candles)
    high = max(float(c.high) for c in candles)
    assert chart.candle_item.dataBounds(1) == (low, high)
    assert chart.volume_item.dataBounds(1) == (0.0, max(float(c.volume) for c in candles))

    chart.grab()
    built = chart.candle_item.chunks_built
    assert built == len(chart.candle_item._keys) >= 3  # 299 closed bars in 128-bar chunks
    assert chart.candle_item.bars_recorded == 299  # the forming bar is never cached

    # Only the forming bar changes: nothing re-recorded, the live bar is simply drawn again.
    snap2 = evolve(snap, candles={BTC: _bump_last(candles, "60005.00", "3")})
    chart.apply_snapshot(snap2)
    _assert_series_matches(chart.series, snap2.candles[BTC])
    chart.grab()
    assert chart.candle_item.chunks_built == built

    # A bar closes (no slide): just the chunk holding the newly closed bar is re-recorded.
    last = snap2.candles[BTC][-1]
    nxt = candle_view(last.ts_open_ns + 60 * 10**9, "60005", "60006", "60004", "60005.5", "2")
    snap3 = evolve(snap2, candles={BTC: (*snap2.candles[BTC], nxt)})
    chart.apply_snapshot(snap3)
    recorded = chart.candle_item.bars_recorded
    chart.grab()
    assert chart.candle_item.chunks_built == built + 1
    span = 128 * 60 * 10**9
    same_chunk = [
        c for c in snap3.candles[BTC][:-1] if c.ts_open_ns // span == last.ts_open_ns // span
    ]
    assert chart.candle_item.bars_recorded == recorded + len(same_chunk)
    _assert_series_matches(chart.series, snap3.candles[BTC])
    y0, y1 = chart.price_plot.getViewBox().viewRange()[1]
    assert y0 < 60005.0 < y1


def test_candle_chart_same_snapshot_twice_does_no_work(
    qtbot: QtBot, selection: SymbolSelection
) -> None:
    chart = _show(qtbot, CandleChartWidget(selection), 600, 400)
    snap = make_snapshot()
    chart.apply_snapshot(snap)
    writes = chart.series.writes
    chart.apply_snapshot(snap)
    chart.apply_snapshot(evolve(snap, version=snap.version + 1))  # same candle tuple
    assert chart.updates == 1
    assert chart.series.writes == writes


def test_candle_chart_follows_symbol(qtbot: QtBot, selection: SymbolSelection) -> None:
    chart = _show(qtbot, CandleChartWidget(selection), 600, 400)
    snap = make_snapshot()
    chart.apply_snapshot(snap)
    selection.set_symbol("SOL/USDT")
    _assert_series_matches(chart.series, snap.candles["SOL/USDT"])
    assert chart.updates == 2
    assert len(chart.fill_item.data) == 0
    chart.grab()


def test_views_survive_an_empty_engine(qtbot: QtBot, selection: SymbolSelection) -> None:
    """Before the first book arrives: no books, trades, candles; nothing must break."""
    empty = make_snapshot(books={}, trades={}, candles={})
    widgets: list[Any] = [
        LadderWidget(selection),
        DepthChartWidget(selection),
        TradesTapeWidget(selection),
        CandleChartWidget(selection),
    ]
    for widget in widgets:
        _show(qtbot, widget, 400, 300)
        widget.apply_snapshot(empty)
        widget.grab()
    assert text(widgets[0].model, 20, 0) == "no spread (one side empty)"
    assert widgets[2].model.rowCount() == 0
    assert len(widgets[3].series) == 0


# ================================================================ theme / formats
def test_formats_follow_the_instrument_grid() -> None:
    assert [theme.decimals_of(D(s)) for s in ("0.01", "0.00001", "1", "10", "1E+1", "0.10")] == [
        2,
        5,
        0,
        0,
        0,
        1,
    ]
    btc = theme.Formats.of(DEFAULT_INSTRUMENTS[BTC])
    assert btc.price(D("60000.1")) == "60,000.10"
    assert btc.qty(D("1234.5")) == "1,234.50000"
    assert btc.mid(D("60000.05")) == "60,000.05"  # on the grid: no extra place
    assert btc.mid(D("60000.005")) == "60,000.005"  # half a tick: one more place
    whole = theme.Formats(0, 0)
    assert whole.mid(D("5")) == "5"
    assert whole.mid(D("5.5")) == "5.5"
    assert theme.Formats.of(None).price(D("1.5")) == "1.50"
    assert theme.utc_time_ms(T0_NS) == "12:34:56.789"
    assert theme.utc_time_ms(T0_NS + 86_400 * 10**9 + 1_000_000) == "12:34:56.790"


def test_charts_throttle_redraws_but_catch_up(qtbot: QtBot, selection: SymbolSelection) -> None:
    """Depth redraws at most every 100 ms: a burst of books draws once, the next frame after the
    interval shows the latest book."""
    chart = _show(qtbot, DepthChartWidget(selection, levels=5), 600, 400)
    snap = make_snapshot()
    chart.apply_snapshot(snap)
    for k in range(5):
        chart.apply_snapshot(evolve(snap, books={BTC: book_view(asks=[(f"6000{k + 1}", "1")])}))
    assert chart.redraws == 1
    qtbot.wait(int(chart.redraw_interval_s * 1000) + 20)
    last = evolve(snap, books={BTC: book_view(asks=[("60009", "2")])})
    chart.apply_snapshot(last)
    assert chart.redraws == 2
    x, _ = chart.ask_curve.getData()
    assert x is not None
    assert x[0] == 60009.0
