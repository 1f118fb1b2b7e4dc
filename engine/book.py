"""L2 order book in integer ticks and lots.

Two ``SortedDict``s (price ticks -> lots) keep both sides ordered; the best level is the last bid
key and the first ask key, both O(1) reads. Sizes are absolute (exchange style): writing 0 removes
a level. Everything here is ints so the hot path stays cheap; ``view`` turns the top into
``Decimal`` for other threads.

Sequence rules: ``apply_update`` expects a gap-free stream (``seq + 1``) as our own sim produces;
``apply_diff`` follows Binance's documented depth-stream procedure (``U``/``u`` ranges, the first
event after a snapshot may straddle ``lastUpdateId + 1``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from itertools import islice

from sortedcontainers import SortedDict

from engine.model.instrument import Instrument
from engine.model.market import BookSide, LevelUpdate
from engine.model.orders import OrderSide
from engine.snapshot import BookView

Level = tuple[int, int]  # (price_ticks, size_lots)


class SequenceGap(Exception):
    """An update does not continue the book's sequence: the book must be resynchronised."""

    def __init__(self, symbol: str, expected: int, got: int) -> None:
        super().__init__(f"{symbol}: sequence gap, expected {expected}, got {got}")
        self.symbol = symbol
        self.expected = expected
        self.got = got


class OrderBook:
    """Aggregated price levels of one instrument; mutated only by its owner (the engine thread)."""

    __slots__ = (
        "_ask_lists",
        "_asks",
        "_bid_maxes",
        "_bids",
        "_fresh",
        "instrument",
        "seq",
        "symbol",
        "ts_ns",
        "updates",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.seq = 0
        self.ts_ns = 0
        self.updates = 0  # level changes applied (set_level / update / each level of a diff)
        self._bids: SortedDict = SortedDict()
        self._asks: SortedDict = SortedDict()
        # The top is read after every diff, and ``peekitem`` costs ~3x a plain index. SortedDict
        # keeps its keys in a SortedList of sublists: ``_maxes[-1]`` is the highest key and
        # ``_lists[0][0]`` the lowest. Both lists are mutated in place for the object's lifetime
        # (sortedcontainers 2.x, frozen since 2021; the property tests pin the behaviour), so
        # holding them halves the cost of a diff plus a top read.
        self._bid_maxes: list[int] = self._bids._list._maxes
        self._ask_lists: list[list[int]] = self._asks._list._lists
        # True until the first diff after a snapshot (Binance's straddle rule applies to it only).
        self._fresh = False

    # ------------------------------------------------------------------ mutation

    def apply_snapshot(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        seq: int,
        ts_ns: int = 0,
    ) -> None:
        """Replace the whole book; zero sizes are skipped, negative ones refused."""
        new_bids: dict[int, int] = {}
        new_asks: dict[int, int] = {}
        for target, levels in ((new_bids, bids), (new_asks, asks)):
            for price, size in levels:
                if size < 0:
                    raise ValueError(f"{self.symbol}: negative size {size} at {price}")
                if size:
                    target[price] = size
                else:
                    target.pop(price, None)
        self._bids.clear()
        self._asks.clear()
        self._bids.update(new_bids)
        self._asks.update(new_asks)
        self.seq = seq
        self.ts_ns = ts_ns
        self._fresh = True

    def set_level(self, side: BookSide, price_ticks: int, size_lots: int) -> None:
        """Write one level without any sequence check (sim, broker consuming liquidity)."""
        book = self._bids if side is BookSide.BID else self._asks
        if size_lots > 0:
            book[price_ticks] = size_lots
        elif size_lots == 0:
            book.pop(price_ticks, None)
        else:
            raise ValueError(f"{self.symbol}: negative size {size_lots} at {price_ticks}")
        self.updates += 1

    def apply_update(self, u: LevelUpdate) -> None:
        """Apply one level update of a gap-free stream; stale ones (seq <= ours) are ignored."""
        seq = u.seq
        if seq != self.seq + 1:
            if seq <= self.seq:
                return
            raise SequenceGap(self.symbol, self.seq + 1, seq)
        if u.symbol != self.symbol:
            raise ValueError(f"update for {u.symbol} applied to the {self.symbol} book")
        book = self._bids if u.side is BookSide.BID else self._asks
        size = u.size_lots
        if size > 0:
            book[u.price_ticks] = size
        elif size == 0:
            book.pop(u.price_ticks, None)
        else:
            raise ValueError(f"{self.symbol}: negative size {size} at {u.price_ticks}")
        self.updates += 1
        self.seq = seq
        self.ts_ns = u.ts_ns
        self._fresh = False

    def apply_diff(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        first_seq: int,
        last_seq: int,
        ts_ns: int,
    ) -> bool:
        """Apply one Binance depth event covering update ids ``first_seq..last_seq``.

        Returns False (book untouched) when the event is entirely older than the book; raises
        ``SequenceGap`` (book untouched) when updates are missing between the book and the event.
        A negative size raises ``ValueError`` part-way through: the book then needs a snapshot.
        """
        seq = self.seq
        if last_seq <= seq:
            return False
        if self._fresh:
            if not first_seq <= seq + 1 <= last_seq:
                raise SequenceGap(self.symbol, seq + 1, first_seq)
        elif first_seq != seq + 1:
            raise SequenceGap(self.symbol, seq + 1, first_seq)
        n = 0
        for book, levels in ((self._bids, bids), (self._asks, asks)):
            for price, size in levels:
                if size > 0:
                    book[price] = size
                elif size == 0:
                    book.pop(price, None)
                else:
                    raise ValueError(f"{self.symbol}: negative size {size} at {price}")
                n += 1
        self.updates += n
        self.seq = last_seq
        self.ts_ns = ts_ns
        self._fresh = False
        return True

    # ------------------------------------------------------------------ reads

    def best_bid(self) -> tuple[int, int] | None:
        maxes = self._bid_maxes
        if not maxes:
            return None
        price = maxes[-1]
        size: int = self._bids[price]
        return price, size

    def best_ask(self) -> tuple[int, int] | None:
        lists = self._ask_lists
        if not lists:
            return None
        price = lists[0][0]
        size: int = self._asks[price]
        return price, size

    def mid_x2(self) -> int | None:
        """Bid plus ask in ticks: twice the mid, kept an int so it is exact."""
        if not self._bid_maxes or not self._ask_lists:
            return None
        return self._bid_maxes[-1] + self._ask_lists[0][0]

    def mid(self) -> Decimal | None:
        x2 = self.mid_x2()
        if x2 is None:
            return None
        return self.instrument.tick_size * x2 / 2

    def size_at(self, side: BookSide, price_ticks: int) -> int:
        book = self._bids if side is BookSide.BID else self._asks
        size: int = book.get(price_ticks, 0)
        return size

    def _iter_best_first(self, side: BookSide) -> Iterator[int]:
        prices: Iterator[int] = reversed(self._bids) if side is BookSide.BID else iter(self._asks)
        return prices

    def top(self, side: BookSide, n: int) -> list[tuple[int, int]]:
        """Up to ``n`` levels, best first."""
        if n <= 0:
            return []
        book = self._bids if side is BookSide.BID else self._asks
        return [(p, book[p]) for p in islice(self._iter_best_first(side), n)]

    def cumulative(self, side: BookSide, n: int) -> list[tuple[int, int]]:
        """Up to ``n`` levels best first with the running total of lots (a depth chart)."""
        out: list[tuple[int, int]] = []
        total = 0
        for price, size in self.top(side, n):
            total += size
            out.append((price, total))
        return out

    def walk(
        self, taker_side: OrderSide, qty_lots: int, limit_ticks: int | None = None
    ) -> list[tuple[int, int]]:
        """Levels a taker of ``qty_lots`` would consume, best first, as (price, lots taken).

        A BUY takes asks up to ``limit_ticks`` inclusive, a SELL takes bids down to it. The book is
        not changed: the caller (the paper broker) decides whether to consume liquidity.
        """
        if qty_lots <= 0:
            return []
        if taker_side is OrderSide.BUY:
            book = self._asks
            prices = iter(book) if limit_ticks is None else book.irange(maximum=limit_ticks)
        else:
            book = self._bids
            prices = (
                reversed(book)
                if limit_ticks is None
                else book.irange(minimum=limit_ticks, reverse=True)
            )
        out: list[tuple[int, int]] = []
        left = qty_lots
        for price in prices:
            size: int = book[price]
            take = size if size < left else left
            out.append((price, take))
            left -= take
            if not left:
                break
        return out

    def is_crossed(self) -> bool:
        if not self._bid_maxes or not self._ask_lists:
            return False
        return self._bid_maxes[-1] >= self._ask_lists[0][0]

    def depth(self, side: BookSide) -> int:
        return len(self._bids if side is BookSide.BID else self._asks)

    def view(self, depth: int = 20) -> BookView:
        """Immutable top-``depth`` copy with exact Decimal prices and quantities."""
        tick = self.instrument.tick_size
        lot = self.instrument.lot_size
        return BookView(
            symbol=self.symbol,
            bids=tuple((tick * p, lot * s) for p, s in self.top(BookSide.BID, depth)),
            asks=tuple((tick * p, lot * s) for p, s in self.top(BookSide.ASK, depth)),
            seq=self.seq,
            ts_ns=self.ts_ns,
        )

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.symbol!r}, seq={self.seq}, bid={self.best_bid()}, "
            f"ask={self.best_ask()}, levels={len(self._bids)}/{len(self._asks)})"
        )
