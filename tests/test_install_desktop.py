"""packaging/install_desktop.py adds a launcher and icons under XDG_DATA_HOME and removes them."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "packaging" / "install_desktop.py"


def _run(*args: str, data_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(data_home)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


def _entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


def test_install_and_uninstall_with_a_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "my apps" / "tradedeck"  # a space forces Exec quoting
    bundle.parent.mkdir()
    bundle.write_text("#!/bin/sh\nexit 0\n")
    bundle.chmod(0o755)
    home = tmp_path / "share"

    done = _run("--bundle", str(bundle), data_home=home)
    assert done.returncode == 0, done.stderr
    desktop = home / "applications" / "tradedeck.desktop"
    entry = _entry(desktop)
    assert entry["Exec"] == f'"{bundle}" %U'
    assert entry["TryExec"] == str(bundle)
    assert entry["Icon"] == "tradedeck"
    assert entry["Type"] == "Application"
    assert "@" not in desktop.read_text()
    icons = home / "icons" / "hicolor"
    for rel in (
        "256x256/apps/tradedeck.png",
        "64x64/apps/tradedeck.png",
        "scalable/apps/tradedeck.svg",
    ):
        assert (icons / rel).stat().st_size > 0, rel

    gone = _run("--uninstall", data_home=home)
    assert gone.returncode == 0, gone.stderr
    assert not desktop.exists()
    assert not any(p.is_file() for p in icons.rglob("*tradedeck*"))


def test_bundle_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    done = _run("--bundle", str(tmp_path / "missing"), data_home=tmp_path / "share")
    assert done.returncode != 0
    assert "make package" in done.stderr
    assert not (tmp_path / "share" / "applications").exists()


def test_exec_quoting_follows_the_desktop_entry_spec() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from install_desktop import quote_exec_arg
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert quote_exec_arg("/opt/tradedeck/tradedeck") == "/opt/tradedeck/tradedeck"
    assert quote_exec_arg("/opt/my apps/td") == '"/opt/my apps/td"'
    assert quote_exec_arg("/opt/100%/td") == "/opt/100%%/td"
    # a literal $ inside quotes is \$ for Exec, then the backslash is escaped for the string value
    assert quote_exec_arg("/opt/a $b") == '"/opt/a \\\\$b"'
