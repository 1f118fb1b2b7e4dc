"""``tradedeck data fetch`` against a Binance REST emulator on 127.0.0.1, through the real ccxt.

The emulator (``tests/emulators/klines.py``) serves 2,500 real hourly candles from 2022-01-01
(``../shared/data/binance_spot_BTCUSDT_1h.csv.gz``) with 7 bars cut out (a gap) and answers one
klines request with 429 + ``Retry-After``. The stored file must equal the served rows exactly
(as decimals), a second run must ask only for what comes after the last stored bar, the dataset
must be in the backtest cache under the key ``tradedeck backtest --data FILE`` uses, and every
bad input must be one line on stderr with exit status 2. No test connects beyond loopback.
"""

from __future__ import annotations

import gzip
import itertools
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from emulators.klines import KlineEmulator, KlineServer, Row
from kit import DATA, WAIT_S, needs_data

import engine.backtest.data as data_module
from app.main import main as app_main
from engine.backtest.data import DatasetCache, load_bars
from engine.venues.ccxt.history import (
    HistoryFetchError,
    HistoryInputError,
    KlineFile,
    exact_text,
    fetch_history,
    load_symbol,
    make_exchange,
    retry_after_s,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = DATA / "binance_spot_BTCUSDT_1h.csv.gz"
HOUR = 3_600_000
SINCE = "2022-01-01"
SINCE_MS = 1_640_995_200_000
N = 2_500
GAP_AT, GAP_LEN = 1_500, 7

pytestmark = needs_data(SOURCE)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to an address other than 127.0.0.1 / ::1 fails the test."""
    real = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1"):
            raise AssertionError(f"test tried to connect to {address!r}")
        real(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="module")
def source() -> list[Row]:
    """The served rows: 2,500 real bars from 2022-01-01 with 7 cut out after the 1,500th."""
    with gzip.open(SOURCE, "rt") as fh:
        lines = fh.read().splitlines()[1:]
    rows: list[Row] = []
    for line in lines:
        t, o, h, lo, c, v = line.split(",")[:6]
        if int(t) >= SINCE_MS:
            rows.append((int(t), o, h, lo, c, v))
            if len(rows) == N:
                break
    assert len(rows) == N
    assert all(b[0] - a[0] == HOUR for a, b in itertools.pairwise(rows))
    return rows[:GAP_AT] + rows[GAP_AT + GAP_LEN :]


def _until(rows: list[Row], n: int | None = None) -> str:
    """``--until`` just after the n-th served row (all of them when None)."""
    t = rows[-1][0] if n is None else rows[n - 1][0]
    return datetime.fromtimestamp((t + HOUR) / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


def _stored(path: Path) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]]:
    lines = path.read_text().splitlines()
    assert lines[0] == "open_time_ms,open,high,low,close,volume"
    out = []
    for line in lines[1:]:
        t, *vals = line.split(",")
        out.append((int(t), *(Decimal(x) for x in vals)))
    return out  # type: ignore[return-value]


def _exact(rows: list[Row]) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]]:
    return [(r[0], *(Decimal(x) for x in r[1:])) for r in rows]  # type: ignore[misc]


def _fetch_args(url: str, data_dir: Path, *extra: str) -> list[str]:
    return [
        "data",
        "fetch",
        "--exchange",
        "binance",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--since",
        SINCE,
        "--api-url",
        url,
        "--data-dir",
        str(data_dir),
        *extra,
    ]


@pytest.fixture
def server(source: list[Row]) -> Iterator[tuple[KlineEmulator, str]]:
    emulator = KlineEmulator(list(source), faults={2: (429, {"Retry-After": "1"})})
    with KlineServer(emulator) as url:
        yield emulator, url


# ---------------------------------------------------------------------------- the whole fetch


def test_fetch_stores_the_source_exactly_through_a_429_and_a_gap(
    server: tuple[KlineEmulator, str],
    source: list[Row],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator, url = server
    rc = app_main(_fetch_args(url, tmp_path, "--until", _until(source)))
    out, err = capsys.readouterr()
    assert rc == 0, err
    path = tmp_path / "datasets" / "binance_spot_BTCUSDT_1h.csv"
    assert _stored(path) == _exact(source)  # every bar, every digit, in order
    assert "Traceback" not in err

    klines = emulator.klines_requests()
    statuses = [r.status for r in klines]
    assert statuses[1] == 429
    assert statuses.count(429) == 1
    # the 429'd page is asked again, no sooner than Retry-After (1 s) said
    assert klines[2].query["startTime"] == klines[1].query["startTime"]
    assert klines[2].t - klines[1].t >= 1.0
    # pages follow each other: each starts one bar after the last bar of the previous page
    starts = [int(r.query["startTime"]) for r in klines if r.status == 200]
    assert starts[0] == SINCE_MS
    assert len(starts) == 3  # 2,493 bars at 1,000 per page; --until ends the last page

    assert "gaps: 1, 7 bars missing" in err
    gap_after = datetime.fromtimestamp(source[GAP_AT - 1][0] / 1000, UTC).strftime("%H:%MZ")
    assert f"gap after 2022-03-04T{gap_after}: 7 bars missing" in err
    progress = [line for line in err.splitlines() if line.startswith("binance BTC/USDT 1h [")]
    assert len(progress) >= 3
    assert "100.0%" in progress[-1]
    assert str(path) in out

    # in the datasets cache, under the key the backtest uses for --data FILE
    db = tmp_path / "datasets.db"
    assert [e["path"] for e in DatasetCache(db).entries()] == [str(path)]
    bars, report = load_bars(path, None, cache=DatasetCache(db))
    assert report.cache == "hit"
    assert bars.symbol == "BTC/USDT"
    assert report.gap_count == 1
    assert report.missing_bars == GAP_LEN
    assert bars.time_ms.tolist() == [r[0] for r in source]
    assert [bars.price(int(x)) for x in bars.close] == [Decimal(r[4]) for r in source]
    assert [bars.price(int(x)) for x in bars.high] == [Decimal(r[2]) for r in source]


def test_a_fetched_dataset_backtests_from_the_cache(
    server: tuple[KlineEmulator, str],
    source: list[Row],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url = server
    assert app_main(_fetch_args(url, tmp_path, "--until", _until(source), "--quiet")) == 0
    path = capsys.readouterr().out.split(":")[0]

    def no_parsing(*a: object, **k: object) -> None:
        raise AssertionError("the backtest parsed the CSV instead of reading the cache")

    monkeypatch.setattr(data_module, "read_csv_raw", no_parsing)
    rc = app_main(
        [
            "--data-dir",
            str(tmp_path),
            "backtest",
            "--data",
            path,
            "--strategy",
            "sma_cross",
            "--param",
            "fast=10",
            "slow=30",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"bars {len(source)}" in out
    assert "data: 1 gap(s), 7 missing bar(s)" in out


def test_a_second_run_fetches_only_the_rest(
    server: tuple[KlineEmulator, str],
    source: list[Row],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator, url = server
    first = 1_200
    assert app_main(_fetch_args(url, tmp_path, "--until", _until(source, first))) == 0
    capsys.readouterr()
    path = tmp_path / "datasets" / "binance_spot_BTCUSDT_1h.csv"
    assert _stored(path) == _exact(source[:first])
    with path.open("a") as fh:  # a run killed mid-write leaves a torn line
        fh.write(f"{source[first][0]},46")
    seen = len(emulator.klines_requests())

    assert app_main(_fetch_args(url, tmp_path, "--until", _until(source))) == 0
    _, err = capsys.readouterr()
    assert f"resumed after {first:,} stored bars" in err
    assert _stored(path) == _exact(source)
    second = [r for r in emulator.klines_requests()[seen:] if r.status == 200]
    assert int(second[0].query["startTime"]) == source[first - 1][0] + HOUR
    assert all(int(r.query["startTime"]) > source[first - 1][0] for r in second)
    assert len(second) == 2  # 1,293 bars left: two pages, not the three of a full fetch

    # a third run has nothing left to ask for before --until
    seen = len(emulator.klines_requests())
    assert app_main(_fetch_args(url, tmp_path, "--until", _until(source))) == 0
    assert emulator.klines_requests()[seen:] == []
    assert _stored(path) == _exact(source)


def test_restart_fetches_from_since_again(
    server: tuple[KlineEmulator, str], source: list[Row], tmp_path: Path
) -> None:
    emulator, url = server
    assert app_main(_fetch_args(url, tmp_path, "--until", _until(source, 100))) == 0
    seen = len(emulator.klines_requests())
    assert app_main(_fetch_args(url, tmp_path, "--until", _until(source, 100), "--restart")) == 0
    again = emulator.klines_requests()[seen:]
    assert int(again[0].query["startTime"]) == SINCE_MS
    assert _stored(tmp_path / "datasets" / "binance_spot_BTCUSDT_1h.csv") == _exact(source[:100])


def test_a_since_before_the_stored_bars_is_refused(
    server: tuple[KlineEmulator, str],
    source: list[Row],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, url = server
    args = _fetch_args(url, tmp_path, "--until", _until(source, 200))
    args[args.index("--since") + 1] = "2022-01-05"
    assert app_main(args) == 0
    path = tmp_path / "datasets" / "binance_spot_BTCUSDT_1h.csv"
    before = path.read_bytes()
    capsys.readouterr()
    assert app_main(_fetch_args(url, tmp_path, "--until", _until(source, 200))) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "starts at 2022-01-05T00:00Z, after --since, and the exchange has earlier bars" in err
    assert "--restart" in err
    assert path.read_bytes() == before


def test_a_since_before_the_listing_resumes(
    server: tuple[KlineEmulator, str],
    source: list[Row],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The exchange's first bar is later than --since: the second run is a resume, not a refusal."""
    emulator, url = server
    args = _fetch_args(url, tmp_path, "--until", _until(source, 300))
    args[args.index("--since") + 1] = "2021-06-01"
    assert app_main(args) == 0
    seen = len(emulator.klines_requests())
    capsys.readouterr()
    assert app_main(args) == 0
    assert "resumed after 300 stored bars" in capsys.readouterr().err
    probe = [r for r in emulator.klines_requests()[seen:] if r.status == 200]  # (one 429 too)
    assert [(r.query["startTime"], r.query["limit"]) for r in probe] == [("1622505600000", "1")]
    assert _stored(tmp_path / "datasets" / "binance_spot_BTCUSDT_1h.csv") == _exact(source[:300])


# ---------------------------------------------------------------------------- the engine side


def _exchange(url: str) -> object:
    exchange = make_exchange("binance", api_url=url)
    load_symbol(exchange, "BTC/USDT")
    return exchange


def test_retry_after_is_what_is_waited(source: list[Row], tmp_path: Path) -> None:
    emulator = KlineEmulator(
        list(source[:1500]),
        faults={1: (429, {"Retry-After": "3"}), 2: (418, {"Retry-After": "7"}), 4: (429, {})},
    )
    waits: list[float] = []
    with KlineServer(emulator) as url:
        result = fetch_history(
            _exchange(url),
            "BTC/USDT",
            "1h",
            SINCE_MS,
            KlineFile(tmp_path / "x.csv"),
            sleep=waits.append,
            rng=random.Random(1),
        )
    assert waits[:2] == [3.0, 7.0]  # as the exchange asked
    assert 1.0 <= waits[2] <= 1.25  # no Retry-After: backoff 1 s + jitter
    assert result.retries == 3
    assert result.fetched == 1500
    assert _stored(tmp_path / "x.csv") == _exact(source[:1500])


def test_giving_up_keeps_what_was_fetched_and_resumes(source: list[Row], tmp_path: Path) -> None:
    emulator = KlineEmulator(list(source[:2500]), faults={n: (503, {}) for n in range(2, 2 + 4)})
    store = KlineFile(tmp_path / "x.csv")
    with KlineServer(emulator) as url:
        exchange = _exchange(url)
        with pytest.raises(HistoryFetchError, match="run the same command again to resume"):
            fetch_history(
                exchange, "BTC/USDT", "1h", SINCE_MS, store, max_retries=3, sleep=lambda s: None
            )
        assert _stored(store.path) == _exact(source[:1000])  # the first page is kept
        result = fetch_history(exchange, "BTC/USDT", "1h", SINCE_MS, store, sleep=lambda s: None)
    assert result.stored_before == 1000
    assert _stored(store.path) == _exact(source[:2500])


def test_a_retry_after_beyond_reason_is_not_waited_out(source: list[Row], tmp_path: Path) -> None:
    emulator = KlineEmulator(list(source[:10]), faults={1: (429, {"Retry-After": "3600"})})
    waits: list[float] = []
    with KlineServer(emulator) as url, pytest.raises(HistoryFetchError, match="wait 3600 s"):
        fetch_history(
            _exchange(url), "BTC/USDT", "1h", SINCE_MS, KlineFile(tmp_path / "x.csv"),
            sleep=waits.append,
        )  # fmt: skip
    assert waits == []


def test_the_bar_still_open_is_not_stored(source: list[Row], tmp_path: Path) -> None:
    emulator = KlineEmulator(list(source[:50]))
    now = source[49][0] + HOUR // 2  # the 50th bar is still forming
    with KlineServer(emulator) as url:
        result = fetch_history(
            _exchange(url), "BTC/USDT", "1h", SINCE_MS, KlineFile(tmp_path / "x.csv"), now_ms=now
        )
    assert result.stored == 49
    assert result.last_ms == source[48][0]


def test_pages_are_a_rate_limit_apart(source: list[Row], tmp_path: Path) -> None:
    emulator = KlineEmulator(list(source[:2500]))
    with KlineServer(emulator) as url:
        exchange = _exchange(url)
        exchange.rateLimit = 300  # type: ignore[attr-defined]
        seen = len(emulator.requests)
        fetch_history(exchange, "BTC/USDT", "1h", SINCE_MS, KlineFile(tmp_path / "x.csv"))
    pages = emulator.requests[seen:]
    assert len(pages) == 4  # three full pages, then the empty answer that ends the fetch
    spacing = [b.t - a.t for a, b in itertools.pairwise(pages)]
    assert min(spacing) >= 0.25  # 300 ms asked; arrival times may differ by a little


def test_retry_after_parsing() -> None:
    assert retry_after_s({"Retry-After": "2"}) == 2.0
    assert retry_after_s({"retry-after": " 0.5 "}) == 0.5
    assert retry_after_s({"Retry-After": "-3"}) == 0.0
    assert retry_after_s({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now_s=1445412480) == 10
    assert retry_after_s({"Retry-After": "soon"}) is None
    assert retry_after_s({}) is None
    assert retry_after_s(None) is None


@pytest.mark.parametrize(
    ("text", "exact"),
    [("4261.48000000", "4261.48"), ("100.00000000", "100"), ("0.00000000", "0"), ("1e2", "100"),
     ("47.181009", "47.181009"), (46656.13, "46656.13"), (7, "7")],
)  # fmt: skip
def test_exact_text(text: object, exact: str) -> None:
    assert exact_text(text) == exact


@pytest.mark.parametrize("bad", ["nan", "inf", "-1", "x", None, True])
def test_exact_text_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="not a"):
        exact_text(bad)


def test_a_foreign_file_is_not_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("time,price\n1,2\n")
    with pytest.raises(HistoryInputError, match="not a dataset written by"):
        KlineFile(path).read()
    assert path.read_text() == "time,price\n1,2\n"


# ---------------------------------------------------------------------------- bad input


def test_an_exchange_refusal_mid_fetch_is_one_line(
    source: list[Row], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = KlineEmulator(list(source[:10]), kline_symbol="ETHUSDT")  # -1121 for BTCUSDT
    with KlineServer(emulator) as url:
        rc = app_main(_fetch_args(url, tmp_path))
    err = capsys.readouterr().err.splitlines()
    assert rc == 1
    assert err[-1].startswith("tradedeck data fetch: fetching BTC/USDT 1h from 2022-01-01T00:00Z")
    assert "binance refused (BadSymbol" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_an_unwritable_folder_is_one_line(
    server: tuple[KlineEmulator, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = server
    (tmp_path / "file").write_text("x")
    rc = app_main(_fetch_args(url, tmp_path, "--out-dir", str(tmp_path / "file" / "sub")))
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tradedeck data fetch: --out-dir ")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"--exchange": "nosuchexchange"}, "unknown exchange 'nosuchexchange'"),
        ({"--exchange": ""}, "unknown exchange"),
        ({"--timeframe": "7h"}, "timeframe '7h' is not offered by binance"),
        ({"--timeframe": "1H"}, "timeframe '1H' is not offered"),
        ({"--timeframe": "1M"}, "monthly candles"),
        ({"--since": "2999-01-01"}, "--since 2999-01-01 is in the future"),
        ({"--since": "2022-13-01"}, "expected YYYY-MM-DD"),
        ({"--since": "yesterday"}, "expected YYYY-MM-DD"),
        ({"--since": "1e999999"}, "expected YYYY-MM-DD"),
        ({"--since": "1999-12-31"}, "before 2000"),
        ({"--until": "2021-06-01"}, "--until must be after --since"),
        ({"--symbol": "DOGE/USDT"}, "unknown symbol 'DOGE/USDT' on binance spot"),
        ({"--symbol": "BTC/EUR"}, "unknown symbol 'BTC/EUR' on binance spot; e.g. BTC/USDT"),
        ({"--api-url": "ftp://127.0.0.1:1"}, "is not an http(s)://host[:port] URL"),
        ({"--api-url": "not a url"}, "is not an http(s)://host[:port] URL"),
        ({"--api-url": "http://127.0.0.1:99999"}, "bad port"),
        ({"--api-url": "CLOSED"}, "cannot reach binance at http://127.0.0.1:"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    server: tuple[KlineEmulator, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    says: str,
) -> None:
    _, url = server
    args = _fetch_args(url, tmp_path)
    for flag, value in change.items():
        if value == "CLOSED":
            value = f"http://127.0.0.1:{_closed_port()}"
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    rc = app_main(args)
    out, err = capsys.readouterr()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tradedeck data fetch: ")
    assert says in err
    assert "Traceback" not in err
    assert out == ""
    assert not (tmp_path / "datasets").exists() or not any((tmp_path / "datasets").iterdir())
    assert not (tmp_path / "datasets.db").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "fetch", "--symbol", "BTC/USDT", "--since", SINCE],  # no --exchange
        ["data", "fetch", "--exchange", "binance", "--since", SINCE, "--bogus"],
        ["data"],
        ["data", "fetsh"],
    ],
)
def test_bad_arguments_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        app_main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tradedeck data")


def test_a_real_process_says_one_line(server: tuple[KlineEmulator, str], tmp_path: Path) -> None:
    _, url = server
    args = _fetch_args(url, tmp_path)
    args[args.index("--symbol") + 1] = "DOGE/USDT"
    done = subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "tradedeck data fetch: unknown symbol 'DOGE/USDT' on binance spot"
    ]
