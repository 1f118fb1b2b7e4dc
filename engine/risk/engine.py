"""The risk engine: one synchronous gate every order passes before any venue sees it.

Manual tickets, ladder clicks, strategies and the backtester all call ``check_order`` with a
``RiskContext`` the runtime builds from live state; the engine keeps only what the context cannot
give it: the limits, the trading state, the orders/s window and the trading day's PnL baseline.

Which checks apply to which order
---------------------------------
An order is *reducing* when it strictly shrinks |position| without flipping it, even if every open
order on its side fills as well. Reducing orders pass in every state and when the account is over
any exposure limit (a trader must always be able to close), subject only to:

* the orders/s throttle: it guards the venue's rate limit and runaway strategy loops, and a loop
  of closing orders is still a loop (a panic close is the runtime's job and should not need 10
  orders in one second per symbol);
* the price band, when a mid is known: a mistyped limit price on a close is still a mistake.

Risk-increasing orders need the ACTIVE state, fresh market data, positive equity, the day's loss
under its limit, a free open-order slot, a limit price inside the band and an order notional
under its limit; then, assuming this order and every open order on its side fill at mid, the
symbol's position, the gross exposure and the leverage must stay within their limits (open orders
on other symbols count on whichever side is worse). The notional of a limit order is priced at
its limit price, a market order at mid; a buy limit above mid (sell below) is assumed to fill at
its limit, so equity is reduced by that adverse gap before the exposure checks. Fees are not
known here and are not counted.

Trading day
-----------
The day starts at ``day_start_hour`` UTC (0 = midnight). At the first ``on_equity`` of a new day
the baseline rolls to the equity seen then. The engine never lifts a halt by itself, not even a
daily-loss halt at rollover: that is policy for the caller (after the roll the day's loss is 0, so
``reset_halt(confirm=True)`` succeeds). Until the engine has a day of its own, the context's
``start_of_day_equity`` is used.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Final

from engine.model.instrument import Instrument
from engine.model.money import describe
from engine.model.orders import Order, OrderSide, OrderType, OrderView
from engine.risk import checks
from engine.risk.checks import NS_PER_S, ZERO, Denial
from engine.risk.limits import DEFAULT_LIMITS, LimitError, RiskLimits, validate_changes
from engine.risk.state import TradingState, TradingStateChange, can_transition

NS_PER_HOUR: Final = 3600 * NS_PER_S
NS_PER_DAY: Final = 24 * NS_PER_HOUR
_EPOCH: Final = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What a check needs from live state; built by the runtime, never mutated."""

    equity: Decimal
    start_of_day_equity: Decimal
    positions: Mapping[str, Decimal]  # signed base quantity per symbol
    marks: Mapping[str, Decimal | None]  # mid per symbol, None when a side of the book is empty
    open_orders: Sequence[OrderView]
    last_book_ns: Mapping[str, int]  # time of the last book update per symbol
    now_ns: int
    instruments: Mapping[str, Instrument]


@dataclass(frozen=True, slots=True)
class DayRoll:
    """The trading day changed (or was first seen): the runtime persists both values."""

    previous_day: str | None
    day: str
    start_of_day_equity: Decimal


class RiskEngine:
    """Limits, trading state and the pre-trade gate. Engine thread only; not thread-safe."""

    def __init__(
        self,
        limits: RiskLimits = DEFAULT_LIMITS,
        state: TradingState = TradingState.ACTIVE,
        reason: str = "",
        *,
        day_start_hour: int = 0,
        trading_day: str | None = None,
        start_of_day_equity: Decimal | None = None,
    ) -> None:
        if not 0 <= day_start_hour < 24:
            raise ValueError(f"day_start_hour must be 0..23, got {day_start_hour}")
        self._state = state
        self._reason = reason
        self._day_start_hour = day_start_hour
        self._sent: deque[int] = deque()
        self._last_loss_pct: Decimal | None = None
        self._set_limits(limits)
        self._day: str | None = None
        self._day_start_ns = 0
        self._day_end_ns = 0
        self._sod: Decimal | None = start_of_day_equity
        self.current_day = trading_day

    @classmethod
    def restore(
        cls,
        limits_dict: Mapping[str, str],
        state: str,
        reason: str,
        *,
        trading_day: str | None = None,
        start_of_day_equity: str | Decimal | None = None,
        day_start_hour: int = 0,
    ) -> RiskEngine:
        """Rebuild from persisted text (see ``persistent_state``). An unreadable state restores
        as HALTED: after a restart, unknown means stop. Invalid limits raise ``ValueError``."""
        limits = RiskLimits.from_strings(limits_dict)
        parsed = TradingState.parse(state)
        if parsed is None:
            parsed, reason = TradingState.HALTED, f"unknown stored trading state {state!r}"
        sod: Decimal | None = None
        if start_of_day_equity is not None:
            try:
                sod = Decimal(start_of_day_equity) if start_of_day_equity != "" else None
            except InvalidOperation:
                sod = None
            if sod is not None and not sod.is_finite():
                sod = None
        return cls(
            limits,
            parsed,
            reason,
            day_start_hour=day_start_hour,
            trading_day=trading_day if trading_day and _is_date(trading_day) else None,
            start_of_day_equity=sod,
        )

    def persistent_state(self) -> dict[str, str]:
        """What the runtime stores so ``restore(...)`` gives the same engine back."""
        return {
            "state": self._state.value,
            "reason": self._reason,
            "trading_day": self._day or "",
            "start_of_day_equity": "" if self._sod is None else str(self._sod),
        }

    # ------------------------------------------------------------------ read-only state

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def state_name(self) -> str:
        return self._state.value

    @property
    def current_day(self) -> str | None:
        """The trading day the baseline belongs to (``None`` until first seen)."""
        return self._day

    @current_day.setter
    def current_day(self, day: str | None) -> None:
        """Set from storage at restart; a day that is not today rolls at the next
        ``on_equity``. ``ValueError`` if not ``YYYY-MM-DD``."""
        if not day:
            self._day, self._day_start_ns, self._day_end_ns = None, 0, 0
            return
        index = (date.fromisoformat(day) - _EPOCH).days
        self._day = day
        self._day_start_ns = index * NS_PER_DAY + self._day_start_hour * NS_PER_HOUR
        self._day_end_ns = self._day_start_ns + NS_PER_DAY

    @property
    def start_of_day_equity(self) -> Decimal | None:
        """Equity the day's loss is measured from (``None`` until known)."""
        return self._sod

    @start_of_day_equity.setter
    def start_of_day_equity(self, value: Decimal | None) -> None:
        self._sod = value

    @property
    def day_start_hour(self) -> int:
        return self._day_start_hour

    # ------------------------------------------------------------------ the gate

    def check_order(self, order: Order, ctx: RiskContext) -> Denial | None:
        """``None`` if the order may go to the venue, else why not. Does not record anything:
        call ``record_submitted`` once the order is really accepted."""
        limits = self._limits
        symbol = order.symbol
        sign = 1 if order.side is OrderSide.BUY else -1
        qty = order.qty
        position = ctx.positions.get(symbol, ZERO)

        # One pass over open orders: count, and unfilled quantity per (symbol, side).
        own_id = order.order_id
        open_count = 0
        buys: dict[str, Decimal] = {}
        sells: dict[str, Decimal] = {}
        for ov in ctx.open_orders:
            if ov.order_id == own_id or not ov.status.is_open:
                continue
            open_count += 1
            book = buys if ov.side is OrderSide.BUY else sells
            book[ov.symbol] = book.get(ov.symbol, ZERO) + (ov.qty - ov.filled_qty)
        same_side = (buys if sign > 0 else sells).get(symbol, ZERO)

        reducing = checks.is_reducing(position, sign, qty, same_side)
        if order.reduce_only and not reducing:
            return checks.check_reduce_only(symbol, sign, qty, position, same_side)
        if not reducing and not self._state.allows_increase:
            return checks.check_state(self._state, self._reason)
        denial = checks.check_throttle(self._count_window(ctx.now_ns), limits.max_orders_per_second)
        if denial is not None:
            return denial
        mark = ctx.marks.get(symbol)
        limit_price = order.price if order.type is OrderType.LIMIT else None
        if reducing:
            if limit_price is not None and mark is not None and mark > 0:
                return checks.check_price_band(limit_price, mark, limits.price_band_pct)
            return None

        denial = checks.check_market_data(
            symbol,
            mark,
            ctx.last_book_ns.get(symbol),
            ctx.now_ns,
            self._stale_ns,
            limits.stale_after_s,
        )
        if denial is not None:
            return denial
        assert mark is not None  # check_market_data refuses a missing (or non-positive) mark
        equity = ctx.equity
        denial = (
            checks.check_equity(equity)
            or checks.check_daily_loss(equity, self._baseline(ctx), limits.max_daily_loss_pct)
            or checks.check_open_orders(open_count, limits.max_open_orders)
        )
        if denial is not None:
            return denial

        adverse = ZERO
        price = mark
        if limit_price is not None:
            price = limit_price
            denial = checks.check_price_band(price, mark, limits.price_band_pct)
            if denial is not None:
                return denial
            gap = (price - mark) * sign
            if gap > 0:
                adverse = gap * qty
        denial = checks.check_order_notional(qty * price, limits.max_order_notional)
        if denial is not None:
            return denial

        equity_after = equity - adverse
        if adverse:
            denial = checks.check_equity(equity_after)
            if denial is not None:
                return denial
        qty_after = position + sign * (qty + same_side)
        denial = checks.check_position(
            symbol, qty_after, mark, equity_after, limits.max_position_pct
        )
        if denial is not None:
            return denial
        gross = abs(qty_after) * mark
        others = self._other_exposure(symbol, ctx, buys, sells)
        if isinstance(others, Denial):
            return others
        gross += others
        return checks.check_gross_exposure(
            gross, equity_after, limits.max_gross_exposure_pct
        ) or checks.check_leverage(gross, equity_after, limits.max_leverage)

    @staticmethod
    def _other_exposure(
        symbol: str, ctx: RiskContext, buys: Mapping[str, Decimal], sells: Mapping[str, Decimal]
    ) -> Decimal | Denial:
        """Worst-case |notional| of every other symbol: its position if all its open buys fill,
        or if all its open sells fill, whichever is larger."""
        total = ZERO
        marks = ctx.marks
        positions = ctx.positions
        seen = positions.keys() | buys.keys() | sells.keys() if buys or sells else positions.keys()
        for other in seen:
            if other == symbol:
                continue
            qty = positions.get(other, ZERO)
            b = buys.get(other, ZERO)
            s = sells.get(other, ZERO)
            if not qty and not b and not s:
                continue
            mark = marks.get(other)
            if mark is None:
                return Denial(
                    "stale_after_s",
                    "no data",
                    f"no mid price for {other}, which holds exposure: gross exposure unknown",
                )
            total += max(abs(qty + b), abs(qty - s)) * mark
        return total

    def record_submitted(self, now_ns: int) -> None:
        """Count an accepted order in the orders/s window."""
        self._sent.append(now_ns)
        self._count_window(now_ns)

    def orders_last_second(self, now_ns: int) -> int:
        return self._count_window(now_ns)

    def _count_window(self, now_ns: int) -> int:
        sent = self._sent
        cutoff = now_ns - NS_PER_S
        while sent and sent[0] <= cutoff:
            sent.popleft()
        return len(sent)

    # ------------------------------------------------------------------ limits

    def update_limits(
        self, changes: Mapping[str, object]
    ) -> tuple[RiskLimits, RiskLimits] | LimitError:
        """Validate and apply; ``(old, new)`` or the refusal (limits unchanged). Never lifts a
        halt: raising a limit is not a reset."""
        result = validate_changes(self._limits, changes)
        if isinstance(result, LimitError):
            return result
        old = self._limits
        self._set_limits(result)
        return old, result

    def _set_limits(self, limits: RiskLimits) -> None:
        self._limits = limits
        self._stale_ns = int(limits.stale_after_s * NS_PER_S)

    # ------------------------------------------------------------------ state

    def on_equity(self, ctx: RiskContext) -> TradingStateChange | None:
        """Call on mark changes and fills: rolls the day, halts on the daily loss limit."""
        self.roll_day(ctx)
        sod = self._sod
        if sod is None or sod <= 0:
            self._last_loss_pct = None
            return None
        loss = checks.daily_loss_pct(ctx.equity, sod)
        self._last_loss_pct = loss
        limit = self._limits.max_daily_loss_pct
        if loss >= limit and self._state is not TradingState.HALTED:
            return self._move(TradingState.HALTED, checks.daily_loss_reason(loss, limit))
        return None

    def roll_day(self, ctx: RiskContext) -> DayRoll | None:
        """Adopt or roll the trading day; ``None`` when nothing changed. ``on_equity`` calls
        it; the runtime may call it first to learn a new baseline (``current_day`` and
        ``start_of_day_equity`` hold it as well)."""
        now = ctx.now_ns
        if self._day is not None and self._day_start_ns <= now < self._day_end_ns:
            if self._sod is not None:
                return None
            self._sod = ctx.start_of_day_equity
            return DayRoll(self._day, self._day, self._sod)
        previous = self._day
        self.current_day = self.trading_day(now)
        if previous is not None:
            self._sod = ctx.equity  # a new day starts from the equity seen now
        elif self._sod is None:
            self._sod = ctx.start_of_day_equity  # first sight: trust the runtime's baseline
        self._last_loss_pct = None
        assert self._day is not None
        return DayRoll(previous, self._day, self._sod)

    def _baseline(self, ctx: RiskContext) -> Decimal | None:
        """Start-of-day equity for ``now``; ``None`` when a new day began but has not rolled
        yet (nothing lost today)."""
        if self._day is None:
            return ctx.start_of_day_equity
        if self._day_start_ns <= ctx.now_ns < self._day_end_ns:
            return self._sod if self._sod is not None else ctx.start_of_day_equity
        return None

    def trading_day(self, now_ns: int) -> str:
        """``YYYY-MM-DD`` of the trading day containing ``now_ns``: the UTC date of
        ``now - day_start_hour`` (a day starting at 22:00 is named after the date it started)."""
        index = (now_ns - self._day_start_hour * NS_PER_HOUR) // NS_PER_DAY
        return (_EPOCH + timedelta(days=index)).isoformat()

    def halt(self, reason: str) -> TradingStateChange | None:
        """Stop new risk now; ``None`` if already halted (the first reason stays)."""
        if self._state is TradingState.HALTED:
            return None
        return self._move(TradingState.HALTED, reason)

    def reduce_only(self, reason: str) -> TradingStateChange | None:
        """ACTIVE -> REDUCING (``None`` if not ACTIVE: a halt is never softened this way)."""
        if self._state is not TradingState.ACTIVE:
            return None
        return self._move(TradingState.REDUCING, reason)

    def resume(self) -> TradingStateChange | str:
        """REDUCING -> ACTIVE; a halt needs ``reset_halt(confirm=True)``."""
        if self._state is not TradingState.REDUCING:
            return f"trading is {self._state.value}, not REDUCING"
        return self._move(TradingState.ACTIVE, "")

    def reset_halt(self, confirm: object) -> TradingStateChange | str:
        """HALTED -> ACTIVE, only when confirmed and the daily loss last seen is under its
        limit (else the next mark would halt again: raise ``max_daily_loss_pct`` first).

        Confirmed means ``confirm is True`` exactly: ``"false"``, ``"no"``, ``"0"``, ``1``,
        ``[0]`` or a numpy ``True`` are all refused, so no accident of typing lifts a halt."""
        if confirm is not True:
            return (
                f"reset refused: it must be confirmed with confirm=True, got {describe(confirm)!r}"
            )
        if self._state is not TradingState.HALTED:
            return f"reset refused: trading is {self._state.value}, not HALTED"
        loss, limit = self._last_loss_pct, self._limits.max_daily_loss_pct
        if loss is not None and loss >= limit:
            return (
                f"reset refused: {checks.daily_loss_reason(loss, limit)}; "
                "raise max_daily_loss_pct or wait for the next trading day"
            )
        return self._move(TradingState.ACTIVE, "")

    def _move(self, target: TradingState, reason: str) -> TradingStateChange:
        if not can_transition(self._state, target):  # pragma: no cover - callers check first
            raise RuntimeError(f"illegal trading state change {self._state} -> {target}")
        change = TradingStateChange(old_state=self._state, new_state=target, reason=reason)
        self._state = target
        self._reason = reason
        return change

    # ------------------------------------------------------------------ display

    def utilisation(self, ctx: RiskContext) -> dict[str, float]:
        """Each limit's use as a fraction (1.0 = at the limit) for the risk panel."""
        limits = self._limits
        equity = ctx.equity
        out: dict[str, float] = {}
        gross = ZERO
        for symbol, qty in ctx.positions.items():
            mark = ctx.marks.get(symbol)
            value = abs(qty) * mark if mark is not None else ZERO
            gross += value
            out[f"position:{symbol}"] = _share(value, equity, limits.max_position_pct / 100)
        out["gross_exposure"] = _share(gross, equity, limits.max_gross_exposure_pct / 100)
        out["leverage"] = _share(gross, equity, limits.max_leverage)
        baseline = self._baseline(ctx)
        loss = checks.daily_loss_pct(equity, baseline) if baseline is not None else ZERO
        out["daily_loss"] = float(max(loss, ZERO) / limits.max_daily_loss_pct)
        out["orders_per_second"] = self._count_window(ctx.now_ns) / limits.max_orders_per_second
        open_count = sum(1 for o in ctx.open_orders if o.status.is_open)
        out["open_orders"] = open_count / limits.max_open_orders
        return out


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _share(value: Decimal, equity: Decimal, limit: Decimal) -> float:
    if not value:
        return 0.0
    if equity <= 0:
        return float("inf")
    return float(value / equity / limit)
