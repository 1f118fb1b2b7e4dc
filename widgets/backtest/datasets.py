"""What the backtest tab can run on: imported (cached) datasets and the real files beside the
checkout, plus a worker process that reads a file into the dataset cache and reports on it.

Parsing a candle file takes seconds for the big ones (435k bars), and numpy's text parser holds
the GIL, so it cannot run on the GUI thread nor usefully on a thread beside it: it runs in a
spawned process, like the backtest itself. A file already in the cache is answered on the spot
(one SQLite row). Qt-free: the spawned process imports this module.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from engine.backtest.data import Bars, DataError, DataReport, DatasetCache, load_bars

CANDLE_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet", ".pq")
TICK_DIRS = frozenset({"ticks_l2"})  # trades / L2 captures, not bars
VOLUME_UNIT = "auto"  # what run_job uses, so the tab and the worker share cache rows


@dataclass(frozen=True, slots=True)
class Dataset:
    """One pickable file: where it is, how to show it, and what the cache knows of it."""

    path: Path
    label: str
    origin: str  # "shared" (../shared/data) or "imported" (only in the cache)
    cached_bars: int | None = None
    cached_symbol: str = ""

    @property
    def text(self) -> str:
        if self.cached_bars is None:
            return self.label
        return f"{self.label}  ({self.cached_bars:,} bars, cached)"


def is_candle_file(path: Path) -> bool:
    return path.name.lower().endswith(CANDLE_SUFFIXES)


def shared_files(directory: Path | None) -> list[Path]:
    """Candle files in ``directory`` and its sub-folders (tick captures left out)."""
    if directory is None or not directory.is_dir():
        return []
    found = [
        p
        for p in directory.rglob("*")
        if p.is_file()
        and is_candle_file(p)
        and not TICK_DIRS.intersection(p.relative_to(directory).parts[:-1])
    ]
    return sorted(found, key=lambda p: (len(p.relative_to(directory).parts), str(p).lower()))


def list_datasets(cache: DatasetCache | None, shared_dir: Path | None) -> list[Dataset]:
    """Shared files first (in folder order), then files known only to the cache."""
    entries: dict[Path, dict[str, Any]] = {}
    if cache is not None:
        try:
            rows = cache.entries()
        except Exception:  # an unreadable cache must not take the tab down; it re-imports
            rows = []
        for entry in rows:
            path = Path(str(entry.get("path", "")))
            if path.is_absolute() and path.is_file():
                entries.setdefault(path.resolve(), entry)
    out: list[Dataset] = []
    seen: set[Path] = set()
    root = shared_dir.resolve() if shared_dir is not None and shared_dir.is_dir() else None
    for path in shared_files(root):
        key = path.resolve()
        seen.add(key)
        row = entries.get(key)
        out.append(
            Dataset(
                path=key,
                label=str(path.relative_to(root)) if root is not None else path.name,
                origin="shared",
                cached_bars=int(row["bars"]) if row else None,
                cached_symbol=str(row["symbol"]) if row else "",
            )
        )
    for key, row in sorted(entries.items(), key=lambda kv: kv[0].name.lower()):
        if key in seen:
            continue
        out.append(
            Dataset(
                path=key,
                label=key.name,
                origin="imported",
                cached_bars=int(row["bars"]),
                cached_symbol=str(row["symbol"]),
            )
        )
    return out


def cached(cache: DatasetCache, path: Path, symbol: str | None) -> tuple[Bars, DataReport] | None:
    """Bars and report if the cache holds this file as it is now (one row read), else None."""
    try:
        return cache.get(cache.key(path, symbol, VOLUME_UNIT))
    except Exception:  # file gone, or sqlite busy while a worker writes: treat as a miss
        return None


# ---------------------------------------------------------------- inspection worker


def _inspect_child(path: str, symbol: str | None, db: str | None, out: Any) -> None:
    try:
        cache = DatasetCache(db) if db else None
        _bars, report = load_bars(Path(path), symbol, cache=cache, volume_unit=VOLUME_UNIT)
        out.put(("done", report.to_dict()))
    except (DataError, ValueError, OSError) as exc:
        out.put(("error", str(exc)))
    except Exception as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))


@dataclass
class InspectHandle:
    """A file being read into the cache; ``poll()`` gives ("done", report) or ("error", text)."""

    path: Path
    symbol: str | None
    process: SpawnProcess
    queue: Any

    def poll(self) -> tuple[str, DataReport | str] | None:
        try:
            kind, value = self.queue.get_nowait()
        except queue.Empty:
            if self.process.is_alive():
                return None
            try:  # the message may still be in the pipe when the process has just ended
                kind, value = self.queue.get(True, 0.2)
            except queue.Empty:
                code = self.process.exitcode
                return "error", f"reading the file stopped (worker exit code {code})"
        self.process.join(timeout=2)
        if kind == "done":
            return "done", DataReport.from_dict(value)
        return "error", str(value)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=5)
        self.queue.close()


def start_inspect(path: Path, symbol: str | None, db: Path | None) -> InspectHandle:
    """Read ``path`` into the cache at ``db`` in a new process; returns at once."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(
        target=_inspect_child,
        args=(str(path), symbol, str(db) if db is not None else None, q),
        name="tradedeck-dataset-inspect",
        daemon=True,
    )
    proc.start()
    return InspectHandle(path=path, symbol=symbol, process=proc, queue=q)
