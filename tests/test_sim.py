"""The embedded simulated market: determinism, a sane book, realistic rates and volatility."""

from __future__ import annotations

import gzip
import itertools
import math
import random
import statistics
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kit import needs_data

from engine.book import OrderBook
from engine.model import DEFAULT_INSTRUMENTS, BookSide, LevelUpdate, OrderSide, TradeTick
from engine.model.market import MarketEvent
from engine.venues import SimMarket, SimSymbolParams, calibrate, default_params
from engine.venues.calibration import read_candle_stats

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NS = 1_000_000_000
START = 1_781_950_000_000_000_000
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
INSTRUMENTS = {s: DEFAULT_INSTRUMENTS[s] for s in SYMBOLS}


def _run(sim: SimMarket, seconds: float, step_s: float = 1.0) -> list[MarketEvent]:
    out: list[MarketEvent] = []
    steps = round(seconds / step_s)
    for k in range(1, steps + 1):
        out += sim.step_until(START + round(k * step_s * NS))
    return out


# ---------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_streams_and_books() -> None:
    a = SimMarket(INSTRUMENTS, 42, START)
    b = SimMarket(INSTRUMENTS, 42, START)
    assert {s: a.books[s].top(BookSide.BID, 50) for s in SYMBOLS} == {
        s: b.books[s].top(BookSide.BID, 50) for s in SYMBOLS
    }
    ev_a = _run(a, 20)
    ev_b = _run(b, 20)
    assert len(ev_a) > 3000
    assert ev_a == ev_b
    for s in SYMBOLS:
        assert a.books[s].top(BookSide.ASK, 100) == b.books[s].top(BookSide.ASK, 100)


def test_stream_does_not_depend_on_call_cadence() -> None:
    end = START + 15 * NS
    one = SimMarket(INSTRUMENTS, 5, START).step_until(end)

    sim = SimMarket(INSTRUMENTS, 5, START)
    cadence = random.Random(1)
    chunked: list[MarketEvent] = []
    t = START
    while t < end:
        t = min(end, t + cadence.choice((0, 1, 137_000, 5_000_000, 40_000_000, 700_000_000)))
        chunked += sim.step_until(t)
        chunked += sim.step_until(t - 3_000_000)  # going back in time returns nothing
    assert chunked == one
    assert len(one) > 2000


def test_events_are_in_time_order_and_within_the_step() -> None:
    sim = SimMarket(INSTRUMENTS, 9, START)
    last = START
    for k in range(1, 200):
        until = START + k * 50_000_000
        for ev in sim.step_until(until):
            assert last <= ev.ts_ns <= until
            last = ev.ts_ns
    assert sim.next_event_ns is not None
    assert sim.next_event_ns > START + 199 * 50_000_000


def test_a_symbol_stream_does_not_depend_on_the_other_symbols() -> None:
    alone = SimMarket({"ETH/USDT": INSTRUMENTS["ETH/USDT"]}, 12, START).step_until(START + 5 * NS)
    mixed = SimMarket(INSTRUMENTS, 12, START).step_until(START + 5 * NS)
    assert alone == [e for e in mixed if e.symbol == "ETH/USDT"]


def test_different_seeds_differ() -> None:
    a = SimMarket(INSTRUMENTS, 1, START)
    b = SimMarket(INSTRUMENTS, 2, START)
    assert a.books["BTC/USDT"].top(BookSide.BID, 20) != b.books["BTC/USDT"].top(BookSide.BID, 20)
    assert _run(a, 2) != _run(b, 2)


# ---------------------------------------------------------------------------- book sanity


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63 - 1))
def test_book_never_crossed_and_stream_rebuilds_it(seed: int) -> None:
    """Replaying the opening books plus every LevelUpdate (strict seq) gives the sim's books,
    and no book is crossed after any single update."""
    sim = SimMarket(INSTRUMENTS, seed, START, rate_multiplier=2.0)
    shadows: dict[str, OrderBook] = {}
    for sym, inst in INSTRUMENTS.items():
        shadow = OrderBook(inst)
        book = sim.books[sym]
        shadow.apply_snapshot(
            book.top(BookSide.BID, book.depth(BookSide.BID)),
            book.top(BookSide.ASK, book.depth(BookSide.ASK)),
            seq=book.seq,
        )
        shadows[sym] = shadow
    updates = 0
    for ev in _run(sim, 40, step_s=0.25):
        if isinstance(ev, LevelUpdate):
            shadows[ev.symbol].apply_update(ev)  # raises SequenceGap if seq skips
            assert not shadows[ev.symbol].is_crossed()
            updates += 1
    assert updates > 20 * 40 * len(SYMBOLS)
    for sym, book in sim.books.items():
        assert not book.is_crossed()
        assert book.seq == shadows[sym].seq
        for side in BookSide:
            assert book.top(side, 1000) == shadows[sym].top(side, 1000)


def test_market_orders_print_trades_each_followed_by_its_level() -> None:
    sim = SimMarket(INSTRUMENTS, 3, START)
    events = _run(sim, 30)
    trades = 0
    for i, ev in enumerate(events):
        if isinstance(ev, TradeTick):
            trades += 1
            nxt = events[i + 1]
            assert isinstance(nxt, LevelUpdate)
            side = BookSide.ASK if ev.aggressor is OrderSide.BUY else BookSide.BID
            assert (nxt.symbol, nxt.side, nxt.price_ticks, nxt.ts_ns) == (
                ev.symbol,
                side,
                ev.price_ticks,
                ev.ts_ns,
            )
            assert ev.size_lots > 0
    assert trades > 100
    ids = [e.trade_id for e in events if isinstance(e, TradeTick) and e.symbol == "BTC/USDT"]
    assert ids == list(range(1, len(ids) + 1))


def test_book_shape_is_realistic() -> None:
    """~20+ levels a side, a tight BTC touch most of the time, BTC sizes ~0.001-2 BTC."""
    sim = SimMarket(INSTRUMENTS, 21, START)
    btc = sim.books["BTC/USDT"]
    lot = INSTRUMENTS["BTC/USDT"].lot_size
    spreads: list[int] = []
    thin = 0
    sizes: list[Decimal] = []
    samples = 0
    for k in range(1, 601):
        sim.step_until(START + k * NS // 2)
        for book in sim.books.values():
            samples += 1
            if min(book.depth(BookSide.BID), book.depth(BookSide.ASK)) < 20:
                thin += 1
        bid, ask = btc.best_bid(), btc.best_ask()
        assert bid is not None
        assert ask is not None
        spreads.append(ask[0] - bid[0])
        sizes += [lot * q for _, q in btc.top(BookSide.BID, 20)]
    assert thin / samples < 0.1
    assert statistics.median(spreads) <= 30  # ticks of 0.01 USDT
    sizes.sort()
    assert Decimal("0.0005") <= sizes[len(sizes) // 10]
    assert sizes[9 * len(sizes) // 10] <= Decimal("2")


# ---------------------------------------------------------------------------- rates


def test_update_rate_and_bursts_at_multiplier_one() -> None:
    sim = SimMarket(INSTRUMENTS, 8, START)
    bins: dict[str, list[int]] = {s: [0] * 60 for s in SYMBOLS}
    for ev in sim.step_until(START + 60 * NS):
        if isinstance(ev, LevelUpdate):
            bins[ev.symbol][(ev.ts_ns - START - 1) // NS] += 1
    for sym, counts in bins.items():
        rate = sum(counts) / 60
        assert rate >= 20, f"{sym}: {rate:.1f} updates/s"
        # Clustered arrivals: per-second counts far more dispersed than Poisson (variance=mean).
        fano = statistics.pvariance(counts) / statistics.fmean(counts)
        assert fano > 2, f"{sym}: Fano factor {fano:.2f}, no bursts"


def test_rate_multiplier_scales_intensity() -> None:
    base = SimMarket(INSTRUMENTS, 4, START).step_until(START + 30 * NS)
    fast = SimMarket(INSTRUMENTS, 4, START, rate_multiplier=5.0).step_until(START + 30 * NS)
    ratio = len(fast) / len(base)
    assert 3.5 < ratio < 7


# ---------------------------------------------------------------------------- volatility


@pytest.mark.slow
@pytest.mark.parametrize("symbol", ["BTC/USDT", "SOL/USDT"])
def test_realised_vol_of_mid_tracks_calibrated_vol(symbol: str) -> None:
    """Three simulated hours: 1-minute realised vol of the book mid within 2x of the target."""
    inst = {symbol: DEFAULT_INSTRUMENTS[symbol]}
    sim = SimMarket(inst, 17, START, rate_multiplier=0.3)
    book = sim.books[symbol]
    mids: list[float] = []
    for k in range(0, 3 * 60 + 1):
        sim.step_until(START + k * 60 * NS)
        x2 = book.mid_x2()
        assert x2 is not None
        mids.append(x2 / 2)
    returns = [math.log(b / a) for a, b in itertools.pairwise(mids)]
    realised = math.sqrt(sum(r * r for r in returns) / len(returns) * 365.25 * 24 * 60)
    target = sim.params[symbol].annual_vol
    assert target / 2 < realised < target * 2, f"{symbol}: {realised:.3f} vs {target:.3f}"


# ---------------------------------------------------------------------------- our own trades


def test_sweeping_the_asks_lifts_the_offer_and_the_book_refills() -> None:
    """What the paper broker does to the shared book: take 5 ask levels, bump seq."""
    sim = SimMarket(INSTRUMENTS, 13, START)
    sim.step_until(START + 2 * NS)
    book = sim.books["BTC/USDT"]
    taken = book.top(BookSide.ASK, 5)
    depth_before = book.depth(BookSide.ASK)
    for price, _ in taken:
        book.set_level(BookSide.ASK, price, 0)
        book.seq += 1
    seq_after_sweep = book.seq
    lifted = book.best_ask()
    assert lifted is not None
    assert lifted[0] > taken[-1][0]

    events = sim.step_until(START + 2 * NS + 500_000_000)
    first = next(e for e in events if isinstance(e, LevelUpdate) and e.symbol == "BTC/USDT")
    assert first.seq == seq_after_sweep + 1  # the sim continues the broker's seq
    refilled = book.best_ask()
    assert refilled is not None
    assert refilled[0] < lifted[0]
    sim.step_until(START + 5 * NS)
    assert book.depth(BookSide.ASK) >= min(depth_before, 20)
    assert not book.is_crossed()


def test_a_big_market_buy_through_the_book_is_felt_by_the_model() -> None:
    """The model reads the live book: after we empty the ask side it rebuilds it."""
    sim = SimMarket(INSTRUMENTS, 14, START)
    book = sim.books["ETH/USDT"]
    for price, _ in book.top(BookSide.ASK, book.depth(BookSide.ASK)):
        book.set_level(BookSide.ASK, price, 0)
        book.seq += 1
    assert book.best_ask() is None
    sim.step_until(START + 3 * NS)
    assert book.depth(BookSide.ASK) >= 20
    assert not book.is_crossed()


# ---------------------------------------------------------------------------- history


def test_history_is_deterministic_and_ends_at_the_start_price() -> None:
    start = START + 12_345_678_901  # not on a minute boundary
    sim = SimMarket(INSTRUMENTS, 6, start)
    again = SimMarket(INSTRUMENTS, 6, start)
    for sym in SYMBOLS:
        bars = sim.history(sym, 60, 300)
        assert bars == again.history(sym, 60, 300)
        assert len(bars) == 300
        interval = 60 * NS
        assert bars[-1][0] + interval == start - start % interval  # live candle begins there
        assert all(b[0] - a[0] == interval for a, b in itertools.pairwise(bars))
        start_ticks = INSTRUMENTS[sym].price_to_ticks(sim.params[sym].start_price)
        assert bars[-1][4] == start_ticks
        for (_, o, h, low, c, v), nxt in zip(bars, [*bars[1:], None], strict=True):
            assert low <= min(o, c)
            assert h >= max(o, c)
            assert low > 0
            assert v > 0
            if nxt is not None:
                assert nxt[1] == c
        # Plausible: hourly-ish volume scaled to a minute, price path not flat.
        volume = sum(b[5] for b in bars) / len(bars)
        expected = sim.params[sym].volume_per_hour_lots / 60
        assert expected / 3 < volume < expected * 3
        assert len({b[4] for b in bars}) > 50
    assert sim.history("BTC/USDT", 3600, 10) != sim.history("BTC/USDT", 60, 10)
    assert SimMarket(INSTRUMENTS, 7, start).history("BTC/USDT", 60, 50) != sim.history(
        "BTC/USDT", 60, 50
    )


# ---------------------------------------------------------------------------- calibration


def test_default_params_need_no_data(tmp_path: Path) -> None:
    params = default_params(INSTRUMENTS)
    assert Decimal(60000) < params["BTC/USDT"].start_price < Decimal(70000)
    assert Decimal(1500) < params["ETH/USDT"].start_price < Decimal(3000)
    assert Decimal(50) < params["SOL/USDT"].start_price < Decimal(150)
    for p in params.values():
        assert 0.5 <= p.annual_vol <= 0.8
    assert calibrate(tmp_path, INSTRUMENTS) == params  # no files: the defaults
    sim = SimMarket(INSTRUMENTS, 1, START, params=params)
    assert len(sim.step_until(START + NS)) > 50


def test_params_are_validated() -> None:
    p = default_params(INSTRUMENTS)["BTC/USDT"]
    with pytest.raises(ValueError, match="annual_vol"):
        replace(p, annual_vol=-0.1)
    with pytest.raises(ValueError, match="Hawkes"):
        replace(p, hawkes_branching=1.0)
    with pytest.raises(ValueError, match="rate_multiplier"):
        SimMarket(INSTRUMENTS, 1, START, rate_multiplier=0)


def _last_row(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        *_, last = fh
    return last.strip().split(",")


@needs_data(DATA)
def test_calibration_reads_the_real_candles() -> None:
    params = calibrate(DATA, INSTRUMENTS)
    for sym, inst in INSTRUMENTS.items():
        path = DATA / f"binance_spot_{inst.base}USDT_1h.csv.gz"
        row = _last_row(path)
        p: SimSymbolParams = params[sym]
        assert p.start_price == Decimal(row[4])
        assert 0.15 < p.annual_vol < 2.0
        assert p.trade_size_lots >= 1
        assert p.volume_per_hour_lots > 0
    btc = params["BTC/USDT"]
    # A BTC market order averages a few hundredths of a BTC, as on Binance spot.
    assert Decimal("0.002") < btc.trade_size_lots * INSTRUMENTS["BTC/USDT"].lot_size < 1
    # The calibrated sim starts at the real last close.
    sim = SimMarket(INSTRUMENTS, 1, START, params=params)
    mid = sim.books["BTC/USDT"].mid()
    assert mid is not None
    assert abs(mid - btc.start_price) < Decimal(5)


def _write_candles(path: Path, rows: list[tuple[int, str]]) -> None:
    lines = ["open_time_ms,open,high,low,close,volume"]
    lines += [f"{t},{c},{c},{c},{c},10" for t, c in rows]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


def test_candle_stats_handle_gaps_and_refuse_disorder(tmp_path: Path) -> None:
    hour = 3_600_000
    rng = random.Random(3)
    price = 100.0
    rows = []
    for k in range(500):
        if k in (100, 101, 102):  # a 3-hour outage
            continue
        price *= math.exp(rng.gauss(0, 0.01))
        rows.append((k * hour, f"{price:.2f}"))
    path = tmp_path / "binance_spot_TESTUSDT_1h.csv.gz"
    _write_candles(path, rows)
    stats = read_candle_stats(path)
    assert stats.gaps == 3
    assert stats.last_close == Decimal(rows[-1][1])
    expected = 0.01 * math.sqrt(24 * 365.25)
    assert expected * 0.8 < stats.annual_vol < expected * 1.2

    rows[200], rows[201] = rows[201], rows[200]
    _write_candles(path, rows)
    with pytest.raises(ValueError, match="out of order"):
        read_candle_stats(path)
