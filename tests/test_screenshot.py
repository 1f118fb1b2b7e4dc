"""The real app on the simulated venue, in a real X server, must paint a window worth looking at.

Runs `python -m app` under a private Xvfb with the xcb platform (what a user gets, unlike
offscreen), waits for the app's "window shown" line, grabs the window with ImageMagick and keeps
the picture as docs/screenshot.png (the README's) and tests/artifacts/screenshot.png.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:  # tests/ is on sys.path while it is not a package; the repo root is once it is
    from xvfb import xvfb_server
except ModuleNotFoundError:
    from tests.xvfb import xvfb_server  # type: ignore[no-redef]

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
DOCS_SHOT = ROOT / "docs" / "screenshot.png"
ARTIFACT_SHOT = ROOT / "tests" / "artifacts" / "screenshot.png"
READY_LINE = "tradedeck: window shown"
READY_TIMEOUT_S = 60.0  # cold imports on a loaded 2-core machine; a healthy start takes a few s
SETTLE_S = 4.0  # let the simulated market fill the book, tape and candles before the picture
EXIT_AFTER_S = 14.0  # the app quits by itself (--exit-after), counted from window.show()
_WINDOW = re.compile(r'^\s*(0x[0-9a-f]+) "([^"]*)".*?\s(\d+)x(\d+)[+-]-?\d+[+-]-?\d+', re.MULTILINE)


def _app_env(display: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "WAYLAND_"))}
    env |= {
        "DISPLAY": display,
        "QT_QPA_PLATFORM": "xcb",
        "PYTHONPATH": str(ROOT),
        # keep logs, settings and caches of the run out of the developer's home
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_RUNTIME_DIR": str(home / "runtime"),
    }
    (home / "runtime").mkdir(mode=0o700, parents=True, exist_ok=True)
    return env


def _wait_for_ready(proc: subprocess.Popen[bytes], stderr_path: Path) -> float:
    """Seconds the app reported from start to first paint; fails with its stderr otherwise."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        text = stderr_path.read_text(errors="replace")
        if READY_LINE in text:
            m = re.search(re.escape(READY_LINE) + r" after ([0-9.]+) s", text)
            return float(m.group(1)) if m else float("nan")
        if proc.poll() is not None:
            pytest.fail(
                f"app exited with {proc.returncode} before showing a window:\n{text[-4000:]}"
            )
        time.sleep(0.2)
    pytest.fail(
        f"no {READY_LINE!r} line within {READY_TIMEOUT_S:.0f} s:\n"
        f"{stderr_path.read_text(errors='replace')[-4000:]}"
    )


def _main_window_id(display: str) -> str | None:
    """The largest mapped top-level window whose name mentions tradedeck (None: grab the root)."""
    env = {**os.environ, "DISPLAY": display}
    tree = subprocess.run(
        ["xwininfo", "-root", "-children"], env=env, capture_output=True, text=True, timeout=20
    ).stdout
    best: tuple[int, str] | None = None
    for wid, name, w, h in _WINDOW.findall(tree):
        area = int(w) * int(h)
        if "tradedeck" not in name.lower() or area < 400 * 300:
            continue
        info = subprocess.run(
            ["xwininfo", "-id", wid], env=env, capture_output=True, text=True, timeout=20
        ).stdout
        if "IsViewable" in info and (best is None or area > best[0]):
            best = (area, wid)
    return None if best is None else best[1]


def _grab(display: str, out: Path) -> None:
    env = {**os.environ, "DISPLAY": display}
    target = _main_window_id(display) if shutil.which("xwininfo") else None
    window = target or "root"
    if shutil.which("import"):
        subprocess.run(["import", "-window", window, f"png:{out}"], env=env, check=True, timeout=60)
        return
    convert = shutil.which("convert")
    if convert is not None and shutil.which("xwd"):
        version = subprocess.run([convert, "-version"], capture_output=True, text=True, timeout=20)
        if "ImageMagick" in version.stdout:
            xwd_args = ["xwd", "-silent", *(["-id", target] if target else ["-root"])]
            dump = subprocess.run(xwd_args, env=env, capture_output=True, check=True, timeout=60)
            subprocess.run(
                [convert, "xwd:-", f"png:{out}"], input=dump.stdout, check=True, timeout=60
            )
            return
    pytest.skip("no screenshot tool: `apt-get install imagemagick` (make test does it as root)")


def _assert_worth_looking_at(path: Path) -> None:
    from PySide6.QtGui import QImage

    assert path.stat().st_size > 20_000, f"{path} is only {path.stat().st_size} bytes"
    image = QImage(str(path))
    assert not image.isNull(), f"{path} is not a readable PNG"
    assert image.width() >= 800, f"window too narrow: {image.width()}x{image.height()}"
    assert image.height() >= 500, f"window too short: {image.width()}x{image.height()}"
    colours = {
        image.pixel(x * image.width() // 64, y * image.height() // 40)
        for x in range(64)
        for y in range(40)
    }
    assert len(colours) >= 12, f"only {len(colours)} distinct colours: a blank or failed paint"


def test_real_window_screenshot(tmp_path: Path) -> None:
    stderr_path = tmp_path / "app.stderr"
    with xvfb_server() as display, stderr_path.open("wb") as stderr:
        started = time.monotonic()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app",
                "--venue",
                "sim",
                "--seed",
                "7",
                "--data-dir",
                str(tmp_path / "data"),
                "--exit-after",
                str(EXIT_AFTER_S),
            ],
            cwd=ROOT,
            env=_app_env(display, tmp_path / "home"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            reported = _wait_for_ready(proc, stderr_path)
            seen = time.monotonic() - started
            time.sleep(SETTLE_S)
            assert proc.poll() is None, "the app died right after showing its window"
            ARTIFACT_SHOT.parent.mkdir(parents=True, exist_ok=True)
            _grab(display, ARTIFACT_SHOT)
            returncode = proc.wait(timeout=EXIT_AFTER_S + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    log = stderr_path.read_text(errors="replace")
    print(f"window shown after {reported:.2f} s (app clock), {seen:.2f} s (test clock)")
    assert returncode == 0, f"app exited with {returncode}:\n{log[-4000:]}"
    assert "Traceback" not in log, f"the app logged an exception:\n{log[-4000:]}"
    _assert_worth_looking_at(ARTIFACT_SHOT)
    DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ARTIFACT_SHOT, DOCS_SHOT)
