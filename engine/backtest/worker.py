"""Backtests in a worker process: off the engine thread and off the GUI thread.

``start_backtest(job)`` spawns one process (the ``spawn`` start method: safe in a process that
already runs Qt and the engine thread) that runs ``run_job`` and reports through a queue:

- ``("progress", fraction)`` about every 1% of the bars;
- ``("done", path)`` with the result document written as JSON to ``path``, and beside it what a
  view needs in a form that loads in milliseconds (``view_files``): the document without its
  equity curve, and the curve as a float64 ``.npy`` array, so the GUI thread never decodes a
  million-point JSON list;
- ``("error", message)`` when the job failed, or ``("cancelled", message)``.

``cancel()`` sets an event the run checks at each progress step, so it stops within ~1% of the
run; ``kill()`` is the last resort. The handle never blocks unless asked (``poll`` / ``wait``).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import tempfile
import traceback
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from engine.backtest.job import BacktestJob

Message = tuple[str, Any]


def view_files(result_path: Path) -> tuple[Path, Path]:
    """Where the view copy of a result lives: (document without equity, equity ``.npy``)."""
    return (
        result_path.with_name(result_path.stem + ".view.json"),
        result_path.with_name(result_path.stem + ".equity.npy"),
    )


def write_view_files(doc: dict[str, Any], result_path: Path) -> None:
    """The equity curve as an (n, 2) float64 array of (time ms, equity), the rest as JSON."""
    import numpy as np

    from engine.backtest.result import write_json

    view_json, equity_npy = view_files(result_path)
    points = doc.get("equity") or []
    curve = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    tmp = equity_npy.with_name(equity_npy.name + ".tmp.npy")
    np.save(tmp, curve)
    tmp.replace(equity_npy)
    write_json({k: v for k, v in doc.items() if k != "equity"}, view_json)


def _child(job: BacktestJob, out_path: str, q: Any, stop: Any) -> None:
    from engine.backtest.job import run_job
    from engine.backtest.result import write_json
    from engine.backtest.runner import Cancelled

    try:
        doc = run_job(job, progress=lambda f: q.put(("progress", f)), should_stop=stop.is_set)
        write_json(doc, Path(out_path))
        write_view_files(doc, Path(out_path))
        q.put(("done", out_path))
    except Cancelled as exc:
        q.put(("cancelled", str(exc)))
    except Exception as exc:
        q.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))


@dataclass
class BacktestHandle:
    """A running backtest; read its messages with ``poll()``."""

    process: SpawnProcess
    queue: Any
    stop: Any
    out_path: Path
    progress: float = 0.0
    state: str = "running"  # running, done, error, cancelled
    result_path: Path | None = None
    error: str = ""
    messages: list[Message] = field(default_factory=list)

    def poll(self, timeout: float = 0.0) -> list[Message]:
        """Messages that arrived (waits up to ``timeout`` for the first one)."""
        out: list[Message] = []
        block = timeout > 0
        while True:
            try:
                msg = self.queue.get(True, timeout) if block else self.queue.get_nowait()
            except queue.Empty:
                break
            block = False
            out.append(msg)
            self._apply(msg)
        if self.state == "running" and not out and not self.process.is_alive():
            try:  # the last message may still be in the pipe when the process is gone
                msg = self.queue.get(True, 0.5)
                out.append(msg)
                self._apply(msg)
            except queue.Empty:
                self.state = "error"
                self.error = f"worker exited with code {self.process.exitcode}"
        self.messages.extend(out)
        return out

    def _apply(self, msg: Message) -> None:
        kind, value = msg
        if kind == "progress":
            self.progress = float(value)
        elif kind == "done":
            self.state, self.result_path, self.progress = "done", Path(value), 1.0
        elif kind in ("error", "cancelled"):
            self.state, self.error = kind, str(value)

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job finished (or ``timeout``); returns the state."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.state == "running":
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            self.poll(timeout=min(0.2, left) if left is not None else 0.2)
        if self.state != "running":
            self.process.join(timeout=5)
        return self.state

    def cancel(self) -> None:
        """Ask the run to stop at its next progress step."""
        self.stop.set()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=5)
        if self.state == "running":
            self.state = "cancelled"

    def result(self) -> dict[str, Any]:
        """The result document (after ``done``)."""
        import json
        from decimal import Decimal

        if self.result_path is None:
            raise RuntimeError(f"no result: backtest {self.state} {self.error}")
        doc: dict[str, Any] = json.loads(self.result_path.read_text(), parse_float=Decimal)
        return doc


def start_backtest(job: BacktestJob, out_dir: Path | None = None) -> BacktestHandle:
    """Start ``job`` in a new process and return at once."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    stop = ctx.Event()
    directory = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="bt-"))
    directory.mkdir(parents=True, exist_ok=True)
    out_path = directory / "result.json"
    proc = ctx.Process(
        target=_child, args=(job, str(out_path), q, stop), name="tradedeck-backtest", daemon=True
    )
    proc.start()
    return BacktestHandle(process=proc, queue=q, stop=stop, out_path=out_path)
