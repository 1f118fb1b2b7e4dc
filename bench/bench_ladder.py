"""Ladder frame apply: median and p99 per frame on real engine snapshots, at 20 and 200 levels.

Each depth runs in a fresh process (``bench/ladder_probe.py``) with Qt offscreen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEPTHS = (20, 200)  # the ladder's default; a tall DOM (the sim fills what its book has)
FRAMES = 600


def _probe(depth: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.ladder_probe", f"--depth={depth}", f"--frames={FRAMES}"],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for depth in DEPTHS:
        r = _probe(depth)
        note = (
            f"{r['frames']} sim snapshots, {r['levels']} levels shown per side, "
            f"{r['rows_formatted_per_frame']:.1f} rows re-formatted per frame"
        )
        for stat in ("median", "p99"):
            rows.append(
                {
                    "name": f"ladder frame apply, {depth} levels, {stat}",
                    "value": round(r[f"{stat}_ms"], 3),
                    "unit": "ms",
                    "target": "<= 2" if stat == "median" else "",
                    "note": note,
                }
            )
    return rows
