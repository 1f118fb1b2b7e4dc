"""Declarative table models fed by snapshots (vn.py ``BaseMonitor`` idea, without its floats).

A view lists ``Column``s (header, getter, formatter, alignment, colour) and hands the model the
current rows as immutable objects. The model diffs by key: unchanged rows (same object) cost one
identity check, changed cells raise ``dataChanged`` for that row only, rows that appear or vanish
are inserted/removed in place (so the user's selection survives), and only a reordering of the
surviving rows falls back to a model reset. Text is formatted once per change, not per paint.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor

from engine.model.instrument import Instrument
from widgets import theme

ModelIndex = QModelIndex | QPersistentModelIndex

POSITIVE = QColor(theme.BID)  # gains, buys
NEGATIVE = QColor(theme.ASK)  # losses, sells
NEUTRAL_TEXT = QColor(theme.MUTED)

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
CENTER = Qt.AlignmentFlag.AlignCenter

# ---------------------------------------------------------------- formatting


places = theme.decimals_of  # decimal places of a grid step: 0.01 -> 2, 0.00001 -> 5, 10 -> 0


def fmt_decimal(value: Decimal | None, decimals: int, *, sign: bool = False) -> str:
    if value is None:
        return ""
    if not value.is_finite():
        return "∞" if value > 0 else "-∞" if value < 0 else "n/a"
    text = format(value, f"{'+' if sign else ''},.{decimals}f")
    if not text.strip("+-0.,"):  # rounds to zero: no "-0.00", no "+0.00"
        return text.lstrip("+-")
    return text


def fmt_price(value: Decimal | None, instrument: Instrument | None) -> str:
    """Price with the instrument's tick precision (or as-is when the instrument is unknown)."""
    if value is None:
        return ""
    if instrument is None:
        return format(value, ",f")
    return fmt_decimal(value, places(instrument.tick_size))


def fmt_qty(value: Decimal | None, instrument: Instrument | None) -> str:
    """Quantity with the instrument's lot precision."""
    if value is None:
        return ""
    if instrument is None:
        return format(value, ",f")
    return fmt_decimal(value, places(instrument.lot_size))


def fmt_money(value: Decimal | None, _instrument: Instrument | None = None) -> str:
    """Quote amounts to the cent (kept to 1e-10 inside; cents are what people read)."""
    return fmt_decimal(value, 2)


def fmt_signed_money(value: Decimal | None, _instrument: Instrument | None = None) -> str:
    return fmt_decimal(value, 2, sign=True)


def fmt_time_ns(ts_ns: int | None, _instrument: Instrument | None = None) -> str:
    """UTC wall time with milliseconds: venues and logs speak UTC, so the tables do too."""
    if not ts_ns:
        return ""
    return theme.utc_time_ms(ts_ns)


def fmt_text(value: object, _instrument: Instrument | None = None) -> str:
    if value is None:
        return ""
    return str(value)


def sign_color(value: object, _row: object = None) -> QColor | None:
    """Green above zero, red below, default colour at zero/None."""
    if not isinstance(value, Decimal | int | float) or not value:
        return None
    return POSITIVE if value > 0 else NEGATIVE


def money_color(value: object, _row: object = None) -> QColor | None:
    """Like ``sign_color`` for amounts shown to the cent: what prints as 0.00 is not coloured."""
    if isinstance(value, Decimal) and value.is_finite():
        value = value.quantize(Decimal("0.01"))
    return sign_color(value)


def side_color(value: object, _row: object = None) -> QColor | None:
    text = str(value).lower()
    if text == "buy":
        return POSITIVE
    if text == "sell":
        return NEGATIVE
    return None


# ---------------------------------------------------------------- columns and model

Formatter = Callable[[Any, Instrument | None], str]
Colorer = Callable[[Any, Any], QColor | None]


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: ``getter(row)`` -> value, ``fmt(value, instrument)`` -> text.

    ``instrument`` is looked up from the row's ``symbol`` attribute (None if absent), so prices and
    quantities print with that market's tick and lot precision. ``color(value, row)`` gives the
    foreground colour (None = default).
    """

    header: str
    getter: Callable[[Any], Any]
    fmt: Formatter = fmt_text
    align: Qt.AlignmentFlag = RIGHT
    color: Colorer | None = None
    tooltip: str = field(default="")


@dataclass(slots=True)
class _Row:
    key: Hashable
    obj: Any
    texts: tuple[str, ...]
    colors: tuple[QColor | None, ...]


class SnapshotTableModel(QAbstractTableModel):
    """Keyed rows of immutable objects, refreshed with ``set_rows`` from each snapshot."""

    def __init__(
        self,
        columns: Sequence[Column],
        key: Callable[[Any], Hashable],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._columns = tuple(columns)
        self._key = key
        self._rows: list[_Row] = []
        self._index: dict[Hashable, int] = {}
        self._instruments: Mapping[str, Instrument] = {}
        self.resets = 0  # how many times the row set forced a model reset (diagnostics, tests)

    # -------------------------------------------------------- public API

    @property
    def columns(self) -> tuple[Column, ...]:
        return self._columns

    def row_object(self, row: int) -> Any:
        return self._rows[row].obj

    def row_key(self, row: int) -> Hashable:
        return self._rows[row].key

    def row_of(self, key: Hashable) -> int | None:
        return self._index.get(key)

    def keys(self) -> list[Hashable]:
        return [r.key for r in self._rows]

    def text(self, row: int, column: int) -> str:
        return self._rows[row].texts[column]

    def set_rows(
        self, rows: Sequence[Any], instruments: Mapping[str, Instrument] | None = None
    ) -> None:
        """Make the table show ``rows`` (in that order), touching only what changed."""
        reformat = instruments is not None and instruments is not self._instruments
        if instruments is not None:
            self._instruments = instruments
        new_keys = [self._key(r) for r in rows]
        if len(set(new_keys)) != len(new_keys):
            raise ValueError("duplicate row keys")
        self._remove_missing(set(new_keys))
        survivors = [k for k in new_keys if k in self._index]
        if survivors != self.keys():
            self._reset(rows, new_keys)
            return
        self._insert_new(rows, new_keys)
        self._update(rows, reformat)

    def clear(self) -> None:
        self.set_rows(())

    # -------------------------------------------------------- diffing

    def _make_row(self, key: Hashable, obj: Any) -> _Row:
        instrument = self._instrument_for(obj)
        texts: list[str] = []
        colors: list[QColor | None] = []
        for col in self._columns:
            value = col.getter(obj)
            texts.append(col.fmt(value, instrument))
            colors.append(col.color(value, obj) if col.color is not None else None)
        return _Row(key, obj, tuple(texts), tuple(colors))

    def _instrument_for(self, obj: Any) -> Instrument | None:
        symbol = getattr(obj, "symbol", None)
        return self._instruments.get(symbol) if isinstance(symbol, str) else None

    def _reindex(self) -> None:
        self._index = {r.key: i for i, r in enumerate(self._rows)}

    def _remove_missing(self, keep: set[Hashable]) -> None:
        i = len(self._rows) - 1
        changed = False
        while i >= 0:
            if self._rows[i].key in keep:
                i -= 1
                continue
            end = i
            while i >= 0 and self._rows[i].key not in keep:
                i -= 1
            start = i + 1
            self.beginRemoveRows(QModelIndex(), start, end)
            del self._rows[start : end + 1]
            self.endRemoveRows()
            changed = True
        if changed:
            self._reindex()

    def _insert_new(self, rows: Sequence[Any], new_keys: list[Hashable]) -> None:
        i = 0
        changed = False
        while i < len(new_keys):
            if i < len(self._rows) and self._rows[i].key == new_keys[i]:
                i += 1
                continue
            start = i
            block: list[_Row] = []
            while i < len(new_keys) and new_keys[i] not in self._index:
                block.append(self._make_row(new_keys[i], rows[i]))
                i += 1
            if not block:  # cannot happen when survivors keep their order; stay correct anyway
                raise AssertionError("row diff out of step")
            self.beginInsertRows(QModelIndex(), start, start + len(block) - 1)
            self._rows[start:start] = block
            self.endInsertRows()
            changed = True
            # keep the index usable for the "already present" test of later keys
            for offset, r in enumerate(block):
                self._index[r.key] = start + offset
        if changed:
            self._reindex()

    def _update(self, rows: Sequence[Any], reformat: bool) -> None:
        last = len(self._columns) - 1
        for i, obj in enumerate(rows):
            current = self._rows[i]
            if not reformat and (current.obj is obj or current.obj == obj):
                continue
            fresh = self._make_row(current.key, obj)
            self._rows[i] = fresh
            changed = [
                c
                for c in range(last + 1)
                if fresh.texts[c] != current.texts[c] or fresh.colors[c] != current.colors[c]
            ]
            if changed:
                self.dataChanged.emit(self.index(i, changed[0]), self.index(i, changed[-1]))

    def _reset(self, rows: Sequence[Any], new_keys: list[Hashable]) -> None:
        self.beginResetModel()
        self._rows = [self._make_row(k, r) for k, r in zip(new_keys, rows, strict=True)]
        self._reindex()
        self.endResetModel()
        self.resets += 1

    # -------------------------------------------------------- Qt model interface

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if row >= len(self._rows) or col >= len(self._columns):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows[row].texts[col]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(self._columns[col].align.value)
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._rows[row].colors[col]
        if role == Qt.ItemDataRole.UserRole:
            return self._columns[col].getter(self._rows[row].obj)
        return None

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._columns[section].header
        if role == Qt.ItemDataRole.ToolTipRole and self._columns[section].tooltip:
            return self._columns[section].tooltip
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(self._columns[section].align.value)
        return None
