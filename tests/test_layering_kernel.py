"""Layering of the kernel and the live shell, checked on the import statements.

- the kernel (``engine/core``) is synchronous and knows nothing above it: no asyncio, no
  threads, no Qt, no live shell, no backtester, no venue;
- no import circles among the engine's modules at import time (the runtime <-> strategy host
  circle is gone; ``if TYPE_CHECKING:`` imports do not run and do not count).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "engine"
KERNEL_FORBIDDEN = (
    "asyncio",
    "threading",
    "PySide6",
    "engine.live",
    "engine.runtime",
    "engine.backtest",
    "engine.venues",
    "engine.strategy_host",
)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(path: Path) -> list[str]:
    """Modules imported when ``path`` is imported (module-body statements only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def _all_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def test_the_kernel_imports_nothing_above_it() -> None:
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ENGINE / "core").rglob("*.py"))
        for name in _all_imports(path)
        if any(name == f or name.startswith(f + ".") for f in KERNEL_FORBIDDEN)
    ]
    assert bad == []


def test_no_import_circles_in_the_engine() -> None:
    modules = {_module_name(p): p for p in sorted(ENGINE.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = {m for m in _top_level_imports(path) if m in modules and m != name}
        graph[name] = deps
    # a package's own __init__ importing its submodules is how packages work, not a circle
    circles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in graph[node]:
            if node.startswith(dep + "."):  # a submodule importing its own package
                continue
            if state.get(dep) == 1:
                circles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    assert circles == []


def test_the_strategy_host_sits_on_the_kernel() -> None:
    imports = _all_imports(ENGINE / "strategy_host.py")
    assert "engine.core" in imports
    assert not [m for m in imports if m.startswith(("engine.runtime", "engine.live"))]
