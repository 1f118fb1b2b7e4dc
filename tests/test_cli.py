"""The ``tradedeck`` command: headless summary, and clear messages for a bad data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine import Engine, EngineConfig

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_headless_json_summary(tmp_path: Path) -> None:
    out = _run("headless", "--seconds", "2", "--data-dir", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["venue"] == "sim"
    # How much the market did in 2 s of wall time depends on the machine; that it moved does not.
    assert summary["book_updates"] > 0
    assert isinstance(summary["trades"], int)
    assert summary["trades"] >= 0
    assert set(summary["loop_lag_ms"]) == {"p50", "p90", "p99", "max"}
    assert summary["storage_ok"] is True
    assert (tmp_path / "tradedeck.sqlite3").exists()


def test_corrupt_database_is_reported_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "tradedeck.sqlite3"
    garbage = b"this is not a database" * 500
    db.write_bytes(garbage)
    out = _run("headless", "--seconds", "1", "--data-dir", str(tmp_path))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert str(db) in out.stderr
    assert db.read_bytes() == garbage


def test_locked_data_dir_is_refused_clearly(tmp_path: Path) -> None:
    engine = Engine(EngineConfig(data_dir=tmp_path)).start()
    try:
        out = _run("headless", "--seconds", "1", "--data-dir", str(tmp_path))
    finally:
        engine.stop()
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "already" in out.stderr.lower()


def test_window_smoke_exit_after(tmp_path: Path) -> None:
    out = _run("--data-dir", str(tmp_path), "--exit-after", "1")
    assert out.returncode == 0, out.stderr
    assert "window shown" in out.stderr
    assert (tmp_path / "layout.ini").exists()


def test_bad_symbol_is_a_clear_error(tmp_path: Path) -> None:
    out = _run("headless", "--seconds", "1", "--data-dir", str(tmp_path), "--symbols", "FOO/BAR")
    assert out.returncode == 2
    assert "unknown symbol" in out.stderr
