"""Logging to a rotating file in the user log dir (and stderr). Never logs secrets."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

import platformdirs

FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"


def default_log_dir() -> Path:
    return Path(platformdirs.user_log_dir("tradedeck", appauthor=False))


def setup_logging(level: str = "INFO", log_dir: Path | None = None) -> Path | None:
    """Configure the root logger; returns the log file path (None if it could not be opened)."""
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for handler in list(root.handlers):
        if getattr(handler, "_tradedeck", False):
            root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter(FORMAT))
    console.setLevel(logging.WARNING)
    console._tradedeck = True  # type: ignore[attr-defined]
    root.addHandler(console)
    directory = log_dir or default_log_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "tradedeck.log"
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=5_000_000, backupCount=5, encoding="utf-8"
        )
    except OSError as exc:
        logging.getLogger(__name__).warning("cannot write log file in %s: %s", directory, exc)
        return None
    file_handler.setFormatter(logging.Formatter(FORMAT))
    file_handler._tradedeck = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    return path
