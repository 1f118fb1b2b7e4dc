"""Positions, PnL and equity, exact.

Cash moves by each fill's exact notional and fee. A position keeps a signed ``cost_basis``; when it
is reduced, the released share of the basis is rounded onto the money quantum and the remainder
stays in the basis, so ``equity == initial_cash + realised + unrealised - fees`` holds to the last
digit, whatever the sequence of fills.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from engine.model.fill import Fill
from engine.model.money import ZERO, money
from engine.model.orders import OrderSide
from engine.snapshot import AccountView, PositionView


@dataclass(slots=True)
class Position:
    """Signed quantity (long > 0, short < 0) and the signed cash paid to build it."""

    symbol: str
    qty: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def avg_price(self) -> Decimal | None:
        if not self.qty:
            return None
        return (self.cost_basis / self.qty).quantize(Decimal("1e-8"))

    def unrealised(self, mark: Decimal | None) -> Decimal:
        if mark is None or not self.qty:
            return ZERO
        return self.qty * mark - self.cost_basis

    def apply(self, side: OrderSide, qty: Decimal, notional: Decimal, fee: Decimal) -> Decimal:
        """Apply a fill; returns the realised PnL it produced (before fees)."""
        signed = qty * side.sign
        self.fees += fee
        if not self.qty or (self.qty > 0) == (signed > 0):
            self.qty += signed
            self.cost_basis += notional * side.sign
            return ZERO
        closing = min(abs(signed), abs(self.qty))
        close_notional = notional if closing == qty else money(notional * closing / qty)
        released = (
            self.cost_basis
            if closing == abs(self.qty)
            else money(self.cost_basis * closing / abs(self.qty))
        )
        # Closing a long sells (receives close_notional); closing a short buys (pays it).
        realised = (close_notional - released) if self.qty > 0 else (-close_notional - released)
        self.cost_basis -= released
        self.qty += closing * side.sign
        self.realised_pnl += realised
        opening = qty - closing
        if opening:
            self.qty += opening * side.sign
            self.cost_basis += (notional - close_notional) * side.sign
        if not self.qty:
            self.cost_basis = ZERO
        return realised

    def view(self, mark: Decimal | None) -> PositionView:
        return PositionView(
            symbol=self.symbol,
            qty=self.qty,
            avg_price=self.avg_price,
            cost_basis=self.cost_basis,
            mark=mark,
            unrealised_pnl=self.unrealised(mark),
            realised_pnl=self.realised_pnl,
            fees=self.fees,
        )


@dataclass(slots=True)
class Portfolio:
    """The paper account: cash in the quote currency plus positions marked to mid."""

    initial_cash: Decimal
    currency: str = "USDT"
    cash: Decimal = ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    start_of_day_equity: Decimal = ZERO

    @classmethod
    def new(
        cls, initial_cash: Decimal, symbols: Iterable[str], currency: str = "USDT"
    ) -> Portfolio:
        p = cls(initial_cash=initial_cash, currency=currency, cash=initial_cash)
        for s in symbols:
            p.positions[s] = Position(s)
        p.start_of_day_equity = initial_cash
        return p

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos

    def apply_fill(self, fill: Fill) -> Decimal:
        """Move cash and the position; returns realised PnL of this fill (before fees)."""
        self.cash -= fill.notional * fill.side.sign
        self.cash -= fill.fee
        return self.position(fill.symbol).apply(fill.side, fill.qty, fill.notional, fill.fee)

    def realised_pnl(self) -> Decimal:
        return sum((p.realised_pnl for p in self.positions.values()), ZERO)

    def fees(self) -> Decimal:
        return sum((p.fees for p in self.positions.values()), ZERO)

    def unrealised_pnl(self, marks: Mapping[str, Decimal | None]) -> Decimal:
        return sum((p.unrealised(marks.get(s)) for s, p in self.positions.items()), ZERO)

    def _value(self, pos: Position, marks: Mapping[str, Decimal | None]) -> Decimal:
        mark = marks.get(pos.symbol)
        return pos.qty * mark if mark is not None else pos.cost_basis

    def equity(self, marks: Mapping[str, Decimal | None]) -> Decimal:
        return self.cash + sum((self._value(p, marks) for p in self.positions.values()), ZERO)

    def gross_exposure(self, marks: Mapping[str, Decimal | None]) -> Decimal:
        return sum((abs(self._value(p, marks)) for p in self.positions.values()), ZERO)

    def net_exposure(self, marks: Mapping[str, Decimal | None]) -> Decimal:
        return sum((self._value(p, marks) for p in self.positions.values()), ZERO)

    def account_view(self, marks: Mapping[str, Decimal | None]) -> AccountView:
        return AccountView(
            currency=self.currency,
            initial_cash=self.initial_cash,
            cash=self.cash,
            equity=self.equity(marks),
            realised_pnl=self.realised_pnl(),
            unrealised_pnl=self.unrealised_pnl(marks),
            fees=self.fees(),
            gross_exposure=self.gross_exposure(marks),
            net_exposure=self.net_exposure(marks),
            start_of_day_equity=self.start_of_day_equity,
        )
