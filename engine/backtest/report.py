"""A self-contained HTML report of one backtest, built from the result document (JSON).

Everything is inline (CSS, SVG charts drawn here): the file opens offline and can be mailed.
Text from data files is escaped and URL schemes in it are defanged, so the page references no
network resource at all.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_MAX_TRADES = 500
_MAX_GAPS = 50
_CHART_POINTS = 1500

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1100px;color:#1d2330;background:#fff;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde;
padding-bottom:4px}.sub{color:#667}table{border-collapse:collapse;margin:6px 0;font-size:13px}
td,th{padding:3px 9px;border-bottom:1px solid #eef;text-align:right;white-space:nowrap}
th{background:#f5f6fa;font-weight:600}td.l,th.l{text-align:left}.pos{color:#137a3b}
.neg{color:#b3261e}.kv td:first-child{text-align:left;color:#556}.kv td{text-align:left}
svg{background:#fbfbfd;border:1px solid #e4e6ee;display:block;margin:6px 0}
.note{color:#667;font-size:12px}.bar{display:inline-block;height:12px;vertical-align:middle}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:0 28px}
"""


def _esc(value: object) -> str:
    text = html.escape("" if value is None else str(value))
    return text.replace("://", "&#58;//")


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _pct(value: Any, digits: int = 2) -> str:
    f = _num(value)
    return "n/a" if f is None else f"{f * 100:.{digits}f}%"


def _fmt(value: Any, digits: int = 2) -> str:
    f = _num(value)
    return "n/a" if f is None else f"{f:,.{digits}f}"


def _when(ms: Any) -> str:
    if ms is None:
        return ""
    t = dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%d %H:%M")


def _cls(value: Any) -> str:
    f = _num(value)
    if f is None or f == 0:
        return ""
    return "pos" if f > 0 else "neg"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], left: int = 0) -> str:
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{_esc(h)}</th>' for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv(pairs: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="kv">{rows}</table>'


def _downsample(times: list[float], values: list[float], n: int) -> tuple[list[float], list[float]]:
    """Keep the min and max of each bucket so spikes and drawdowns survive thinning."""
    if len(values) <= n:
        return times, values
    size = math.ceil(len(values) / (n // 2))
    ot: list[float] = []
    ov: list[float] = []
    for a in range(0, len(values), size):
        chunk = values[a : a + size]
        lo = min(range(len(chunk)), key=chunk.__getitem__)
        hi = max(range(len(chunk)), key=chunk.__getitem__)
        for k in sorted({lo, hi}):
            ot.append(times[a + k])
            ov.append(chunk[k])
    if ot[0] != times[0]:
        ot.insert(0, times[0])
        ov.insert(0, values[0])
    if ot[-1] != times[-1]:
        ot.append(times[-1])
        ov.append(values[-1])
    return ot, ov


def svg_line_chart(
    times: list[float],
    values: list[float],
    *,
    width: int = 1060,
    height: int = 260,
    color: str = "#2b59c3",
    fill_to_zero: bool = False,
    fmt: str = "{:,.0f}",
) -> str:
    """An inline SVG line chart with a few labelled gridlines (no external resources)."""
    if not values:
        return '<p class="note">no data</p>'
    times, values = _downsample(times, values, _CHART_POINTS)
    pad_l, pad_r, pad_t, pad_b = 70, 10, 10, 24
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    t0, t1 = times[0], times[-1] if times[-1] > times[0] else times[0] + 1
    lo, hi = min(values), max(values)
    if fill_to_zero:
        hi = max(hi, 0.0)
    if hi == lo:
        hi, lo = hi + 1, lo - 1

    def x(t: float) -> float:
        return pad_l + (t - t0) / (t1 - t0) * w

    def y(v: float) -> float:
        return pad_t + (hi - v) / (hi - lo) * h

    pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, values, strict=True))
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        yy = y(v)
        parts.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{yy:.1f}" y2="{yy:.1f}" '
            'stroke="#e3e5ec" stroke-width="1"/>'
            f'<text x="{pad_l - 6}" y="{yy + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#667">{_esc(fmt.format(v))}</text>'
        )
    for k in range(5):
        t = t0 + (t1 - t0) * k / 4
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        parts.append(
            f'<text x="{x(t):.1f}" y="{height - 6}" font-size="11" text-anchor="{anchor}" '
            f'fill="#667">{_esc(_when(t)[:10])}</text>'
        )
    if fill_to_zero:
        area = f"{x(times[0]):.1f},{y(0):.1f} {pts} {x(times[-1]):.1f},{y(0):.1f}"
        parts.append(f'<polygon points="{area}" fill="{color}" fill-opacity="0.18" stroke="none"/>')
    parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.3"/>')
    parts.append("</svg>")
    return "".join(parts)


def _monthly_table(monthly: Sequence[Sequence[Any]]) -> str:
    if not monthly:
        return '<p class="note">no full month</p>'
    by_year: dict[int, dict[int, float]] = {}
    for y, mo, r in monthly:
        by_year.setdefault(int(y), {})[int(mo)] = float(r)
    rows = []
    for year in sorted(by_year):
        months = by_year[year]
        total = 1.0
        for r in months.values():
            total *= 1 + r
        cells = [str(year)]
        for mo in range(1, 13):
            r = months.get(mo)
            cells.append("" if r is None else f'<span class="{_cls(r)}">{r * 100:.1f}</span>')
        cells.append(f'<b class="{_cls(total - 1)}">{(total - 1) * 100:.1f}</b>')
        rows.append(cells)
    names = ["Year", *[dt.date(2000, k, 1).strftime("%b") for k in range(1, 13)], "Year %"]
    return _table(names, rows, left=1)


def _metrics_table(mx: dict[str, Any]) -> str:
    rows = [
        ("Total return", _pct(mx.get("total_return"))),
        ("CAGR", _pct(mx.get("cagr"))),
        ("Volatility (ann.)", _pct(mx.get("volatility"))),
        ("Sharpe", _fmt(mx.get("sharpe"))),
        ("Sortino", _fmt(mx.get("sortino"))),
        ("Calmar", _fmt(mx.get("calmar"))),
        ("Max drawdown", _pct(mx.get("max_drawdown"))),
        ("Max drawdown duration", f"{_fmt(mx.get('max_drawdown_duration'), 1)} days"),
        ("Win rate", _pct(mx.get("win_rate"), 1)),
        ("Profit factor", _fmt(mx.get("profit_factor"))),
        ("Average trade", _fmt(mx.get("average_trade"))),
        ("Exposure", _pct(mx.get("exposure"), 1)),
        ("Turnover", f"{_fmt(mx.get('turnover'), 1)} x"),
        ("Fees paid", _fmt(mx.get("fees_paid"))),
        ("Slippage paid", _fmt(mx.get("slippage_paid"))),
        ("Number of trades", _esc(mx.get("number_of_trades"))),
        ("Fills", _esc(mx.get("number_of_fills"))),
        ("Orders denied by risk", _esc(mx.get("orders_denied"))),
        ("Initial cash", _fmt(mx.get("initial_cash"))),
        ("Final equity", _fmt(mx.get("final_equity"))),
    ]
    return _kv(rows)


def _costs(mx: dict[str, Any]) -> str:
    fees = _num(mx.get("fees_paid")) or 0.0
    slip = _num(mx.get("slippage_paid")) or 0.0
    top = max(abs(fees), abs(slip), 1e-12)
    initial = _num(mx.get("initial_cash")) or 1.0
    rows = []
    for name, value, color in (("Fees", fees, "#c58a16"), ("Slippage", slip, "#8a3fd1")):
        width = int(300 * abs(value) / top)
        bar = f'<span class="bar" style="width:{width}px;background:{color}"></span>'
        rows.append((name, f"{bar} {_fmt(value)} ({value / initial * 100:.2f}% of initial cash)"))
    total = fees + slip
    rows.append(("Total costs", f"{_fmt(total)} ({total / initial * 100:.2f}% of initial cash)"))
    return _kv(rows)


def _data_section(data: dict[str, Any] | None) -> str:
    if not data:
        return '<p class="note">no data report</p>'
    rows = [
        ("File", _esc(data.get("path"))),
        ("SHA-256", _esc(data.get("sha256"))),
        ("Symbol", _esc(data.get("symbol"))),
        ("Rows read / bars kept", f"{_esc(data.get('rows'))} / {_esc(data.get('bars'))}"),
        ("First / last bar", f"{_when(data.get('first_ms'))} / {_when(data.get('last_ms'))} UTC"),
        ("Bar interval", f"{_esc(int(data.get('interval_ms') or 0) / 60000)} min"),
        ("Price grid", _esc(data.get("tick_size"))),
        ("Volume unit", _esc(data.get("volume_unit"))),
        ("Cache", _esc(data.get("cache"))),
    ]
    out = [_kv(rows)]
    issues = []
    banner = data.get("banner_lines") or []
    if banner:
        issues.append(
            f"{len(banner)} banner line(s) skipped: " + "; ".join(_esc(b) for b in banner)
        )
    for key, text in (
        ("reordered", "rows were {v}: sorted oldest first"),
        ("duplicates", "{v} duplicate row(s) dropped"),
        ("conflicting_duplicates", "{v} row(s) repeat a time with other values (first kept)"),
        ("misaligned", "{v} step(s) off the bar grid"),
        ("bad_bar_count", "{v} bar(s) with inconsistent OHLC/volume (kept)"),
        ("volume_swapped_rows", "{v} row(s) with base/quote volume swapped back"),
        ("repeated_rows", "{v} bar(s) repeating another bar's OHLCV"),
    ):
        v = data.get(key)
        if v:
            issues.append(_esc(text.format(v=v)))
    issues.extend(_esc(n) for n in data.get("notes") or [])
    gaps = data.get("gaps") or []
    gap_count = int(data.get("gap_count") or 0)
    issues.append(
        f"{gap_count} gap(s), {_esc(data.get('missing_bars') or 0)} missing bar(s); "
        "gaps are not filled: no trading happens in them"
    )
    out.append("<ul>" + "".join(f"<li>{i}</li>" for i in issues) + "</ul>")
    if gaps:
        rows_g = [
            (_when(g["after_ms"]), _when(g["before_ms"]), _esc(g["missing"]))
            for g in gaps[:_MAX_GAPS]
        ]
        out.append(_table(["Last bar before", "First bar after", "Missing bars"], rows_g, left=2))
        if gap_count > _MAX_GAPS:
            out.append(f'<p class="note">first {_MAX_GAPS} of {gap_count} gaps shown</p>')
    return "".join(out)


def _trades_table(trades: Sequence[dict[str, Any]]) -> str:
    if not trades:
        return '<p class="note">no closed trades</p>'
    rows = []
    for k, t in enumerate(trades[:_MAX_TRADES], start=1):
        rows.append(
            (
                str(k),
                _esc(t.get("side")),
                _when(t.get("entry_time_ms")),
                _fmt(t.get("entry_price"), 2),
                _when(t.get("exit_time_ms")),
                _fmt(t.get("exit_price"), 2),
                _esc(t.get("qty")),
                f'<span class="{_cls(t.get("pnl"))}">{_fmt(t.get("pnl"))}</span>',
                _fmt(t.get("fees")),
                _fmt(t.get("return_pct")),
            )
        )
    headers = ["#", "Side", "Entry", "Entry price", "Exit", "Exit price", "Qty", "PnL", "Fees", "%"]
    note = (
        f'<p class="note">first {_MAX_TRADES} of {len(trades)} trades shown</p>'
        if len(trades) > _MAX_TRADES
        else ""
    )
    return _table(headers, rows, left=2) + note


def render_html(doc: dict[str, Any]) -> str:
    mx = doc.get("metrics", {})
    params = doc.get("parameters", {})
    strategy = params.get("strategy", {}) or {}
    run = doc.get("run", {})
    equity = doc.get("equity") or []
    times = [float(p[0]) for p in equity]
    values = [float(p[1]) for p in equity]
    dd: list[float] = []
    peak = -math.inf
    for v in values:
        peak = max(peak, v)
        dd.append((v / peak - 1.0) * 100 if peak > 0 else 0.0)
    title = f"{strategy.get('name', '?')} on {params.get('symbol', '?')}"
    period = f"{_when(run.get('first_ms'))} to {_when(run.get('last_ms'))} UTC"
    strat_params = ", ".join(f"{k}={v}" for k, v in (strategy.get("params") or {}).items())
    grid = f"{params.get('lot_size')} / {params.get('tick_size')} / {params.get('min_notional')}"
    param_rows = [
        ("Strategy", _esc(f"{strategy.get('name')} ({strat_params})")),
        ("Symbol", _esc(params.get("symbol"))),
        ("Initial cash", _esc(params.get("cash"))),
        ("Lot / tick / min notional", _esc(grid)),
        ("Period", _esc(period)),
        ("Bars", _esc(run.get("bars"))),
        ("Data file", _esc(params.get("data"))),
    ]
    assumptions = doc.get("assumptions") or {}
    assumption_rows = [(k.replace("_", " ").capitalize(), _esc(v)) for k, v in assumptions.items()]
    extra = []
    open_pos = doc.get("open_position") or {}
    if _num(open_pos.get("qty")):
        extra.append(
            f"<p>Open position at the end: {_esc(open_pos.get('qty'))} marked at "
            f"{_esc(open_pos.get('mark'))} (not closed).</p>"
        )
    risk_events = doc.get("risk_events") or []
    if risk_events:
        extra.append(
            "<p>Risk state changes: "
            + "; ".join(
                f"{_when(e['time_ms'])} {_esc(e['state'])} ({_esc(e['reason'])})"
                for e in risk_events
            )
            + "</p>"
        )
    denials = doc.get("denials") or []
    if denials:
        extra.append(
            f"<p>{len(denials)} order(s) denied, first: {_esc(denials[0].get('reason'))}</p>"
        )
    body = [
        f"<h1>{_esc(title)}</h1>",
        f'<div class="sub">{_esc(period)} &middot; {_esc(run.get("bars"))} bars</div>',
        '<div class="grid"><div><h2>Metrics</h2>',
        _metrics_table(mx),
        "</div><div><h2>Parameters</h2>",
        _kv(param_rows),
        "<h2>Assumptions</h2>",
        _kv(assumption_rows),
        "</div></div>",
        "<h2>Equity</h2>",
        svg_line_chart(times, values),
        "<h2>Drawdown</h2>",
        svg_line_chart(times, dd, color="#b3261e", fill_to_zero=True, fmt="{:.1f}%", height=180),
        "<h2>Monthly returns (%)</h2>",
        _monthly_table(doc.get("monthly_returns") or []),
        "<h2>Slippage paid vs fees paid</h2>",
        _costs(mx),
        *extra,
        "<h2>Data provenance and gaps</h2>",
        _data_section(doc.get("data")),
        "<h2>Trades</h2>",
        _trades_table(doc.get("trades") or []),
        '<p class="note">Generated by tradedeck from the backtest result document. Metrics: '
        f"periods per year {_fmt(mx.get('periods_per_year'), 0)} (365-day year), risk-free rate 0."
        "</p>",
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)} - backtest</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )


def write_report(doc: dict[str, Any], path: Path) -> None:
    """The report, written atomically (a temporary file renamed into place)."""
    from engine.backtest.result import write_files_atomically

    write_files_atomically({path: render_html(doc).encode("utf-8")})


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.backtest.report RESULT.json OUT.html``: a report from a saved run."""
    import json
    import sys
    from decimal import Decimal

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m engine.backtest.report RESULT.json OUT.html", file=sys.stderr)
        return 2
    doc = json.loads(Path(args[0]).read_text(encoding="utf-8"), parse_float=Decimal)
    write_report(doc, Path(args[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
