"""``tradedeck backtest``: run one backtest from the command line and print its metrics.

The work happens in ``engine.backtest`` (the GUI tab runs the same job); this module only parses
arguments, prints the summary and writes ``--json`` / ``--report`` files. ``python -m
app.backtest_cli ...`` runs it without the rest of the app's CLI.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


def add_backtest_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``backtest`` sub-command to an ``add_subparsers()`` object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "backtest",
        help="backtest a strategy on a candle file and print its metrics",
        description="Backtest a built-in strategy on OHLCV bars (Binance kline CSV, generic "
        "CSV or Parquet). Orders go through the same risk engine and paper broker as live.",
    )
    configure_parser(p)
    return p


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        required=True,
        type=Path,
        help="candle file (.csv, .csv.gz, .parquet), or Binance websocket captures "
        "(.jsonl.gz, comma-separated) to backtest on trades and L2 updates",
    )
    p.add_argument("--bar-ms", type=int, default=1000, help="bar length built from trades (ticks)")
    p.add_argument("--symbol", default=None, help="e.g. BTC/USDT (default: from the file name)")
    p.add_argument("--strategy", required=True, help="sma_cross, breakout, mean_reversion, grid")
    p.add_argument(
        "--param",
        action="extend",
        nargs="+",
        default=[],
        metavar="K=V",
        help="strategy parameter, repeatable (e.g. --param fast=10 slow=30)",
    )
    p.add_argument("--cash", default="10000", help="starting cash in quote currency (10000)")
    p.add_argument("--fee-bps", default="10", help="maker and taker fee in bps (10)")
    p.add_argument("--maker-fee-bps", default=None, help="maker fee in bps (default: --fee-bps)")
    p.add_argument(
        "--slippage", default="none", help="none | fixed:BPS | impact[:COEF] | book[:SCALE]"
    )
    p.add_argument("--fill", default="next_open", choices=("next_open", "close"))
    p.add_argument("--limit-fill", default="through", choices=("through", "touch"))
    p.add_argument("--latency-bars", type=int, default=0, help="order latency in bars (0)")
    p.add_argument("--latency-ms", type=int, default=0, help="order latency in ms (0)")
    p.add_argument("--lot", default=None, help="lot size (default: the instrument's, 0.00001)")
    p.add_argument("--min-notional", default=None, help="minimum order value (instrument's)")
    p.add_argument("--start", default=None, metavar="YYYY-MM-DD", help="first day (UTC)")
    p.add_argument("--end", default=None, metavar="YYYY-MM-DD", help="last day (UTC), included")
    p.add_argument("--json", dest="json_out", type=Path, default=None, metavar="OUT.json")
    p.add_argument("--report", type=Path, default=None, metavar="OUT.html")
    p.add_argument(
        "--datasets-db",
        type=Path,
        default=None,
        help="parsed-data cache (default: datasets.db in the data directory)",
    )
    p.add_argument("--no-cache", action="store_true", help="parse the file, do not cache it")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _decimal(name: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"--{name} {text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"--{name} {text!r} is not a finite number")
    return value


def _datasets_db(args: argparse.Namespace) -> Path | None:
    if args.no_cache:
        return None
    if args.datasets_db is not None:
        return Path(args.datasets_db)
    data_dir = getattr(args, "data_dir", None)
    if data_dir is None:
        from engine.config import default_data_dir

        data_dir = default_data_dir()
    return Path(data_dir) / "datasets.db"


def build_job(args: argparse.Namespace) -> Any:
    from engine.backtest.config import BacktestConfig
    from engine.backtest.job import BacktestJob
    from engine.strategy import parse_kv

    fee = _decimal("fee-bps", args.fee_bps)
    maker = _decimal("maker-fee-bps", args.maker_fee_bps)
    assert fee is not None
    cash = _decimal("cash", args.cash)
    assert cash is not None
    config = BacktestConfig(
        cash=cash,
        taker_fee=fee / 10000,
        maker_fee=(maker if maker is not None else fee) / 10000,
        slippage=args.slippage,
        fill=args.fill,
        limit_fill=args.limit_fill,
        latency_bars=args.latency_bars,
        latency_ms=args.latency_ms,
        lot_size=_decimal("lot", args.lot),
        min_notional=_decimal("min-notional", args.min_notional),
    )
    db = _datasets_db(args)
    return BacktestJob(
        data=str(args.data),
        strategy=args.strategy,
        params=parse_kv(args.param),
        symbol=args.symbol,
        config=config,
        start=args.start,
        end=args.end,
        datasets_db=str(db) if db is not None else None,
        bar_ms=args.bar_ms,
    )


def summary_lines(doc: dict[str, Any]) -> list[str]:
    mx = doc["metrics"]
    params = doc["parameters"]
    strat = params["strategy"]

    def pct(key: str) -> str:
        v = mx.get(key)
        return "n/a" if v is None else f"{float(v) * 100:,.2f}%"

    def num(key: str, digits: int = 2) -> str:
        v = mx.get(key)
        return "n/a" if v is None else f"{float(v):,.{digits}f}"

    run = doc["run"]
    rows = [
        ("strategy", f"{strat['name']} {strat['params']}"),
        ("symbol", f"{params['symbol']}  bars {run['bars']}"),
        ("total return", pct("total_return")),
        ("CAGR", pct("cagr")),
        ("volatility", pct("volatility")),
        ("Sharpe", num("sharpe")),
        ("Sortino", num("sortino")),
        ("Calmar", num("calmar")),
        ("max drawdown", pct("max_drawdown")),
        ("max drawdown duration", f"{num('max_drawdown_duration', 1)} days"),
        ("win rate", pct("win_rate")),
        ("profit factor", num("profit_factor")),
        ("average trade", num("average_trade")),
        ("exposure", pct("exposure")),
        ("turnover", f"{num('turnover', 1)} x"),
        ("fees paid", num("fees_paid")),
        ("slippage paid", num("slippage_paid")),
        ("number of trades", str(mx["number_of_trades"])),
        ("final equity", num("final_equity")),
    ]
    if mx.get("orders_denied"):
        rows.append(("orders denied", str(mx["orders_denied"])))
    width = max(len(k) for k, _ in rows)
    out = [f"{k:<{width}}  {v}" for k, v in rows]
    data = doc.get("data") or {}
    if data:
        from engine.backtest.data import DataReport

        for line in DataReport.from_dict(data).summary_lines():
            out.append(f"data: {line}")
    return out


def run_backtest_cli(args: argparse.Namespace) -> int:
    """Run the job described by parsed ``args``; 0 on success, 2 on bad input."""
    t0 = time.perf_counter()
    from engine.backtest.config import BacktestConfigError
    from engine.backtest.data import DataError
    from engine.backtest.job import run_job
    from engine.backtest.result import write_json
    from engine.strategy import ParamError

    try:
        job = build_job(args)
        doc = run_job(job)
    except (ValueError, DataError, ParamError, BacktestConfigError, OSError) as exc:
        print(f"tradedeck backtest: {exc}", file=sys.stderr)
        return 2
    if args.json_out is not None:
        write_json(doc, args.json_out)
    if args.report is not None:
        from engine.backtest.report import write_report

        write_report(doc, args.report)
    if not args.quiet:
        for line in summary_lines(doc):
            print(line)
        print(f"({time.perf_counter() - t0:.2f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradedeck backtest")
    configure_parser(parser)
    return run_backtest_cli(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
