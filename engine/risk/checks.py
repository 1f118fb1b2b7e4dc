"""Pure pre-trade checks: numbers in, ``Denial`` or ``None`` out.

Each check compares with multiplications rather than divisions (``value * 100 > pct * equity``) so
the common, passing path does no rounding and allocates little; the percentage shown to the
trader is computed only when a check fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Final

from engine.risk.state import TradingState

ZERO: Final = Decimal(0)
HUNDRED: Final = Decimal(100)
NS_PER_S: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Denial:
    """Why an order was refused: the limit's name, the value that broke it, the reason in words."""

    limit: str
    value: str
    reason: str


def fmt(value: Decimal, places: int = 2) -> str:
    """Plain decimal text, at most ``places`` decimals, no exponent, no trailing zeros."""
    with localcontext() as ctx:
        ctx.prec = 60
        try:
            text = f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"
        except InvalidOperation:
            return str(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def pct_of(part: Decimal, whole: Decimal) -> Decimal:
    return part * HUNDRED / whole


def is_reducing(position: Decimal, sign: int, qty: Decimal, same_side_open: Decimal) -> bool:
    """Does the order strictly shrink |position| even if every open order on its side fills too?

    ``sign`` is +1 for a buy; ``same_side_open`` is the unfilled quantity of open orders on the
    order's symbol and side. An order that would flip the position is not reducing: its tail
    opens new risk.
    """
    if not position or (position > 0) == (sign > 0):
        return False
    after = position + sign * (qty + same_side_open)
    return not after or (after > 0) == (position > 0)


def check_reduce_only(
    symbol: str, sign: int, qty: Decimal, position: Decimal, same_side_open: Decimal
) -> Denial:
    """The denial for a reduce-only order that ``is_reducing`` said does not reduce."""
    after = position + (qty + same_side_open) * sign
    side = "buy" if sign > 0 else "sell"
    if not position:
        why = f"there is no {symbol} position to reduce"
    elif (position > 0) == (sign > 0):
        why = f"it would increase the {symbol} position of {position}"
    else:
        working = f" (with {same_side_open} already working on that side)" if same_side_open else ""
        why = f"{side} {qty}{working} would flip the {symbol} position of {position} to {after}"
    return Denial("reduce_only", str(after), f"reduce-only order refused: {why}")


def check_state(state: TradingState, reason: str) -> Denial | None:
    """For a risk-increasing order: only ACTIVE lets it through."""
    if state.allows_increase:
        return None
    because = f" ({reason})" if reason else ""
    return Denial(
        "trading_state",
        state.value,
        f"trading is {state.value}{because}: only orders that reduce a position are accepted",
    )


def check_throttle(count: int, limit: int) -> Denial | None:
    if count < limit:
        return None
    return Denial(
        "max_orders_per_second",
        str(count),
        f"{count} orders in the last second reached the limit of {limit} per second",
    )


def check_market_data(
    symbol: str,
    mark: Decimal | None,
    last_book_ns: int | None,
    now_ns: int,
    stale_ns: int,
    stale_after_s: Decimal,
) -> Denial | None:
    """Stale or missing book: no new risk on prices we cannot see."""
    if last_book_ns is None or mark is None or mark <= 0:
        what = "no book update" if last_book_ns is None else "no mid price (one side empty)"
        return Denial(
            "stale_after_s", "no data", f"{what} for {symbol}: risk-increasing orders refused"
        )
    age_ns = now_ns - last_book_ns
    if age_ns <= stale_ns:
        return None
    age = fmt(Decimal(age_ns) / NS_PER_S, 1)
    return Denial(
        "stale_after_s",
        age,
        f"{symbol} book is {age} s old, older than the limit of {stale_after_s} s",
    )


def check_equity(equity: Decimal) -> Denial | None:
    if equity > 0:
        return None
    return Denial(
        "max_leverage",
        fmt(equity),
        f"equity is {fmt(equity)}: leverage is unbounded, only reducing orders are accepted",
    )


def daily_loss_pct(equity: Decimal, start_of_day_equity: Decimal) -> Decimal:
    """Loss since the day began as % of start-of-day equity (negative when in profit)."""
    if start_of_day_equity <= 0:
        return ZERO
    return pct_of(start_of_day_equity - equity, start_of_day_equity)


def daily_loss_reason(loss_pct: Decimal, limit_pct: Decimal) -> str:
    return f"daily loss {fmt(loss_pct)}% reached limit {limit_pct}%"


def check_daily_loss(
    equity: Decimal, start_of_day_equity: Decimal | None, limit_pct: Decimal
) -> Denial | None:
    if start_of_day_equity is None or start_of_day_equity <= 0:
        return None
    if (start_of_day_equity - equity) * HUNDRED < limit_pct * start_of_day_equity:
        return None
    loss = daily_loss_pct(equity, start_of_day_equity)
    return Denial(
        "max_daily_loss_pct",
        fmt(loss),
        daily_loss_reason(loss, limit_pct) + ": only reducing orders are accepted",
    )


def check_open_orders(count: int, limit: int) -> Denial | None:
    if count < limit:
        return None
    return Denial(
        "max_open_orders", str(count), f"{count} open orders reached the limit of {limit}"
    )


def check_price_band(price: Decimal, mid: Decimal, band_pct: Decimal) -> Denial | None:
    """Fat-finger guard: a limit price too far from mid, either side."""
    distance = abs(price - mid)
    if distance * HUNDRED <= band_pct * mid:
        return None
    off = fmt(pct_of(distance, mid))
    return Denial(
        "price_band_pct",
        off,
        f"limit price {price} is {off}% from mid {fmt(mid, 8)}, outside the band of {band_pct}%",
    )


def check_order_notional(notional: Decimal, limit: Decimal) -> Denial | None:
    if notional <= limit:
        return None
    return Denial(
        "max_order_notional",
        fmt(notional),
        f"order notional {fmt(notional)} is above the limit of {limit}",
    )


def check_position(
    symbol: str, qty_after: Decimal, mark: Decimal, equity: Decimal, limit_pct: Decimal
) -> Denial | None:
    """``qty_after``: position if this order and all open orders on its side fill."""
    value = abs(qty_after) * mark
    if value * HUNDRED <= limit_pct * equity:
        return None
    share = fmt(pct_of(value, equity))
    return Denial(
        "max_position_pct",
        share,
        f"{symbol} position would be {share}% of equity ({fmt(qty_after, 8)} at "
        f"{fmt(mark, 8)}, counting open orders), above the limit of {limit_pct}%",
    )


def check_gross_exposure(gross: Decimal, equity: Decimal, limit_pct: Decimal) -> Denial | None:
    if gross * HUNDRED <= limit_pct * equity:
        return None
    share = fmt(pct_of(gross, equity))
    return Denial(
        "max_gross_exposure_pct",
        share,
        f"gross exposure would be {share}% of equity, above the limit of {limit_pct}%",
    )


def check_leverage(gross: Decimal, equity: Decimal, limit: Decimal) -> Denial | None:
    if gross <= limit * equity:
        return None
    lev = fmt(gross / equity)
    return Denial("max_leverage", lev, f"leverage would be {lev}x, above the limit of {limit}x")
