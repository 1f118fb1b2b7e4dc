"""``tradedeck backtest`` on bad input: one line on stderr, exit 2, no traceback, nothing written.

Each class an outside attack found (a truncated ``.csv.gz``, an all-NaN column, slippage
``inf`` / NaN / negative / ``1e999999``, a corrupt datasets cache, an output in a missing
folder, parameters with huge exponents, bools and numpy-looking values) goes through the real
entry point, ``app.main.main(["backtest", ...])``, and through a spawned ``python -m app
backtest`` for the ones that used to freeze or crash the process. The outputs are checked before
any bar is loaded and written atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import engine.backtest.job as job_module
from app.main import main as app_main
from engine.backtest.data import synthetic_bars, write_csv
from engine.backtest.result import write_files_atomically

ROOT = Path(__file__).resolve().parents[1]
N_BARS = 600


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good and bad data files (never written to by the tests: each test has its own outputs)."""
    d = tmp_path_factory.mktemp("inputs")
    good = d / "good_BTCUSDT_1h.csv"
    write_csv(synthetic_bars(N_BARS, seed=5, interval_ms=3_600_000), good)
    text = good.read_text()
    gz = gzip.compress(text.encode())
    (d / "good_BTCUSDT_1h.csv.gz").write_bytes(gz)
    (d / "truncated_BTCUSDT_1h.csv.gz").write_bytes(gz[: int(len(gz) * 0.6)])
    (d / "garbage_BTCUSDT_1h.csv.gz").write_bytes(b"\x1f\x8b" + os.urandom(2000))
    header, *rows = text.splitlines()
    names = header.split(",")
    for column in ("close", "open_time_ms", "open"):
        k = names.index(column)
        out = [header]
        for row in rows:
            fields = row.split(",")
            fields[k] = "nan"
            out.append(",".join(fields))
        (d / f"nan_{column}_BTCUSDT_1h.csv").write_text("\n".join(out) + "\n")
    out = [header]
    for row in rows:
        fields = row.split(",")
        fields[names.index("high")] = ""
        out.append(",".join(fields))
    (d / "empty_high_BTCUSDT_1h.csv").write_text("\n".join(out) + "\n")
    (d / "huge_BTCUSDT_1h.csv").write_text(
        header
        + "\n"
        + "\n".join(
            f"{1_700_000_000_000 + i * 3_600_000},1e300,1e300,1e300,1e300,1" for i in range(50)
        )
        + "\n"
    )
    (d / "empty.csv").write_text("")
    trades = "".join(
        f"{1_723_161_254_000_000_000 + i * 50_000_000} "
        f'{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{1_723_161_255_000 + i * 50},'
        f'"s":"BTCUSDT","t":{i},"p":"{61_800 + (i % 97) / 100:.2f}","q":"0.01000000",'
        f'"T":{1_723_161_255_000 + i * 50},"m":true,"M":true}}}}\n'
        for i in range(20_000)
    )
    import pyarrow as pa  # a test extra
    import pyarrow.parquet as pq

    n = 500
    pq.write_table(
        pa.table(
            {
                "open_time_ms": [1_700_000_000_000 + i * 3_600_000 for i in range(n)],
                "open": [100.0] * n,
                "high": [101.0] * n,
                "low": [99.0] * n,
                "close": [float("nan")] * n,
                "volume": [1.0] * n,
            }
        ),
        d / "nan_close_BTCUSDT_1h.parquet",
    )
    parquet = (d / "nan_close_BTCUSDT_1h.parquet").read_bytes()
    (d / "truncated_BTCUSDT_1h.parquet").write_bytes(parquet[: len(parquet) // 2])
    capture = gzip.compress(trades.encode())
    (d / "truncated_ws.jsonl.gz").write_bytes(capture[: int(len(capture) * 0.6)])
    (d / "random.db").write_bytes(os.urandom(4096))
    (d / "zero.db").write_bytes(b"")
    (d / "folder.db").mkdir()
    with sqlite3.connect(d / "foreign.db") as conn:
        conn.execute("create table orders (id integer primary key)")
    conn.close()
    return d


# Each case: the arguments after ``backtest`` ({in} is the inputs folder, {out} the test's own
# empty output folder), and a word the one line must contain.
CASES: dict[str, tuple[list[str], str]] = {
    # data files
    "truncated gzip": (["--data", "{in}/truncated_BTCUSDT_1h.csv.gz"], "gzip"),
    "garbage gzip": (["--data", "{in}/garbage_BTCUSDT_1h.csv.gz"], "gzip"),
    "all-NaN close": (["--data", "{in}/nan_close_BTCUSDT_1h.csv"], "prices"),
    "all-NaN open": (["--data", "{in}/nan_open_BTCUSDT_1h.csv"], "prices"),
    "all-NaN time": (["--data", "{in}/nan_open_time_ms_BTCUSDT_1h.csv"], "time"),
    "empty column": (["--data", "{in}/empty_high_BTCUSDT_1h.csv"], "numbers"),
    "prices beyond int64 ticks": (["--data", "{in}/huge_BTCUSDT_1h.csv"], "tick"),
    "empty file": (["--data", "{in}/empty.csv"], "header"),
    "truncated capture": (["--data", "{in}/truncated_ws.jsonl.gz"], "truncated"),
    "truncated parquet": (["--data", "{in}/truncated_BTCUSDT_1h.parquet"], "parquet"),
    "all-NaN parquet close": (["--data", "{in}/nan_close_BTCUSDT_1h.parquet"], "prices"),
    "missing file": (["--data", "{in}/nope.csv"], "no such file"),
    "data is a folder": (["--data", "{in}"], "no such file"),
    # slippage
    "impact inf": (["--slippage", "impact:inf"], "impact"),
    "impact nan": (["--slippage", "impact:nan"], "impact"),
    "impact negative": (["--slippage", "impact:-1"], "impact"),
    "impact huge exponent": (["--slippage", "impact:1e999999"], "impact"),
    "book inf": (["--slippage", "book:inf"], "book"),
    "book nan": (["--slippage", "book:nan"], "book"),
    "fixed nan": (["--slippage", "fixed:nan"], "fixed"),
    "fixed huge exponent": (["--slippage", "fixed:1e999999"], "fixed"),
    "fixed tiny exponent": (["--slippage", "fixed:1e-999999"], "decimals"),
    "fixed not a number": (["--slippage", "fixed:"], "not a number"),
    "unknown slippage": (["--slippage", "magic"], "slippage"),
    # datasets cache
    "cache random bytes": (["--datasets-db", "{in}/random.db"], "not a SQLite database"),
    "cache 0 bytes": (["--datasets-db", "{in}/zero.db"], "empty"),
    "cache is a folder": (["--datasets-db", "{in}/folder.db"], "directory"),
    "cache is another database": (["--datasets-db", "{in}/foreign.db"], "another SQLite"),
    # outputs
    "json in a missing folder": (["--json", "{out}/missing/o.json"], "does not exist"),
    "report in a missing folder": (["--report", "{out}/missing/r.html"], "does not exist"),
    "json is a folder": (["--json", "{out}"], "folder"),
    "json is the report": (["--json", "{out}/x", "--report", "{out}/x"], "same file"),
    "json is the data": (["--json", "{in}/good_BTCUSDT_1h.csv"], "overwrite"),
    # strategy parameters
    "param huge exponent": (["--param", "fast=1e999999"], "out of range"),
    "param huger exponent": (["--param", "fast=1e2999999"], "out of range"),
    "param negative huge exponent": (["--param", "slow=-1e999999"], "out of range"),
    "param tiny exponent": (["--param", "fast=1e-999999"], "decimals"),
    "param nan": (["--param", "fast=nan"], "finite"),
    "param inf": (["--param", "slow=-Infinity"], "finite"),
    "param bool": (["--param", "fast=True"], "whole number"),
    "param numpy scalar": (["--param", "fast=np.int64(5)"], "whole number"),
    "param fraction": (["--param", "fast=2.5"], "whole number"),
    "param very long": (["--param", "fast=" + "9" * 5000], "too long"),
    "param without =": (["--param", "fast"], "name=value"),
    "param unknown": (["--param", "speed=3"], "speed"),
    "float param nan": (["--strategy", "mean_reversion", "--param", "entry_z=nan"], "finite"),
    # numbers
    "cash huge exponent": (["--cash", "1e999999"], "out of range"),
    "cash nan": (["--cash", "nan"], "finite"),
    "cash bool": (["--cash", "True"], "not a number"),
    "cash negative": (["--cash", "-5"], "positive"),
    "fee inf": (["--fee-bps", "inf"], "finite"),
    "fee tiny exponent": (["--fee-bps", "1e-999999"], "decimals"),
    "fee of 100%": (["--fee-bps", "10000"], "fees"),
    "lot tiny": (["--lot", "1e-40"], "decimals"),
    "min notional huge": (["--min-notional", "1e999999"], "out of range"),
    "latency huge": (["--latency-bars", "1e999999"], "whole number"),
    "latency bool": (["--latency-bars", "True"], "whole number"),
    "latency negative": (["--latency-ms", "-1"], "0.."),
    "latency beyond int64": (["--latency-bars", "99999999999999999999"], "0.."),
    "bar-ms zero": (["--bar-ms", "0"], "1.."),
    "bad start": (["--start", "2023-13-45"], "YYYY-MM-DD"),
    "end before start": (["--start", "2024-02-01", "--end", "2024-01-01"], "before"),
    # argument syntax
    "unknown strategy": (["--strategy", "moon"], "unknown strategy"),
    "unknown fill rule": (["--fill", "never"], "invalid choice"),
    "unknown option": (["--bogus", "1"], "unrecognized arguments"),
    "missing --data value": (["--strategy", "sma_cross", "--data"], "expected one argument"),
}

_DEFAULTS = {"--data": "{in}/good_BTCUSDT_1h.csv", "--strategy": "sma_cross"}


def _argv(case: list[str], inputs: Path, out: Path) -> list[str]:
    args = list(case)
    for flag, value in _DEFAULTS.items():
        if flag not in args:
            args += [flag, value]
    if "--datasets-db" not in args:
        args += ["--datasets-db", "{out}/cache/datasets.db"]
    if "--json" not in args:
        args += ["--json", "{out}/o.json"]
    if "--report" not in args:
        args += ["--report", "{out}/r.html"]
    return [a.replace("{in}", str(inputs)).replace("{out}", str(out)) for a in args]


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


def _run_main(argv: list[str]) -> int:
    try:
        return app_main(argv)
    except SystemExit as exc:  # argparse: usage errors exit from inside parse_args
        return int(exc.code or 0)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_is_one_line_and_exit_2(
    case: str, inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, word = CASES[case]
    out = tmp_path / "out"
    (out / "cache").mkdir(parents=True)
    before_in, before_out = _tree(inputs), _tree(out)
    code = _run_main(["backtest", *_argv(args, inputs, out)])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("tradedeck backtest")
    assert word.lower() in lines[0].lower()
    assert captured.out == ""
    assert _tree(inputs) == before_in  # the corrupt cache files are left exactly as they were
    assert _tree(out) == before_out  # no output, no temp file, no cache


def test_outputs_are_checked_before_any_bar_is_loaded(
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    loads: list[object] = []

    def spy(*args: object, **kwargs: object) -> object:
        loads.append(args)
        raise AssertionError("bars were loaded before the outputs were checked")

    monkeypatch.setattr(job_module, "load_bars", spy)
    for flag, name in (("--json", "o.json"), ("--report", "r.html")):
        argv = [
            "backtest",
            "--data",
            str(inputs / "good_BTCUSDT_1h.csv"),
            "--strategy",
            "sma_cross",
            "--no-cache",
            flag,
            str(tmp_path / "missing" / name),
        ]
        assert _run_main(argv) == 2
        assert "does not exist" in capsys.readouterr().err
    assert loads == []
    assert not (tmp_path / "missing").exists()


def _good_argv(inputs: Path, out: Path) -> list[str]:
    return [
        "backtest",
        "--data",
        str(inputs / "good_BTCUSDT_1h.csv"),
        "--strategy",
        "sma_cross",
        "--param",
        "fast=5",
        "slow=20",
        "--no-cache",
        "--quiet",
        "--json",
        str(out / "o.json"),
        "--report",
        str(out / "r.html"),
    ]


def test_a_failed_write_leaves_the_old_outputs_and_no_temp_file(
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "o.json").write_text("old json")
    (tmp_path / "r.html").write_text("old report")
    calls: list[int] = []
    real_fsync = os.fsync

    def disk_full_on_second(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full_on_second)
    assert _run_main(_good_argv(inputs, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "No space left" in err
    assert len(calls) == 2
    # neither output was replaced (not even the first, already fully written), no temp left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.json", "r.html"]
    assert (tmp_path / "o.json").read_text() == "old json"
    assert (tmp_path / "r.html").read_text() == "old report"


def test_outputs_replace_old_files_whole(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "o.json").write_text("x" * 10_000_000)  # longer than the new document
    assert _run_main(_good_argv(inputs, tmp_path)) == 0
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc["run"]["bars"] == N_BARS
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.json", "r.html"]
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o666 & ~mask
    assert capsys.readouterr().err == ""


def test_write_files_atomically_is_all_or_nothing(tmp_path: Path) -> None:
    (tmp_path / "first.json").write_text("old")
    with pytest.raises(FileNotFoundError):
        write_files_atomically(
            {tmp_path / "first.json": b"{}", tmp_path / "gone" / "second.html": b"<p>"}
        )
    assert (tmp_path / "first.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["first.json"]  # no temp file left


def test_huge_exponents_are_refused_by_a_real_process_without_freezing(
    inputs: Path, tmp_path: Path
) -> None:
    """The process used to spend minutes in ``int(Decimal("1e2999999"))``."""
    for value in ("fast=1e999999", "fast=1e2999999"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "app",
                "backtest",
                "--data",
                str(inputs / "truncated_BTCUSDT_1h.csv.gz"),
                "--strategy",
                "sma_cross",
                "--param",
                value,
                "--json",
                str(tmp_path / "o.json"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stderr.count("\n") == 1
        assert "out of range" in proc.stderr
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.backtest_cli",
            "--data",
            str(inputs / "truncated_BTCUSDT_1h.csv.gz"),
            "--strategy",
            "sma_cross",
            "--no-cache",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "gzip" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
