"""Account summary in big, readable numbers: what the account is worth and how exposed it is."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from engine.snapshot import AccountView, EngineSnapshot
from widgets.table_model import fmt_decimal, fmt_money, fmt_signed_money, money_color

# (key, caption, signed/coloured)
FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("cash", "Cash", False),
    ("equity", "Equity", False),
    ("pnl_today", "PnL today", True),
    ("realised", "Realised", True),
    ("unrealised", "Unrealised", True),
    ("fees", "Fees", False),
    ("gross", "Gross exposure", False),
    ("net", "Net exposure", False),
    ("leverage", "Leverage", False),
)


def account_values(acct: AccountView) -> dict[str, Decimal]:
    return {
        "cash": acct.cash,
        "equity": acct.equity,
        "pnl_today": acct.pnl_today,
        "realised": acct.realised_pnl,
        "unrealised": acct.unrealised_pnl,
        "fees": acct.fees,
        "gross": acct.gross_exposure,
        "net": acct.net_exposure,
        "leverage": acct.leverage,
    }


class AccountPanel(QWidget):
    """Grid of caption/value pairs; ``values[key]`` is the QLabel for one figure."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(2)
        value_font = QFont(self.font())
        value_font.setPointSizeF(max(value_font.pointSizeF(), 9.0) * 1.6)
        value_font.setBold(True)
        self.values: dict[str, QLabel] = {}
        self._currency = ""
        for i, (key, caption, _signed) in enumerate(FIELDS):
            row, col = divmod(i, 3)
            cap = QLabel(caption, self)
            cap.setStyleSheet("color: #9e9e9e;")
            value = QLabel("–", self)
            value.setObjectName(f"account_{key}")
            value.setFont(value_font)
            value.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            grid.addWidget(cap, row * 2, col)
            grid.addWidget(value, row * 2 + 1, col)
            self.values[key] = value
        grid.setRowStretch(len(FIELDS) // 3 * 2 + 1, 1)
        self._last: AccountView | None = None

    @Slot(object)
    def apply_snapshot(self, snap: EngineSnapshot) -> None:
        acct = snap.account
        if acct is self._last:
            return
        self._last = acct
        figures = account_values(acct)
        for key, _caption, signed in FIELDS:
            value = figures[key]
            label = self.values[key]
            if key == "leverage":
                label.setText(fmt_decimal(value, 2) + "×")
                label.setToolTip("gross exposure / equity")
                continue
            text = fmt_signed_money(value) if signed else fmt_money(value)
            label.setText(f"{text} {acct.currency}".strip())
            if signed:
                color = money_color(value)
                label.setStyleSheet(f"color: {color.name()};" if color is not None else "")
