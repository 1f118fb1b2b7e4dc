"""The risk panel: edit limits, watch their use, see the trading state and who changed what.

The panel never shows a limit the engine has not acknowledged: editors follow
``snap.risk.limits`` except while the user is editing them, and an update the engine refuses
puts them back. Editors are bounded by the hard floors and ceilings of ``engine.risk.limits``, and
every change is run through the engine's own ``validate_changes`` before it is sent, so the panel
can say *why* a value is refused before anything leaves the GUI (the engine checks again).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from PySide6.QtCore import QLocale, QSignalBlocker, QSize, Qt, Signal, Slot
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.messages import (
    RISK_LIMIT_FIELDS,
    HaltResetRefused,
    ResetHalt,
    RiskLimitsChanged,
    RiskLimitsRejected,
    TradingStateChanged,
    UpdateRiskLimits,
)
from engine.risk.limits import (
    CEILINGS,
    DEFAULT_LIMITS,
    FLOORS,
    LimitError,
    RiskLimits,
    validate_changes,
)
from engine.risk.limits import LIMIT_SPECS as CATALOGUE
from engine.risk.limits import LimitSpec as CatalogueSpec
from engine.snapshot import EngineSnapshot, RiskView
from widgets import theme
from widgets.command_client import CommandClient
from widgets.table_model import LEFT, Column, SnapshotTableModel

log = logging.getLogger(__name__)

LimitValue = Decimal | int

# ---------------------------------------------------------------- look

STATE_COLORS: Mapping[str, str] = {
    "ACTIVE": "#15803d",
    "REDUCING": "#b45309",
    "HALTED": "#b91c1c",
}
UNKNOWN_STATE_COLOR = "#334155"
LEVEL_COLORS: Mapping[str, str] = {"ok": theme.BID, "warn": theme.MID, "danger": theme.ASK}
WARN_AT = 0.7  # utilisation from which a bar turns amber
DANGER_AT = 0.9  # ... and red
OK_COLOR = theme.BID
ERROR_COLOR = theme.ASK
WARNING_COLOR = theme.MID
EDITED_STYLE = f"border: 1px solid {theme.MID};"

# ---------------------------------------------------------------- what each limit is


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """How one limit is edited here: precision (0 = whole number) and step. What the limit is
    (label, unit, help, floor, ceiling) comes from the engine's catalogue, described once."""

    name: str
    label: str
    suffix: str
    decimals: int
    step: float
    tooltip: str

    @property
    def short(self) -> str:
        """Grid label under the "Limits (maximum)" title: "Max leverage" -> "Leverage"."""
        rest = self.label.removeprefix("Max ")
        return rest[:1].upper() + rest[1:]


# name -> (decimals, step): the only thing the panel adds to the engine's description.
_EDITING: Mapping[str, tuple[int, float]] = {
    "max_position_pct": (2, 1.0),
    "max_gross_exposure_pct": (2, 5.0),
    "max_leverage": (2, 0.1),
    "max_order_notional": (2, 1000.0),
    "max_daily_loss_pct": (2, 0.5),
    "max_open_orders": (0, 1),
    "max_orders_per_second": (0, 1),
    "price_band_pct": (2, 0.5),
    "stale_after_s": (1, 1.0),
}


def _editor_spec(limit: CatalogueSpec) -> LimitSpec:
    decimals, step = _EDITING[limit.name]
    if limit.type is int:
        decimals = 0
    return LimitSpec(limit.name, limit.label, " " + limit.unit.strip(), decimals, step, limit.help)


LIMIT_SPECS: tuple[LimitSpec, ...] = tuple(_editor_spec(limit) for limit in CATALOGUE)
SPECS: Mapping[str, LimitSpec] = {s.name: s for s in LIMIT_SPECS}
if tuple(SPECS) != RISK_LIMIT_FIELDS:  # a limit added to the engine must get an editor here
    raise RuntimeError("risk panel LIMIT_SPECS out of step with engine RISK_LIMIT_FIELDS")


@dataclass(frozen=True, slots=True)
class UsageSpec:
    """A utilisation row: which limit it measures against and how to print the amount."""

    label: str
    limit: str
    unit: str
    whole: bool = False


USAGE_SPECS: Mapping[str, UsageSpec] = {
    "leverage": UsageSpec("Leverage", "max_leverage", "x"),
    "gross_exposure": UsageSpec("Gross exposure", "max_gross_exposure_pct", " %"),
    "daily_loss": UsageSpec("Daily loss used", "max_daily_loss_pct", " %"),
    "orders_per_second": UsageSpec("Orders / s", "max_orders_per_second", " /s", whole=True),
    "open_orders": UsageSpec("Open orders", "max_open_orders", " orders", whole=True),
}
POSITION_PREFIX = "position:"


def usage_spec(key: str) -> UsageSpec:
    if key.startswith(POSITION_PREFIX):
        return UsageSpec(f"Position {key[len(POSITION_PREFIX) :]}", "max_position_pct", " %")
    return USAGE_SPECS.get(key, UsageSpec(key.replace("_", " ").capitalize(), "", ""))


def usage_order(key: str) -> tuple[int, str]:
    """Positions first (by symbol), then the account-wide limits in a fixed order."""
    if key.startswith(POSITION_PREFIX):
        return (0, key)
    fixed = tuple(USAGE_SPECS)
    return (1 + fixed.index(key), key) if key in fixed else (1 + len(fixed), key)


def usage_level(fraction: float) -> str:
    if fraction >= DANGER_AT:
        return "danger"
    if fraction >= WARN_AT:
        return "warn"
    return "ok"


# ---------------------------------------------------------------- validation that says why


def limits_from(mapping: Mapping[str, LimitValue]) -> RiskLimits:
    """The engine's limit mapping as ``RiskLimits`` (fields it did not send keep defaults)."""
    known = {k: v for k, v in mapping.items() if k in SPECS}
    return replace(DEFAULT_LIMITS, **known)  # type: ignore[arg-type]


def explain_input(name: str, text: str, decimals: int) -> str:
    """Why typed ``text`` cannot become limit ``name``, in the engine's words where it has them."""
    cleaned = text.strip()
    if not cleaned:
        return f"{name} needs a value"
    verdict = validate_changes(DEFAULT_LIMITS, {name: cleaned})
    if isinstance(verdict, LimitError):
        return verdict.reason
    if "." in cleaned and decimals == 0:
        return f"{name} must be a whole number, got {cleaned}"
    if "." in cleaned and len(cleaned.split(".", 1)[1]) > decimals:
        return f"{name} takes at most {decimals} decimal place{'s' if decimals != 1 else ''}"
    return f"{name} {cleaned!r} is not accepted"


def odd_changes(
    current: RiskLimits,
    changes: Mapping[str, LimitValue],
    utilisation: Mapping[str, float],
) -> list[str]:
    """Valid but suspicious edits, in words: limits that can never bind, tightenings that the
    account already breaches, big loosenings. Warnings only; the user may still apply them."""
    verdict = validate_changes(current, changes)
    if isinstance(verdict, LimitError):
        return [verdict.reason]
    new = verdict
    notes: list[str] = []
    if (
        "max_position_pct" in changes or "max_gross_exposure_pct" in changes
    ) and new.max_position_pct > new.max_gross_exposure_pct:
        notes.append(
            f"max position {new.max_position_pct} % is above the gross exposure cap of "
            f"{new.max_gross_exposure_pct} %: the position limit can never bind"
        )
    if (
        "max_gross_exposure_pct" in changes or "max_leverage" in changes
    ) and new.max_gross_exposure_pct / 100 > new.max_leverage:
        notes.append(
            f"gross exposure {new.max_gross_exposure_pct} % is more than max leverage "
            f"{new.max_leverage}x allows: leverage binds first"
        )
    for name, value in changes.items():
        old = getattr(current, name)
        spec = SPECS[name]
        if old and value > old * 2:
            notes.append(f"{spec.label} more than doubles ({old} -> {value}{spec.suffix})")
        used = _usage_after(name, old, value, utilisation)
        if used is not None and used > 1:
            notes.append(
                f"{spec.label} {value}{spec.suffix} is below what is already in use "
                f"({used:.0%} of it): risk-increasing orders will be refused"
            )
    if "stale_after_s" in changes and new.stale_after_s > 60:
        notes.append(f"orders would be accepted on a book up to {new.stale_after_s} s old")
    if "price_band_pct" in changes and new.price_band_pct > 20:
        notes.append(f"a {new.price_band_pct} % price band barely guards against fat fingers")
    return notes


def _usage_after(
    name: str, old: LimitValue, new: LimitValue, utilisation: Mapping[str, float]
) -> float | None:
    """Highest utilisation the new value would show (current use scaled by old/new limit)."""
    keys = [k for k in utilisation if usage_spec(k).limit == name]
    if not keys or not new:
        return None
    worst = max(utilisation[k] for k in keys)
    return worst * float(old) / float(new)


def plain(value: Decimal) -> Decimal:
    """Without padding zeros and without an exponent: 2.50 -> 2.5, 25000.00 -> 25000."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def fmt_limit(value: LimitValue) -> str:
    if isinstance(value, int):
        return f"{value:,d}"
    return f"{value.normalize():,f}"


# ---------------------------------------------------------------- editors


class _ExplainingSpin:
    """Shared by both spin boxes: say why a keystroke was refused instead of ignoring it."""

    refused: Any  # Signal(str, str): limit name, reason
    limit_name: str

    def _explain(self, state: QValidator.State, text: str) -> None:
        if state != QValidator.State.Invalid:
            return
        spin: Any = self
        cleaned = text.removeprefix(spin.prefix()).removesuffix(spin.suffix())
        decimals = spin.decimals() if isinstance(spin, QDoubleSpinBox) else 0
        self.refused.emit(self.limit_name, explain_input(self.limit_name, cleaned, decimals))


class DecimalLimitSpin(_ExplainingSpin, QDoubleSpinBox):
    refused = Signal(str, str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.limit_name = name

    def validate(self, text: str, pos: int) -> Any:
        result = super().validate(text, pos)
        self._explain(result[0] if isinstance(result, tuple) else result, text)
        return result

    def decimal_value(self) -> Decimal:
        # The value was typed (or set) with at most ``decimals`` places: this text is exact.
        return plain(Decimal(f"{self.value():.{self.decimals()}f}"))


class IntLimitSpin(_ExplainingSpin, QSpinBox):
    refused = Signal(str, str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.limit_name = name

    def validate(self, text: str, pos: int) -> Any:
        result = super().validate(text, pos)
        self._explain(result[0] if isinstance(result, tuple) else result, text)
        return result


LimitSpin = DecimalLimitSpin | IntLimitSpin


def _make_editor(spec: LimitSpec, parent: QWidget) -> LimitSpin:
    editor: LimitSpin
    if spec.decimals == 0:
        editor = IntLimitSpin(spec.name, parent)
        editor.setRange(int(FLOORS[spec.name]), int(CEILINGS[spec.name]))
        editor.setSingleStep(int(spec.step))
    else:
        editor = DecimalLimitSpin(spec.name, parent)
        editor.setDecimals(spec.decimals)
        editor.setRange(float(FLOORS[spec.name]), float(CEILINGS[spec.name]))
        editor.setSingleStep(spec.step)
    editor.setObjectName(f"risk_{spec.name}")
    editor.setLocale(QLocale.c())  # "." always: the text is turned into an exact Decimal
    editor.setSuffix(spec.suffix)
    editor.setAlignment(Qt.AlignmentFlag.AlignRight)
    editor.setAccelerated(True)
    editor.setMinimumWidth(116)  # its own hint fits "1000000.00 USDT": too wide for a side dock
    editor.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToPreviousValue)
    editor.setToolTip(editor_tooltip(spec))
    editor.setEnabled(False)  # until the engine has told us its limits
    return editor


def editor_tooltip(spec: LimitSpec) -> str:
    return (
        f"{spec.tooltip}\nAllowed: {fmt_limit(FLOORS[spec.name])} to "
        f"{fmt_limit(CEILINGS[spec.name])}{spec.suffix} (hard ceiling)"
    )


def editor_value(editor: LimitSpin) -> LimitValue:
    if isinstance(editor, DecimalLimitSpin):
        return editor.decimal_value()
    return int(editor.value())


# ---------------------------------------------------------------- audit table


@dataclass(frozen=True, slots=True)
class AuditRow:
    key: tuple[Any, ...]
    ts_ns: int
    actor: str
    action: str
    field: str
    old: str
    new: str
    reason: str


AUDIT_KEYS = ("ts_ns", "actor", "action", "field", "old", "new", "reason")


def fmt_utc(ts_ns: int, _instrument: object = None) -> str:
    if not ts_ns:
        return ""
    stamp = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC)
    return f"{stamp:%Y-%m-%d %H:%M:%S}.{ts_ns // 1_000_000 % 1000:03d}"


def audit_rows(audit: tuple[Mapping[str, str], ...]) -> list[AuditRow]:
    """Newest first. Identical entries are told apart by how many came before them."""
    seen: Counter[tuple[str, ...]] = Counter()
    rows: list[AuditRow] = []
    for entry in audit:
        values = tuple(str(entry.get(k, "") or "") for k in AUDIT_KEYS)
        nth = seen[values]
        seen[values] += 1
        try:
            ts_ns = int(values[0])
        except ValueError:
            ts_ns = 0
        rows.append(AuditRow((*values, nth), ts_ns, *values[1:]))
    rows.reverse()
    return rows


AUDIT_COLUMNS = (
    Column("Time (UTC)", lambda r: r.ts_ns, fmt_utc, LEFT),
    Column("Actor", lambda r: r.actor, align=LEFT),
    Column("Action", lambda r: r.action, align=LEFT),
    Column("Field", lambda r: r.field, align=LEFT),
    Column("Old", lambda r: r.old),
    Column("New", lambda r: r.new),
    Column("Reason", lambda r: r.reason, align=LEFT),
)


# ---------------------------------------------------------------- the panel


class _UsageRow:
    def __init__(self, key: str, parent: QWidget) -> None:
        spec = usage_spec(key)
        self.spec = spec
        self.label = QLabel(spec.label, parent)
        self.bar = QProgressBar(parent)
        self.bar.setObjectName(f"usage_{key}")
        self.bar.setRange(0, 1000)
        self.bar.setMinimumWidth(60)
        self.bar.setTextVisible(True)
        self.bar.setProperty("level", "")
        self.detail = ""  # amount used / limit, as a tooltip: the dock is narrow
        self.fraction: float | None = None
        self._limit_shown: LimitValue | None = None

    def widgets(self) -> tuple[QWidget, ...]:
        return (self.label, self.bar)

    def show_value(self, fraction: float, limit: LimitValue | None) -> None:
        if fraction == self.fraction and limit == self._limit_shown:
            return
        self.fraction = fraction
        self._limit_shown = limit
        finite = math.isfinite(fraction)  # inf: exposure with no equity left
        shown = max(0.0, fraction) if finite else 1.0
        self.bar.setValue(min(1000, round(shown * 1000)))
        self.bar.setFormat(f"{shown:.0%}" if finite else "n/a" if math.isnan(fraction) else "∞")
        level = usage_level(shown if finite else float("inf"))
        if self.bar.property("level") != level:
            self.bar.setProperty("level", level)
            self.bar.setStyleSheet(
                f"QProgressBar::chunk {{ background-color: {LEVEL_COLORS[level]}; }}"
            )
        if limit is None:
            self.detail = ""
        else:
            used = shown * float(limit) if finite else float("inf")
            used_text = "∞" if not finite else f"{used:.0f}" if self.spec.whole else f"{used:,.2f}"
            self.detail = f"{used_text} / {fmt_limit(limit)}{self.spec.unit}"
        tip = f"{self.spec.label}: {self.detail} used" if self.detail else self.spec.label
        self.label.setToolTip(tip)
        self.bar.setToolTip(tip)


class RiskPanel(QWidget):
    """Limits, utilisation, trading state and audit; commands go through ``client`` only."""

    # Emitted with each engine answer to a command this panel sent (event or exception).
    answered = Signal(object)

    def __init__(self, client: CommandClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self._risk: RiskView | None = None
        self._acked: dict[str, LimitValue] | None = None  # what the engine says the limits are
        self._edited: set[str] = set()  # editors the user has changed since the last ack
        # limit -> why a keystroke was refused. It sticks for the rest of that edit (typing "1.5"
        # into a count gives 15, "600" past a 500 ceiling gives 60: not what was meant) and is
        # dropped by the next edit after the editor was left, or by Revert.
        self._refusals: dict[str, str] = {}
        self._finished: set[str] = set()  # refused editors whose edit session has ended
        self._pending = False
        self._utilisation: Mapping[str, float] = {}
        self._audit: tuple[Mapping[str, str], ...] | None = None
        self._currency = "USDT"
        self.state = ""
        self.reason = ""
        self.reset_dialog: QMessageBox | None = None

        # -- trading state banner and reset
        self.banner = QLabel("Waiting for the engine…", self)
        self.banner.setObjectName("riskBanner")
        self.banner.setWordWrap(True)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reset_button = QPushButton("Reset halt…", self)
        self.reset_button.setObjectName("risk_reset_halt")
        self.reset_button.setToolTip("Lift the HALTED state and resume trading (asks first)")
        self.reset_button.setEnabled(False)
        self._paint_banner()

        # -- limit editors
        self.editors: dict[str, LimitSpin] = {}
        limits_box = QGroupBox("Limits (maximum)", self)
        grid = QGridLayout(limits_box)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(3)
        for row, spec in enumerate(LIMIT_SPECS):
            label = QLabel(spec.short, limits_box)
            label.setToolTip(f"{spec.label}: {spec.tooltip}")
            editor = _make_editor(spec, limits_box)
            label.setBuddy(editor)
            grid.addWidget(label, row, 0)
            grid.addWidget(editor, row, 1)
            self.editors[spec.name] = editor
            editor.valueChanged.connect(lambda _v, n=spec.name: self._on_edited(n))
            editor.editingFinished.connect(lambda n=spec.name: self._on_editing_finished(n))
            editor.refused.connect(self._on_refused)
        self.apply_button = QPushButton("Apply", limits_box)
        self.apply_button.setObjectName("risk_apply")
        self.apply_button.setToolTip("Send the changed limits to the engine (one update)")
        self.revert_button = QPushButton("Revert", limits_box)
        self.revert_button.setObjectName("risk_revert")
        self.revert_button.setToolTip("Forget the edits; show the engine's limits again")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.apply_button)
        grid.addLayout(buttons, len(LIMIT_SPECS), 0, 1, 2)
        self.check_label = QLabel("", limits_box)
        self.check_label.setObjectName("risk_check")
        self.check_label.setWordWrap(True)
        self.result_label = QLabel("", limits_box)
        self.result_label.setObjectName("risk_result")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.check_label.hide()
        self.result_label.hide()
        grid.addWidget(self.check_label, len(LIMIT_SPECS) + 1, 0, 1, 2)
        grid.addWidget(self.result_label, len(LIMIT_SPECS) + 2, 0, 1, 2)

        # -- utilisation
        self.usage: dict[str, _UsageRow] = {}
        self._usage_box = QGroupBox("Utilisation", self)
        self._usage_grid = QGridLayout(self._usage_box)
        self._usage_grid.setContentsMargins(6, 6, 6, 6)
        self._usage_grid.setColumnStretch(1, 1)
        self._usage_grid.setVerticalSpacing(3)
        self._usage_empty = QLabel("No utilisation reported yet", self._usage_box)
        self._usage_empty.setProperty("role", "muted")
        self._usage_grid.addWidget(self._usage_empty, 0, 0, 1, 2)

        # -- audit log
        self.audit_model = SnapshotTableModel(AUDIT_COLUMNS, key=lambda r: r.key, parent=self)
        self.audit_view = QTableView(self)
        self.audit_view.setObjectName("risk_audit")
        self.audit_view.setModel(self.audit_model)
        self.audit_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.audit_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.audit_view.verticalHeader().hide()
        self.audit_view.setWordWrap(False)
        self.audit_view.horizontalHeader().setStretchLastSection(True)
        self.audit_view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        audit_box = QGroupBox("Limit changes (audit)", self)
        audit_layout = QVBoxLayout(audit_box)
        audit_layout.setContentsMargins(4, 4, 4, 4)
        audit_layout.addWidget(self.audit_view)

        # -- layout: banner on top, limits and bars scroll, audit below a splitter
        top = QHBoxLayout()
        top.addWidget(self.banner, 1)
        top.addWidget(self.reset_button)
        body = QWidget(self)
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.addWidget(self._usage_box)  # live numbers first, what traders watch
        body_layout.addWidget(limits_box)
        body_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(scroll)
        splitter.addWidget(audit_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

        # Preferred width: label, editor and engine value side by side. Only a hint (small
        # screens may squeeze the dock; the body then scrolls sideways instead of clipping).
        self._preferred_width = max(360, body.minimumSizeHint().width() + 48)  # + scroll bar

        self.apply_button.clicked.connect(self.apply)
        self.revert_button.clicked.connect(self.revert)
        self.reset_button.clicked.connect(self.ask_reset_halt)
        self._update_buttons()

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self._preferred_width, hint.height())

    # -------------------------------------------------------- snapshots

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        risk = snap.risk
        if risk is self._risk:
            return
        self._risk = risk
        if snap.account.currency != self._currency:
            self._set_currency(snap.account.currency)
        if (str(risk.state), str(risk.reason)) != (self.state, self.reason):
            self.state, self.reason = str(risk.state), str(risk.reason)
            self._paint_banner()
        limits = {k: v for k, v in risk.limits.items() if k in SPECS}
        if limits and limits != self._acked:
            self._set_acked(limits)
        if risk.utilisation != self._utilisation:
            self._utilisation = risk.utilisation
            self._show_usage()
        if risk.audit is not self._audit:
            self._audit = risk.audit
            self.audit_model.set_rows(audit_rows(risk.audit))

    def _set_currency(self, currency: str) -> None:
        self._currency = currency
        self.editors["max_order_notional"].setSuffix(f" {currency}")

    # -------------------------------------------------------- banner and halt reset

    def _paint_banner(self) -> None:
        state = self.state
        color = STATE_COLORS.get(state, UNKNOWN_STATE_COLOR)
        if state:
            text = f"{state} — {self.reason}" if self.reason else state
        else:
            text = "Waiting for the engine…"
        self.banner.setText(text)
        self.banner.setProperty("state", state)
        self.banner.setStyleSheet(
            f"QLabel#riskBanner {{ background-color: {color}; color: #ffffff; "
            "font-weight: 700; padding: 6px 10px; border-radius: 4px; }"
        )
        self.reset_button.setEnabled(state == "HALTED")
        self.reset_button.setToolTip(
            "Lift the HALTED state and resume trading (asks first)"
            if state == "HALTED"
            else "Only a HALTED engine can be reset"
        )

    @Slot()
    def ask_reset_halt(self) -> None:
        """Ask before lifting a halt; the default (Enter) answer is Cancel."""
        if self.state != "HALTED":
            return
        if self.reset_dialog is not None and self.reset_dialog.isVisible():
            self.reset_dialog.raise_()
            return
        box = QMessageBox(self)
        box.setObjectName("risk_reset_dialog")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Reset halt")
        box.setText("Lift the halt and resume trading?")
        box.setInformativeText(
            f"Trading was halted: {self.reason or 'no reason given'}.\n"
            "After the reset the engine is ACTIVE again and accepts new risk within the limits."
        )
        confirm = box.addButton("Reset halt", QMessageBox.ButtonRole.AcceptRole)
        confirm.setAutoDefault(False)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.finished.connect(lambda _code, b=box, c=confirm: self._on_reset_dialog_done(b, c))
        self.reset_dialog = box
        box.open()

    def _on_reset_dialog_done(self, box: QMessageBox, confirm: QPushButton) -> None:
        confirmed = box.clickedButton() is confirm
        box.deleteLater()
        if self.reset_dialog is box:
            self.reset_dialog = None
        if confirmed:
            log.warning("halt reset confirmed by the user (was: %s)", self.reason)
            self._say(self.result_label, "Asking the engine to lift the halt…", theme.MUTED)
            self._client.send(ResetHalt(confirm=True), on_done=self._on_reset_answer)

    def _on_reset_answer(self, result: object) -> None:
        if isinstance(result, TradingStateChanged):
            self._say(self.result_label, f"Halt lifted: now {result.state}", OK_COLOR)
        elif isinstance(result, HaltResetRefused):
            self._say(self.result_label, f"Reset refused: {result.reason}", ERROR_COLOR)
        else:
            self._say(self.result_label, f"Reset failed: {result}", ERROR_COLOR)
        self.answered.emit(result)

    # -------------------------------------------------------- editing

    def _set_acked(self, limits: Mapping[str, LimitValue]) -> None:
        self._acked = dict(limits)
        for name, value in self._acked.items():
            spec = SPECS[name]
            self.editors[name].setToolTip(
                f"{editor_tooltip(spec)}\nEnforced by the engine now: {fmt_limit(value)}"
                f"{spec.suffix}"
            )
            if name not in self._edited:
                self._show_value(name, value)
        for editor in self.editors.values():
            editor.setEnabled(True)
        self._show_usage()  # bars print amounts against the limits
        self._recheck()

    def _show_value(self, name: str, value: LimitValue) -> None:
        editor = self.editors[name]
        with QSignalBlocker(editor):
            if isinstance(editor, DecimalLimitSpin):
                places = theme.decimals_of(Decimal(value)) if value else 0
                editor.setDecimals(max(SPECS[name].decimals, min(places, 6)))
                editor.setValue(float(value))
            else:
                editor.setValue(int(value))
        editor.setStyleSheet("")
        editor.setProperty("edited", False)

    def _on_edited(self, name: str) -> None:
        if name in self._finished:
            self._finished.discard(name)
            self._refusals.pop(name, None)
        if self._acked is None:
            return
        self._edited.add(name)
        editor = self.editors[name]
        differs = editor_value(editor) != self._acked.get(name)
        editor.setProperty("edited", differs)
        editor.setStyleSheet(EDITED_STYLE if differs else "")
        self._recheck()

    @Slot(str, str)
    def _on_refused(self, name: str, reason: str) -> None:
        self._refusals[name] = reason
        self._finished.discard(name)
        self._recheck()

    def _on_editing_finished(self, name: str) -> None:
        if name in self._refusals:
            self._finished.add(name)

    def changes(self) -> dict[str, LimitValue]:
        """Edited fields whose value differs from the engine's (what Apply would send)."""
        if self._acked is None:
            return {}
        out: dict[str, LimitValue] = {}
        for name in RISK_LIMIT_FIELDS:
            if name in self._edited:
                value = editor_value(self.editors[name])
                if value != self._acked.get(name):
                    out[name] = value
        return out

    def _recheck(self) -> None:
        """Say what is wrong or odd about the edits (red blocks Apply, amber only warns)."""
        if self._refusals:
            name, reason = next(reversed(self._refusals.items()))
            self._say(self.check_label, f"{SPECS[name].label}: {reason}", ERROR_COLOR)
        elif self._acked is not None and (changes := self.changes()):
            # The editors show the edits; this line shows what the engine enforces meanwhile.
            pending = "; ".join(
                f"{SPECS[k].short} {fmt_limit(self._acked[k])} → {fmt_limit(v)}{SPECS[k].suffix}"
                for k, v in changes.items()
            )
            notes = odd_changes(limits_from(self._acked), changes, self._utilisation)
            if notes:
                text = f"To apply: {pending}\nCheck: " + "; ".join(notes)
                self._say(self.check_label, text, WARNING_COLOR)
            else:
                self._say(self.check_label, f"To apply: {pending}", theme.MUTED)
        else:
            self._say(self.check_label, "", theme.MUTED)
        self._update_buttons()

    def _update_buttons(self) -> None:
        changed = bool(self.changes())
        # A refused keystroke leaves the editor on a value the user did not mean: fix it first.
        self.apply_button.setEnabled(changed and not self._pending and not self._refusals)
        self.revert_button.setEnabled(bool(self._edited or self._refusals) and not self._pending)
        for editor in self.editors.values():
            editor.setReadOnly(self._pending)

    @Slot()
    def apply(self) -> bool:
        """Send ONE ``UpdateRiskLimits`` with only the changed fields; False if nothing was sent."""
        if self._pending or self._acked is None:
            return False
        if self._refusals:
            self._recheck()
            return False
        changes = self.changes()
        if not changes:
            self._say(self.check_label, "Nothing changed", theme.MUTED)
            return False
        verdict = validate_changes(limits_from(self._acked), changes)
        if isinstance(verdict, LimitError):
            label = SPECS[verdict.field].label if verdict.field in SPECS else verdict.field
            self._say(self.check_label, f"{label}: {verdict.reason}", ERROR_COLOR)
            return False
        self._pending = True
        self._update_buttons()
        self._say(self.result_label, "Sending to the engine…", theme.MUTED)
        log.info("risk limit update sent: %s", ", ".join(f"{k}={v}" for k, v in changes.items()))
        command = UpdateRiskLimits(**cast(dict[str, Any], changes))
        self._client.send(command, on_done=self._on_limits_answer)
        return True

    @Slot()
    def revert(self) -> None:
        """Drop every edit; show the engine's values again."""
        self._edited.clear()
        self._refusals.clear()
        self._finished.clear()
        if self._acked is not None:
            for name, value in self._acked.items():
                self._show_value(name, value)
        self._recheck()

    def _on_limits_answer(self, result: object) -> None:
        self._pending = False
        if isinstance(result, RiskLimitsChanged):
            new = {k: v for k, v in result.new.items() if k in SPECS}
            changed = [
                f"{SPECS[k].label} {fmt_limit(result.old[k])} → {fmt_limit(v)}"
                for k, v in new.items()
                if k in result.old and result.old[k] != v
            ]
            self._edited.clear()
            self._set_acked(new)
            self.revert()
            self._say(
                self.result_label,
                "Applied: " + ("; ".join(changed) if changed else "no change"),
                OK_COLOR,
            )
        else:
            if isinstance(result, RiskLimitsRejected):
                text = f"Refused by the engine: {result.reason}"
            else:
                text = f"Not applied: {result}"
            self.revert()
            self._say(self.result_label, text, ERROR_COLOR)
        self.answered.emit(result)

    # -------------------------------------------------------- utilisation

    def _show_usage(self) -> None:
        wanted = sorted(self._utilisation, key=usage_order)
        if list(self.usage) != wanted:
            self._rebuild_usage_rows(wanted)
        for key, row in self.usage.items():
            limit_name = row.spec.limit
            limit = self._acked.get(limit_name) if self._acked and limit_name else None
            row.show_value(float(self._utilisation[key]), limit)

    def _rebuild_usage_rows(self, keys: list[str]) -> None:
        for key in list(self.usage):
            if key not in keys:
                for widget in self.usage.pop(key).widgets():
                    self._usage_grid.removeWidget(widget)
                    widget.deleteLater()
        rows = {k: self.usage.get(k) or _UsageRow(k, self._usage_box) for k in keys}
        self.usage = rows
        self._usage_empty.setVisible(not rows)
        for i, row in enumerate(rows.values()):
            for col, widget in enumerate(row.widgets()):
                self._usage_grid.addWidget(widget, i + 1, col)

    # -------------------------------------------------------- helpers

    @staticmethod
    def _say(label: QLabel, text: str, color: str) -> None:
        label.setVisible(bool(text))  # an empty wrapped label still takes a line
        label.setText(text)
        label.setStyleSheet(f"color: {color};")
        label.setProperty("color", color)

    @property
    def bars(self) -> dict[str, QProgressBar]:
        return {k: r.bar for k, r in self.usage.items()}

    @property
    def acknowledged(self) -> Mapping[str, LimitValue]:
        return dict(self._acked or {})

    @property
    def pending(self) -> bool:
        return self._pending
