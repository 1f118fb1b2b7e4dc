"""``CcxtMarketData``: a ccxt.pro exchange as a push-based ``MarketDataSource``.

ccxt keeps the book (snapshot + ``U``/``u`` diffs, its sequence check left on) but recovers from
nothing by itself: it reconnects only when ``watch_*`` is called again, ignores ``Retry-After``,
notices no stall, and one malformed frame leaves ``watch_order_book`` waiting for minutes. So
each stream (one book, one trade tape per symbol) runs its own loop here:

- a watchdog per stream: no message on its connection for ``stale_after_s`` (a stall, or
  ccxt's receive loop stopped by a malformed frame), or messages but no book for
  ``resync_timeout_s``, closes the stream's connection and the watch starts again;
- any ``ccxt.BaseError`` (``NetworkError``, ``ChecksumError``/``InvalidNonce`` after a gap,
  plain ``OperationFailed`` for an HTTP 500 during the snapshot) closes the connection and
  retries after an exponential backoff with jitter, never sooner than ``Retry-After``;
- every book is checked (crossed, off-grid, update id going back) before it is applied; a bad
  one is a resync.

Books are converted to the instrument's grid exactly (ccxt's float levels through their
shortest ``repr``, which round-trips Binance's decimal strings) and applied to the source's own
``OrderBook``; the changed levels are pushed as ``LevelUpdate``s carrying the exchange update id
(``seq``) and the exchange timestamp (``ts_ns``). Receive latency (our clock minus the
exchange's event time) and the book-apply time are kept per symbol.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro

from engine.book import OrderBook
from engine.model.instrument import Instrument
from engine.model.market import BookSide, LevelUpdate, MarketEvent, TradeTick
from engine.model.orders import OrderSide
from engine.venues.base import FeedHealth, HealthChange, MarketDataSink
from engine.venues.ccxt.backoff import Backoff, retry_after_s

log = logging.getLogger(__name__)

_LATENCY_SAMPLES = 10_000
_CLOSE_TIMEOUT_S = 2.0


class BookIntegrityError(ccxt.BaseError):  # type: ignore[misc]
    """A book ccxt handed over is not usable (crossed, off the grid, update id going back)."""


@dataclass(frozen=True, slots=True)
class CcxtFeedConfig:
    """One ccxt market-data connection. ``api_url``/``ws_url`` point it at a testnet, a proxy
    or an emulator (Binance: ``http://host:port`` and ``ws://host:port/stream``)."""

    exchange: str = "binance"
    symbols: tuple[str, ...] = ("BTC/USDT",)
    market_types: tuple[str, ...] = ("spot",)
    api_url: str | None = None
    ws_url: str | None = None
    trades: bool = True
    stale_after_s: float = 5.0  # no message on the book's connection this long: stall, reconnect
    # The same for the trade tape: a quiet market trades rarely, but Binance pings every 20 s.
    trade_stale_after_s: float = 60.0
    resync_timeout_s: float = 30.0  # messages arrive but no book this long: reconnect
    backoff_base_s: float = 0.05
    backoff_cap_s: float = 10.0
    book_depth: int = 1000
    # The hot backup: REST polling of the book on a second client, serving when the primary
    # stream has published nothing for failover_after_s. None: no backup.
    backup_poll_s: float | None = None
    backup_depth: int = 100
    failover_after_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols must not be empty")
        for name in ("stale_after_s", "trade_stale_after_s", "resync_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.backoff_base_s <= self.backoff_cap_s:
            raise ValueError("need 0 < backoff_base_s <= backoff_cap_s")
        if self.backup_poll_s is not None and not self.backup_poll_s > 0:
            raise ValueError(f"backup_poll_s must be > 0, got {self.backup_poll_s}")
        if not self.failover_after_s > 0:
            raise ValueError(f"failover_after_s must be > 0, got {self.failover_after_s}")
        if self.book_depth < 1 or self.backup_depth < 1:
            raise ValueError("book_depth and backup_depth must be >= 1")
        for url in (self.api_url, self.ws_url):
            if url is not None and "://" not in url:
                raise ValueError(f"endpoint {url!r} needs a scheme (http://, ws://)")


@dataclass(slots=True)
class FeedStats:
    """Counters of one source (also what a headless summary reports)."""

    book_updates: int = 0
    trades: int = 0
    reconnects: int = 0
    resyncs: int = 0
    stalls: int = 0
    failovers: int = 0  # the backup took over from a silent primary
    backup_books: int = 0  # books the backup published
    errors: int = 0
    last_error: str = ""
    receive_latency_ns: deque[int] = field(default_factory=lambda: deque(maxlen=_LATENCY_SAMPLES))
    apply_ns: deque[int] = field(default_factory=lambda: deque(maxlen=_LATENCY_SAMPLES))


def make_exchange(config: CcxtFeedConfig) -> Any:
    """A ccxt.pro client for ``config``, endpoints rewritten when given."""
    cls = getattr(ccxt.pro, config.exchange, None)
    if cls is None:
        raise ValueError(f"ccxt.pro has no exchange {config.exchange!r}")
    ex = cls(
        {
            "enableRateLimit": True,
            "options": {"fetchMarkets": {"types": list(config.market_types)}},
        }
    )
    if config.exchange == "binance":
        api = ex.urls["api"]
        if config.api_url is not None:
            root = config.api_url.rstrip("/")
            api["public"] = api["private"] = f"{root}/api/v3"
            api["v1"] = f"{root}/api/v1"
        if config.ws_url is not None:
            ws = config.ws_url.rstrip("/")
            if "/stream" not in ws:  # ccxt tells spot from swap by it
                ws += "/stream"
            api["ws"]["spot"] = api["ws"]["margin"] = ws
    elif config.api_url is not None or config.ws_url is not None:
        raise ValueError(f"endpoint overrides are not mapped for {config.exchange!r} yet")
    return ex


def _dec(x: object) -> Decimal:
    if isinstance(x, float):
        return Decimal(repr(x))
    return Decimal(str(x))


def _credit(bucket: Any) -> None:
    """Refill one ccxt ``Throttler`` for the time since it was last credited (see
    ``CcxtMarketData._credit_idle_rate_limit``); first sight only starts the clock."""
    if bucket is None:
        return
    now = time.monotonic()
    last = getattr(bucket, "tradedeck_idle_since", None)
    bucket.tradedeck_idle_since = now
    cfg = getattr(bucket, "config", None)
    if last is None or not isinstance(cfg, dict) or getattr(bucket, "running", False):
        return
    try:
        refill = float(cfg["refillRate"])  # tokens per ms
        capacity = float(cfg["capacity"])
        tokens = float(cfg["tokens"])
    except (KeyError, TypeError, ValueError):
        return
    cfg["tokens"] = min(capacity, tokens + (now - last) * 1000.0 * refill)


def instrument_from_market(market: Mapping[str, Any]) -> Instrument:
    """Tick, lot and minimum notional from a ccxt market (precision mode TICK_SIZE)."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    tick, lot = precision.get("price"), precision.get("amount")
    if tick is None or lot is None:
        raise ValueError(f"{market.get('symbol')}: no tick or lot size in the market")
    cost_min = (limits.get("cost") or {}).get("min")
    return Instrument(
        symbol=str(market["symbol"]),
        base=str(market["base"]),
        quote=str(market["quote"]),
        tick_size=_dec(tick).normalize(),
        lot_size=_dec(lot).normalize(),
        min_notional=_dec(cost_min) if cost_min is not None else Decimal(0),
    )


HealthListener = Callable[[HealthChange], None]


class CcxtMarketData:
    """Books and trades of ``config.symbols`` from a ccxt.pro exchange (``MarketDataSource``)."""

    def __init__(
        self,
        config: CcxtFeedConfig,
        *,
        exchange_factory: Callable[[CcxtFeedConfig], Any] = make_exchange,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self._factory = exchange_factory
        self._clock_ns = clock_ns
        self._exchange: Any = None
        self._instruments: dict[str, Instrument] = {}
        self._books: dict[str, OrderBook] = {}
        self._levels: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
        self._health: dict[str, FeedHealth] = {}
        self._sink: MarketDataSink | None = None
        self._backup: Any = None
        self._closing: set[asyncio.Future[None]] = set()
        self._last_primary: dict[str, float] = {}  # monotonic time of the primary's last book
        self.serving: dict[str, str] = {}  # symbol -> "primary" | "backup"
        self._price_cache: dict[str, dict[object, int]] = {}
        self._qty_cache: dict[str, dict[object, int]] = {}
        self.stats = FeedStats()
        self.per_symbol: dict[str, FeedStats] = {}

    name = "binance"

    # ------------------------------------------------------------------ the protocol

    @property
    def instruments(self) -> Mapping[str, Instrument]:
        return self._instruments

    @property
    def books(self) -> Mapping[str, OrderBook]:
        return self._books

    @property
    def health(self) -> FeedHealth:
        order = (FeedHealth.RECONNECTING, FeedHealth.RESYNCING, FeedHealth.STALE)
        states = {self.health_of(s) for s in self.config.symbols}
        for worst in order:
            if worst in states:
                return worst
        return FeedHealth.LIVE

    def health_of(self, symbol: str) -> FeedHealth:
        if self.serving.get(symbol) == "backup":
            return FeedHealth.LIVE
        return self._health.get(symbol, FeedHealth.RECONNECTING)

    async def connect(self) -> None:
        """Load the markets (instruments) once, retrying with backoff; idempotent."""
        if self._instruments:
            return
        if self._exchange is None:
            self._exchange = self._factory(self.config)
        backoff = self._backoff()
        while True:
            try:
                markets = await self._exchange.load_markets()
                break
            except ccxt.BaseError as e:
                self._note_error(None, e)
                if backoff.attempts == 0 and self._sink is not None:
                    why = f"disconnected, retrying: {self.stats.last_error}"
                    self._sink.on_health(
                        HealthChange(None, FeedHealth.RECONNECTING, why, self._clock_ns())
                    )
                await asyncio.sleep(backoff.delay(self._retry_after()))
        _credit(getattr(self._exchange, "throttler", None))  # starts its idle clock
        missing = [s for s in self.config.symbols if s not in markets]
        if missing:
            raise ValueError(f"{self.config.exchange} has no market {', '.join(missing)}")
        for s in self.config.symbols:
            inst = instrument_from_market(markets[s])
            self._instruments[s] = inst
            self._books[s] = OrderBook(inst)
            self._levels[s] = ({}, {})
            self.per_symbol[s] = FeedStats()
            self.serving[s] = "primary"

    async def run(self, sink: MarketDataSink) -> None:
        """Stream until cancelled; the ccxt client is closed before this returns."""
        self._sink = sink
        try:
            await self.connect()
            async with asyncio.TaskGroup() as tg:
                for s in self.config.symbols:
                    tg.create_task(self._book_loop(s), name=f"ccxt-book-{s}")
                    if self.config.trades:
                        tg.create_task(self._trade_loop(s), name=f"ccxt-trades-{s}")
                    if self.config.backup_poll_s is not None:
                        tg.create_task(self._backup_loop(s), name=f"ccxt-backup-{s}")
        finally:
            await self.close()

    async def close(self) -> None:
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for attr in ("_exchange", "_backup"):
            ex = getattr(self, attr)
            setattr(self, attr, None)
            if ex is not None:
                await ex.close()

    # ------------------------------------------------------------------ stream loops

    def _backoff(self) -> Backoff:
        return Backoff(self.config.backoff_base_s, self.config.backoff_cap_s)

    async def _book_loop(self, symbol: str) -> None:
        self._set_health(symbol, FeedHealth.RESYNCING, "subscribing")

        async def watch() -> Any:
            return await self._exchange.watch_order_book(symbol, self.config.book_depth)

        await self._stream(symbol, f"orderbook::{symbol}", watch, self._on_book, book=True)

    async def _trade_loop(self, symbol: str) -> None:
        async def watch() -> Any:
            return await self._exchange.watch_trades(symbol)

        # A quiet market trades rarely: only the book stream's silence is a stall.
        await self._stream(symbol, f"trade::{symbol}", watch, self._on_trades, book=False)

    async def _stream(
        self,
        symbol: str,
        message_hash: str,
        watch: Callable[[], Awaitable[Any]],
        handle: Callable[[str, Any, int], None],
        *,
        book: bool,
    ) -> None:
        backoff = self._backoff()
        stale_s = self.config.stale_after_s if book else self.config.trade_stale_after_s
        while True:
            task = asyncio.ensure_future(watch())
            try:
                silent = await self._watchdog(task, message_hash, stale_s)
            except asyncio.CancelledError:
                task.cancel()
                raise
            if silent is not None:
                self.stats.stalls += 1
                if book:
                    self._set_health(symbol, FeedHealth.STALE, silent)
                await self._drop(message_hash)
                task.cancel()
                self._retire(task)
                self.stats.reconnects += 1
                if book:
                    self._set_health(symbol, FeedHealth.RECONNECTING, "reconnecting after a stall")
                await asyncio.sleep(backoff.delay())
                if book:
                    self._credit_idle_rate_limit()
                    self._set_health(symbol, FeedHealth.RESYNCING, "resubscribing")
                continue
            recv_ns = self._clock_ns()
            try:
                result = task.result()
                handle(symbol, result, recv_ns)
            except asyncio.CancelledError:  # ccxt cancels its futures when a client closes
                await self._recover(
                    symbol, message_hash, ccxt.NetworkError("closed"), backoff, book
                )
                continue
            except ccxt.BaseError as e:
                await self._recover(symbol, message_hash, e, backoff, book)
                continue
            backoff.reset()

    async def _watchdog(
        self, task: asyncio.Future[Any], message_hash: str, stale_s: float
    ) -> str | None:
        """Wait for ``task``; None when it finished, else why the stream is considered dead:
        no frame on its connection for ``stale_s`` (a stall, or ccxt's receive loop stopped by
        a malformed frame), or frames but no result for ``resync_timeout_s`` (a stuck resync)."""
        started = time.time()
        tick = min(stale_s, self.config.resync_timeout_s) / 4
        while True:
            done, _ = await asyncio.wait({task}, timeout=tick)
            if done:
                return None
            now = time.time()
            last = max(started, self._last_frame_s(message_hash))
            if now - last > stale_s:
                return f"no message for {now - last:.1f} s"
            if now - started > self.config.resync_timeout_s:
                return f"no update for {now - started:.1f} s while connected"

    def _last_frame_s(self, message_hash: str) -> float:
        ex = self._exchange
        best = 0.0
        for client in list(ex.clients.values()) if ex is not None else ():
            if message_hash in client.subscriptions or message_hash in client.futures:
                at = getattr(client, "last_message_at", None)
                if at is not None:
                    best = max(best, at / 1000)
        return best

    async def _recover(
        self, symbol: str, message_hash: str, error: Exception, backoff: Backoff, book: bool
    ) -> None:
        self._note_error(symbol, error)
        gap = isinstance(error, ccxt.ChecksumError | ccxt.InvalidNonce | BookIntegrityError)
        retry_after = self._retry_after() if isinstance(error, ccxt.DDoSProtection) else None
        await self._drop(message_hash)
        if book:
            if gap:
                self.stats.resyncs += 1
                self._set_health(symbol, FeedHealth.RESYNCING, f"resync: {error}")
            else:
                self.stats.reconnects += 1
                self._set_health(symbol, FeedHealth.RECONNECTING, f"reconnecting: {error}")
        await asyncio.sleep(backoff.delay(retry_after))
        if book:
            self._credit_idle_rate_limit()
            self._set_health(symbol, FeedHealth.RESYNCING, "resubscribing")

    async def _drop(self, message_hash: str) -> None:
        """Close the connection(s) carrying ``message_hash`` so the next watch starts afresh."""
        ex = self._exchange
        if ex is None:
            return
        for url, client in list(ex.clients.items()):
            if message_hash in client.subscriptions or message_hash in client.futures:
                ex.clients.pop(url, None)
                # A dead peer may never answer the close handshake: close in the background,
                # bounded, so the stream's loop resubscribes at once.
                closing = asyncio.ensure_future(self._close_client(url, client))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
        symbol = message_hash.partition("::")[2]
        if message_hash.startswith("orderbook::"):
            ex.orderbooks.pop(symbol, None)

    @staticmethod
    async def _close_client(url: str, client: Any) -> None:
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await client.close()
        except Exception as e:  # a dead transport may fail to close; it is gone anyway
            log.debug("closing %s: %s", url, e)

    @staticmethod
    def _retire(task: asyncio.Future[Any]) -> None:
        def _consume(t: asyncio.Future[Any]) -> None:
            if not t.cancelled():
                t.exception()

        task.add_done_callback(_consume)

    def _credit_idle_rate_limit(self, which: str = "primary") -> None:
        """Credit ccxt's leaky buckets with the time they sat idle.

        ccxt 4.5's ``Throttler`` refills only while requests wait in its queue: the tokens a
        request left negative stay negative however long the bucket then idles, so every
        resync waited ``cost x rateLimit`` twice: 250 ms for the SUBSCRIBE on the connection's
        bucket, 500 ms for a 1000-level Binance snapshot on the REST one. A correct leaky
        bucket refills while idle; this adds what it would have refilled since it was last
        credited (or first seen), capped at its capacity, as ccxt does."""
        ex = self._exchange if which == "primary" else self._backup
        if ex is None:
            return
        buckets = [getattr(ex, "throttler", None)]
        if which == "primary":
            buckets += [getattr(c, "throttle", None) for c in list(ex.clients.values())]
        for bucket in buckets:
            _credit(bucket)

    def _mark_buckets(self, message_hash: str) -> None:
        """Start the idle clock of the connection that carries ``message_hash`` (it just sent
        its SUBSCRIBE), so a later resync on it is credited from here."""
        ex = self._exchange
        for client in list(ex.clients.values()) if ex is not None else ():
            if message_hash in client.subscriptions:
                bucket = getattr(client, "throttle", None)
                if bucket is not None:
                    bucket.tradedeck_idle_since = time.monotonic()

    def _retry_after(self, ex: Any = None) -> float | None:
        ex = ex if ex is not None else self._exchange
        return retry_after_s(getattr(ex, "last_response_headers", None)) if ex else None

    def _note_error(self, symbol: str | None, error: Exception) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(error).__name__}: {error}"[:300]
        log.warning("%s %s: %s", self.config.exchange, symbol or "markets", self.stats.last_error)

    def _set_health(self, symbol: str, health: FeedHealth, reason: str) -> None:
        """The primary stream's state; published unless the backup is serving the symbol."""
        if self._health.get(symbol) is health:
            return
        self._health[symbol] = health
        if self.serving.get(symbol) != "backup":
            self._announce(symbol, health, reason)

    def _announce(self, symbol: str, health: FeedHealth, reason: str) -> None:
        if self._sink is not None:
            self._sink.on_health(HealthChange(symbol, health, reason, self._clock_ns()))

    # ------------------------------------------------------------------ the hot backup

    async def _backup_loop(self, symbol: str) -> None:
        """Poll the REST book while the primary is silent past ``failover_after_s``; its books
        are arbitrated by update id with the primary's (the newer one wins, never backwards)."""
        cfg = self.config
        assert cfg.backup_poll_s is not None
        if self._backup is None:
            self._backup = self._factory(cfg)
            self._backup.markets = self._exchange.markets
            self._backup.markets_by_id = self._exchange.markets_by_id
            self._backup.symbols = self._exchange.symbols
            _credit(getattr(self._backup, "throttler", None))
        backoff = self._backoff()
        check_s = min(cfg.backup_poll_s, cfg.failover_after_s) / 4
        polled = 0.0
        while True:
            await asyncio.sleep(check_s)
            now = time.monotonic()
            silent = now - self._last_primary.get(symbol, now) > cfg.failover_after_s
            if not silent or now - polled < cfg.backup_poll_s:
                continue
            polled = now
            self._credit_idle_rate_limit("backup")
            try:
                ob = await self._backup.fetch_order_book(symbol, cfg.backup_depth)
            except ccxt.BaseError as e:
                self._note_error(symbol, e)
                await asyncio.sleep(backoff.delay(self._retry_after(self._backup)))
                continue
            backoff.reset()
            if time.monotonic() - self._last_primary.get(symbol, 0.0) <= cfg.failover_after_s:
                continue  # the primary came back while we asked
            self._on_backup_book(symbol, ob, self._clock_ns())

    def _on_backup_book(self, symbol: str, ob: Any, recv_ns: int) -> None:
        nonce = ob.get("nonce")
        book = self._books[symbol]
        if nonce is None or int(nonce) <= book.seq:
            return
        inst = self._instruments[symbol]
        bids, asks = self._grid(inst, ob["bids"]), self._grid(inst, ob["asks"])
        if bids and asks and max(bids) >= min(asks):
            return
        if self.serving[symbol] != "backup":
            self.serving[symbol] = "backup"
            self.stats.failovers += 1
            self.per_symbol[symbol].failovers += 1
            self._announce(symbol, FeedHealth.LIVE, "failover: the REST backup serves")
        ts_ms = ob.get("timestamp")
        ts_ns = int(ts_ms) * 1_000_000 if ts_ms is not None else recv_ns
        self.stats.backup_books += 1
        self._publish(symbol, bids, asks, int(nonce), ts_ns, recv_ns, snapshot=False)

    # ------------------------------------------------------------------ conversion

    def _on_book(self, symbol: str, ob: Any, recv_ns: int) -> None:
        inst = self._instruments[symbol]
        book = self._books[symbol]
        nonce = ob.get("nonce")
        if nonce is None:
            raise BookIntegrityError(f"{symbol}: book without an update id")
        seq = int(nonce)
        ts_ms = ob.get("timestamp")
        ts_ns = int(ts_ms) * 1_000_000 if ts_ms is not None else recv_ns
        bids = self._grid(inst, ob["bids"])
        asks = self._grid(inst, ob["asks"])
        if bids and asks and max(bids) >= min(asks):
            raise BookIntegrityError(f"{symbol}: crossed book at update id {seq}")
        was_live = self._health.get(symbol) is FeedHealth.LIVE
        if seq < book.seq:
            if self.serving[symbol] == "backup" or not was_live:
                return  # the backup is ahead: arbitration by update id, never backwards
            raise BookIntegrityError(f"{symbol}: update id went back {book.seq} -> {seq}")
        self._last_primary[symbol] = time.monotonic()
        if self.serving[symbol] != "primary":
            self.serving[symbol] = "primary"
            self._announce(symbol, FeedHealth.LIVE, "the primary stream serves again")
        self._publish(symbol, bids, asks, seq, ts_ns, recv_ns, snapshot=not was_live)
        if not was_live:
            self._mark_buckets(f"orderbook::{symbol}")
        self._set_health(symbol, FeedHealth.LIVE, f"book in sync at update id {seq}")

    def _publish(
        self,
        symbol: str,
        bids: dict[int, int],
        asks: dict[int, int],
        seq: int,
        ts_ns: int,
        recv_ns: int,
        *,
        snapshot: bool,
    ) -> None:
        book = self._books[symbol]
        old_bids, old_asks = self._levels[symbol]
        events: list[MarketEvent] = []
        for side, old, new in ((BookSide.BID, old_bids, bids), (BookSide.ASK, old_asks, asks)):
            for p, q in new.items():
                if old.get(p) != q:
                    events.append(LevelUpdate(symbol, side, p, q, seq, ts_ns))
            for p in old.keys() - new.keys():
                events.append(LevelUpdate(symbol, side, p, 0, seq, ts_ns))
        if snapshot:
            book.apply_snapshot(bids.items(), asks.items(), seq, ts_ns)
        else:
            for ev in events:
                assert isinstance(ev, LevelUpdate)
                book.set_level(ev.side, ev.price_ticks, ev.size_lots)
            book.seq, book.ts_ns = seq, ts_ns
        self._levels[symbol] = (bids, asks)
        done_ns = self._clock_ns()
        stats = self.per_symbol[symbol]
        for s in (self.stats, stats):
            s.book_updates += 1
            s.receive_latency_ns.append(recv_ns - ts_ns)
            s.apply_ns.append(done_ns - recv_ns)
        if events and self._sink is not None:
            self._sink.on_market(events)

    def _grid(self, inst: Instrument, levels: Sequence[Sequence[Any]]) -> dict[int, int]:
        """Levels in ticks and lots; conversions are memoised (a book repeats its prices)."""
        prices = self._price_cache.setdefault(inst.symbol, {})
        qtys = self._qty_cache.setdefault(inst.symbol, {})
        if len(prices) > 200_000:
            prices.clear()
        if len(qtys) > 200_000:
            qtys.clear()
        out: dict[int, int] = {}
        for level in levels:
            p, q = level[0], level[1]
            ticks = prices.get(p)
            if ticks is None:
                price = _dec(p)
                if not inst.is_on_tick(price):
                    raise BookIntegrityError(f"{inst.symbol}: price {price} is off the grid")
                ticks = prices[p] = inst.price_to_ticks(price)
            lots = qtys.get(q)
            if lots is None:
                qty = _dec(q)
                if not inst.is_on_lot(qty):
                    raise BookIntegrityError(f"{inst.symbol}: size {qty} is off the grid")
                lots = qtys[q] = inst.qty_to_lots(qty)
            if lots > 0:
                out[ticks] = lots
        return out

    def _on_trades(self, symbol: str, trades: Any, recv_ns: int) -> None:
        inst = self._instruments[symbol]
        events: list[MarketEvent] = []
        for t in trades:
            ts_ms = t.get("timestamp")
            events.append(
                TradeTick(
                    symbol,
                    inst.price_to_ticks(_dec(t["price"])),
                    inst.qty_to_lots(_dec(t["amount"])),
                    OrderSide.SELL if t.get("side") == "sell" else OrderSide.BUY,
                    int(t.get("id") or 0),
                    int(ts_ms) * 1_000_000 if ts_ms is not None else recv_ns,
                )
            )
        self.stats.trades += len(events)
        self.per_symbol[symbol].trades += len(events)
        if events and self._sink is not None:
            self._sink.on_market(events)
