"""The PyInstaller bundle starts, shows its window, runs headless and exits cleanly.

Skipped unless a bundle exists in dist/tradedeck (`make package`) or TRADEDECK_TEST_PACKAGE is set:
`1` builds the bundle when it is missing, `rebuild` always builds it (several minutes).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.package, pytest.mark.slow, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist" / "tradedeck"
BUNDLE = DIST / "tradedeck"
SPEC = ROOT / "packaging" / "tradedeck.spec"
MODE = os.environ.get("TRADEDECK_TEST_PACKAGE", "").strip().lower()
READY_LINE = "tradedeck: window shown"


def _build() -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed: pip install -e '.[package]'")
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--clean",
            "--log-level",
            "WARN",
            "--distpath",
            str(ROOT / "dist"),
            "--workpath",
            str(ROOT / "build" / "pyinstaller"),
            str(SPEC),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=2000,
    )
    assert proc.returncode == 0, f"PyInstaller failed:\n{proc.stderr[-6000:]}"
    print(f"bundle built in {time.monotonic() - started:.0f} s")


def _size_mb(path: Path) -> float:
    """On-disk size; PyInstaller links Qt libraries, so symlinks are not counted twice."""
    files = (p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return sum(p.stat().st_size for p in files) / 1e6


@pytest.fixture(scope="module")
def bundle() -> Path:
    if MODE == "rebuild" or (MODE in ("1", "yes", "true", "build") and not BUNDLE.exists()):
        _build()
    if not BUNDLE.exists():
        pytest.skip(
            "no bundle in dist/tradedeck: run `make package`, or set TRADEDECK_TEST_PACKAGE=1 "
            "to build it here"
        )
    print(f"bundle: {DIST} ({_size_mb(DIST):.0f} MB)")
    return BUNDLE


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PYTHON"))}
    env |= {
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_DATA_HOME": str(tmp_path / "xdg" / "data"),
        "XDG_STATE_HOME": str(tmp_path / "xdg" / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg" / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg" / "cache"),
    }
    return env


def test_bundle_carries_its_resources(bundle: Path) -> None:
    found = {p.name for p in DIST.rglob("resources/*")}
    for name in ("dark.qss", "tradedeck.svg", "tradedeck-256.png", "tradedeck-64.png"):
        assert name in found, f"{name} missing from the bundle's resources/"
    assert "render_icon.py" not in found


def test_bundle_shows_window_and_exits_cleanly(bundle: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [str(bundle), "--venue", "sim", "--data-dir", str(tmp_path / "data"), "--exit-after", "3"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    wall = time.monotonic() - started
    detail = f"exit {proc.returncode}\nstderr:\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, detail
    assert READY_LINE in proc.stderr, detail
    assert "Traceback" not in proc.stderr, detail
    shown = next(line for line in proc.stderr.splitlines() if READY_LINE in line)
    print(f"{shown.strip()}; whole run {wall:.1f} s including --exit-after 3")


def test_bundle_runs_headless(bundle: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(bundle), "headless", "--seconds", "2", "--data-dir", str(tmp_path / "data"), "--json"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstderr:\n{proc.stderr[-4000:]}"
    summary = json.loads(proc.stdout)
    assert isinstance(summary, dict), proc.stdout
    assert summary, proc.stdout
