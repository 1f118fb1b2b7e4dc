"""Find the icon and stylesheet wherever tradedeck runs: a source checkout, a venv or the bundle.

PyInstaller unpacks data next to the frozen code (`sys._MEIPASS`); a source or editable install
keeps `resources/` beside `app/`; a plain wheel install ships them as data files under
`<prefix>/share/tradedeck/resources`. Looking in that order keeps one code path for all three.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QIcon

_RESOURCE_DIR = "resources"
_TOKEN = "@RES@"  # placeholder in dark.qss for the directory that holds its images
ICON_SVG = "tradedeck.svg"
ICON_PNGS = ("tradedeck-256.png", "tradedeck-64.png")
STYLESHEET = "dark.qss"


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        dirs.append(Path(bundle) / _RESOURCE_DIR)
    dirs.append(Path(__file__).resolve().parents[1] / _RESOURCE_DIR)
    dirs.append(Path(sys.prefix) / "share" / "tradedeck" / _RESOURCE_DIR)
    return dirs


@cache
def resource_dir() -> Path:
    """The first directory that holds our resources (the stylesheet marks a complete set)."""
    candidates = _candidate_dirs()
    for d in candidates:
        if (d / STYLESHEET).is_file():
            return d
    searched = ", ".join(str(d) for d in candidates)
    raise FileNotFoundError(f"tradedeck resources not found; looked in: {searched}")


def resource_path(name: str) -> Path:
    """Absolute path of a bundled resource file; raises FileNotFoundError if it is missing."""
    path = resource_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"resource {name!r} not found in {path.parent}")
    return path


def load_stylesheet() -> str:
    """The dark Qt stylesheet with its image URLs pointing at the resource directory."""
    text = resource_path(STYLESHEET).read_text(encoding="utf-8")
    return text.replace(_TOKEN, resource_dir().as_posix())


def app_icon() -> QIcon:
    """The application icon: raster sizes for the window manager plus the scalable SVG."""
    from PySide6.QtGui import QIcon

    icon = QIcon()
    for name in ICON_PNGS:
        icon.addFile(str(resource_path(name)))
    icon.addFile(str(resource_path(ICON_SVG)))
    return icon
