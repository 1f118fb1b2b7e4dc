"""``tradedeck data fetch``: download candle history from an exchange into the datasets cache.

The fetch itself is ``engine.venues.ccxt.history`` (paginated ``fetch_ohlcv``, ccxt's rate limit,
``Retry-After`` honoured on 429, resumable); this module parses arguments, prints the progress on
stderr and, once the bars are stored, parses them into the backtest datasets cache
(``DatasetCache``) under the same key ``tradedeck backtest --data FILE`` and the Backtest tab
look up, so the first backtest on a fetched dataset is a cache hit.

Bad input is one line on stderr and exit status 2 (unknown exchange, timeframe or symbol, a
since in the future, an unreachable or malformed ``--api-url``, a damaged cache); a fetch that
stops part-way says so in one line, exit 1, with every complete bar kept for the next run.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
_PROG = "tradedeck data fetch"

_EPILOG = """\
Where the data goes: the bars are written to OUT_DIR/<exchange>_spot_<BASEQUOTE>_<timeframe>.csv
(default OUT_DIR: the 'datasets' folder in the data directory), e.g.
~/.local/share/tradedeck/datasets/binance_spot_BTCUSDT_1h.csv, a Binance-kline CSV
(open_time_ms,open,high,low,close,volume) with the exchange's exact prices; then it is parsed into
the datasets cache (datasets.db in the data directory). Backtest it with
  tradedeck backtest --data ~/.local/share/tradedeck/datasets/binance_spot_BTCUSDT_1h.csv ...
or pick the file in the Backtest tab. Running the same command again continues after the last
stored bar (resumable; --restart fetches from --since again). The bar still open at the exchange
is never stored. Gaps (bars the exchange does not have) are reported, never filled.
--api-url replaces the host of every REST endpoint of the exchange (testnets, proxies, local
emulators); paths are kept (Binance spot: URL/api/v3/klines)."""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {_one_line(message)} (see --help)\n")


def _one_line(text: object) -> str:
    return " ".join(str(text).split()) or "error"


def unrecognized(extra: list[str]) -> NoReturn:
    _OneLineParser(prog=_PROG).error(f"unrecognized arguments: {' '.join(extra)}")


def add_data_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``data`` (with its ``fetch`` sub-command) to an ``add_subparsers()`` object."""
    data: argparse.ArgumentParser = subparsers.add_parser(
        "data", help="market data: download candle history (data fetch)"
    )
    data.__class__ = _OneLineParser
    data.prog = "tradedeck data"
    sub = data.add_subparsers(dest="data_command", required=True, metavar="fetch")
    fetch: argparse.ArgumentParser = sub.add_parser(
        "fetch",
        help="download OHLCV candles from an exchange into the datasets cache",
        description="Download OHLCV candles from an exchange (ccxt, public data, no keys) into "
        "the backtest datasets cache.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.__class__ = _OneLineParser
    fetch.prog = _PROG
    configure_parser(fetch)
    return data


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exchange", required=True, help="ccxt exchange id: binance, bybit, okx, ...")
    p.add_argument("--symbol", required=True, help="spot pair, e.g. BTC/USDT")
    p.add_argument("--timeframe", default="1h", help="candle length: 1m, 5m, 1h, 1d, ... (1h)")
    p.add_argument(
        "--since", required=True, metavar="DATE", help="first bar, UTC: YYYY-MM-DD[THH:MM]"
    )
    p.add_argument(
        "--until", default=None, metavar="DATE", help="stop before this time, UTC (default: now)"
    )
    p.add_argument("--api-url", default=None, metavar="URL", help="REST base URL (see below)")
    p.add_argument(
        "--data-dir", type=Path, default=argparse.SUPPRESS, help="data directory (default below)"
    )
    p.add_argument("--out-dir", type=Path, default=None, help="where the CSV goes (see below)")
    p.add_argument(
        "--datasets-db",
        type=Path,
        default=None,
        help="datasets cache (default: datasets.db in the data directory)",
    )
    p.add_argument("--no-cache", action="store_true", help="write the CSV only")
    p.add_argument("--restart", action="store_true", help="discard the stored bars, start over")
    p.add_argument("--quiet", action="store_true", help="no progress, only errors and the path")


class BadInput(ValueError):
    """Something on the command line cannot be used; one line says what."""


def parse_when(flag: str, text: str) -> int:
    """``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM[:SS]`` (UTC, optional ``Z``) as epoch ms."""
    t = text.strip()
    if len(t) > 25:
        raise BadInput(f"{flag} {text[:25]!r}...: expected YYYY-MM-DD[THH:MM]")
    t = t.removesuffix("Z").removesuffix("z").replace(" ", "T")
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            when = datetime.strptime(t, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        if when.year < 2000:
            raise BadInput(f"{flag} {text!r} is before 2000")
        return int(when.timestamp()) * 1000
    raise BadInput(f"{flag} {text!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)")


def _data_dir(args: argparse.Namespace) -> Path:
    data_dir = getattr(args, "data_dir", None)
    if data_dir is None:
        from engine.config import default_data_dir

        data_dir = default_data_dir()
    return Path(data_dir)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


class _ProgressLine:
    """One progress line on stderr, redrawn in place on a terminal, one line per page else."""

    def __init__(self, label: str, quiet: bool) -> None:
        self.label = label
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, p: Any) -> None:
        if self.quiet:
            return
        width = 24
        filled = int(p.fraction * width)
        bar = "#" * filled + "-" * (width - filled)
        text = (
            f"{self.label} [{bar}] {p.fraction * 100:5.1f}%  {p.stored:,} bars "
            f"(+{p.fetched:,})  up to {_iso(p.last_ms)}"
        )
        if self.tty:
            sys.stderr.write("\r" + text)
            self.drawn = True
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            self.drawn = False


def run_data_cli(args: argparse.Namespace) -> int:
    if getattr(args, "data_command", None) != "fetch":
        print("tradedeck data: say what to do: fetch (see --help)", file=sys.stderr)
        return EXIT_BAD_INPUT
    from engine.venues.ccxt.history import HistoryFetchError, HistoryInputError

    try:
        return _fetch(args)
    except (BadInput, HistoryInputError) as exc:
        print(f"{_PROG}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except HistoryFetchError as exc:
        print(f"{_PROG}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # the CSV cannot be written (disk full, permissions, ...)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"{_PROG}: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_FAILED


def _fetch(args: argparse.Namespace) -> int:
    from engine.venues.ccxt.history import (
        KlineFile,
        dataset_filename,
        fetch_history,
        load_symbol,
        make_exchange,
        timeframe_ms,
    )

    since = parse_when("--since", args.since)
    until = parse_when("--until", args.until) if args.until is not None else None
    now = int(time.time() * 1000)
    if since >= now:
        raise BadInput(f"--since {args.since} is in the future")
    if until is not None and until <= since:
        raise BadInput("--until must be after --since")
    exchange = make_exchange(args.exchange, api_url=args.api_url)
    timeframe_ms(exchange, args.timeframe)
    data_dir = _data_dir(args)
    out_dir = Path(args.out_dir) if args.out_dir is not None else data_dir / "datasets"
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"--out-dir {out_dir} is not a folder")
    db = None
    if not args.no_cache:
        from engine.backtest.data import DataError, DatasetCache

        db = Path(args.datasets_db) if args.datasets_db is not None else data_dir / "datasets.db"
        try:
            DatasetCache(db).check()
        except DataError as exc:
            raise BadInput(str(exc)) from None
    path = out_dir / dataset_filename(exchange.id, "spot", args.symbol, args.timeframe)
    store = KlineFile(path)
    if args.restart:
        path.unlink(missing_ok=True)
    else:
        store.read()  # a damaged or foreign file is said before the network is asked
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--out-dir {out_dir}: {exc.strerror or exc}") from None
    load_symbol(exchange, args.symbol)
    line = _ProgressLine(f"{exchange.id} {args.symbol} {args.timeframe}", args.quiet)
    try:
        result = fetch_history(
            exchange, args.symbol, args.timeframe, since, store, until_ms=until, progress=line
        )
    except KeyboardInterrupt:
        line.done()
        print(f"{_PROG}: interrupted; the bars so far are in {path}; run again to resume",
              file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    finally:
        line.done()
    if not args.quiet:
        if result.resumed_from_ms is not None:
            print(
                f"resumed after {result.stored_before:,} stored bars, "
                f"from {_iso(result.resumed_from_ms)}",
                file=sys.stderr,
            )
        print(
            f"{result.fetched:,} new bars in {result.requests} requests "
            f"({result.retries} retried, {result.waited_s:.1f} s waited as asked)",
            file=sys.stderr,
        )
        if result.gaps:
            print(
                f"gaps: {len(result.gaps)}, {result.missing_bars:,} bars missing at the exchange",
                file=sys.stderr,
            )
            for g in result.gaps[:20]:
                print(
                    f"  gap after {_iso(g.after_ms)}: {g.missing} bars missing "
                    f"(next {_iso(g.before_ms)})",
                    file=sys.stderr,
                )
            if len(result.gaps) > 20:
                print(f"  ... and {len(result.gaps) - 20} more", file=sys.stderr)
        else:
            print("gaps: none", file=sys.stderr)
    if result.stored == 0:
        print(f"{_PROG}: the exchange has no {args.timeframe} bars in that span", file=sys.stderr)
        return EXIT_FAILED
    cached = ""
    if db is not None:
        from engine.backtest.data import DataError, DatasetCache, load_bars

        try:
            load_bars(path, None, cache=DatasetCache(db))
            cached = f" (cached in {db})"
        except (DataError, ValueError, OSError) as exc:
            print(f"{_PROG}: stored, but not cached: {_one_line(exc)}", file=sys.stderr)
    print(
        f"{path}: {result.stored:,} bars {_iso(result.first_ms)} .. {_iso(result.last_ms)}{cached}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(prog=_PROG, epilog=_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    configure_parser(parser)
    args = parser.parse_args(argv)
    args.data_command = "fetch"
    return run_data_cli(args)


if __name__ == "__main__":
    raise SystemExit(main())
