"""Command-line parsing shared by the window and the sub-commands (``headless``, ...)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.config import DEFAULT_SYMBOLS, default_data_dir
from engine.venues.registry import VENUES, UnknownVenue


def _venue(text: str) -> str:
    try:
        VENUES.parse(text)
    except UnknownVenue as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where the database and settings live (default: {default_data_dir()})",
    )
    parser.add_argument(
        "--venue",
        default="sim",
        type=_venue,
        metavar="VENUE",
        help=f"market venue (default: sim). Registered: {VENUES.help_text()}",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay venues: times real time, 0 = as fast as possible (default: 1.0)",
    )
    parser.add_argument(
        "--symbols",
        default=",".join(DEFAULT_SYMBOLS),
        help="comma-separated symbols (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (default: 7)")
    parser.add_argument(
        "--sim-rate",
        type=float,
        default=1.0,
        help="simulated market activity multiplier (default: 1.0)",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ...")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradedeck",
        description="Desktop crypto trading terminal. Without a sub-command it opens the window.",
    )
    _common(parser)
    parser.add_argument(
        "--exit-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="show the window, then quit cleanly after SECONDS (smoke tests)",
    )
    sub = parser.add_subparsers(dest="command")
    from app.backtest_cli import add_backtest_parser

    add_backtest_parser(sub)
    from app.data_cli import add_data_parser

    add_data_parser(sub)
    headless = sub.add_parser("headless", help="run the engine without a window and report")
    _common(headless)
    headless.add_argument("--seconds", type=float, default=10.0, help="how long to run")
    headless.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if args.command == "backtest":  # said in the sub-command's one line, like its other errors
            from app.backtest_cli import unrecognized

            unrecognized(extra)
        if args.command == "data":
            from app.data_cli import unrecognized as data_unrecognized

            data_unrecognized(extra)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "headless" and args.seconds <= 0:
        parser.error("--seconds must be positive")
    if args.sim_rate <= 0:
        parser.error("--sim-rate must be positive")
    return args
