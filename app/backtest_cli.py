"""``tradedeck backtest``: run one backtest from the command line and print its metrics.

The work happens in ``engine.backtest`` (the GUI tab runs the same job); this module only parses
arguments, prints the summary and writes ``--json`` / ``--report`` files. ``python -m
app.backtest_cli ...`` runs it without the rest of the app's CLI.

Bad input never ends in a traceback: it is one line on stderr and exit status 2. Every number
is bounded before it is converted (``1e999999`` is refused from its exponent, in microseconds,
never expanded); the output folders and the datasets cache are checked before any bar is
loaded; the outputs are written to temporary files next to their targets and renamed into
place, so a failure leaves no partial file. The engine is imported on first use, so ``--help``
and argument errors answer before numpy or the broker are loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import time
import zlib
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

EXIT_BAD_INPUT = 2
_MAX_NUMBER_TEXT = 64  # characters of one number on the command line
_MAX_EXPONENT = 18  # |value| below 1e19 ...
_MAX_NUMBER_DECIMALS = 30  # ... with at most 30 digits after the point


class BadInput(ValueError):
    """Something on the command line cannot be used; the message says what, in one line."""


class _OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr (exit 2), without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {_one_line(message)} (see --help)\n")


def unrecognized(extra: list[str]) -> NoReturn:
    """Unknown arguments after ``tradedeck backtest``: one line, exit 2."""
    _OneLineParser(prog="tradedeck backtest").error(f"unrecognized arguments: {' '.join(extra)}")


def _one_line(text: object) -> str:
    return " ".join(str(text).split()) or "error"


def add_backtest_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``backtest`` sub-command to an ``add_subparsers()`` object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "backtest",
        help="backtest a strategy on a candle file and print its metrics",
        description="Backtest a built-in strategy on OHLCV bars (Binance kline CSV, generic "
        "CSV or Parquet). Orders go through the same risk engine and paper broker as live.",
    )
    # add_parser() builds the parent's parser class; only this sub-command's errors change.
    p.__class__ = _OneLineParser
    configure_parser(p)
    return p


def _bounded_int(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        t = text.strip()
        digits = t.lstrip("+-")
        if len(t) > 20 or not (digits.isascii() and digits.isdigit()):
            raise argparse.ArgumentTypeError(f"{text[:30]!r} is not a whole number")
        value = int(t)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low}..{high:,}")
        return value

    parse.__name__ = "whole number"
    return parse


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        required=True,
        type=Path,
        help="candle file (.csv, .csv.gz, .parquet), or Binance websocket captures "
        "(.jsonl.gz, comma-separated) to backtest on trades and L2 updates",
    )
    p.add_argument(
        "--bar-ms",
        type=_bounded_int(1, 86_400_000),
        default=1000,
        help="bar length built from trades (ticks)",
    )
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
    p.add_argument(
        "--latency-bars",
        type=_bounded_int(0, 1_000_000),
        default=0,
        help="order latency in bars (0)",
    )
    p.add_argument(
        "--latency-ms",
        type=_bounded_int(0, 7 * 86_400_000),
        default=0,
        help="order latency in ms (0)",
    )
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


def bounded_number(what: str, text: str) -> Decimal:
    """``text`` as a finite Decimal of sane size, decided without expanding it.

    ``Decimal("1e999999")`` is cheap; ``int()`` of it, or arithmetic that expands it, is not
    (seconds to minutes). The length, the exponent and the digits after the point are checked
    first, so any number on the command line is accepted or refused in microseconds.
    """
    t = text.strip().replace("_", "")
    if len(t) > _MAX_NUMBER_TEXT:
        raise BadInput(f"{what}: {text[:20]!r}... is too long for a number")
    try:
        value = Decimal(t)
    except InvalidOperation:
        raise BadInput(f"{what}: {text!r} is not a number") from None
    if not value.is_finite():
        raise BadInput(f"{what}: {text!r} is not a finite number")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if value and value.adjusted() >= _MAX_EXPONENT:
        raise BadInput(f"{what}: {text!r} is out of range (at most 1e{_MAX_EXPONENT})")
    if exponent < -_MAX_NUMBER_DECIMALS:
        raise BadInput(f"{what}: {text!r} has more than {_MAX_NUMBER_DECIMALS} decimals")
    return value


def _decimal(name: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    return bounded_number(f"--{name}", text)


def checked_params(items: list[str]) -> dict[str, str]:
    """``--param`` items as ``{name: text}``; numeric-looking values bounded (see above).

    The strategy's own schema then types and range-checks them; this only makes sure no value
    can freeze that conversion (``fast=1e999999``) or smuggle NaN / inf into a float.
    """
    from engine.strategy.base import parse_kv

    params = parse_kv(items)
    for name, text in params.items():
        if len(text) > _MAX_NUMBER_TEXT:
            raise BadInput(f"--param {name}: the value is too long ({len(text)} characters)")
        try:
            Decimal(text.strip().replace("_", ""))
        except InvalidOperation:
            continue  # not a number: the strategy's schema says what it expected
        bounded_number(f"--param {name}", text)
    return params


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
        params=checked_params(args.param),
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


def _output_paths(args: argparse.Namespace) -> list[tuple[str, Path]]:
    outs = [("--json", args.json_out), ("--report", args.report)]
    return [(flag, Path(p)) for flag, p in outs if p is not None]


def check_outputs(args: argparse.Namespace, db: Path | None) -> None:
    """Before any bar is loaded: each output's folder exists and is writable, no output is a
    folder, the data file or the cache, and ``--json`` and ``--report`` differ."""
    inputs = {_resolved(Path(p)): "the --data file" for p in str(args.data).split(",")}
    if db is not None:
        inputs[_resolved(db)] = "the datasets cache"
    seen: dict[Path, str] = {}
    for flag, path in _output_paths(args):
        where = _resolved(path)
        if where in inputs:
            raise BadInput(f"{flag} {path} would overwrite {inputs[where]}")
        if where in seen:
            raise BadInput(f"{flag} and {seen[where]} are the same file ({path})")
        seen[where] = flag
        if path.is_dir():
            raise BadInput(f"{flag} {path} is a folder, not a file name")
        folder = path.parent
        if not folder.is_dir():
            what = "does not exist" if not folder.exists() else "is not a folder"
            raise BadInput(f"{flag} {path}: the folder {folder} {what}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BadInput(f"{flag} {path}: the folder {folder} is not writable")


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare it as written
        return path.absolute()


def run_backtest_cli(args: argparse.Namespace) -> int:
    """Run the job described by parsed ``args``; 0 on success, 2 on bad input (one line on
    stderr, nothing written)."""
    t0 = time.perf_counter()
    try:
        job = build_job(args)
        job.window_ms()  # a bad --start / --end is said now, not after the bars are loaded
        db = _datasets_db(args)
        check_outputs(args, db)
        if db is not None:
            from engine.backtest.data import DatasetCache

            DatasetCache(db).check()
        from engine.backtest.job import run_job

        with _batch_gc():
            doc = run_job(job)
            outputs = _render(args, doc)
        from engine.backtest.result import write_files_atomically

        write_files_atomically(outputs)
    except (ValueError, ArithmeticError, OSError) as exc:
        # ValueError covers BadInput, DataError, ParamError and BacktestConfigError.
        print(f"tradedeck backtest: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (EOFError, zlib.error) as exc:  # a compressed capture cut short or damaged
        print(
            f"tradedeck backtest: truncated or corrupt compressed data ({_one_line(exc)})",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if not args.quiet:
        for line in summary_lines(doc):
            print(line)
        print(f"({time.perf_counter() - t0:.2f} s)")
    return 0


@contextlib.contextmanager
def _batch_gc() -> Iterator[None]:
    """Fewer cyclic-GC passes during one run: what exists now (modules, the parsed arguments)
    is frozen out of the scans and the youngest generation collects every 50,000 allocations
    instead of 700 (a run allocates millions of short-lived, acyclic objects: fills, orders,
    the equity rows). Restored afterwards, so an in-process caller keeps its settings."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _render(args: argparse.Namespace, doc: dict[str, Any]) -> dict[Path, bytes]:
    """The bytes of every output, built before any file is touched."""
    out: dict[Path, bytes] = {}
    if args.json_out is not None:
        from engine.backtest.result import encode

        out[Path(args.json_out)] = encode(doc)
    if args.report is not None:
        from engine.backtest.report import render_html

        out[Path(args.report)] = render_html(doc).encode("utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(prog="tradedeck backtest")
    configure_parser(parser)
    return run_backtest_cli(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
