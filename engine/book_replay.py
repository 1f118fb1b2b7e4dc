"""Replay of raw Binance websocket captures into an ``OrderBook``.

The captures (hftbacktest format) hold one ``<local_receive_ns> <json>`` per line: combined-stream
``depth@100ms`` diffs (``U``/``u`` update ids), ``bookTicker``, ``trade`` and a REST depth
snapshot (``lastUpdateId``) taken after the stream started. The book is rebuilt exactly as Binance
documents it: buffer diffs, load the snapshot, drop diffs with ``u <= lastUpdateId``, the first
applied diff must straddle ``lastUpdateId + 1``, each later one must start at the last ``u + 1``.
A gap desynchronises the book until the next snapshot. Prices and quantities are converted to
ticks/lots with ``Decimal`` and refused if off-grid: a float here would corrupt the book silently.
"""

from __future__ import annotations

import gzip
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from engine.book import OrderBook, SequenceGap
from engine.model.instrument import Instrument
from engine.model.market import TradeTick
from engine.model.orders import OrderSide

log = logging.getLogger(__name__)

Levels = tuple[tuple[int, int], ...]

_MAX_LOGGED_BAD_LINES = 20
_MAX_BUFFERED_DIFFS = 10_000  # diffs held while waiting for a snapshot (~16 min at 100 ms)


class MalformedMessage(ValueError):
    """A line that cannot be turned into a message exactly."""


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """REST depth snapshot; ``ts_init`` is the local receive time."""

    ts_init: int
    last_update_id: int
    bids: Levels
    asks: Levels


@dataclass(frozen=True, slots=True)
class DepthDiff:
    """One ``depthUpdate`` covering update ids ``first_seq..last_seq`` (absolute sizes)."""

    ts_init: int
    ts_event: int
    first_seq: int
    last_seq: int
    bids: Levels
    asks: Levels


@dataclass(frozen=True, slots=True)
class BookTicker:
    """Best bid/ask after update ``update_id`` (Binance pushes it in real time)."""

    ts_init: int
    update_id: int
    bid_ticks: int
    bid_lots: int
    ask_ticks: int
    ask_lots: int


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade; ``tick.ts_ns`` is the exchange trade time, ``ts_init`` the receive time."""

    ts_init: int
    tick: TradeTick


Message = DepthSnapshot | DepthDiff | BookTicker | Trade


@dataclass(slots=True)
class ReplayStats:
    lines: int = 0
    malformed: int = 0
    foreign: int = 0  # well-formed but another symbol or an unknown stream
    qty_floored: int = 0  # quantities finer than the lot size, floored (see CaptureParser)
    snapshots: int = 0
    diffs_applied: int = 0
    diffs_stale: int = 0  # u <= book seq: dropped as Binance says
    diffs_dropped: int = 0  # buffer overflow while waiting for a snapshot
    gaps: int = 0
    tickers: int = 0
    trades: int = 0
    bad_lines: list[int] = field(default_factory=list)  # 1-based line numbers, first few only


class CaptureParser:
    """Turns capture lines into messages on one instrument's grid, exactly.

    A price off the tick grid makes the line malformed. A quantity off the lot grid is floored to
    whole lots and counted: Binance still reports a few legacy resting orders finer than today's
    step size (7 of ~300k BTCUSDT level sizes in the captures); refusing the diff would break the
    update-id chain and kill the book. Flooring never invents liquidity.
    """

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.qty_floored = 0
        self._tick = instrument.tick_size
        self._lot = instrument.lot_size
        self._symbol = f"{instrument.base}{instrument.quote}".upper()

    def ticks(self, text: object) -> int:
        value = _decimal(text, "price") / self._tick
        ticks = int(value)
        if ticks != value:
            raise MalformedMessage(f"price {text!r} is off the tick grid {self._tick}")
        return ticks

    def lots(self, text: object) -> int:
        value = _decimal(text, "qty") / self._lot
        lots = int(value)  # truncation == floor, the value is not negative
        if lots != value:
            self.qty_floored += 1
        return lots

    def levels(self, raw: object) -> Levels:
        if not isinstance(raw, list):
            raise MalformedMessage(f"levels are not a list: {raw!r:.80}")
        out: list[tuple[int, int]] = []
        for level in raw:
            if not isinstance(level, list) or len(level) != 2:
                raise MalformedMessage(f"bad level {level!r:.80}")
            out.append((self.ticks(level[0]), self.lots(level[1])))
        return tuple(out)

    def parse(self, line: str) -> Message | None:
        """One line -> message; None for another symbol or stream; raises MalformedMessage."""
        ts_text, sep, payload = line.strip().partition(" ")
        if not sep:
            raise MalformedMessage("no '<ts> <json>' separator")
        try:
            ts_init = int(ts_text)
            doc = msgspec.json.decode(payload)
        except (ValueError, msgspec.DecodeError) as exc:
            raise MalformedMessage(str(exc)) from exc
        if not isinstance(doc, dict):
            raise MalformedMessage("payload is not an object")
        try:
            return self._parse_doc(doc, ts_init)
        except (KeyError, TypeError) as exc:
            raise MalformedMessage(f"missing or bad field {exc}") from exc

    def _parse_doc(self, doc: dict[str, Any], ts_init: int) -> Message | None:
        if "lastUpdateId" in doc:  # REST snapshot (no symbol inside: a capture is per symbol)
            return DepthSnapshot(
                ts_init=ts_init,
                last_update_id=_int(doc["lastUpdateId"], "lastUpdateId"),
                bids=self.levels(doc["bids"]),
                asks=self.levels(doc["asks"]),
            )
        stream = doc["stream"]
        data = doc["data"]
        if not isinstance(stream, str) or not isinstance(data, dict):
            raise MalformedMessage("bad combined-stream envelope")
        if data.get("s") != self._symbol:
            return None
        kind = stream.partition("@")[2]
        if kind.startswith("depth"):
            if data.get("e") != "depthUpdate":
                raise MalformedMessage(f"unexpected depth event {data.get('e')!r}")
            first, last = _int(data["U"], "U"), _int(data["u"], "u")
            if first > last:
                raise MalformedMessage(f"U {first} > u {last}")
            return DepthDiff(
                ts_init=ts_init,
                ts_event=_int(data["E"], "E") * 1_000_000,
                first_seq=first,
                last_seq=last,
                bids=self.levels(data["b"]),
                asks=self.levels(data["a"]),
            )
        if kind == "bookTicker":
            return BookTicker(
                ts_init=ts_init,
                update_id=_int(data["u"], "u"),
                bid_ticks=self.ticks(data["b"]),
                bid_lots=self.lots(data["B"]),
                ask_ticks=self.ticks(data["a"]),
                ask_lots=self.lots(data["A"]),
            )
        if kind == "trade":
            maker_is_buyer = data["m"]
            if not isinstance(maker_is_buyer, bool):
                raise MalformedMessage(f"m is not a bool: {maker_is_buyer!r}")
            return Trade(
                ts_init=ts_init,
                tick=TradeTick(
                    symbol=self.instrument.symbol,
                    price_ticks=self.ticks(data["p"]),
                    size_lots=self.lots(data["q"]),
                    # the buyer is the maker => the seller hit the bid
                    aggressor=OrderSide.SELL if maker_is_buyer else OrderSide.BUY,
                    trade_id=_int(data["t"], "t"),
                    ts_ns=_int(data["T"], "T") * 1_000_000,
                ),
            )
        return None


def _decimal(text: object, what: str) -> Decimal:
    if not isinstance(text, str):
        raise MalformedMessage(f"{what} is not a string: {text!r}")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise MalformedMessage(f"bad {what} {text!r}") from exc
    if not value.is_finite() or value < 0:
        raise MalformedMessage(f"bad {what} {text!r}")
    return value


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedMessage(f"{what} is not an int: {value!r}")
    return value


def _open_lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        yield from fh


def iter_messages(
    paths: Path | Sequence[Path], instrument: Instrument, stats: ReplayStats | None = None
) -> Iterator[Message]:
    """Parsed messages in file order; malformed lines are logged, counted and skipped."""
    stats = stats if stats is not None else ReplayStats()
    parser = CaptureParser(instrument)
    for path in [paths] if isinstance(paths, Path) else paths:
        for lineno, line in enumerate(_open_lines(path), start=1):
            if not line.strip():
                continue
            stats.lines += 1
            try:
                msg = parser.parse(line)
            except MalformedMessage as exc:
                stats.malformed += 1
                if len(stats.bad_lines) < _MAX_LOGGED_BAD_LINES:
                    stats.bad_lines.append(lineno)
                    log.warning("%s:%d: skipped malformed line: %s", path.name, lineno, exc)
                continue
            finally:
                stats.qty_floored = parser.qty_floored
            if msg is None:
                stats.foreign += 1
                continue
            yield msg
    if stats.malformed > len(stats.bad_lines):
        log.warning(
            "%d malformed lines skipped in all (first %d logged)",
            stats.malformed,
            len(stats.bad_lines),
        )


class BinanceBookReplay:
    """Rebuilds ``book`` from captures and yields each message once the book reflects it.

    ``DepthSnapshot`` is yielded when the snapshot is loaded, each ``DepthDiff`` right after it was
    applied (diffs received before the snapshot are yielded, in order, after it); stale diffs are
    dropped. Tickers and trades pass through in file order.
    """

    def __init__(
        self,
        paths: Path | Sequence[Path],
        instrument: Instrument,
        book: OrderBook | None = None,
    ) -> None:
        self.paths: list[Path] = [paths] if isinstance(paths, Path) else list(paths)
        self.instrument = instrument
        self.book = book if book is not None else OrderBook(instrument)
        self.stats = ReplayStats()
        self.synced = False

    def __iter__(self) -> Iterator[Message]:
        return self.run(iter_messages(self.paths, self.instrument, self.stats))

    def run(self, messages: Iterable[Message]) -> Iterator[Message]:
        """Drive the book from already parsed messages (benchmarks parse once, replay often)."""
        pending: deque[DepthDiff] = deque()
        stats = self.stats
        for msg in messages:
            if isinstance(msg, DepthDiff):
                if not self.synced:
                    if len(pending) == _MAX_BUFFERED_DIFFS:
                        pending.popleft()
                        stats.diffs_dropped += 1
                    pending.append(msg)
                    continue
                if self._apply(msg):
                    yield msg
                elif not self.synced:  # a gap: keep it for the next snapshot
                    pending.append(msg)
            elif isinstance(msg, DepthSnapshot):
                self.book.apply_snapshot(msg.bids, msg.asks, msg.last_update_id, msg.ts_init)
                self.synced = True
                stats.snapshots += 1
                yield msg
                while pending:
                    diff = pending[0]
                    if self._apply(diff):
                        pending.popleft()
                        yield diff
                    elif self.synced:  # stale: older than the snapshot
                        pending.popleft()
                    else:  # the snapshot is too old for the buffered diffs: wait for another
                        break
            else:
                if isinstance(msg, BookTicker):
                    stats.tickers += 1
                else:
                    stats.trades += 1
                yield msg

    def _apply(self, diff: DepthDiff) -> bool:
        try:
            applied = self.book.apply_diff(
                diff.bids, diff.asks, diff.first_seq, diff.last_seq, diff.ts_event
            )
        except SequenceGap as exc:
            self.stats.gaps += 1
            self.synced = False
            log.warning("%s; book unusable until the next snapshot", exc)
            return False
        if applied:
            self.stats.diffs_applied += 1
        else:
            self.stats.diffs_stale += 1
        return applied
