"""The strategy interface shared by the backtester, paper trading and (later) live trading.

A strategy never touches the broker, the book or the account directly. It reads what the host
gives it (bars it was prepared with, the current book top, its position) and acts only by sending
``SubmitOrder`` / ``CancelOrder`` commands through ``StrategyContext.submit`` / ``cancel``; the host
runs every command through validation and the ``RiskEngine`` exactly as a manual order, so a
strategy cannot do in a backtest what the risk gate would refuse live.

Bars and speed
--------------
``prepare(bars)`` computes the strategy's indicator arrays from a block of bars, vectorised and
causal: the value at bar ``i`` may depend only on bars ``0..i``, and only on a finite window of
them (``lookback`` bars). A backtest prepares once over all bars; a streaming host (paper, live)
prepares over the latest ``lookback`` bars after each new bar. Because every indicator here is
computed per window from exact integers, both give the same numbers at the same bar.

``signal_bars()`` lists the bars at which ``on_bar`` may act; the backtester calls ``on_bar`` only
there (and on every bar while ``watch`` is true, e.g. while a trailing stop is live), which is what
makes a million bars cheap. A streaming host calls ``on_bar`` on every bar, so ``on_bar`` must be
a no-op on other bars; the backtest-vs-replay parity test checks exactly that.

Timing: ``on_bar(ctx, i)`` runs once bar ``i`` has closed, at the moment the host can act on it -
at the next bar's open (``fill="next_open"``) or at the bar's close (``fill="close"``).
``ctx.best_ask()`` and friends show the book at that moment, so sizing uses the price the order
will meet, as a live strategy would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar, Final, Protocol

import numpy as np
import numpy.typing as npt

from engine.backtest.data import Bars
from engine.matching import FeeSchedule
from engine.messages import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)
from engine.model.fill import Fill
from engine.model.instrument import Instrument
from engine.model.market import TradeTick
from engine.model.money import BadNumber, describe, parse_number
from engine.model.orders import OrderView
from engine.snapshot import BookView

SubmitResult = OrderAccepted | OrderDenied | OrderFilled | OrderRejected | OrderCancelled
CancelResult = OrderCancelled | CancelRejected
OrderEvent = OrderDenied | OrderRejected | OrderCancelled


class ParamError(ValueError):
    """A strategy parameter is unknown, of the wrong type or out of range."""


MAX_PARAMS: Final = 64
"""Most parameters one ``StartStrategy`` / ``--param`` list may carry."""
MAX_PARAM_TEXT: Final = 200
"""Longest text accepted for a text parameter (numbers have their own bound)."""
_BOOL_WORDS: Final[Mapping[str, bool]] = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


_TYPE_NAMES: dict[type, str] = {
    int: "int",
    float: "float",
    Decimal: "decimal",
    bool: "bool",
    str: "str",
}


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter; the UI builds a form field from it, the CLI parses ``k=v``."""

    name: str
    type: type
    default: Any
    min: Any = None
    max: Any = None
    choices: tuple[Any, ...] = ()
    help: str = ""

    def parse(self, value: object) -> Any:
        """Typed, range-checked value from text or a Python value; ``ParamError`` if not.

        Bounded: numbers are read by ``parse_number`` (no ``int()`` of ``"1e999999"``, no NaN,
        no ``True`` as 1; numpy scalars by value), text must be short, and a refusal quotes at
        most a few dozen characters of what it was given. Answers in microseconds."""
        v = self._coerce(value)
        if self.choices and v not in self.choices:
            raise ParamError(
                f"{self.name} must be one of {list(self.choices)}, got {describe(value)!r}"
            )
        if self.min is not None and v < self.min:
            raise ParamError(f"{self.name} must be >= {self.min}, got {v}")
        if self.max is not None and v > self.max:
            raise ParamError(f"{self.name} must be <= {self.max}, got {v}")
        return v

    def _coerce(self, value: object) -> Any:
        t = self.type
        if t is bool:
            return self._flag(value)
        if t is str:
            if not isinstance(value, str) or len(value) > MAX_PARAM_TEXT:
                raise ParamError(
                    f"{self.name} must be text of at most {MAX_PARAM_TEXT} characters, "
                    f"got {describe(value)!r}"
                )
            return str(value)
        if t is int or t is float or t is Decimal:
            d = parse_number(value, whole=t is int)
            if isinstance(d, BadNumber):
                raise ParamError(self._number_reason(d))
            return int(d) if t is int else float(d) if t is float else d  # bounded: cheap
        raise ParamError(f"{self.name}: unsupported type {t!r}")  # pragma: no cover

    def _flag(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
            return bool(value)
        if isinstance(value, str) and len(value) <= 16:
            word = _BOOL_WORDS.get(value.strip().lower())
            if word is not None:
                return word
        raise ParamError(f"{self.name} must be true or false, got {describe(value)!r}")

    def _number_reason(self, bad: BadNumber) -> str:
        """A parser refusal in this parameter's terms: a huge number is above its maximum."""
        if self.type is int and bad.kind in ("whole", "type", "text"):
            got = repr(bad.shown) if bad.kind == "text" else bad.shown
            return f"{self.name} must be a whole number, got {got}"
        if bad.kind == "too_large" and not bad.negative and self.max is not None:
            return f"{self.name} must be <= {self.max}, got {bad.shown}"
        if bad.kind == "too_large" and bad.negative and self.min is not None:
            return f"{self.name} must be >= {self.min}, got {bad.shown}"
        return f"{self.name} {bad.why}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (Decimals as text) for forms and reports."""

        def enc(x: Any) -> Any:
            return str(x) if isinstance(x, Decimal) else x

        return {
            "name": self.name,
            "type": "choice" if self.choices else _TYPE_NAMES[self.type],
            "default": enc(self.default),
            "min": enc(self.min),
            "max": enc(self.max),
            "choices": [enc(c) for c in self.choices],
            "help": self.help,
        }


class StrategyContext(Protocol):
    """What a host offers a strategy. The backtester and the replay session both implement it."""

    @property
    def now_ns(self) -> int: ...

    @property
    def instrument(self) -> Instrument: ...

    @property
    def fees(self) -> FeeSchedule: ...

    def submit(self, cmd: SubmitOrder) -> SubmitResult: ...

    def cancel(self, cmd: CancelOrder) -> CancelResult: ...

    def position(self) -> Decimal: ...

    def cash(self) -> Decimal: ...

    def best_bid(self) -> Decimal | None: ...

    def best_ask(self) -> Decimal | None: ...

    def open_orders(self) -> Sequence[OrderView]: ...


def floor_to_lot(qty: Decimal, lot: Decimal) -> Decimal:
    if qty <= 0:
        return Decimal(0)
    return (qty / lot).to_integral_value(rounding=ROUND_FLOOR) * lot


def affordable_qty(ctx: StrategyContext, price: Decimal | None = None) -> Decimal:
    """All the cash in one buy: ``cash / (price x (1 + taker fee))`` floored to the lot.

    ``price`` defaults to the best ask now. Zero when the result is under the instrument's
    minimum notional (the venue would refuse it) or there is no price.
    """
    inst = ctx.instrument
    p = price if price is not None else ctx.best_ask()
    cash = ctx.cash()
    if p is None or p <= 0 or cash <= 0:
        return Decimal(0)
    qty = floor_to_lot(cash / (p * (1 + ctx.fees.taker)), inst.lot_size)
    if qty * p < inst.min_notional:
        return Decimal(0)
    return qty


class Strategy:
    """Base class: declare ``name``, ``params_schema``; override ``prepare`` and the callbacks."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    params_schema: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, /, **params: object) -> None:
        self.params: dict[str, Any] = parse_params(self.params_schema, params)
        self.check_params()
        self.watch = False  # True: call on_bar on every bar (the backtester honours it)
        self.bars: Bars | None = None
        self.source = f"strategy:{self.name}"

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> Strategy:
        return cls(**values)

    @classmethod
    def schema(cls) -> list[dict[str, Any]]:
        return [p.to_dict() for p in cls.params_schema]

    def check_params(self) -> None:
        """Cross-field checks (e.g. fast < slow); raise ``ParamError``."""

    @property
    def lookback(self) -> int:
        """Bars of history an indicator value needs (a streaming host keeps at least this)."""
        return 1

    # ------------------------------------------------------------------ vectorised part

    def prepare(self, bars: Bars) -> None:
        """Compute indicator arrays over ``bars`` (causal, finite window)."""
        self.bars = bars

    def signal_bars(self) -> npt.NDArray[np.int64] | None:
        """Bar indices where ``on_bar`` may act; ``None`` means every bar."""
        return None

    # ------------------------------------------------------------------ callbacks

    def reset(self) -> None:
        """Clear trading state (not indicators) before a run; ``prepare`` must not touch it,
        since a streaming host calls ``prepare`` again after every bar."""
        self.watch = False

    def on_start(self, ctx: StrategyContext, bars: Bars) -> None:
        """Before the first bar, with the bars known then (all of them in a backtest)."""
        self.reset()
        self.prepare(bars)

    def on_bar(self, ctx: StrategyContext, i: int) -> None:
        """Bar ``i`` of the prepared bars has closed."""

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """One of our orders filled (partly); the account already reflects it."""

    def on_order(self, ctx: StrategyContext, event: OrderEvent) -> None:
        """One of our orders was denied, rejected or cancelled outside a ``submit`` call."""

    def on_book(self, ctx: StrategyContext, book: BookView) -> None:
        """The book changed (tick data only)."""

    def on_trade(self, ctx: StrategyContext, trade: TradeTick) -> None:
        """A public trade printed (tick data only)."""

    def on_stop(self, ctx: StrategyContext) -> None:
        """After the last bar; an open position stays open (it is marked, not closed)."""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": {k: str(v) if isinstance(v, Decimal) else v for k, v in self.params.items()},
        }


def params_mapping(values: object) -> dict[str, object]:
    """``StartStrategy.params`` (or any outside input) as a name -> value dict, or
    ``ParamError`` in words when it is not a mapping of at most ``MAX_PARAMS`` text names."""
    if not isinstance(values, Mapping):
        raise ParamError(
            f"strategy parameters must be a mapping of name to value, got {describe(values)}"
        )
    if len(values) > MAX_PARAMS:
        raise ParamError(f"too many strategy parameters ({len(values):,}; at most {MAX_PARAMS})")
    out: dict[str, object] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise ParamError(f"parameter names must be text, got {describe(key)!r}")
        out[key] = value
    return out


def parse_params(schema: Sequence[Param], values: Mapping[str, object]) -> dict[str, Any]:
    """Defaults overridden by ``values``; unknown names and bad values raise ``ParamError``."""
    values = params_mapping(values)
    known = {p.name: p for p in schema}
    unknown = sorted(describe(k) for k in values if k not in known)
    if unknown:
        shown = ", ".join(unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise ParamError(f"unknown parameter(s) {shown}; known: {', '.join(known) or 'none'}")
    out = {p.name: p.default for p in schema}
    for name, value in values.items():
        out[name] = known[name].parse(value)
    return out


def parse_kv(items: Sequence[str]) -> dict[str, str]:
    """``["fast=10", "slow=30"]`` -> ``{"fast": "10", "slow": "30"}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParamError(f"parameter {item!r} is not of the form name=value")
        out[key.strip()] = value.strip()
    return out
