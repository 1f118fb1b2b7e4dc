"""Run every bench/bench_*.py, print one table and write bench/results.json (`make bench`).

Each module exposes `run() -> list[dict]`; a row has `name`, `value`, `unit`, `target` and an
optional `note`. A target written as a comparison (">= 100000", "< 33") is checked against the
value (PASS or MISS); anything else is shown as is. A module that raises becomes one error row, so
one broken benchmark cannot hide the others; the exit status is 1 if any module failed.

The table starts with the machine it ran on (CPU model, cores, load average at the start), so
figures from different machines are never compared by accident.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import operator
import os
import platform
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"
_COMPARISON = re.compile(r"^\s*(<=|>=|<|>|==)\s*([-+]?[0-9][0-9_,]*\.?[0-9]*(?:[eE][-+]?\d+)?)")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}
COLUMNS = ("module", "name", "value", "unit", "target", "status", "note")


def discover(only: Sequence[str] = ()) -> list[str]:
    """Module names bench.bench_* in file-name order, filtered by substrings if given."""
    names = [f"bench.{p.stem}" for p in sorted(BENCH_DIR.glob("bench_*.py"))]
    if only:
        names = [n for n in names if any(s in n for s in only)]
    return names


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, load average now, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_at_start": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def describe(m: dict[str, Any]) -> str:
    load = " ".join(str(x) for x in m["load_average_at_start"]) or "n/a"
    return (
        f"machine: {m['cpu']}, {m['cores']} cores, load average at start {load}; "
        f"Python {m['python']} on {m['platform']}"
    )


def verdict(value: object, target: object) -> str:
    """'PASS' or 'MISS' when the target is a comparison and the value a number, else ''."""
    if not isinstance(target, str) or isinstance(value, bool):
        return ""
    if not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value)):
        return ""
    m = _COMPARISON.match(target)
    if m is None:
        return ""
    bound = float(m.group(2).replace(",", "").replace("_", ""))
    return "PASS" if _OPS[m.group(1)](float(value), bound) else "MISS"


def _error_row(module: str, exc: BaseException) -> dict[str, Any]:
    return {
        "module": module,
        "name": "(module failed)",
        "value": None,
        "unit": "",
        "target": "",
        "status": "ERROR",
        "note": f"{type(exc).__name__}: {exc}",
    }


def run_module(module: str) -> tuple[list[dict[str, Any]], float]:
    """Import and run one benchmark module; failures come back as an error row."""
    start = time.perf_counter()
    try:
        mod = importlib.import_module(module)
        rows = mod.run()
        if not isinstance(rows, list):
            raise TypeError(f"run() returned {type(rows).__name__}, expected list[dict]")
        out: list[dict[str, Any]] = []
        for row in rows:
            missing = {"name", "value", "unit", "target"} - set(row)
            if missing:
                raise ValueError(f"row {row!r} lacks {sorted(missing)}")
            out.append(
                {
                    "module": module.removeprefix("bench."),
                    "name": str(row["name"]),
                    "value": row["value"],
                    "unit": str(row["unit"]),
                    "target": row["target"],
                    "status": verdict(row["value"], row["target"]),
                    "note": str(row.get("note", "")),
                }
            )
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        out = [_error_row(module.removeprefix("bench."), exc)]
    return out, time.perf_counter() - start


def fmt_value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


def render_table(rows: list[dict[str, Any]]) -> str:
    cells = [
        [
            r["module"],
            r["name"],
            fmt_value(r["value"]),
            r["unit"],
            "" if r["target"] is None else str(r["target"]),
            r["status"],
            r["note"],
        ]
        for r in rows
    ]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(COLUMNS)]
    right = {2}  # numbers line up on the right

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(COLUMNS), sep, *(line(c) for c in cells)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="run only modules whose name contains one of these")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file ({RESULTS.name})")
    args = parser.parse_args(argv)

    modules = discover(args.only)
    if not modules:
        print("bench: no bench/bench_*.py modules found", file=sys.stderr)
        return 1
    measured_on = machine()
    print(f"bench: {describe(measured_on)}", file=sys.stderr, flush=True)
    rows: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    for module in modules:
        print(f"bench: running {module} ...", file=sys.stderr, flush=True)
        module_rows, seconds = run_module(module)
        rows.extend(module_rows)
        timings[module.removeprefix("bench.")] = round(seconds, 3)

    print(describe(measured_on))
    print(render_table(rows))
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "measured_on": measured_on,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "module_seconds": timings,
        "results": rows,
    }
    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json}")
    failed = sum(r["status"] == "ERROR" for r in rows)
    missed = sum(r["status"] == "MISS" for r in rows)
    print(f"{len(rows)} results, {missed} below target, {failed} modules failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
