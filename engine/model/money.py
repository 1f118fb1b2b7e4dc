"""Exact money helpers, and the one bounded parser every number from outside goes through.

Internal cash, fees and cost basis sit on one quantum so sums never drift.

Every number a person or a program hands the engine (an order's quantity and price, a risk limit,
a strategy parameter) is read by ``parse_number``: it answers in microseconds whatever it is given
(``"1e2999999"``, a megabyte of digits, ``Decimal("9e999999999")``, NaN, ``True``, a numpy
scalar, a list) and refuses what is not a plain, finite number of sane size *before* any
``int()``, ``quantize()``, ``%`` or other arithmetic that could take seconds or raise on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    ROUND_UP,
    Context,
    Decimal,
    InvalidOperation,
)
from typing import Final

# Internal precision of cash, fees, cost basis: 1e-10 quote units. Display rounds to cents.
MONEY_QUANTUM = Decimal("1e-10")
ZERO = Decimal(0)


def money(value: Decimal) -> Decimal:
    """Round a derived money amount (a division result) onto the internal quantum."""
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def fee_amount(notional: Decimal, rate: Decimal) -> Decimal:
    """Fees are rounded up onto the quantum: a paper account never pays less than the venue."""
    return (abs(notional) * rate).quantize(MONEY_QUANTUM, rounding=ROUND_UP)


# ---------------------------------------------------------------- bounded input

MAX_NUMBER_CHARS: Final = 100
"""Longest text read as a number (after trimming spaces); longer text is refused unread."""
MAX_ADJUSTED_EXPONENT: Final = 29
"""Numbers must be below ``1e30`` in size (``adjusted()`` at most 29)."""
MIN_ADJUSTED_EXPONENT: Final = -30
"""Nonzero numbers must be at least ``1e-30`` in size."""
MAX_SIGNIFICANT_DIGITS: Final = 60
"""More digits than this are refused (a ``Decimal`` built elsewhere may carry millions)."""
SHOWN_CHARS: Final = 40
"""How much of an offending input a reason quotes."""

# Rounds to MAX_SIGNIFICANT_DIGITS; no traps, no flags read, so sharing it across threads is safe.
_DIGITS: Final = Context(prec=MAX_SIGNIFICANT_DIGITS, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])
_SHORT: Final = Context(prec=12, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])  # to quote a long one
_TOO_LARGE: Final = "is too large (numbers must be below 1e30)"
_TOO_SMALL: Final = "is too small (a number other than 0 must be at least 1e-30)"


@dataclass(frozen=True, slots=True)
class BadNumber:
    """Why an input is not an acceptable number.

    ``why`` reads after the field's name: ``f"quantity {bad.why}"`` gives "quantity 'abc' is not a
    number". ``shown`` is the input as short text (at most ``SHOWN_CHARS`` of it, for events and
    the audit). ``kind`` lets a caller say it in its own terms: ``"type"``, ``"text"``,
    ``"finite"``, ``"too_large"``, ``"too_small"``, ``"digits"``, ``"whole"``.
    """

    kind: str
    why: str
    shown: str
    negative: bool = False


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was when it is cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def describe(value: object) -> str:
    """Short, safe text for any input: never long, never slow, never raising.

    Text is cut (``shorten``); numbers print as themselves when that is cheap; containers and
    other objects are named by their type (a list of a million items is not printed).
    """
    if isinstance(value, str):
        return shorten(value)
    if _is_numpy_scalar(value):  # before float: numpy.float64 is a float, with a long repr
        return shorten(str(value))
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        if value.bit_length() > 200:  # str() of a huge int is slow, or refused by Python
            sign = "-" if value < 0 else ""
            return f"about {sign}1e{int(value.bit_length() * 0.30103)}"  # log10(2) per bit
        return shorten(str(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        if value.is_finite() and _DIGITS.plus(value) != value:  # do not print a million digits
            return f"about {_SHORT.plus(value)}"
        return str(value)  # short: at most 60 digits and an exponent
    return f"a {type(value).__name__}"


def _is_numpy_scalar(value: object) -> bool:
    """A ``numpy.generic`` (``float64``, ``int64``, ``bool_``...), found without importing numpy."""
    cls = type(value)
    return cls.__module__ == "numpy" and callable(getattr(value, "item", None))


def _kind_of(value: object) -> str:
    if value is None:
        return "nothing (None)"
    if isinstance(value, list | tuple | dict | set | frozenset):
        return f"a {type(value).__name__}"
    return f"a value of type {type(value).__name__}"


def parse_number(value: object, *, whole: bool = False) -> Decimal | BadNumber:
    """A bounded, finite ``Decimal`` from user or wire input, or why not. Never raises.

    Accepted: ``Decimal``, ``int``, ``float`` (read by its shortest text, so ``0.1`` is 0.1),
    text (spaces trimmed, ``_`` separators allowed) and numpy scalars (their value via
    ``item()``; numpy floats by their own shortest text, so ``float32(0.01)`` is 0.01).
    Refused: ``bool`` (``True`` is not 1 here) and every other type, text over
    ``MAX_NUMBER_CHARS``, NaN and infinities, sizes outside ``[1e-30, 1e30)``, more than
    ``MAX_SIGNIFICANT_DIGITS`` digits, and, with ``whole=True``, fractions. Zero is always in
    range (``0e999999`` reads as 0). All checks use the exponent and the digit count only, so the
    answer takes microseconds whatever the input.
    """
    if _is_numpy_scalar(value):
        item = value.item()  # type: ignore[attr-defined]
        if isinstance(item, bool):
            return BadNumber("type", "must be a number, not true/false", str(item))
        # ints by value; floats (and long doubles) by numpy's shortest text for their width
        value = item if isinstance(item, int) else str(value)
    if isinstance(value, bool):
        return BadNumber("type", "must be a number, not true/false", str(value))
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        if value.bit_length() > 110:  # 2**110 > 1e33: out of range, and no slow Decimal(int)
            shown = describe(value)
            return BadNumber("too_large", f"{shown} {_TOO_LARGE}", shown, value < 0)
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # "nan", "inf" parse; refused below as not finite
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_CHARS:
            return BadNumber(
                "text",
                f"must be a number, got text of {len(text):,} characters "
                f"(at most {MAX_NUMBER_CHARS})",
                shorten(text),
            )
        try:
            number = Decimal(text.replace("_", ""))
        except (InvalidOperation, ValueError):
            return BadNumber("text", f"{text!r} is not a number", text)
    else:
        return BadNumber("type", f"must be a number, got {_kind_of(value)}", describe(value))
    return _bounded(number, whole, value)


def _bounded(number: Decimal, whole: bool, original: object) -> Decimal | BadNumber:
    """Range, digit and whole-number checks on a parsed number; ``original`` is quoted."""
    if not number.is_finite():
        shown = describe(original)
        return BadNumber("finite", f"{shown} is not a finite number", shown)
    adjusted = number.adjusted()  # for zero, its exponent
    if not number:
        return number if MIN_ADJUSTED_EXPONENT <= adjusted <= MAX_ADJUSTED_EXPONENT else ZERO
    if adjusted > MAX_ADJUSTED_EXPONENT:
        shown = describe(original)
        return BadNumber("too_large", f"{shown} {_TOO_LARGE}", shown, number.is_signed())
    if adjusted < MIN_ADJUSTED_EXPONENT:
        shown = describe(original)
        return BadNumber("too_small", f"{shown} {_TOO_SMALL}", shown, number.is_signed())
    trimmed = _DIGITS.plus(number)  # O(digits) in C: microseconds even for a million
    if trimmed != number:
        shown = describe(original)
        return BadNumber(
            "digits",
            f"{shown} has more than {MAX_SIGNIFICANT_DIGITS} significant digits",
            shown,
            number.is_signed(),
        )
    if whole and trimmed != trimmed.to_integral_value():  # cheap now: at most 60 digits
        shown = describe(original)
        return BadNumber("whole", f"must be a whole number, got {shown}", shown, number < 0)
    return trimmed  # the same value; padding zeros past 60 digits dropped


def parse_decimal(value: object) -> Decimal | None:
    """``parse_number`` without the reason: ``None`` for anything it refuses."""
    result = parse_number(value)
    return None if isinstance(result, BadNumber) else result
