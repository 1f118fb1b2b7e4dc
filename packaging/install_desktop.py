#!/usr/bin/env python3
"""Add (or remove) a tradedeck launcher to this user's application menu.

Fills resources/tradedeck.desktop.in with the program to start: the PyInstaller bundle
(dist/tradedeck/tradedeck) when it was built, else the venv's entry point, and installs the
icon into the hicolor theme. Everything goes under $XDG_DATA_HOME (~/.local/share), so no root
is needed and --uninstall removes exactly what was added.

    python packaging/install_desktop.py              # bundle if built, else .venv/bin/tradedeck
    python packaging/install_desktop.py --venv       # force the venv entry point
    python packaging/install_desktop.py --uninstall
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
APP_ID = "tradedeck"
BUNDLE_EXE = ROOT / "dist" / "tradedeck" / "tradedeck"
VENV_EXE = ROOT / ".venv" / "bin" / "tradedeck"
ICONS = {  # source file -> path under the hicolor theme
    "tradedeck-256.png": Path("256x256/apps/tradedeck.png"),
    "tradedeck-64.png": Path("64x64/apps/tradedeck.png"),
    "tradedeck.svg": Path("scalable/apps/tradedeck.svg"),
}
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def data_home() -> Path:
    env = os.environ.get("XDG_DATA_HOME", "")
    return Path(env) if env else Path.home() / ".local" / "share"


def quote_exec_arg(arg: str) -> str:
    """Quote one Exec= argument as the Desktop Entry spec asks, then escape for a string value."""
    arg = arg.replace("%", "%%")
    if any(ch in _RESERVED for ch in arg):
        inner = "".join("\\" + ch if ch in '"`$\\' else ch for ch in arg)
        arg = f'"{inner}"'
    return arg.replace("\\", "\\\\")  # string values escape backslashes once more


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def resolve_program(bundle: Path | None, use_venv: bool) -> Path:
    """The program the launcher starts; raises SystemExit with advice when there is none."""
    if bundle is not None:
        if not _is_executable(bundle):
            raise SystemExit(f"install_desktop: {bundle} is not an executable (run `make package`)")
        return bundle.resolve()
    if not use_venv and _is_executable(BUNDLE_EXE):
        return BUNDLE_EXE
    if _is_executable(VENV_EXE):
        return VENV_EXE
    found = shutil.which("tradedeck")
    if found:
        return Path(found).resolve()
    raise SystemExit(
        "install_desktop: no tradedeck program found: run `make run` or `make package`"
    )


def render_desktop_entry(program: Path) -> str:
    template = (RESOURCES / "tradedeck.desktop.in").read_text(encoding="utf-8")
    return (
        template.replace("@EXEC@", quote_exec_arg(str(program)))
        .replace("@TRYEXEC@", str(program).replace("\\", "\\\\"))
        .replace("@ICON@", APP_ID)
    )


def targets(base: Path) -> dict[str, Path]:
    out = {"desktop": base / "applications" / f"{APP_ID}.desktop"}
    out |= {src: base / "icons" / "hicolor" / rel for src, rel in ICONS.items()}
    return out


def _refresh_caches(base: Path) -> None:
    """Best effort: menus pick up the change sooner where these tools exist."""
    commands = [
        ["update-desktop-database", "-q", str(base / "applications")],
        ["gtk-update-icon-cache", "-q", "-f", "-t", str(base / "icons" / "hicolor")],
    ]
    for cmd in commands:
        if shutil.which(cmd[0]):
            subprocess.run(cmd, check=False, capture_output=True, timeout=60)


def install(base: Path, program: Path) -> list[Path]:
    written = []
    paths = targets(base)
    desktop = paths.pop("desktop")
    for src, dest in paths.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(RESOURCES / src, dest)
        written.append(dest)
    desktop.parent.mkdir(parents=True, exist_ok=True)
    desktop.write_text(render_desktop_entry(program), encoding="utf-8")
    desktop.chmod(0o755)  # some desktops only trust executable launchers
    written.append(desktop)
    _refresh_caches(base)
    return written


def uninstall(base: Path) -> list[Path]:
    removed = []
    for path in targets(base).values():
        if path.exists():
            path.unlink()
            removed.append(path)
    _refresh_caches(base)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--bundle", type=Path, help="the bundle's executable to launch")
    group.add_argument("--venv", action="store_true", help="launch .venv/bin/tradedeck")
    group.add_argument("--uninstall", action="store_true", help="remove the launcher and icons")
    parser.add_argument("--data-home", type=Path, default=None, help="default: $XDG_DATA_HOME")
    args = parser.parse_args(argv)
    base = args.data_home or data_home()

    if args.uninstall:
        removed = uninstall(base)
        for path in removed:
            print(f"removed {path}")
        if not removed:
            print("nothing to remove")
        return 0
    program = resolve_program(args.bundle, args.venv)
    for path in install(base, program):
        print(f"wrote {path}")
    print(f"launcher starts {program}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
