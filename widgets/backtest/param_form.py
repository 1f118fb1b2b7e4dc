"""A form built from a strategy's declared parameters (``Strategy.schema()``).

Each declared type gets its editor: ``int`` a ``QSpinBox`` and ``float`` a ``QDoubleSpinBox``
bounded by the declared range, ``decimal`` and ``str`` a ``QLineEdit`` (exact text: a Decimal
never passes through a float), ``bool`` a ``QCheckBox``, ``choice`` a ``QComboBox``. The
tooltip says what the parameter does, its range and default. Values leave the form as text,
the way the CLI passes them, and the strategy's own ``Param.parse`` is the one judge of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from engine.strategy import Param, ParamError

INT_LIMIT = 2_147_483_647  # QSpinBox is a C int
FLOAT_LIMIT = 1e12
MAX_FLOAT_DECIMALS = 6
INVALID_STYLE = "border: 1px solid #ef5350;"

Schema = Sequence[Mapping[str, Any]]


def float_decimals(spec: Mapping[str, Any]) -> int:
    """Places a float editor shows: enough for the default and the bounds, at least 2."""
    places = 2
    for key in ("default", "min", "max"):
        value = spec.get(key)
        if value is None:
            continue
        try:
            exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
        except (InvalidOperation, ValueError, TypeError):
            continue
        if isinstance(exponent, int):
            places = max(places, -exponent)
    return min(places, MAX_FLOAT_DECIMALS)


def tooltip(spec: Mapping[str, Any]) -> str:
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None and hi is not None:
        bounds = f"{lo} to {hi}"
    elif lo is not None:
        bounds = f"at least {lo}"
    elif hi is not None:
        bounds = f"at most {hi}"
    else:
        bounds = ""
    parts = [str(spec.get("help") or spec["name"])]
    if spec.get("choices"):
        parts.append("one of " + ", ".join(str(c) for c in spec["choices"]))
    if bounds:
        parts.append(f"range {bounds}")
    parts.append(f"default {spec.get('default')}")
    return "; ".join(parts)


class ParamForm(QWidget):
    """Editors for one strategy's parameters; ``values()`` gives ``{name: text}``."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.schema: list[dict[str, Any]] = []
        self.editors: dict[str, QWidget] = {}
        self._params: dict[str, Param] = {}

    # ------------------------------------------------------------ building

    def set_schema(self, schema: Schema, params: Sequence[Param] = ()) -> None:
        """Rebuild for ``schema`` (``Strategy.schema()``); ``params`` (the ``Param`` objects)
        let each field be checked as it is typed."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self.schema = [dict(s) for s in schema]
        self._params = {p.name: p for p in params}
        self.editors = {}
        if not self.schema:
            self._layout.addRow(QLabel("no parameters"))
        for spec in self.schema:
            editor = self._editor(spec)
            editor.setObjectName(f"param_{spec['name']}")
            editor.setToolTip(tooltip(spec))
            label = QLabel(str(spec["name"]))
            label.setToolTip(editor.toolTip())
            self.editors[str(spec["name"])] = editor
            self._layout.addRow(label, editor)

    def _editor(self, spec: Mapping[str, Any]) -> QWidget:
        kind = spec["type"]
        default: Any = spec.get("default")
        lo, hi = spec.get("min"), spec.get("max")
        if kind == "choice":
            combo = QComboBox()
            combo.addItems([str(c) for c in spec.get("choices") or ()])
            combo.setCurrentText(str(default))
            combo.currentTextChanged.connect(self._on_changed)
            return combo
        if kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(default))
            box.toggled.connect(self._on_changed)
            return box
        if kind == "int":
            spin = QSpinBox()
            spin.setRange(
                int(lo) if lo is not None else -INT_LIMIT, int(hi) if hi is not None else INT_LIMIT
            )
            spin.setValue(int(default))
            spin.setAccelerated(True)
            spin.valueChanged.connect(self._on_changed)
            return spin
        if kind == "float":
            dspin = QDoubleSpinBox()
            dspin.setDecimals(float_decimals(spec))
            dspin.setRange(
                float(lo) if lo is not None else -FLOAT_LIMIT,
                float(hi) if hi is not None else FLOAT_LIMIT,
            )
            dspin.setSingleStep(0.1)
            dspin.setValue(float(default))
            dspin.setAccelerated(True)
            dspin.valueChanged.connect(self._on_changed)
            return dspin
        edit = QLineEdit(str(default) if default is not None else "")
        edit.setPlaceholderText(str(default) if default is not None else "")
        edit.textChanged.connect(self._on_changed)
        return edit

    # ------------------------------------------------------------ values

    def values(self) -> dict[str, str]:
        """Every parameter as text (what ``make_strategy`` / the CLI ``--param`` take)."""
        return {name: self.text_of(name) for name in self.editors}

    def text_of(self, name: str) -> str:
        editor = self.editors[name]
        if isinstance(editor, QCheckBox):
            return "true" if editor.isChecked() else "false"
        if isinstance(editor, QSpinBox):
            return str(editor.value())
        if isinstance(editor, QDoubleSpinBox):
            # What the box shows, not the binary float behind it (0.1 stays "0.1").
            return str(Decimal(f"{editor.value():.{editor.decimals()}f}").normalize())
        if isinstance(editor, QComboBox):
            return editor.currentText()
        assert isinstance(editor, QLineEdit)
        return editor.text().strip()

    def set_values(self, values: Mapping[str, object]) -> None:
        """Put values (text or numbers) back into the editors; unknown names are ignored."""
        for name, value in values.items():
            editor = self.editors.get(name)
            if editor is None:
                continue
            if isinstance(editor, QCheckBox):
                editor.setChecked(str(value).strip().lower() in ("1", "true", "yes", "on"))
            elif isinstance(editor, QSpinBox):
                editor.setValue(int(Decimal(str(value))))
            elif isinstance(editor, QDoubleSpinBox):
                editor.setValue(float(str(value)))
            elif isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            elif isinstance(editor, QLineEdit):
                editor.setText(str(value))

    def reset_defaults(self) -> None:
        self.set_values({str(s["name"]): s["default"] for s in self.schema})

    def field_errors(self) -> dict[str, str]:
        """Fields whose text the strategy's ``Param`` refuses, with its reason."""
        errors: dict[str, str] = {}
        for name, param in self._params.items():
            if name not in self.editors:
                continue
            try:
                param.parse(self.text_of(name))
            except ParamError as exc:
                errors[name] = str(exc)
        return errors

    def _on_changed(self, *_args: object) -> None:
        errors = self.field_errors()
        for name, editor in self.editors.items():
            if isinstance(editor, QLineEdit):
                editor.setStyleSheet(INVALID_STYLE if name in errors else "")
        self.changed.emit()
