"""OrderBook: unit tests plus a hypothesis state machine checked against a plain-dict model."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engine.book import OrderBook, SequenceGap
from engine.model.instrument import DEFAULT_INSTRUMENTS
from engine.model.market import BookSide, LevelUpdate
from engine.model.orders import OrderSide

BTC = DEFAULT_INSTRUMENTS["BTC/USDT"]
BID, ASK = BookSide.BID, BookSide.ASK
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def make_book(
    bids: list[tuple[int, int]] | None = None,
    asks: list[tuple[int, int]] | None = None,
    seq: int = 100,
) -> OrderBook:
    book = OrderBook(BTC)
    book.apply_snapshot(
        bids if bids is not None else [(100, 5), (99, 3), (97, 10)],
        asks if asks is not None else [(101, 2), (102, 4), (105, 7)],
        seq,
        ts_ns=1_000,
    )
    return book


def upd(side: BookSide, price: int, size: int, seq: int, ts: int = 7) -> LevelUpdate:
    return LevelUpdate(BTC.symbol, side, price, size, seq, ts)


# --------------------------------------------------------------------------- unit tests


def test_empty_book_has_no_top() -> None:
    book = OrderBook(BTC)
    assert book.symbol == "BTC/USDT"
    assert (book.seq, book.ts_ns, book.updates) == (0, 0, 0)
    assert book.best_bid() is None
    assert book.best_ask() is None
    assert book.mid_x2() is None
    assert book.mid() is None
    assert not book.is_crossed()
    assert book.top(BID, 5) == []
    assert book.walk(BUY, 10) == []
    view = book.view()
    assert view.bids == ()
    assert view.asks == ()
    assert view.mid is None


def test_snapshot_replaces_book_and_skips_zero_sizes() -> None:
    book = make_book()
    book.apply_snapshot([(90, 1), (91, 0)], [(95, 2)], seq=7, ts_ns=42)
    assert book.top(BID, 10) == [(90, 1)]
    assert book.top(ASK, 10) == [(95, 2)]
    assert (book.seq, book.ts_ns) == (7, 42)
    assert book.depth(BID) == 1
    assert book.depth(ASK) == 1


def test_snapshot_refuses_negative_size_and_keeps_old_book() -> None:
    book = make_book()
    with pytest.raises(ValueError, match="negative"):
        book.apply_snapshot([(90, -1)], [], seq=7)
    assert book.best_bid() == (100, 5)
    assert book.seq == 100


def test_best_levels_mid_and_depth() -> None:
    book = make_book()
    assert book.best_bid() == (100, 5)
    assert book.best_ask() == (101, 2)
    assert book.mid_x2() == 201
    assert book.mid() == Decimal("1.005")  # (1.00 + 1.01) / 2, exact
    assert book.depth(BID) == 3
    assert book.depth(ASK) == 3
    assert book.size_at(BID, 99) == 3
    assert book.size_at(ASK, 99) == 0


def test_set_level_adds_changes_and_removes() -> None:
    book = make_book()
    book.set_level(BID, 100, 9)
    book.set_level(BID, 100, 9)  # same again: idempotent
    book.set_level(ASK, 103, 1)
    book.set_level(ASK, 101, 0)
    book.set_level(ASK, 150, 0)  # removing an absent level is a no-op (Binance sends those)
    assert book.best_bid() == (100, 9)
    assert book.top(ASK, 10) == [(102, 4), (103, 1), (105, 7)]
    assert book.updates == 5


def test_set_level_refuses_negative_size() -> None:
    book = make_book()
    with pytest.raises(ValueError, match="negative"):
        book.set_level(ASK, 101, -1)
    assert book.best_ask() == (101, 2)


def test_top_and_cumulative_are_best_first() -> None:
    book = make_book()
    assert book.top(BID, 2) == [(100, 5), (99, 3)]
    assert book.top(ASK, 10) == [(101, 2), (102, 4), (105, 7)]
    assert book.top(BID, 0) == []
    assert book.cumulative(BID, 3) == [(100, 5), (99, 8), (97, 18)]
    assert book.cumulative(ASK, 2) == [(101, 2), (102, 6)]


def test_walk_consumes_opposite_side_best_first() -> None:
    book = make_book()
    assert book.walk(BUY, 5) == [(101, 2), (102, 3)]
    assert book.walk(SELL, 9) == [(100, 5), (99, 3), (97, 1)]
    assert book.walk(BUY, 100) == [(101, 2), (102, 4), (105, 7)]  # only what is there
    assert book.walk(BUY, 0) == []
    assert book.walk(SELL, -3) == []


def test_walk_stops_at_limit_price_inclusive() -> None:
    book = make_book()
    assert book.walk(BUY, 100, limit_ticks=102) == [(101, 2), (102, 4)]
    assert book.walk(BUY, 100, limit_ticks=100) == []
    assert book.walk(SELL, 100, limit_ticks=99) == [(100, 5), (99, 3)]
    assert book.walk(SELL, 100, limit_ticks=101) == []


def test_walk_does_not_mutate() -> None:
    book = make_book()
    before = (book.top(BID, 10), book.top(ASK, 10), book.updates, book.seq)
    book.walk(BUY, 1_000)
    book.walk(SELL, 1_000, limit_ticks=98)
    assert (book.top(BID, 10), book.top(ASK, 10), book.updates, book.seq) == before


def test_is_crossed_detects_bid_at_or_above_ask() -> None:
    book = make_book()
    assert not book.is_crossed()
    book.set_level(BID, 101, 1)
    assert book.is_crossed()  # locked counts as crossed: no exchange book rests that way
    book.set_level(BID, 101, 0)
    book.set_level(ASK, 99, 1)
    assert book.is_crossed()


def test_apply_update_strict_sequence() -> None:
    book = make_book(seq=100)
    book.apply_update(upd(BID, 100, 8, seq=101, ts=55))
    assert book.best_bid() == (100, 8)
    assert (book.seq, book.ts_ns, book.updates) == (101, 55, 1)

    with pytest.raises(SequenceGap) as info:
        book.apply_update(upd(BID, 100, 1, seq=103))
    assert (info.value.expected, info.value.got) == (102, 103)
    assert book.best_bid() == (100, 8)  # nothing applied on a gap
    assert book.seq == 101


def test_apply_update_ignores_stale() -> None:
    book = make_book(seq=100)
    book.apply_update(upd(BID, 100, 1, seq=100))
    book.apply_update(upd(BID, 100, 1, seq=3))
    assert book.best_bid() == (100, 5)
    assert (book.seq, book.updates) == (100, 0)


def test_apply_update_refuses_another_symbol() -> None:
    book = make_book(seq=100)
    with pytest.raises(ValueError, match="ETH/USDT"):
        book.apply_update(LevelUpdate("ETH/USDT", BID, 100, 1, 101, 0))
    assert book.seq == 100


def test_apply_diff_first_event_may_straddle_snapshot() -> None:
    book = make_book(seq=100)
    assert book.apply_diff([(100, 0)], [(101, 9)], first_seq=95, last_seq=104, ts_ns=9)
    assert book.best_bid() == (99, 3)
    assert book.best_ask() == (101, 9)
    assert (book.seq, book.ts_ns, book.updates) == (104, 9, 2)


def test_apply_diff_drops_events_older_than_the_book() -> None:
    book = make_book(seq=100)
    assert not book.apply_diff([(100, 0)], [], first_seq=90, last_seq=100, ts_ns=9)
    assert book.best_bid() == (100, 5)
    assert (book.seq, book.ts_ns, book.updates) == (100, 1_000, 0)


def test_apply_diff_first_event_must_cover_next_id() -> None:
    book = make_book(seq=100)
    with pytest.raises(SequenceGap) as info:
        book.apply_diff([(100, 0)], [], first_seq=102, last_seq=110, ts_ns=9)
    assert (info.value.expected, info.value.got) == (101, 102)
    assert book.best_bid() == (100, 5)


def test_apply_diff_later_events_must_be_contiguous() -> None:
    book = make_book(seq=100)
    assert book.apply_diff([], [(101, 1)], first_seq=101, last_seq=105, ts_ns=1)
    # straddling is only allowed for the first event after a snapshot
    with pytest.raises(SequenceGap) as info:
        book.apply_diff([], [(101, 3)], first_seq=104, last_seq=108, ts_ns=2)
    assert (info.value.expected, info.value.got) == (106, 104)
    with pytest.raises(SequenceGap):
        book.apply_diff([], [(101, 3)], first_seq=107, last_seq=108, ts_ns=2)
    assert book.best_ask() == (101, 1)
    assert book.apply_diff([], [(101, 3)], first_seq=106, last_seq=108, ts_ns=2)
    assert book.best_ask() == (101, 3)


def test_snapshot_rearms_the_straddle_rule() -> None:
    book = make_book(seq=100)
    book.apply_diff([], [], first_seq=101, last_seq=101, ts_ns=1)
    book.apply_snapshot([(100, 1)], [(101, 1)], seq=200)
    assert book.apply_diff([], [], first_seq=190, last_seq=205, ts_ns=2)
    assert book.seq == 205


def test_view_converts_exactly_with_the_instrument() -> None:
    book = OrderBook(BTC)
    book.apply_snapshot(
        [(6_183_763, 378_826), (6_183_762, 61_700)],
        [(6_183_764, 154_698)],
        seq=50_093_239_218,
        ts_ns=123,
    )
    view = book.view(depth=1)
    assert view.symbol == "BTC/USDT"
    assert view.bids == ((Decimal("61837.63"), Decimal("3.78826")),)
    assert view.asks == ((Decimal("61837.64"), Decimal("1.54698")),)
    assert (view.seq, view.ts_ns) == (50_093_239_218, 123)
    assert view.mid == Decimal("61837.635")
    assert book.mid() == view.mid
    assert len(book.view(depth=20).bids) == 2


def test_view_estimate_matches_walk_notional() -> None:
    """BookView.estimate (Decimal, UI side) and walk (ints, broker side) must agree exactly."""
    book = make_book()
    qty_lots = 5
    levels = book.walk(BUY, qty_lots)
    notional = sum((BTC.tick_size * BTC.lot_size * p * n for p, n in levels), Decimal(0))
    est = book.view().estimate(BUY, BTC.lots_to_qty(qty_lots))
    assert est.notional == notional
    assert est.filled_qty == BTC.lots_to_qty(qty_lots)
    assert est.worst_price == BTC.ticks_to_price(levels[-1][0])


def test_top_stays_right_through_sublist_splits_merges_and_snapshots() -> None:
    """The fast best-level reads rely on SortedDict's internal lists being updated in place.
    Thousands of levels growing near the touch, then draining, force sublist splits and merges
    (load factor 1000); snapshots clear and refill them."""
    rng = random.Random(7)
    book = OrderBook(BTC)
    for round_ in range(2):
        bids = {p: rng.randint(1, 9) for p in rng.sample(range(0, 50_000), 3_000)}
        asks = {p: rng.randint(1, 9) for p in rng.sample(range(50_000, 100_000), 3_000)}
        book.apply_snapshot(bids.items(), asks.items(), seq=round_)
        for p_insert, steps in ((0.8, 3_000), (0.2, 5_000)):  # grow, then drain
            for step in range(steps):
                side = rng.choice((BID, ASK))
                model = bids if side is BID else asks
                top_removed = False
                if rng.random() < p_insert or not model:
                    near = rng.randrange(0, 5_000)  # inserts crowd the touch, as in real books
                    price, size = (49_999 - near if side is BID else 50_000 + near), 1
                elif rng.random() < 0.5:
                    price, size, top_removed = (max if side is BID else min)(model), 0, True
                else:
                    price, size = rng.choice(list(model)), 0
                book.set_level(side, price, size)
                if size:
                    model[price] = size
                else:
                    del model[price]
                if top_removed or step % 50 == 0:
                    assert book.best_bid() == (max(bids.items()) if bids else None)
                    assert book.best_ask() == (min(asks.items()) if asks else None)
            assert book.top(BID, 10**6) == sorted(bids.items(), reverse=True)
            assert book.top(ASK, 10**6) == sorted(asks.items())
            assert book.mid_x2() == max(bids) + min(asks)
            assert not book.is_crossed()
            book.set_level(BID, min(asks), 1)
            assert book.is_crossed()
            book.set_level(BID, min(asks), 0)
    book.apply_snapshot([], [], seq=9)
    assert book.best_bid() is None
    assert book.best_ask() is None
    assert book.mid_x2() is None


# --------------------------------------------------------------------------- properties

PRICES = st.integers(min_value=1_000, max_value=1_200)
SIZES = st.integers(min_value=1, max_value=500)


@st.composite
def snapshots(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """An uncrossed snapshot: bids strictly below a split price, asks at or above it."""
    split = draw(PRICES)
    bid_prices = draw(st.sets(st.integers(split - 60, split - 1), max_size=30))
    ask_prices = draw(st.sets(st.integers(split, split + 60), max_size=30))
    bids = [(p, draw(SIZES)) for p in sorted(bid_prices)]
    asks = [(p, draw(SIZES)) for p in sorted(ask_prices)]
    return bids, asks


def model_walk(model: dict[int, int], best_first: list[int], qty: int) -> list[tuple[int, int]]:
    out = []
    for p in best_first:
        if qty <= 0:
            break
        take = min(qty, model[p])
        out.append((p, take))
        qty -= take
    return out


class BookMachine(RuleBasedStateMachine):
    """Random snapshots, updates, diffs and gaps; the book must equal a dict model throughout."""

    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook(BTC)
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    @initialize(snap=snapshots(), seq=st.integers(0, 10**12))
    def load(self, snap: tuple[list[tuple[int, int]], list[tuple[int, int]]], seq: int) -> None:
        self.reset(snap, seq)

    def reset(self, snap: tuple[list[tuple[int, int]], list[tuple[int, int]]], seq: int) -> None:
        bids, asks = snap
        self.book.apply_snapshot(bids, asks, seq)
        self.bids, self.asks = dict(bids), dict(asks)

    def consistent(self, side: BookSide, price: int, size: int) -> list[tuple[BookSide, int, int]]:
        """The level change plus the removals an exchange would have made first (a crossing
        order trades the opposite levels away before it can rest)."""
        changes: list[tuple[BookSide, int, int]] = []
        if size:
            if side is BID:
                changes += [(ASK, p, 0) for p in sorted(self.asks) if p <= price]
            else:
                changes += [(BID, p, 0) for p in sorted(self.bids) if p >= price]
        return [*changes, (side, price, size)]

    def apply_model(self, side: BookSide, price: int, size: int) -> None:
        model = self.bids if side is BID else self.asks
        if size:
            model[price] = size
        else:
            model.pop(price, None)

    @rule(snap=snapshots(), seq=st.integers(0, 10**12))
    def snapshot(self, snap: tuple[list[tuple[int, int]], list[tuple[int, int]]], seq: int) -> None:
        self.reset(snap, seq)

    @rule(
        side=st.sampled_from(BookSide),
        price=PRICES,
        size=st.one_of(st.just(0), SIZES),
    )
    def update(self, side: BookSide, price: int, size: int) -> None:
        for s, p, n in self.consistent(side, price, size):
            before = self.book.updates
            self.book.apply_update(upd(s, p, n, self.book.seq + 1))
            self.apply_model(s, p, n)
            assert self.book.updates == before + 1

    @rule(
        changes=st.lists(
            st.tuples(st.sampled_from(BookSide), PRICES, st.one_of(st.just(0), SIZES)),
            min_size=0,
            max_size=8,
        ),
        extra_ids=st.integers(0, 5),
    )
    def diff(self, changes: list[tuple[BookSide, int, int]], extra_ids: int) -> None:
        flat: list[tuple[BookSide, int, int]] = []
        for side, price, size in changes:
            for change in self.consistent(side, price, size):
                flat.append(change)
                self.apply_model(*change)
        # one diff carries the final size per level (Binance aggregates within the window)
        bids = {p: n for s, p, n in flat if s is BID}
        asks = {p: n for s, p, n in flat if s is ASK}
        first = self.book.seq + 1
        last = first + len(flat) + extra_ids
        assert self.book.apply_diff(bids.items(), asks.items(), first, last, ts_ns=last)
        assert self.book.seq == last

    @rule(skip=st.integers(1, 50), side=st.sampled_from(BookSide), price=PRICES)
    def gap(self, skip: int, side: BookSide, price: int) -> None:
        seq = self.book.seq
        with pytest.raises(SequenceGap) as info:
            self.book.apply_update(upd(side, price, 1, seq + 1 + skip))
        assert (info.value.expected, info.value.got) == (seq + 1, seq + 1 + skip)
        with pytest.raises(SequenceGap):
            self.book.apply_diff([(price, 1)], [], seq + 1 + skip, seq + 5 + skip, ts_ns=0)
        assert self.book.seq == seq

    @rule(back=st.integers(0, 20), side=st.sampled_from(BookSide), price=PRICES)
    def stale(self, back: int, side: BookSide, price: int) -> None:
        seq = self.book.seq
        self.book.apply_update(upd(side, price, 1, seq - back))
        assert not self.book.apply_diff([(price, 1)], [], seq - back - 3, seq - back, ts_ns=0)
        assert self.book.seq == seq

    @precondition(lambda self: self.bids or self.asks)
    @rule(taker=st.sampled_from(OrderSide), qty=st.integers(1, 3_000), data=st.data())
    def walk(self, taker: OrderSide, qty: int, data: st.DataObject) -> None:
        model = self.asks if taker is BUY else self.bids
        levels = sorted(model, reverse=taker is SELL)
        limit = data.draw(st.one_of(st.none(), PRICES), label="limit")
        if limit is not None:
            levels = [p for p in levels if (p <= limit if taker is BUY else p >= limit)]
        got = self.book.walk(taker, qty, limit)
        assert got == model_walk(model, levels, qty)

        taken = sum(n for _, n in got)
        available = sum(model[p] for p in levels)
        assert taken == min(qty, available)
        assert all(0 < n <= model[p] for p, n in got)
        prices = [p for p, _ in got]
        assert prices == sorted(prices, reverse=taker is SELL)
        assert len(set(prices)) == len(prices)
        if got:
            vwap = Fraction(sum(p * n for p, n in got), taken)
            assert min(prices) <= vwap <= max(prices)
            assert all(n == model[p] for p, n in got[:-1])  # only the last level is partial

    @invariant()
    def matches_model(self) -> None:
        book = self.book
        assert book.top(BID, 10**6) == sorted(self.bids.items(), reverse=True)
        assert book.top(ASK, 10**6) == sorted(self.asks.items())
        assert book.depth(BID) == len(self.bids)
        assert book.depth(ASK) == len(self.asks)
        assert book.best_bid() == (max(self.bids.items()) if self.bids else None)
        assert book.best_ask() == (min(self.asks.items()) if self.asks else None)

    @invariant()
    def never_crossed(self) -> None:
        assert not self.book.is_crossed()
        bid, ask = self.book.best_bid(), self.book.best_ask()
        if bid and ask:
            assert bid[0] < ask[0]
            assert self.book.mid_x2() == bid[0] + ask[0]

    @invariant()
    def top_sorted_and_cumulative_monotone(self) -> None:
        for side, descending in ((BID, True), (ASK, False)):
            top = self.book.top(side, 10)
            prices = [p for p, _ in top]
            assert prices == sorted(prices, reverse=descending)
            assert len(set(prices)) == len(prices)
            cum = self.book.cumulative(side, 10)
            assert [p for p, _ in cum] == prices
            totals = [c for _, c in cum]
            assert all(a < b for a, b in pairwise(totals))
            assert totals[-1:] == ([sum(n for _, n in top)] if top else [])


BookMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBookMachine = BookMachine.TestCase


@settings(max_examples=200, deadline=None)
@given(
    snap=snapshots(),
    taker=st.sampled_from(OrderSide),
    qty=st.integers(1, 20_000),
    limit=st.one_of(st.none(), PRICES),
)
def test_walk_never_exceeds_available_and_vwap_within_levels(
    snap: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    taker: OrderSide,
    qty: int,
    limit: int | None,
) -> None:
    bids, asks = snap
    book = OrderBook(BTC)
    book.apply_snapshot(bids, asks, seq=1)
    got = book.walk(taker, qty, limit)
    side_levels = asks if taker is BUY else bids
    eligible = [
        (p, n)
        for p, n in side_levels
        if limit is None or (p <= limit if taker is BUY else p >= limit)
    ]
    taken = sum(n for _, n in got)
    assert taken == min(qty, sum(n for _, n in eligible))
    if got:
        vwap = Fraction(sum(p * n for p, n in got), taken)
        assert got[0][0] == (min if taker is BUY else max)(p for p, _ in eligible)
        assert min(p for p, _ in got) <= vwap <= max(p for p, _ in got)
        if limit is not None:
            assert all((p <= limit) if taker is BUY else (p >= limit) for p, _ in got)


@settings(max_examples=100, deadline=None)
@given(snap=snapshots(), seq=st.integers(0, 10**9), jump=st.integers(2, 10**6))
def test_gap_raises_for_any_jump(
    snap: tuple[list[tuple[int, int]], list[tuple[int, int]]], seq: int, jump: int
) -> None:
    book = OrderBook(BTC)
    book.apply_snapshot(*snap, seq=seq)
    with pytest.raises(SequenceGap):
        book.apply_diff([], [], seq + jump, seq + jump + 3, ts_ns=0)
    book.apply_diff([], [], seq + 1, seq + 1, ts_ns=0)
    with pytest.raises(SequenceGap):
        book.apply_update(upd(BID, 1_000, 1, seq + 1 + jump))
