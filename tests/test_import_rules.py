"""The dependency direction is app -> widgets -> engine; engine/ never imports Qt or the UI.

Checked two ways: statically (every import statement in engine/) and at run time (importing the
whole engine in a fresh interpreter loads no Qt module).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_ENGINE = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "qasync", "app", "widgets")
FORBIDDEN_IN_WIDGETS = ("app",)


def _imports(package: str) -> list[tuple[Path, int, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path, node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((path, node.lineno, node.module))
    return found


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path, line, name in _imports(package)
        if name.split(".")[0] in forbidden
    ]


def test_engine_imports_no_qt_and_no_ui() -> None:
    assert _imports("engine"), "engine/ has no imports at all? the scan is broken"
    assert _violations("engine", FORBIDDEN_IN_ENGINE) == []


def test_widgets_do_not_import_app() -> None:
    assert _violations("widgets", FORBIDDEN_IN_WIDGETS) == []


def test_scanner_catches_a_violation(tmp_path: Path) -> None:
    bad = ROOT / "engine" / "_tmp_bad_import_probe.py"
    bad.write_text("from PySide6 import QtCore\n", encoding="utf-8")
    try:
        assert any("_tmp_bad_import_probe" in v for v in _violations("engine", FORBIDDEN_IN_ENGINE))
    finally:
        bad.unlink()


def test_importing_the_engine_loads_no_qt() -> None:
    code = (
        "import sys, pkgutil, importlib, engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{FORBIDDEN_IN_ENGINE!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
