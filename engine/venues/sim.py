"""The embedded simulated market: a latent fair price and an order-flow book that follows it.

Why a model and not a random walk of quotes: the paper broker consumes liquidity from the very
same ``OrderBook`` objects, so the book has to behave like a real one when we trade into it
(a big buy lifts the offer, then the book refills). The flow is in the spirit of Cont, Stoikov &
Talreja (2010): limit orders arrive at power-law distances from the opposite best quote,
cancellations hit levels in proportion to their size, market orders with heavy-tailed sizes
walk the book. A latent fair price (GBM with jumps and a calm/active regime) steers the flow:
limit orders are referenced to it when it is nearer than the opposite quote, liquidity providers
requote at the touch in proportion to how far a side lags it, market orders lean toward it, and
quotes left on the wrong side of it are picked off or pulled. Event times come from a Hawkes
clock (bursts) per symbol, its baseline modulated by the same calm/active regime.

Every symbol has three seeded RNGs (clock, fair price, flow), so the fair path and the event
times do not depend on what we trade, and the stream never depends on how often
``step_until`` is called: events are drawn one by one, never "up to" the caller's time.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections.abc import Mapping
from decimal import Decimal

import numpy as np

from engine.book import OrderBook
from engine.model.instrument import Instrument
from engine.model.market import BookSide, LevelUpdate, MarketEvent, TradeTick
from engine.model.orders import OrderSide
from engine.venues.calibration import (
    SECONDS_PER_YEAR,
    SimSymbolParams,
    calibrate,
    default_params,
)

__all__ = ["SimMarket", "SimSymbolParams", "calibrate", "default_params"]

Candle = tuple[int, int, int, int, int, int]  # (ts_open_ns, o, h, l, c ticks, volume lots)

_NS = 1_000_000_000
_BID = BookSide.BID
_ASK = BookSide.ASK
_BUY = OrderSide.BUY
_SELL = OrderSide.SELL
_BURN_IN_PER_LEVEL = 30  # silent flow events per resting level to build the opening book
_EXTRA_LEVELS = 20  # levels kept beyond depth_levels before the farthest is dropped


def _rng_seed(seed: int, symbol: str, stream: str) -> int:
    digest = hashlib.sha256(f"{seed}|{symbol}|{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class _SymbolSim:
    """One symbol: its clock, its fair price and the flow that writes its book."""

    __slots__ = (
        "_alpha_h",
        "_cum_w",
        "_fair_ns",
        "_gap_cap",
        "_half",
        "_jump_p_per_s",
        "_jump_sd",
        "_kappa",
        "_level_w_total",
        "_lim_mu",
        "_lim_sigma",
        "_log_fair",
        "_max_levels",
        "_mo_cap",
        "_mo_scale",
        "_mo_tail_inv",
        "_mu",
        "_regime_q",
        "_rng_clock",
        "_rng_fair",
        "_rng_flow",
        "_sigma",
        "_skew",
        "_step",
        "_tol",
        "_w_empty",
        "active",
        "book",
        "excite",
        "next_ns",
        "p",
        "symbol",
        "trade_id",
    )

    def __init__(
        self, instrument: Instrument, p: SimSymbolParams, seed: int, start_ns: int, mult: float
    ) -> None:
        self.p = p
        self.symbol = instrument.symbol
        self.book = OrderBook(instrument)
        self.trade_id = 0
        sym = self.symbol
        self._rng_clock = random.Random(_rng_seed(seed, sym, "clock"))
        self._rng_fair = random.Random(_rng_seed(seed, sym, "fair"))
        self._rng_flow = random.Random(_rng_seed(seed, sym, "flow"))

        # Regimes: calm/active with stationary share `active_share`; the mean square vol factor
        # and the mean rate factor are both 1 so the long-run vol and rate are as calibrated.
        a = p.active_share
        calm_vol = 1.0 / math.sqrt((1 - a) + a * p.active_vol_ratio**2)
        calm_rate = 1.0 / ((1 - a) + a * p.active_rate_ratio)
        sigma_s = p.annual_vol / math.sqrt(SECONDS_PER_YEAR)
        jump_rate = p.jump_rate_per_hour / 3600.0
        jump_share = p.jump_var_share if jump_rate > 0 else 0.0
        diff_sigma = sigma_s * math.sqrt(1 - jump_share)
        self._sigma = (diff_sigma * calm_vol, diff_sigma * calm_vol * p.active_vol_ratio)
        to_active = 1.0 / p.regime_mean_s
        self._regime_q = (to_active, to_active * (1 - a) / a)
        self.active = 1 if self._rng_clock.random() < a else 0
        self._jump_p_per_s = jump_rate
        self._jump_sd = math.sqrt(jump_share * sigma_s**2 / jump_rate) if jump_rate else 0.0

        # Hawkes clock: lambda = mu_regime + excitation; each event adds branching * decay.
        total = p.event_rate * mult * (1 - p.hawkes_branching)
        self._mu = (total * calm_rate, total * calm_rate * p.active_rate_ratio)
        self._kappa = p.hawkes_decay
        self._alpha_h = p.hawkes_branching * p.hawkes_decay
        self.excite = 0.0

        start_ticks = instrument.price_to_ticks(p.start_price)
        self._log_fair = math.log(start_ticks)
        self._fair_ns = start_ns
        step = p.level_step_ticks
        self._step = step
        self._half = 1  # requotes sit this many ticks either side of fair
        self._gap_cap = 10.0 * step
        self._w_empty = p.requote_weight * 3.0
        self._tol = max(1, step)  # a quote this far on the wrong side of fair is stale
        self._skew = float(max(1, step))  # market-order side leans to fair on this scale
        self._max_levels = p.depth_levels + _EXTRA_LEVELS
        cum = 0.0
        cum_w: list[float] = []
        for i in range(1, p.depth_levels + 1):
            cum += i**-p.power_alpha
            cum_w.append(cum)
        self._cum_w = cum_w
        self._level_w_total = cum
        self._lim_mu = math.log(p.base_size_lots)
        self._lim_sigma = p.limit_size_sigma
        # Pareto(x_m, tail) has mean x_m * tail / (tail - 1).
        tail = p.trade_size_tail
        self._mo_scale = p.trade_size_lots * (tail - 1) / tail
        self._mo_tail_inv = 1.0 / tail
        self._mo_cap = 200 * p.trade_size_lots

        self._burn_in(start_ns)
        self.next_ns = start_ns
        self._draw_next()

    # ------------------------------------------------------------------ clock

    def _draw_next(self) -> None:
        """Next event time by Ogata thinning of the regime-modulated Hawkes intensity."""
        rng = self._rng_clock
        t = self.next_ns
        x = self.excite
        kappa = self._kappa
        while True:
            mu = self._mu[self.active]
            bound = mu + x
            w = -math.log(1.0 - rng.random()) / bound
            x *= math.exp(-kappa * w)
            t += int(w * _NS) + 1
            if rng.random() < 1.0 - math.exp(-self._regime_q[self.active] * w):
                self.active ^= 1
            if rng.random() * bound <= mu + x:
                break
        self.excite = x + self._alpha_h
        self.next_ns = t

    def _advance_fair(self, t: int) -> float:
        """Fair price in ticks at ``t`` (log-GBM step plus a possible jump)."""
        dt = (t - self._fair_ns) / _NS
        self._fair_ns = t
        if dt > 0:
            rng = self._rng_fair
            sig = self._sigma[self.active]
            self._log_fair += sig * math.sqrt(dt) * rng.gauss(0.0, 1.0) - 0.5 * sig * sig * dt
            if rng.random() < self._jump_p_per_s * dt:
                self._log_fair += rng.gauss(0.0, self._jump_sd)
        return math.exp(self._log_fair)

    @property
    def fair_ticks(self) -> float:
        return math.exp(self._log_fair)

    # ------------------------------------------------------------------ flow

    def process(self, t: int, out: list[MarketEvent]) -> None:
        """Apply the event due at ``t`` (= ``next_ns``) and draw the following one."""
        self._flow_event(self._advance_fair(t), t, out)
        self._draw_next()

    def _burn_in(self, start_ns: int) -> None:
        """Build the opening book by running the flow silently at the start price."""
        book = self.book
        scratch = OrderBook(book.instrument)
        self.book = scratch
        fair = math.exp(self._log_fair)
        sink: list[MarketEvent] = []
        for _ in range(int(_BURN_IN_PER_LEVEL * self.p.resting_levels)):
            self._flow_event(fair, start_ns, sink)
            sink.clear()
        self.book = book
        book.apply_snapshot(
            scratch.top(_BID, scratch.depth(_BID)),
            scratch.top(_ASK, scratch.depth(_ASK)),
            seq=0,
            ts_ns=start_ns,
        )
        self.trade_id = 0

    def _set(self, side: BookSide, price: int, size: int, t: int, out: list[MarketEvent]) -> None:
        book = self.book
        book.set_level(side, price, size)
        seq = book.seq + 1
        book.seq = seq
        book.ts_ns = t
        out.append(LevelUpdate(self.symbol, side, price, size, seq, t))

    def _market(
        self, taker: OrderSide, qty: int, limit: int | None, t: int, out: list[MarketEvent]
    ) -> None:
        """A market order of ``qty`` lots: one trade then one level update per level taken."""
        book = self.book
        side = _ASK if taker is _BUY else _BID
        for price, take in book.walk(taker, qty, limit):
            self.trade_id += 1
            out.append(TradeTick(self.symbol, price, take, taker, self.trade_id, t))
            self._set(side, price, book.size_at(side, price) - take, t, out)

    def _mo_size(self) -> int:
        """Pareto-distributed market-order size in lots (heavy tail, capped)."""
        qty = self._mo_scale * (1.0 - self._rng_flow.random()) ** -self._mo_tail_inv
        return max(1, min(self._mo_cap, int(qty)))

    def _flow_event(self, fair: float, t: int, out: list[MarketEvent]) -> None:
        book = self.book
        rng = self._rng_flow
        bb = book.best_bid()
        ba = book.best_ask()
        tol = self._tol
        # Quotes on the wrong side of fair are stale: an informed taker sweeps them or their
        # owner pulls them. This is what drags the book along with the fair price.
        if bb is not None and bb[0] > fair + tol:
            if rng.random() < self.p.pickoff_prob:
                self._market(_SELL, self._mo_size(), math.floor(fair + tol) + 1, t, out)
            else:
                self._set(_BID, bb[0], 0, t, out)
            return
        if ba is not None and ba[0] < fair - tol:
            if rng.random() < self.p.pickoff_prob:
                self._market(_BUY, self._mo_size(), math.ceil(fair - tol) - 1, t, out)
            else:
                self._set(_ASK, ba[0], 0, t, out)
            return

        p = self.p
        u = rng.random()
        if u < p.market_share:
            # Side leans toward fair: buys dominate when the book sits below it.
            if bb is not None and ba is not None:
                gap = (fair - 0.5 * (bb[0] + ba[0])) / self._skew
                p_buy = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, gap))))
            else:
                p_buy = 0.5
            taker = _BUY if rng.random() < p_buy else _SELL
            self._market(taker, self._mo_size(), None, t, out)
            return

        depth_bid = book.depth(_BID)
        depth_ask = book.depth(_ASK)
        max_levels = self._max_levels
        n_bid = depth_bid if depth_bid < max_levels else max_levels
        n_ask = depth_ask if depth_ask < max_levels else max_levels
        target = p.resting_levels
        # Limit arrivals: weight 1 per side (up to 4 on a depleted side: liquidity providers
        # step in where the book was taken out); cancellations: ~1 per side at the target
        # depth; requotes at the touch: in proportion to how far that side lags behind fair.
        w_cb = n_bid / target
        w_ca = n_ask / target
        w_lb = 1.0 + 3.0 * max(0.0, 1.0 - w_cb)
        w_la = 1.0 + 3.0 * max(0.0, 1.0 - w_ca)
        w_lim = w_lb + w_la
        half = self._half
        touch = p.requote_weight / self._step
        w_tb = touch * min(self._gap_cap, fair - half - bb[0]) if bb is not None else self._w_empty
        w_ta = touch * min(self._gap_cap, ba[0] - fair - half) if ba is not None else self._w_empty
        w_tb = max(0.0, w_tb)
        w_ta = max(0.0, w_ta)
        r = rng.random() * (w_lim + w_cb + w_ca + w_tb + w_ta)
        if r < w_lim:
            self._limit(_BID if r < w_lb else _ASK, fair, bb, ba, t, out)
        elif r < w_lim + w_cb + w_ca:
            self._cancel(_BID if r < w_lim + w_cb else _ASK, t, out)
        elif r < w_lim + w_cb + w_ca + w_tb:
            price = math.floor(fair) - half
            if ba is not None and price >= ba[0]:
                price = ba[0] - 1
            self._add(_BID, price, t, out)
        else:
            price = math.ceil(fair) + half
            if bb is not None and price <= bb[0]:
                price = bb[0] + 1
            self._add(_ASK, price, t, out)
        # Far from the touch the model keeps at most max_levels: the farthest one goes.
        if depth_bid > max_levels or depth_ask > max_levels:
            side = _BID if depth_bid >= depth_ask else _ASK
            far = book.top(side, book.depth(side))[-1][0]
            self._set(side, far, 0, t, out)

    def _limit(
        self,
        side: BookSide,
        fair: float,
        bb: tuple[int, int] | None,
        ba: tuple[int, int] | None,
        t: int,
        out: list[MarketEvent],
    ) -> None:
        """A limit order i steps from the opposite best quote (or from fair, if nearer)."""
        rng = self._rng_flow
        step = self._step
        x = rng.random() * self._level_w_total
        cum = self._cum_w
        i = 0
        while cum[i] < x:
            i += 1
        # The first level improves on the opposite quote by one tick (a tight touch, as CST's
        # unit-tick lattice has); deeper ones are spread over the coarser level step.
        dist = 1 if i == 0 else (i - 1) * step + int(rng.random() * step) + 2
        if side is _BID:
            ref = math.ceil(fair + self._half)
            if ba is not None and ba[0] < ref:
                ref = ba[0]
            price = ref - dist
        else:
            ref = math.floor(fair - self._half)
            if bb is not None and bb[0] > ref:
                ref = bb[0]
            price = ref + dist
        self._add(side, price, t, out)

    def _add(self, side: BookSide, price: int, t: int, out: list[MarketEvent]) -> None:
        """One limit order of a lognormal size joins the level at ``price``."""
        if price < 1:
            return
        size = max(1, int(self._rng_flow.lognormvariate(self._lim_mu, self._lim_sigma)))
        self._set(side, price, self.book.size_at(side, price) + size, t, out)

    def _cancel(self, side: BookSide, t: int, out: list[MarketEvent]) -> None:
        """Cancel one order's worth at a level picked in proportion to its size."""
        levels = self.book.top(side, self._max_levels)
        if not levels:
            return
        rng = self._rng_flow
        total = 0
        for _, size in levels:
            total += size
        x = rng.random() * total
        k = 0
        last = len(levels) - 1
        while k < last:
            x -= levels[k][1]
            if x < 0:
                break
            k += 1
        price, size = levels[k]
        chunk = max(1, int(rng.lognormvariate(self._lim_mu, self._lim_sigma)))
        self._set(side, price, max(0, size - chunk), t, out)


class SimMarket:
    """Simulated venue: books for each instrument driven by the model above.

    ``books`` are owned and mutated here; the paper broker reads and consumes the same objects
    (``set_level`` plus a ``seq`` bump), and the next sim events start from that state.
    """

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        seed: int,
        start_ns: int,
        *,
        rate_multiplier: float = 1.0,
        params: Mapping[str, SimSymbolParams] | None = None,
    ) -> None:
        if not rate_multiplier > 0:
            raise ValueError(f"rate_multiplier must be > 0, got {rate_multiplier}")
        chosen = dict(params) if params is not None else {}
        missing = [s for s in instruments if s not in chosen]
        if missing:
            chosen.update(default_params({s: instruments[s] for s in missing}))
        self.instruments = dict(instruments)
        self.params: dict[str, SimSymbolParams] = {s: chosen[s] for s in instruments}
        self.seed = seed
        self.start_ns = start_ns
        self.rate_multiplier = rate_multiplier
        self.now_ns = start_ns
        self._sims = [
            _SymbolSim(inst, self.params[sym], seed, start_ns, rate_multiplier)
            for sym, inst in self.instruments.items()
        ]
        self._by_symbol = {s.symbol: s for s in self._sims}
        self.books: dict[str, OrderBook] = {s.symbol: s.book for s in self._sims}
        self._heap = [(s.next_ns, i) for i, s in enumerate(self._sims)]
        heapq.heapify(self._heap)

    @property
    def next_event_ns(self) -> int | None:
        """When the next event is due (lets a caller sleep exactly that long)."""
        return self._heap[0][0] if self._heap else None

    def fair_price(self, symbol: str) -> Decimal:
        """The latent fair price at the symbol's last event, on the tick grid (diagnostics)."""
        sim = self._by_symbol[symbol]
        return sim.book.instrument.ticks_to_price(round(sim.fair_ticks))

    def step_until(self, ts_ns: int) -> list[MarketEvent]:
        """All events with ts <= ``ts_ns`` in time order, already applied to ``books``."""
        out: list[MarketEvent] = []
        heap = self._heap
        sims = self._sims
        while heap and heap[0][0] <= ts_ns:
            t, i = heap[0]
            sim = sims[i]
            sim.process(t, out)
            heapq.heapreplace(heap, (sim.next_ns, i))
        if ts_ns > self.now_ns:
            self.now_ns = ts_ns
        return out

    def history(self, symbol: str, candle_seconds: int, count: int) -> list[Candle]:
        """Warm-up candles, oldest first, the last one ending at the start (its close = start).

        Candles sit on the ``candle_seconds`` grid and only complete ones are returned: the last
        ends at ``floor(start_ns / candle_seconds)``, where the live candle begins.
        """
        if candle_seconds <= 0 or count < 0:
            raise ValueError("candle_seconds must be > 0 and count >= 0")
        if count == 0:
            return []
        return _history(
            symbol,
            self.params[symbol],
            self.instruments[symbol],
            self.seed,
            self.start_ns,
            candle_seconds,
            count,
        )


def _history(
    symbol: str,
    p: SimSymbolParams,
    instrument: Instrument,
    seed: int,
    start_ns: int,
    candle_seconds: int,
    count: int,
) -> list[Candle]:
    """GBM with a slowly varying vol run backwards from the start price, on its own RNG."""
    rng = np.random.default_rng(_rng_seed(seed, symbol, f"history/{candle_seconds}"))
    sub = 24  # path points per candle for high/low
    dt = candle_seconds / sub
    sigma = p.annual_vol / math.sqrt(SECONDS_PER_YEAR)
    # Log-vol AR(1) per candle, normalised so the mean variance is sigma^2.
    phi = 0.97
    log_v = np.empty(count)
    log_v[0] = rng.normal(0.0, 0.3 / math.sqrt(1 - phi**2))
    shocks = rng.normal(0.0, 0.3, count)
    for k in range(1, count):
        log_v[k] = phi * log_v[k - 1] + shocks[k]
    vol = np.exp(log_v)
    vol /= math.sqrt(float(np.mean(vol**2)))
    sig = np.repeat(sigma * vol, sub)
    inc = sig * math.sqrt(dt) * rng.standard_normal(count * sub) - 0.5 * sig**2 * dt
    start_ticks = instrument.price_to_ticks(p.start_price)
    # Point k is the log price at substep k; the last point (count*sub) is the start price.
    tail_sums = np.concatenate((np.cumsum(inc[::-1])[::-1], [0.0]))
    path = np.maximum(1, np.rint(np.exp(math.log(start_ticks) - tail_sums))).astype(np.int64)
    path[-1] = start_ticks
    grid = path[: count * sub].reshape(count, sub)
    closes = path[sub::sub]
    opens = grid[:, 0]
    highs = np.maximum(grid.max(axis=1), closes)
    lows = np.minimum(grid.min(axis=1), closes)
    # Volume: hourly typical, scaled to the candle, busier when the candle moved more.
    base = p.volume_per_hour_lots * candle_seconds / 3600.0
    move = (highs - lows) / (start_ticks * sigma * math.sqrt(candle_seconds))
    vols = base * rng.lognormal(-0.125, 0.5, count) * (0.5 + 0.5 * move / max(1e-9, move.mean()))
    interval = candle_seconds * _NS
    last_open = start_ns - start_ns % interval - interval
    first_open = last_open - (count - 1) * interval
    return [
        (
            first_open + k * interval,
            int(opens[k]),
            int(highs[k]),
            int(lows[k]),
            int(closes[k]),
            int(vols[k]),
        )
        for k in range(count)
    ]
