"""Bar data for the backtester: loaders that report every defect, and a SQLite cache.

Real candle files are not clean. Binance klines have exchange outages (missing bars); the
Bitstamp export is newest-first and its two volume columns are swapped in older rows; the
Coinbase export has a banner line above the header and a quote-currency ``volume`` next to
``volume_btc``; the FTX file reports volume in USD. A loader that quietly sorts, fills or drops
rows produces a backtest of bars that never existed, so each fix made here is counted in a
``DataReport`` (gaps, reordering, duplicates, swapped rows, skipped banner lines) and anything
that cannot be fixed safely (missing bars, inconsistent OHLC) is reported and left alone.

Prices are kept exact: each file's price grid is found from the data (the fewest decimals that
represent every price exactly) and prices are stored as ``int64`` ticks of that grid. Volume is a
float (base units): it only feeds the impact model, never an account balance.

A parsed file is cached in its own SQLite database (``datasets.db`` in the data directory,
separate from the trading database) as raw ``int64``/``float64`` blobs keyed by path, size and
mtime, so reloading 435k bars is a single row read plus ``numpy.frombuffer``.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import math
import os
import re
import sqlite3
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

LOADER_VERSION: Final = 1
MAX_DECIMALS: Final = 10
_BANNER_SCAN: Final = 20  # lines searched for the header
_MAX_LISTED: Final = 200  # gaps / bad bars listed individually in a report
_MAX_TICKS: Final = float(2**62)  # prices in ticks stay inside int64
_GRID_SAMPLE: Final = 4096  # steps that propose the bar interval before the full count
_DECIMALS_SAMPLE: Final = 4096  # rows that bound the price decimals before the full check
_ARROW_MIN_BYTES: Final = 4 << 20  # below this numpy parses faster than pyarrow imports
_QUOTE_NAMES: Final = ("usd", "usdt", "usdc", "busd", "eur", "quote", "quote_asset")
_TIME_NAMES: Final = (
    "open_time_ms",
    "open_time",
    "unix",
    "timestamp",
    "time",
    "datetime",
    "date",
    "",
    "index",
)
# Quote-volume detection: base volume x price per minute above this is not a plausible market
# (all of BTC spot trades a few $10M a minute at peaks); quote volume x price is ~1e11.
_QUOTE_NOTIONAL_PER_MIN: Final = 5e8


class DataError(ValueError):
    """A file cannot be turned into bars (unknown layout, no rows for the symbol, ...)."""


@dataclass(frozen=True, slots=True)
class Gap:
    """Bars missing between two consecutive bars (open times, epoch ms)."""

    after_ms: int
    before_ms: int
    missing: int


@dataclass(frozen=True, slots=True)
class BadBar:
    time_ms: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DataReport:
    """What the loader found and did. Everything here is shown to the user with the results."""

    path: str
    symbol: str
    source: str  # "csv", "parquet", "synthetic"
    rows: int  # data rows read for the symbol
    bars: int  # bars kept
    first_ms: int
    last_ms: int
    interval_ms: int
    regular: bool  # bars on a fixed time grid (else e.g. calendar months)
    tick_size: str
    columns: tuple[str, ...] = ()
    time_column: str = ""
    banner_lines: tuple[str, ...] = ()
    reordered: str = ""  # "", "newest-first" or "unsorted"
    duplicates: int = 0  # identical rows dropped
    conflicting_duplicates: int = 0  # same time, different values: first in the file kept
    gaps: tuple[Gap, ...] = ()  # the first _MAX_LISTED
    gap_count: int = 0
    missing_bars: int = 0
    misaligned: int = 0  # steps that are not a multiple of the interval
    bad_bars: tuple[BadBar, ...] = ()  # the first _MAX_LISTED
    bad_bar_count: int = 0
    volume_unit: str = "base"  # "base", or "quote" when converted to base
    volume_swapped_rows: int = 0
    repeated_rows: int = 0  # OHLCV identical to another bar at a different time (traded bars)
    notes: tuple[str, ...] = ()
    sha256: str = ""
    cache: str = "off"  # "off", "stored" or "hit"

    @property
    def clean(self) -> bool:
        return not (
            self.gap_count
            or self.reordered
            or self.duplicates
            or self.conflicting_duplicates
            or self.bad_bar_count
            or self.volume_swapped_rows
            or self.misaligned
            or self.repeated_rows
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataReport:
        d = dict(d)
        d["gaps"] = tuple(Gap(**g) for g in d.get("gaps", ()))
        d["bad_bars"] = tuple(BadBar(**b) for b in d.get("bad_bars", ()))
        for name in ("columns", "banner_lines", "notes"):
            d[name] = tuple(d.get(name, ()))
        return cls(**d)

    def summary_lines(self) -> list[str]:
        """Human-readable defects, one per line (empty list when the data is clean)."""
        out: list[str] = []
        if self.banner_lines:
            out.append(f"{len(self.banner_lines)} banner line(s) above the header skipped")
        if self.reordered:
            out.append(f"rows were {self.reordered}: sorted oldest first")
        if self.duplicates:
            out.append(f"{self.duplicates} duplicate row(s) dropped")
        if self.conflicting_duplicates:
            out.append(
                f"{self.conflicting_duplicates} row(s) repeat a time with different values: "
                "the first in the file was kept"
            )
        if self.gap_count:
            out.append(f"{self.gap_count} gap(s), {self.missing_bars} missing bar(s) (not filled)")
        if self.misaligned:
            out.append(f"{self.misaligned} step(s) off the {self.interval_ms} ms grid")
        if self.bad_bar_count:
            out.append(f"{self.bad_bar_count} bar(s) with inconsistent OHLC/volume (kept)")
        if self.volume_swapped_rows:
            out.append(
                f"{self.volume_swapped_rows} row(s) had base and quote volume swapped: swapped back"
            )
        if self.repeated_rows:
            out.append(
                f"{self.repeated_rows} bar(s) repeat another bar's OHLCV at a different time "
                "(suspect copies, kept)"
            )
        if self.volume_unit == "quote":
            out.append("volume was in quote currency: converted to base at the bar's close")
        out.extend(self.notes)
        return out


@dataclass(frozen=True, slots=True, eq=False)
class Bars:
    """Columnar OHLCV bars, oldest first. Prices in integer ticks of ``tick_size``."""

    symbol: str
    tick_size: Decimal
    interval_ms: int
    time_ms: I64
    open: I64
    high: I64
    low: I64
    close: I64
    volume: F64

    def __post_init__(self) -> None:
        n = len(self.time_ms)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name} has {len(getattr(self, name))} rows, not {n}")

    def __len__(self) -> int:
        return len(self.time_ms)

    def price(self, ticks: int) -> Decimal:
        return self.tick_size * ticks

    def floats(self, column: str) -> F64:
        """A price column as floats (indicators and plots only)."""
        arr: I64 = getattr(self, column)
        return arr.astype(np.float64) * float(self.tick_size)

    def window(self, start: int, stop: int) -> Bars:
        """Bars ``start:stop`` (numpy views, no copy)."""
        return Bars(
            self.symbol,
            self.tick_size,
            self.interval_ms,
            self.time_ms[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
        )

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> Bars:
        """Bars with ``start_ms <= open time < end_ms``."""
        a = 0 if start_ms is None else int(np.searchsorted(self.time_ms, start_ms, "left"))
        b = len(self) if end_ms is None else int(np.searchsorted(self.time_ms, end_ms, "left"))
        return self.window(a, max(a, b))


# ---------------------------------------------------------------------------- parsing helpers


def _norm(name: str) -> str:
    return name.strip().strip('"').strip().lower().replace(" ", "_").replace("-", "_")


def symbol_key(symbol: str) -> str:
    """``BTC/USDT``, ``btcusdt``, ``BTC-USDT`` -> ``BTCUSDT`` (how files spell pairs)."""
    return re.sub(r"[^A-Z0-9]", "", symbol.upper())


def _base_of(symbol: str | None) -> str | None:
    if symbol and "/" in symbol:
        return symbol.split("/")[0].strip().lower()
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_file(path: Path) -> tuple[bytes, str]:
    """The file's content (gunzipped if it is gzip) and the sha256 of the bytes on disk.

    A truncated or corrupt gzip stream is a ``DataError`` (said once, in one line), not the
    ``EOFError`` / ``zlib.error`` the gzip module raises.
    """
    stored = path.read_bytes()
    digest = hashlib.sha256(stored).hexdigest()
    if stored[:2] != b"\x1f\x8b":
        return stored, digest
    try:
        return gzip.decompress(stored), digest
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path.name} is a truncated or corrupt gzip file ({exc})") from None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def time_units_to_ms(values: I64) -> tuple[I64, str]:
    """Epoch seconds / ms / us / ns -> ms, judged by magnitude (one unit per column)."""
    if not len(values):
        return values, "ms"
    top = int(np.abs(values).max())
    if top < 10**11:
        return values * 1000, "s"
    if top < 10**14:
        return values, "ms"
    if top < 10**17:
        return values // 1000, "us"
    return values // 1_000_000, "ns"


_AMPM = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2})-(AM|PM)$", re.IGNORECASE)
_TZ_SUFFIX = re.compile(r"(Z|[+-]00:?00)$")


def parse_time_strings(values: Sequence[str]) -> I64:
    """Date/time text (ISO forms, ``YYYY-MM-DD HH-AM``) in UTC -> epoch ms."""
    cleaned: list[str] = []
    for v in values:
        s = v.strip().strip('"')
        m = _AMPM.match(s)
        if m is not None:
            hour = int(m.group(2)) % 12 + (12 if m.group(3).upper() == "PM" else 0)
            s = f"{m.group(1)}T{hour:02d}:00"
        else:
            s = _TZ_SUFFIX.sub("", s)
        cleaned.append(s)
    try:
        arr = np.array(cleaned, dtype="datetime64[ms]")
    except ValueError as exc:
        raise DataError(f"unreadable time values: {exc}") from exc
    out: I64 = arr.astype(np.int64)
    return out


def price_decimals(columns: Iterable[F64]) -> int:
    """Fewest decimals that represent every price exactly (parsed floats, checked per value).

    The first rows give a lower bound cheaply (a sample cannot need more decimals than the
    whole column); the full columns are then checked from that bound up, usually once.
    """
    cols = [c if np.isfinite(c).all() else c[np.isfinite(c)] for c in columns]
    low = _decimals_from(0, [c[:_DECIMALS_SAMPLE] for c in cols])
    return _decimals_from(low, cols)


def _decimals_from(low: int, cols: list[F64]) -> int:
    for d in range(low, MAX_DECIMALS + 1):
        scale = 10.0**d
        if all(_on_grid(c, scale) for c in cols):
            return d
    raise DataError(f"prices need more than {MAX_DECIMALS} decimals")


def _on_grid(c: F64, scale: float) -> bool:
    scaled = c * scale
    err = np.rint(scaled)
    np.subtract(scaled, err, out=err)
    np.abs(err, out=err)
    np.abs(scaled, out=scaled)
    scaled *= 1e-13
    scaled += 1e-7
    return not bool(np.any(err > scaled))


def to_ticks(values: F64, decimals: int) -> I64:
    out: I64 = np.rint(values * (10.0**decimals)).astype(np.int64)
    return out


# ---------------------------------------------------------------------------- raw columns


@dataclass(slots=True)
class _Raw:
    """Columns as read from a file, in file order, before any check."""

    path: str
    source: str
    time_ms: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    quote_volume: F64 | None = None
    columns: tuple[str, ...] = ()
    time_column: str = ""
    banner_lines: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


def _find_header(lines: list[str]) -> tuple[int, list[str] | None]:
    """Index of the header line (None header: headerless numeric file) and its names."""
    for idx, line in enumerate(lines[:_BANNER_SCAN]):
        names = [_norm(x) for x in line.split(",")]
        if {"open", "high", "low", "close"} <= set(names):
            return idx, names
    for idx, line in enumerate(lines[:_BANNER_SCAN]):
        fields = line.split(",")
        if len(fields) >= 6 and all(_is_number(f) for f in fields[:6]):
            return idx - 1, None  # Binance raw klines: open_time,o,h,l,c,v,close_time,...
    raise DataError("no header with open/high/low/close found in the first lines")


def _pick_time(names: list[str]) -> int:
    for candidate in _TIME_NAMES:
        if candidate in names:
            return names.index(candidate)
    raise DataError(f"no time column among {names}")


def _pick_volumes(names: list[str], base: str | None) -> tuple[int | None, int | None]:
    """(base volume column, quote volume column) indices, either may be missing."""
    vol_named = {n[len("volume_") :]: i for i, n in enumerate(names) if n.startswith("volume_")}
    if base is None:
        bases = [k for k in vol_named if k not in _QUOTE_NAMES]
        base = bases[0] if len(bases) == 1 else None
    quote_idx = next((vol_named[q] for q in _QUOTE_NAMES if q in vol_named), None)
    if quote_idx is None:
        for q in ("quote_volume", "quote_asset_volume"):
            if q in names:
                quote_idx = names.index(q)
    if base is not None and base in vol_named:
        # Coinbase style: ``volume_btc`` is base, a plain ``volume`` beside it is quote.
        if quote_idx is None and "volume" in names:
            quote_idx = names.index("volume")
        return vol_named[base], quote_idx
    for b in ("volume", "vol", "base_volume"):
        if b in names:
            return names.index(b), quote_idx
    return None, quote_idx


def _numeric_matrix(lines: list[str], cols: list[int]) -> F64:
    if not lines:
        return np.zeros((0, len(cols)), dtype=np.float64)
    try:
        arr: F64 = np.loadtxt(
            lines, delimiter=",", usecols=cols, dtype=np.float64, ndmin=2, comments=None
        )
        return arr
    except ValueError as exc:
        raise DataError(f"unreadable numbers: {exc}") from exc


def _arrow_numeric(
    body: memoryview, width: int, t_idx: int, value_idx: list[int]
) -> list[Any] | None:
    """Fast path: the time column as int64 and the value columns as float64 via pyarrow's CSV
    reader (multi-threaded, correctly rounded like ``numpy.loadtxt``).

    ``None`` when pyarrow is not installed, the block is small (numpy is quicker than importing
    pyarrow), or the block is anything but plain numbers in ``width`` columns: the numpy path
    then parses it and reports what is wrong.
    """
    if len(body) < _ARROW_MIN_BYTES:
        return None
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is an optional extra
        return None
    names = [f"c{i}" for i in range(width)]
    wanted = [t_idx, *value_idx]
    types = {names[i]: pa.float64() for i in value_idx}
    types[names[t_idx]] = pa.int64()
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=[names[i] for i in dict.fromkeys(wanted)],
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    return [_arrow_to_numpy(table.column(names[i]), types[names[i]]) for i in wanted]


def _arrow_to_numpy(column: Any, arrow_type: Any) -> npt.NDArray[Any]:
    """A null-free int64/float64 column's values, read from the Arrow buffers directly
    (``to_numpy()`` imports pandas, half a second)."""
    dtype = np.dtype(np.int64) if str(arrow_type) == "int64" else np.dtype(np.float64)
    parts = []
    for chunk in column.chunks:
        if chunk.null_count:
            raise DataError("missing values in a numeric column")  # pragma: no cover
        data = chunk.buffers()[1]
        parts.append(np.frombuffer(data, dtype=dtype, count=len(chunk), offset=chunk.offset * 8))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _numeric_block(
    path: Path,
    body_bytes: memoryview,
    names: list[str],
    symbol: str | None,
    banner: tuple[str, ...],
    notes: list[str],
) -> _Raw:
    t_idx = _pick_time(names)
    price_idx = [names.index(c) for c in ("open", "high", "low", "close")]
    vol_idx, quote_idx = _pick_volumes(names, _base_of(symbol))
    vols = [i for i in (vol_idx, quote_idx) if i is not None]
    value_idx = [*price_idx, *vols]
    fast = _arrow_numeric(body_bytes, len(names), t_idx, value_idx)
    if fast is not None:
        t_raw: I64 = fast[0].astype(np.int64, copy=False)
        values: list[F64] = [c.astype(np.float64, copy=False) for c in fast[1:]]
    else:
        body = _decode(body_bytes)
        try:
            m = np.loadtxt(
                io.StringIO(body, newline=None),
                delimiter=",",
                usecols=[t_idx, *value_idx],
                dtype=np.float64,
                ndmin=2,
                comments=None,
            )
        except ValueError as exc:
            raise DataError(f"unreadable numbers: {exc}") from exc
        t_float = m[:, 0]
        if len(t_float) and not np.isfinite(t_float).all():
            raise DataError(f"time column {names[t_idx]!r} has missing or non-finite values")
        if len(t_float) and np.abs(t_float).max() >= 2**53:
            try:
                t_raw = np.loadtxt(
                    io.StringIO(body, newline=None),
                    delimiter=",",
                    usecols=[t_idx],
                    dtype=np.int64,
                    ndmin=1,
                    comments=None,
                )
            except (ValueError, OverflowError) as exc:
                raise DataError(f"unreadable times: {exc}") from exc
        else:
            t_raw = t_float.astype(np.int64)
        values = [m[:, k] for k in range(1, m.shape[1])]
    time_ms, unit = time_units_to_ms(t_raw)
    if unit != "ms":
        notes.append(f"time column {names[t_idx]!r} in {unit}, converted to ms")
    if vol_idx is None:
        notes.append("no volume column: volume set to 0")
    return _Raw(
        path=str(path),
        source="csv",
        time_ms=time_ms,
        open=values[0],
        high=values[1],
        low=values[2],
        close=values[3],
        volume=values[4] if vol_idx is not None else np.zeros(len(t_raw), dtype=np.float64),
        quote_volume=values[-1] if quote_idx is not None else None,
        columns=tuple(names),
        time_column=names[t_idx],
        banner_lines=banner,
        notes=notes,
    )


def _line_offset(data: bytes, lines: int, start: int = 0) -> int:
    """Byte offset just past ``lines`` newlines of ``data`` from ``start`` (len(data) if fewer)."""
    pos = start
    for _ in range(lines):
        nl = data.find(b"\n", pos)
        if nl < 0:
            return len(data)
        pos = nl + 1
    return pos


def _decode(data: bytes | memoryview) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def read_csv_raw(path: Path, symbol: str | None, *, content: bytes | None = None) -> _Raw:
    """Raw columns of a CSV / CSV.gz file (``content``: its bytes, gunzipped, if already read).

    Only the first lines are decoded to find the header; a plain numeric block (the common
    case) then goes to the parser as bytes, without a decoded copy of the whole file.
    """
    raw_bytes = _read_file(path)[0] if content is None else content
    view = memoryview(raw_bytes)
    head = _decode(view[: _line_offset(raw_bytes, _BANNER_SCAN)]).split("\n")[:_BANNER_SCAN]
    header_idx, names = _find_header([line.rstrip("\r") for line in head])
    banner = tuple(line.rstrip("\r") for line in head[: max(header_idx, 0)] if line.strip())
    skip = _line_offset(raw_bytes, header_idx + 1) if header_idx >= 0 else 0
    first = _decode(view[skip : _line_offset(raw_bytes, 3, skip)]).split("\n")[:3]
    notes: list[str] = []
    probe = next((line for line in first if line.strip()), "").split(",")
    simple = (
        names is not None
        and "symbol" not in names
        and len(probe) > 1
        and len(probe) > _pick_time(names)
        and _is_number(probe[_pick_time(names)])
    )
    if simple:  # the common case: numeric times, one symbol: parse the text block at once
        assert names is not None
        return _numeric_block(path, view[skip:], names, symbol, banner, notes)
    body = _decode(view[skip:])
    data = [line for line in body.splitlines() if line.strip()]
    if names is None:
        names = ["open_time", "open", "high", "low", "close", "volume"]
        width = len(data[0].split(",")) if data else 6
        names += [f"col{i}" for i in range(6, width)]
        notes.append("no header: read as Binance raw klines (open_time, o, h, l, c, v, ...)")
    if "symbol" in names:
        data = _filter_symbol(data, names.index("symbol"), symbol, path)
    t_idx = _pick_time(names)
    price_idx = [names.index(c) for c in ("open", "high", "low", "close")]
    vol_idx, quote_idx = _pick_volumes(names, _base_of(symbol))
    first = data[0].split(",") if data else []
    numeric_time = bool(first) and _is_number(first[t_idx])
    cols = price_idx + [i for i in (vol_idx, quote_idx) if i is not None]
    if numeric_time:
        cols = [t_idx, *cols]
    matrix = _numeric_matrix(data, cols)
    k = 0
    if numeric_time:
        t_float = matrix[:, 0]
        if len(t_float) and not np.isfinite(t_float).all():
            raise DataError(f"time column {names[t_idx]!r} has missing or non-finite values")
        if len(t_float) and np.abs(t_float).max() >= 2**53:
            try:
                t_raw: I64 = np.array(
                    [int(line.split(",")[t_idx]) for line in data], dtype=np.int64
                )
            except (ValueError, OverflowError) as exc:
                raise DataError(f"unreadable times: {exc}") from None
        else:
            t_raw = t_float.astype(np.int64)
        time_ms, unit = time_units_to_ms(t_raw)
        if unit != "ms":
            notes.append(f"time column {names[t_idx]!r} in {unit}, converted to ms")
        k = 1
    else:
        time_ms = parse_time_strings([line.split(",")[t_idx] for line in data])
    o, h, lo, c = (matrix[:, k + j] for j in range(4))
    k += 4
    if vol_idx is not None:
        vol = matrix[:, k]
        k += 1
    else:
        vol = np.zeros(len(data), dtype=np.float64)
        notes.append("no volume column: volume set to 0")
    quote = matrix[:, k] if quote_idx is not None else None
    return _Raw(
        path=str(path),
        source="csv",
        time_ms=time_ms,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=vol,
        quote_volume=quote,
        columns=tuple(names),
        time_column=names[t_idx],
        banner_lines=banner,
        notes=notes,
    )


def _filter_symbol(data: list[str], idx: int, symbol: str | None, path: Path) -> list[str]:
    """Rows of one symbol (a cheap substring pass first, then the exact column check)."""

    def found() -> list[str]:
        return sorted({line.split(",")[idx].strip() for line in data})

    if symbol is None:
        symbols = found()
        if len(symbols) > 1:
            raise DataError(f"{path.name} holds several symbols {symbols}: pass a symbol")
        return data
    want = symbol_key(symbol)
    spelled = {line.split(",")[idx] for line in data[:1000]}
    needles = [s for s in spelled if symbol_key(s) == want] or [want]
    keep = [
        line
        for line in data
        if any(n in line for n in needles) and symbol_key(line.split(",")[idx]) == want
    ]
    if not keep:
        raise DataError(f"{path.name} has no rows for {symbol} (symbols: {', '.join(found())})")
    return keep


def read_parquet_raw(path: Path, symbol: str | None) -> _Raw:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DataError("reading Parquet needs pyarrow (pip install pyarrow)") from exc
    table = pq.read_table(path)
    names = [_norm(n) for n in table.column_names]
    cols = {n: table.column(i) for i, n in enumerate(names)}
    notes: list[str] = []
    if "symbol" in cols:
        syms = [str(s) for s in cols["symbol"].to_pylist()]
        found = sorted(set(syms))
        if symbol is None and len(found) > 1:
            raise DataError(f"{path.name} holds several symbols {found}: pass a symbol")
        if symbol is not None:
            mask = np.array([symbol_key(s) == symbol_key(symbol) for s in syms], dtype=bool)
            if not mask.any():
                raise DataError(f"{path.name} has no rows for {symbol}")
            import pyarrow as pa

            table = table.filter(pa.array(mask))
            cols = {n: table.column(i) for i, n in enumerate(names)}
    t_name = names[_pick_time(names)]
    t_col = cols[t_name]
    import pyarrow as pa

    if pa.types.is_timestamp(t_col.type) or pa.types.is_date(t_col.type):
        time_ms: I64 = t_col.cast(pa.timestamp("ms")).cast(pa.int64()).to_numpy()
    elif pa.types.is_integer(t_col.type) or pa.types.is_floating(t_col.type):
        time_ms, unit = time_units_to_ms(np.asarray(t_col.to_numpy(), dtype=np.int64))
        if unit != "ms":
            notes.append(f"time column {t_name!r} in {unit}, converted to ms")
    else:
        time_ms = parse_time_strings([str(x) for x in t_col.to_pylist()])

    def num(name: str) -> F64:
        return np.asarray(cols[name].to_numpy(), dtype=np.float64)

    vol_idx, quote_idx = _pick_volumes(names, _base_of(symbol))
    vol = num(names[vol_idx]) if vol_idx is not None else np.zeros(len(time_ms))
    return _Raw(
        path=str(path),
        source="parquet",
        time_ms=np.asarray(time_ms, dtype=np.int64),
        open=num("open"),
        high=num("high"),
        low=num("low"),
        close=num("close"),
        volume=vol,
        quote_volume=num(names[quote_idx]) if quote_idx is not None else None,
        columns=tuple(names),
        time_column=t_name,
        notes=notes,
    )


# ---------------------------------------------------------------------------- checks


def _order(raw: _Raw) -> tuple[npt.NDArray[np.intp] | None, str]:
    t = raw.time_ms
    if len(t) < 2:
        return None, ""
    d = np.diff(t)
    if np.all(d >= 0):
        return None, ""
    if np.all(d <= 0):
        return np.arange(len(t) - 1, -1, -1), "newest-first"
    return np.argsort(t, kind="stable"), "unsorted"


def _fix_swapped_volume(raw: _Raw) -> tuple[int, list[str]]:
    """Swap base/quote volume back where quote / (base x close) says they were exchanged."""
    q = raw.quote_volume
    if q is None:
        return 0, []
    b, c = raw.volume, raw.close
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.abs(np.log(q / (b * c))) < math.log(2.0)
        swapped = np.abs(np.log(b / (q * c))) < math.log(2.0)
    fix = swapped & ~ok & (b > 0) & (q > 0)
    n = int(fix.sum())
    notes: list[str] = []
    if n:
        idx = np.flatnonzero(fix)
        raw.volume = np.where(fix, q, b)
        raw.quote_volume = np.where(fix, b, q)
        notes.append(
            f"volume columns swapped in {n} row(s) between "
            f"{_iso(int(raw.time_ms[idx].min()))} and {_iso(int(raw.time_ms[idx].max()))}"
        )
    return n, notes


def _quote_volume_check(raw: _Raw, interval_ms: int, volume_unit: str) -> tuple[str, list[str]]:
    """Decide whether the (only) volume column is quote currency; convert it to base if so."""
    if volume_unit == "base" or (volume_unit == "auto" and raw.quote_volume is not None):
        return "base", []
    c = raw.close
    v = raw.volume
    if volume_unit == "auto":
        if not len(v) or _median(c) < 50:
            return "base", []
        minutes = max(interval_ms / 60_000, 1e-9)
        per_min = _median(v * c) / minutes
        if per_min < _QUOTE_NOTIONAL_PER_MIN:
            return "base", []
        note = (
            f"volume looks like quote currency (median volume x price = {per_min:.3g} per "
            "minute, implausible in base units)"
        )
    else:
        note = "volume declared as quote currency"
    with np.errstate(divide="ignore", invalid="ignore"):
        raw.volume = np.where(c > 0, v / c, 0.0)
    return "quote", [note]


def _median(x: F64) -> float:
    """``float(np.median(x))`` for a non-empty 1-d array, NaN if any value is NaN, without
    the import of ``numpy.ma`` that ``np.median`` makes for its NaN check (8 ms)."""
    if np.isnan(x).any():
        return math.nan
    k = len(x) // 2
    if len(x) % 2:
        return float(np.partition(x, k)[k])
    part = np.partition(x, (k - 1, k))
    return float((part[k - 1] + part[k]) / 2)


def _iso(ms: int) -> str:
    return str(np.datetime64(ms, "ms"))[:19].replace("T", " ")


def build_bars(
    raw: _Raw, symbol: str, *, volume_unit: str = "auto", sha256: str = ""
) -> tuple[Bars, DataReport]:
    """Order, dedupe, check and convert raw columns; every change lands in the report."""
    rows = len(raw.time_ms)
    if rows == 0:
        raise DataError(f"{raw.path}: no data rows")
    notes = list(raw.notes)
    perm, reordered = _order(raw)
    if perm is not None:
        for name in ("time_ms", "open", "high", "low", "close", "volume"):
            setattr(raw, name, getattr(raw, name)[perm])
        if raw.quote_volume is not None:
            raw.quote_volume = raw.quote_volume[perm]
    swapped, swap_notes = _fix_swapped_volume(raw)
    notes += swap_notes

    t = raw.time_ms
    same = np.flatnonzero(np.diff(t) == 0) + 1  # second of each equal pair
    duplicates = conflicting = 0
    if len(same):
        prev = same - 1
        identical = np.ones(len(same), dtype=bool)
        for name in ("open", "high", "low", "close", "volume"):
            col = getattr(raw, name)
            identical &= col[same] == col[prev]
        duplicates = int(identical.sum())
        conflicting = len(same) - duplicates
        keep = np.ones(len(t), dtype=bool)
        keep[same] = False
        for name in ("time_ms", "open", "high", "low", "close", "volume"):
            setattr(raw, name, getattr(raw, name)[keep])
        t = raw.time_ms

    prices = (raw.open, raw.high, raw.low, raw.close)
    finite = np.ones(len(t), dtype=bool)
    for col in prices:
        finite &= np.isfinite(col)
    if not finite.all():
        bad_rows = int((~finite).sum())
        notes.append(f"{bad_rows} row(s) with missing prices dropped")
        if not finite.any():
            raise DataError(f"{raw.path}: no row has all four prices (open, high, low, close)")
        for name in ("time_ms", "open", "high", "low", "close", "volume"):
            setattr(raw, name, getattr(raw, name)[finite])
        t = raw.time_ms
        prices = (raw.open, raw.high, raw.low, raw.close)
    decimals = price_decimals(prices)
    top = max(float(np.abs(col).max()) for col in prices)
    if top * 10.0**decimals >= _MAX_TICKS:
        raise DataError(
            f"{raw.path}: prices up to {top:.6g} with {decimals} decimals do not fit the "
            "integer tick grid"
        )
    o, h, lo, c = (to_ticks(col, decimals) for col in prices)
    vol = np.nan_to_num(raw.volume, nan=0.0)

    interval, regular, gaps, missing, misaligned = _grid(t)
    unit, unit_notes = _quote_volume_check(raw, interval, volume_unit)
    if unit == "quote":
        vol = np.nan_to_num(raw.volume, nan=0.0)
    notes += unit_notes

    bad_mask = (h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (lo <= 0) | (vol < 0) | (h < lo)
    bad_idx = np.flatnonzero(bad_mask)
    bad = tuple(
        BadBar(int(t[i]), _bad_reason(int(o[i]), int(h[i]), int(lo[i]), int(c[i]), float(vol[i])))
        for i in bad_idx[:_MAX_LISTED]
    )
    repeated, repeat_notes = _repeated_values(t, o, h, lo, c, vol)
    notes += repeat_notes
    tick = Decimal(1).scaleb(-decimals)
    bars = Bars(
        symbol=symbol,
        tick_size=tick,
        interval_ms=interval,
        time_ms=np.ascontiguousarray(t, dtype=np.int64),
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=np.ascontiguousarray(vol, dtype=np.float64),
    )
    report = DataReport(
        path=raw.path,
        symbol=symbol,
        source=raw.source,
        rows=rows,
        bars=len(bars),
        first_ms=int(t[0]),
        last_ms=int(t[-1]),
        interval_ms=interval,
        regular=regular,
        tick_size=str(tick),
        columns=raw.columns,
        time_column=raw.time_column,
        banner_lines=raw.banner_lines,
        reordered=reordered,
        duplicates=duplicates,
        conflicting_duplicates=conflicting,
        gaps=tuple(gaps[:_MAX_LISTED]),
        gap_count=len(gaps),
        missing_bars=missing,
        misaligned=misaligned,
        bad_bars=bad,
        bad_bar_count=len(bad_idx),
        volume_unit=unit,
        volume_swapped_rows=swapped,
        repeated_rows=repeated,
        notes=tuple(notes),
        sha256=sha256,
    )
    return bars, report


def _repeated_values(t: I64, o: I64, h: I64, lo: I64, c: I64, vol: F64) -> tuple[int, list[str]]:
    """Bars with volume whose whole OHLCV row already appeared at another time.

    A traded bar repeating another exactly (to the tick and the last volume digit) is a copy
    made by whoever exported the file, as in the Coinbase export where five hours of November
    2017 carry the values of the five hours before them. Rows are hashed first (one int64 sort);
    only rows sharing a hash are compared exactly.
    """
    traded = np.flatnonzero(vol > 0)
    if len(traded) < 2:
        return 0, []
    cols = (o[traded], h[traded], lo[traded], c[traded], vol[traded].view(np.int64))
    key = np.zeros(len(traded), dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    with np.errstate(over="ignore"):
        for col in cols:  # in place, on the columns' bits (what astype(uint64) gives an int64)
            key ^= col.view(np.uint64) if col.dtype == np.int64 else col.astype(np.uint64)
            key *= prime
    # Rows with equal hashes share a bucket: only rows in a bucket of two or more (a fifth of
    # them for a million rows in 4M buckets) can repeat, and only those are sorted.
    buckets = (key >> np.uint64(42)).astype(np.intp)  # the top 22 bits
    crowded = np.flatnonzero(np.bincount(buckets, minlength=1 << 22)[buckets] > 1)
    if len(crowded) < 2:
        return 0, []
    sub = key[crowded]
    sk = np.sort(sub)  # a plain sort says whether any hash repeats (usually not) ...
    if not np.any(sk[1:] == sk[:-1]):
        return 0, []
    order = crowded[np.argsort(sub, kind="stable")]  # ... and only then the permutation
    sk = key[order]
    same = np.flatnonzero(sk[1:] == sk[:-1])
    cand = np.unique(np.concatenate((order[same], order[same + 1])))
    rec = np.empty(
        len(cand), dtype=[("o", "i8"), ("h", "i8"), ("l", "i8"), ("c", "i8"), ("v", "i8")]
    )
    for name, col in zip(("o", "h", "l", "c", "v"), cols, strict=True):
        rec[name] = col[cand]
    _, first, counts = np.unique(rec, return_index=True, return_counts=True)
    n = int((counts - 1).sum())
    if not n:
        return 0, []
    dup = np.ones(len(cand), dtype=bool)
    dup[first] = False
    times = np.sort(t[traded[cand[dup]]])
    shown = ", ".join(_iso(int(x)) for x in times[:5])
    return n, [f"repeated OHLCV rows at {shown}{' ...' if n > 5 else ''}"]


def _bad_reason(o: int, h: int, lo: int, c: int, v: float) -> str:
    reasons = []
    if h < max(o, c):
        reasons.append("high below open/close")
    if lo > min(o, c):
        reasons.append("low above open/close")
    if h < lo:
        reasons.append("high below low")
    if lo <= 0:
        reasons.append("non-positive price")
    if v < 0:
        reasons.append("negative volume")
    return ", ".join(reasons)


def _grid(t: I64) -> tuple[int, bool, list[Gap], int, int]:
    """Bar interval, whether bars sit on a fixed grid, the gaps, missing bars, misaligned steps."""
    if len(t) < 2:
        return 0, True, [], 0, 0
    d = np.diff(t)
    # The usual file sits on one grid: a step taken from the first rows that covers 90% of all
    # steps is the mode (no other step can be as common), without sorting a million steps.
    values, counts = np.unique(d[:_GRID_SAMPLE], return_counts=True)
    mode = int(values[np.argmax(counts)])
    top = int(np.count_nonzero(d == mode))
    if top < 0.9 * len(d):
        values, counts = np.unique(d, return_counts=True)
        mode = int(values[np.argmax(counts)])
        top = int(counts.max())
    regular = top >= 0.9 * len(d) and mode > 0
    gaps: list[Gap] = []
    if regular:
        interval = mode
        idx = np.flatnonzero(d > interval)
        missing_per = (d[idx] - 1) // interval
        misaligned = int(np.count_nonzero(d % interval))
    else:
        interval = int(np.median(d))
        idx = np.flatnonzero(d > 1.5 * interval)
        missing_per = np.rint(d[idx] / interval).astype(np.int64) - 1
        misaligned = 0
    for i, m in zip(idx.tolist(), missing_per.tolist(), strict=True):
        gaps.append(Gap(int(t[i]), int(t[i + 1]), int(m)))
    return interval, bool(regular), gaps, int(missing_per.sum()), misaligned


# ---------------------------------------------------------------------------- public loaders


def load_bars(
    path: Path | str,
    symbol: str | None = None,
    *,
    cache: DatasetCache | None = None,
    volume_unit: str = "auto",
) -> tuple[Bars, DataReport]:
    """Bars and a defect report from a candle file (CSV, CSV.gz or Parquet), cached if asked."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    if volume_unit not in ("auto", "base", "quote"):
        raise ValueError(f"volume_unit must be auto, base or quote, not {volume_unit!r}")
    key = None
    if cache is not None:
        key = cache.key(path, symbol, volume_unit)
        hit = cache.get(key)
        if hit is not None:
            return hit
    name = symbol or _symbol_from_name(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        raw = read_parquet_raw(path, symbol)
        digest = file_sha256(path)
    else:
        content, digest = _read_file(path)
        raw = read_csv_raw(path, symbol, content=content)
        del content
    if symbol is not None and "symbol" not in raw.columns:
        named = _symbol_from_name(path)
        if "/" in named and symbol_key(named) != symbol_key(symbol):
            raw.notes.append(f"the file name suggests {named}, but the bars are read as {symbol}")
    bars, report = build_bars(raw, name, volume_unit=volume_unit, sha256=digest)
    if cache is not None and key is not None:
        cache.put(key, bars, report)
        report = _with_cache(report, "stored")
    return bars, report


def _symbol_from_name(path: Path) -> str:
    m = re.search(r"([A-Z]{2,10})(USDT|USDC|BUSD|USD|EUR|BTC)(?![A-Z])", path.name.upper())
    if m is None:
        return path.stem.split(".")[0]
    return f"{m.group(1)}/{m.group(2)}"


def _with_cache(report: DataReport, state: str) -> DataReport:
    d = report.to_dict()
    d["cache"] = state
    return DataReport.from_dict(d)


# ---------------------------------------------------------------------------- cache


class DatasetCache:
    """Parsed bars in ``datasets.db`` (plain ``sqlite3``), keyed by file identity and options.

    One row per file: the five ``int64`` columns and volume stored as raw blobs, the report as
    JSON. A changed file (size or mtime) misses and is re-parsed; ``LOADER_VERSION`` invalidates
    rows written by an older parser.

    It is a separate file from the trading database and holds nothing that cannot be re-parsed,
    but a file that is not a datasets cache (random bytes, 0 bytes, a directory, another SQLite
    database) is refused with a ``DataError``, never overwritten. A new cache file is built
    under a temporary name and linked into place, so it never exists half-created. The standard
    library's ``sqlite3`` is used rather than sqlite-utils, which imports pandas (0.5 s).
    """

    TABLE: Final = "datasets"
    _COLUMNS: Final = (
        "key",
        "path",
        "symbol",
        "bars",
        "tick_size",
        "interval_ms",
        "report",
        "time_ms",
        "open",
        "high",
        "low",
        "close",
        "volume",
    )
    _SCHEMA: Final = (
        "CREATE TABLE IF NOT EXISTS datasets ([key] TEXT PRIMARY KEY, [path] TEXT, [symbol] TEXT, "
        "[bars] INTEGER, [tick_size] TEXT, [interval_ms] INTEGER, [report] TEXT, [time_ms] BLOB, "
        "[open] BLOB, [high] BLOB, [low] BLOB, [close] BLOB, [volume] BLOB)"
    )
    _MAGIC: Final = b"SQLite format 3\x00"

    def __init__(self, db_path: Path | str, *, background: bool = False) -> None:
        self.path = Path(db_path)
        # background: ``put`` checks the file, then writes the row on a thread while the caller
        # goes on (the run); ``wait`` joins it and raises what the write raised.
        self.background = background
        self._writer: threading.Thread | None = None
        self._write_error: BaseException | None = None

    @staticmethod
    def key(path: Path, symbol: str | None, volume_unit: str) -> str:
        st = path.stat()
        ident = (
            f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{symbol_key(symbol or '')}|"
            f"{volume_unit}|v{LOADER_VERSION}"
        )
        return hashlib.sha256(ident.encode()).hexdigest()

    def _refuse(self, why: str) -> DataError:
        return DataError(
            f"datasets cache {self.path} {why} (delete or move it, or pass --no-cache)"
        )

    def check(self) -> None:
        """Raise ``DataError`` unless the cache file is usable: absent (in a folder that can be
        created and written) or a SQLite database with no tables or the ``datasets`` table."""
        path = self.path
        if path.is_dir():
            raise self._refuse("is a directory, not a database file")
        if not path.exists():
            folder = next((p for p in path.parents if p.exists()), None)
            if folder is None or not folder.is_dir():
                raise self._refuse("cannot be created: its folder is not a directory")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise self._refuse(f"cannot be created: {folder} is not writable")
            return
        if not path.is_file():
            raise self._refuse("is not a regular file")
        try:
            with path.open("rb") as fh:
                head = fh.read(len(self._MAGIC))
        except OSError as exc:
            raise self._refuse(f"cannot be read ({exc.strerror or exc})") from None
        if not head:
            raise self._refuse("is empty (0 bytes), not a datasets cache")
        if head != self._MAGIC:
            raise self._refuse("is not a SQLite database")
        with self._connect(readonly=True) as conn:
            tables = self._tables(conn)
            if tables and self.TABLE not in tables:
                raise self._refuse(f"is another SQLite database (tables: {', '.join(tables)})")
            if self.TABLE in tables:
                have = {row[1] for row in self._run(conn, f"PRAGMA table_info({self.TABLE})")}
                missing = [c for c in self._COLUMNS if c not in have]
                if missing:
                    raise self._refuse(f"has a {self.TABLE} table without {', '.join(missing)}")

    @contextlib.contextmanager
    def _connect(self, *, readonly: bool) -> Iterator[sqlite3.Connection]:
        uri = f"{self.path.resolve().as_uri()}?mode={'ro' if readonly else 'rw'}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=30.0)
        except sqlite3.Error as exc:
            raise self._refuse(f"cannot be opened ({exc})") from None
        try:
            yield conn
        finally:
            conn.close()

    def _run(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._refuse(f"is damaged or unreadable ({exc})") from None

    def _tables(self, conn: sqlite3.Connection) -> list[str]:
        rows = self._run(conn, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return [str(r[0]) for r in rows]

    def get(self, key: str) -> tuple[Bars, DataReport] | None:
        self.wait()
        if not self.path.exists():
            return None
        self.check()
        with self._connect(readonly=True) as conn:
            if self.TABLE not in self._tables(conn):
                return None
            rows = self._run(
                conn,
                "SELECT symbol, tick_size, interval_ms, report, time_ms, open, high, low, close,"
                " volume FROM datasets WHERE key = ?",
                [key],
            )
        if not rows:
            return None
        symbol, tick, interval, report_json, *blobs = rows[0]
        try:
            t, o, h, lo, c = (np.frombuffer(b, dtype=np.int64) for b in blobs[:5])
            v = np.frombuffer(blobs[5], dtype=np.float64)
            bars = Bars(str(symbol), Decimal(tick), int(interval), t, o, h, lo, c, v)
            report = DataReport.from_dict(json.loads(report_json))
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise self._refuse(f"holds a damaged entry ({exc})") from None
        return bars, _with_cache(report, "hit")

    def _create(self) -> None:
        """Make the database file, complete or not at all (temp file, then link into place)."""
        self.check()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            conn = sqlite3.connect(tmp)
            try:
                conn.execute("PRAGMA page_size = 65536")  # columns are megabyte blobs
                conn.execute(self._SCHEMA)
                conn.commit()
            finally:
                conn.close()
            try:
                os.link(tmp, self.path)  # never replaces a cache another process just made
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                if not self.path.exists():
                    os.replace(tmp, self.path)
        except sqlite3.Error as exc:
            raise self._refuse(f"cannot be created ({exc})") from None
        finally:
            tmp.unlink(missing_ok=True)

    def wait(self) -> None:
        """Join a background write; raise what it raised (``DataError`` as in ``put``)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.join()
        error, self._write_error = self._write_error, None
        if error is not None:
            raise error

    def put(self, key: str, bars: Bars, report: DataReport) -> None:
        self.wait()
        if not self.path.exists():
            self._create()
        self.check()
        if not self.background:
            self._insert(key, bars, report)
            return

        def write() -> None:
            try:
                self._insert(key, bars, report)
            except BaseException as exc:  # handed to wait()
                self._write_error = exc

        self._writer = threading.Thread(target=write, name="datasets-cache-put", daemon=False)
        self._writer.start()

    def _insert(self, key: str, bars: Bars, report: DataReport) -> None:
        row = (
            key,
            report.path,
            bars.symbol,
            len(bars),
            str(bars.tick_size),
            bars.interval_ms,
            json.dumps(report.to_dict()),
            bars.time_ms.tobytes(),
            bars.open.tobytes(),
            bars.high.tobytes(),
            bars.low.tobytes(),
            bars.close.tobytes(),
            bars.volume.tobytes(),
        )
        with self._connect(readonly=False) as conn:
            try:
                with conn:
                    conn.execute(self._SCHEMA)
                    conn.execute(
                        f"INSERT OR REPLACE INTO datasets ({', '.join(self._COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(self._COLUMNS))})",
                        row,
                    )
            except sqlite3.Error as exc:
                raise self._refuse(f"could not be written ({exc})") from None

    def entries(self) -> list[dict[str, Any]]:
        """What is cached (for the UI): path, symbol, bars."""
        self.wait()
        if not self.path.exists():
            return []
        self.check()
        with self._connect(readonly=True) as conn:
            if self.TABLE not in self._tables(conn):
                return []
            rows = self._run(conn, "SELECT path, symbol, bars, interval_ms FROM datasets")
        return [{"path": r[0], "symbol": r[1], "bars": r[2], "interval_ms": r[3]} for r in rows]


# ---------------------------------------------------------------------------- synthetic data


def synthetic_bars(
    n: int,
    *,
    seed: int = 1,
    symbol: str = "BTC/USDT",
    start_ms: int = 1_700_000_000_000,
    interval_ms: int = 60_000,
    start_price: float = 30_000.0,
    annual_vol: float = 0.6,
    tick_size: Decimal = Decimal("0.01"),
) -> Bars:
    """A geometric random walk of ``n`` bars on the tick grid (benchmarks, property tests)."""
    rng = np.random.default_rng(seed)
    per_bar = annual_vol * math.sqrt(interval_ms / (365.25 * 86_400_000))
    steps = rng.standard_normal((n, 4)) * (per_bar / 2.0)
    path = start_price * np.exp(np.cumsum(steps.ravel())).reshape(n, 4)
    tick = float(tick_size)
    pts = np.maximum(np.rint(path / tick).astype(np.int64), 1)
    o = np.empty(n, dtype=np.int64)
    o[0] = pts[0, 0]
    o[1:] = pts[:-1, 3]  # each bar opens where the last closed
    c = pts[:, 3]
    h = np.maximum(np.maximum(o, c), pts[:, 1:3].max(axis=1))
    lo = np.minimum(np.minimum(o, c), pts[:, 1:3].min(axis=1))
    vol = np.round(rng.lognormal(1.0, 0.8, n), 5)
    t = start_ms + np.arange(n, dtype=np.int64) * interval_ms
    return Bars(symbol, tick_size, interval_ms, t, o, h, lo, c, vol)


def write_csv(bars: Bars, path: Path) -> None:
    """Binance-kline-style CSV (``open_time_ms,open,high,low,close,volume``)."""
    d = -int(bars.tick_size.as_tuple().exponent)
    scale = 10**d

    def fmt(col: I64) -> list[str]:
        whole, frac = np.divmod(col, scale)
        if d == 0:
            return [str(w) for w in whole.tolist()]
        return [f"{w}.{f:0{d}d}" for w, f in zip(whole.tolist(), frac.tolist(), strict=True)]

    cols = [
        [str(x) for x in bars.time_ms.tolist()],
        fmt(bars.open),
        fmt(bars.high),
        fmt(bars.low),
        fmt(bars.close),
        [repr(x) for x in bars.volume.tolist()],
    ]
    with path.open("w", encoding="ascii") as fh:
        fh.write("open_time_ms,open,high,low,close,volume\n")
        fh.writelines(",".join(row) + "\n" for row in zip(*cols, strict=True))
