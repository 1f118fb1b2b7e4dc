"""Entry point: ``tradedeck`` (window), ``tradedeck headless ...``; ``python -m app`` too."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import parse_args

if TYPE_CHECKING:
    from engine import EngineConfig

log = logging.getLogger(__name__)


def _config(args) -> EngineConfig:  # type: ignore[no-untyped-def]
    from engine import EngineConfig

    kwargs = {
        "venue": args.venue,
        "symbols": tuple(s.strip() for s in args.symbols.split(",") if s.strip()),
        "seed": args.seed,
        "sim_rate": args.sim_rate,
        "replay_speed": args.speed,
    }
    if args.data_dir is not None:
        kwargs["data_dir"] = Path(args.data_dir)
    return EngineConfig(**kwargs)


def main(argv: list[str] | None = None) -> int:
    t_start = time.perf_counter()
    # Backtests run in spawned worker processes; in the PyInstaller bundle a spawned child
    # re-runs this entry point, and freeze_support() turns it into the worker instead.
    multiprocessing.freeze_support()
    args = parse_args(argv)
    if args.command == "backtest":
        from app.backtest_cli import run_backtest_cli

        return int(run_backtest_cli(args))
    if args.command == "data":
        from app.data_cli import run_data_cli

        return run_data_cli(args)
    # Imported after the backtest branch: the live engine's persistence pulls in sqlite-utils
    # (and with it pandas), half a second that the backtest CLI does not need.
    from app.logging_setup import setup_logging
    from engine import ConfigError, StorageError

    log_path = setup_logging(args.log_level)
    from engine.venues.ccxt.keys import install_log_redaction

    install_log_redaction()  # known API keys are masked in every handler's output
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"tradedeck: {exc}", file=sys.stderr)
        return 2
    if args.command == "headless":
        from app.headless import run_headless

        try:
            return run_headless(config, args.seconds, args.json)
        except (StorageError, ConfigError) as exc:
            print(f"tradedeck: {exc}", file=sys.stderr)
            return 2
    return run_gui(config, args, log_path, t_start)


def run_gui(config: EngineConfig, args, log_path: Path | None, t_start: float) -> int:  # type: ignore[no-untyped-def]
    import asyncio

    import qasync
    from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.bridge import EngineBridge
    from app.errors import ErrorReporter
    from app.main_window import MainWindow
    from app.resources import app_icon, load_stylesheet
    from engine import ConfigError, Engine, StorageError

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("tradedeck")
    app.setOrganizationName("tradedeck")
    app.setWindowIcon(app_icon())
    app.setStyleSheet(load_stylesheet())
    reporter = ErrorReporter()
    reporter.install()

    engine = Engine(config)
    try:
        engine.start()
    except (StorageError, ConfigError, OSError) as exc:
        log.error("engine could not start: %s", exc)
        print(f"tradedeck: {exc}", file=sys.stderr)
        if args.exit_after is None:
            box = QMessageBox(QMessageBox.Icon.Critical, "tradedeck cannot start", str(exc))
            box.exec()  # before the event loop runs: a plain modal dialog is fine here
        reporter.uninstall()
        return 2

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    bridge = EngineBridge(engine)
    settings = QSettings(str(config.data_dir / "layout.ini"), QSettings.Format.IniFormat)
    window = MainWindow(bridge, settings=settings, log_file=log_path)
    reporter.set_parent_widget(window)

    class _FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() in (QEvent.Type.Paint, QEvent.Type.Expose):
                window.removeEventFilter(self)
                elapsed = time.perf_counter() - t_start
                print(f"tradedeck: window shown after {elapsed:.3f} s", file=sys.stderr, flush=True)
                log.info("window shown after %.3f s", elapsed)
            return False

    first_paint = _FirstPaint()
    window.installEventFilter(first_paint)
    window.show()
    if args.exit_after is not None:
        QTimer.singleShot(int(args.exit_after * 1000), window.close)

    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    try:
        with loop:
            loop.run_until_complete(closed.wait())
    finally:
        bridge.close()
        engine.stop()
        reporter.uninstall()
        log.info("tradedeck exited cleanly")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("QT_API", "pyside6")
    raise SystemExit(main())
