"""A Binance spot emulator on 127.0.0.1 for the real ccxt.pro client: public REST, combined streams.

REST: ``/api/v3/{ping,time,exchangeInfo,depth,klines}``. Websocket: ``/stream/...`` (ccxt
connects to ``<ws_url>/<stream index>``; the ``/stream`` in the path is how ccxt tells spot from
swap), ``SUBSCRIBE`` answered with ``{"result": null, "id": N}``, then ``depthUpdate`` diffs
(``U``/``u``) and ``trade`` events wrapped as ``{"stream": ..., "data": ...}``.

The emulator is the oracle: it owns the true book (exact ``Decimal`` levels) and records its top
``TRUTH_DEPTH`` levels after every diff, keyed by the diff's last update id, so a test can check
the client's book at any id it reached. The script is either a deterministic generated book
(``generated_script``, endless, seeded) or a real Binance capture from ``ticks_l2``
(``capture_script``), played at ``interval_s`` per diff.

Faults (each applies to the next diff(s) or to the connections open now): ``drop_sockets``,
``stall_sockets``, ``skip_next_diff`` (a sequence gap), ``duplicate_next_diff``,
``swap_next_diffs`` (out of order), ``malformed_next_frame``, ``fail_depth`` (HTTP 429 with
``Retry-After`` or 5xx on the next depth requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

TRUTH_DEPTH = 50
Side = dict[Decimal, Decimal]
Top = tuple[tuple[tuple[Decimal, Decimal], ...], tuple[tuple[Decimal, Decimal], ...]]


@dataclass(frozen=True, slots=True)
class Diff:
    first: int
    last: int
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]
    trades: tuple[tuple[str, str, bool], ...] = ()  # price, qty, buyer is maker


@dataclass(slots=True)
class Script:
    """Where the book starts (``last_update_id``, levels as exchange strings) and its diffs."""

    symbol: str  # exchange id, e.g. BTCUSDT
    base: str
    quote: str
    tick: str
    lot: str
    last_update_id: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    diffs: Iterator[Diff]


def _fmt(x: Decimal, places: int) -> str:
    return f"{x:.{places}f}"


def generated_script(seed: int = 7, symbol: str = "BTCUSDT", levels: int = 30) -> Script:
    """An endless, deterministic, never-crossed book around 100.00 (tick 0.01, lot 0.001)."""
    rng = random.Random(seed)
    tick, lot = Decimal("0.01"), Decimal("0.001")
    mid = 10_000  # ticks
    bids = [
        (_fmt((mid - 1 - k) * tick, 2), _fmt(rng.randint(1, 5000) * lot, 3)) for k in range(levels)
    ]
    asks = [
        (_fmt((mid + 1 + k) * tick, 2), _fmt(rng.randint(1, 5000) * lot, 3)) for k in range(levels)
    ]

    def diffs() -> Iterator[Diff]:
        uid = 1_000
        while True:
            n = rng.randint(1, 4)
            first, uid = uid + 1, uid + n
            b: dict[str, str] = {}
            a: dict[str, str] = {}
            for _ in range(n):
                side = b if rng.random() < 0.5 else a
                k = rng.randint(0, levels + 5)
                p = (mid - 1 - k) if side is b else (mid + 1 + k)
                q = 0 if rng.random() < 0.25 else rng.randint(1, 5000)
                side[_fmt(p * tick, 2)] = _fmt(q * lot, 3)
            trades: tuple[tuple[str, str, bool], ...] = ()
            if rng.random() < 0.3:
                trades = ((_fmt((mid - 1) * tick, 2), _fmt(rng.randint(1, 50) * lot, 3), True),)
            yield Diff(first, uid, tuple(b.items()), tuple(a.items()), trades)

    base = symbol.removesuffix("USDT")
    return Script(symbol, base, "USDT", "0.01", "0.001", 1_000, bids, asks, diffs())


def capture_script(path: Path, max_diffs: int | None = None) -> Script:
    """A real Binance capture (``<recv_ns> <json>`` lines): its REST snapshot, then the diffs that
    follow it (those before are dropped as Binance documents); trades ride on the next diff."""
    snapshot: dict[str, Any] | None = None
    diffs: list[Diff] = []
    trades: list[tuple[str, str, bool]] = []
    symbol = ""
    with gzip.open(path, "rt") as fh:
        for line in fh:
            _, _, text = line.partition(" ")
            msg = json.loads(text)
            if "lastUpdateId" in msg:
                snapshot = msg
                continue
            data = msg.get("data", {})
            if snapshot is None:
                continue
            if data.get("e") == "trade":
                trades.append((data["p"], data["q"], bool(data["m"])))
            elif data.get("e") == "depthUpdate":
                symbol = data["s"]
                if data["u"] <= snapshot["lastUpdateId"]:
                    continue
                diffs.append(
                    Diff(
                        data["U"],
                        data["u"],
                        tuple((p, q) for p, q in data["b"]),
                        tuple((p, q) for p, q in data["a"]),
                        tuple(trades),
                    )
                )
                trades = []
                if max_diffs is not None and len(diffs) >= max_diffs:
                    break
    assert snapshot is not None, f"{path}: no REST snapshot"
    base = symbol.removesuffix("USDT")
    return Script(
        symbol,
        base,
        "USDT",
        "0.01",
        "0.00001",
        snapshot["lastUpdateId"],
        [(p, q) for p, q in snapshot["bids"]],
        [(p, q) for p, q in snapshot["asks"]],
        iter(diffs),
    )


@dataclass(slots=True)
class _Conn:
    ws: web.WebSocketResponse
    streams: set[str] = field(default_factory=set)
    stalled: bool = False


class BinanceEmulator:
    def __init__(self, script: Script, *, interval_s: float = 0.01) -> None:
        self.script = script
        self.interval_s = interval_s
        self.bids: Side = {Decimal(p): Decimal(q) for p, q in script.bids if Decimal(q)}
        self.asks: Side = {Decimal(p): Decimal(q) for p, q in script.asks if Decimal(q)}
        # Binance's first diff after a snapshot may straddle lastUpdateId + 1.
        self.update_id = script.last_update_id
        self.truth: dict[int, Top] = {self.update_id: self.top()}
        self.finished = asyncio.Event()
        self.depth_requests: list[tuple[float, int]] = []  # (monotonic, status)
        self.connections_opened = 0
        self.diffs_sent = 0
        self.trade_id = 1
        self._conns: list[_Conn] = []
        self._skip = 0
        self._dup = 0
        self._swap = False
        self._malformed = 0
        self._depth_faults: list[tuple[int, float | None]] = []
        self._refuse_ws = False
        self._info_faults = 0
        self._info_status = 500
        self._runner: web.AppRunner | None = None
        self._clock: asyncio.Task[None] | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    async def start(self) -> BinanceEmulator:
        app = web.Application()
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/api/v3/klines", self._klines)
        app.router.add_get("/stream", self._ws)
        app.router.add_get("/stream/{index}", self._ws)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._clock = asyncio.create_task(self._run_clock())
        return self

    async def stop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
        for c in list(self._conns):
            await c.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> BinanceEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ faults

    async def drop_sockets(self) -> None:
        for c in list(self._conns):
            await c.ws.close()

    def refuse_websockets(self, refuse: bool = True) -> None:
        """New websocket connections are answered 503 (the stream endpoint is down)."""
        self._refuse_ws = refuse

    def stall_sockets(self) -> None:
        """The connections open now stay open and receive nothing more (new ones are served)."""
        for c in self._conns:
            c.stalled = True

    def skip_next_diff(self, n: int = 1) -> None:
        self._skip += n

    def duplicate_next_diff(self) -> None:
        self._dup += 1

    def swap_next_diffs(self) -> None:
        self._swap = True

    def malformed_next_frame(self) -> None:
        self._malformed += 1

    def fail_depth(self, status: int, count: int, retry_after: float | None = None) -> None:
        self._depth_faults.extend([(status, retry_after)] * count)

    # ------------------------------------------------------------------ the book

    def top(self, depth: int = TRUTH_DEPTH) -> Top:
        bids = tuple(sorted(self.bids.items(), reverse=True)[:depth])
        asks = tuple(sorted(self.asks.items())[:depth])
        return bids, asks

    def _apply(self, d: Diff) -> None:
        for side, levels in ((self.bids, d.bids), (self.asks, d.asks)):
            for p, q in levels:
                price, qty = Decimal(p), Decimal(q)
                if qty:
                    side[price] = qty
                else:
                    side.pop(price, None)
        self.update_id = d.last
        self.truth[d.last] = self.top()

    async def _run_clock(self) -> None:
        held: Diff | None = None
        for d in self.script.diffs:
            await asyncio.sleep(self.interval_s)
            self._apply(d)
            if self._skip:
                self._skip -= 1
                continue
            if self._swap and held is None:
                held = d
                continue
            await self._broadcast_diff(d)
            if held is not None:
                await self._broadcast_diff(held)
                held, self._swap = None, False
            if self._dup:
                self._dup -= 1
                await self._broadcast_diff(d)
        self.finished.set()

    async def _broadcast_diff(self, d: Diff) -> None:
        sym = self.script.symbol
        low = sym.lower()
        now_ms = time.time_ns() // 1_000_000
        depth = {
            "e": "depthUpdate",
            "E": now_ms,
            "s": sym,
            "U": d.first,
            "u": d.last,
            "b": [list(x) for x in d.bids],
            "a": [list(x) for x in d.asks],
        }
        frames: list[tuple[str, str]] = []
        for p, q, m in d.trades:
            trade = {"e": "trade", "E": now_ms, "s": sym, "t": self.trade_id, "p": p, "q": q,
                     "T": now_ms, "m": m, "M": True}  # fmt: skip
            self.trade_id += 1
            frames.append((f"{low}@trade", json.dumps({"stream": f"{low}@trade", "data": trade})))
        frames.append((f"{low}@depth", json.dumps({"stream": f"{low}@depth@100ms", "data": depth})))
        malformed = self._malformed > 0
        self._malformed = max(0, self._malformed - 1)
        for c in list(self._conns):
            if c.stalled or c.ws.closed:
                continue
            if malformed and any(s.startswith(f"{low}@depth") for s in c.streams):
                await self._send(c, '{"stream": "' + low + '@depth@100ms", "data": {"e": "dep')
            for key, text in frames:
                if any(s.startswith(key) for s in c.streams):
                    await self._send(c, text)
        self.diffs_sent += 1

    async def _send(self, c: _Conn, text: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await c.ws.send_str(text)

    # ------------------------------------------------------------------ REST

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": time.time_ns() // 1_000_000})

    def fail_exchange_info(self, status: int, count: int) -> None:
        self._info_faults += count
        self._info_status = status

    async def _exchange_info(self, request: web.Request) -> web.Response:
        if self._info_faults:
            self._info_faults -= 1
            return web.json_response({}, status=self._info_status)
        s = self.script
        market = {
            "symbol": s.symbol,
            "status": "TRADING",
            "baseAsset": s.base,
            "baseAssetPrecision": 8,
            "quoteAsset": s.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": [
                "LIMIT",
                "LIMIT_MAKER",
                "MARKET",
                "STOP_LOSS_LIMIT",
                "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": s.tick,
                    "maxPrice": "1000000.00",
                    "tickSize": s.tick,
                },
                {"filterType": "LOT_SIZE", "minQty": s.lot, "maxQty": "9000.00", "stepSize": s.lot},
                {
                    "filterType": "NOTIONAL",
                    "minNotional": "5.00000000",
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
        }
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": time.time_ns() // 1_000_000,
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": [market],
            }
        )

    async def _depth(self, request: web.Request) -> web.Response:
        if self._depth_faults:
            status, retry_after = self._depth_faults.pop(0)
            self.depth_requests.append((time.monotonic(), status))
            headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            body = {"code": -1003, "msg": "Too many requests"} if status == 429 else {}
            return web.json_response(body, status=status, headers=headers)
        self.depth_requests.append((time.monotonic(), 200))
        limit = int(request.query.get("limit", "1000"))
        bids, asks = self.top(limit)
        return web.json_response(
            {
                "lastUpdateId": self.update_id,
                "bids": [[str(p), str(q)] for p, q in bids],
                "asks": [[str(p), str(q)] for p, q in asks],
            }
        )

    async def _klines(self, request: web.Request) -> web.Response:
        start = int(request.query.get("startTime", "1700000000000"))
        limit = min(int(request.query.get("limit", "500")), 1000)
        rows = []
        for k in range(limit):
            t = start + k * 60_000
            rows.append([t, "100.00", "100.10", "99.90", "100.05", "1.5", t + 59_999, "150.0",
                         10, "0.7", "70.0", "0"])  # fmt: skip
        return web.json_response(rows)

    # ------------------------------------------------------------------ websocket

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self._refuse_ws:
            return web.Response(status=503, text="stream endpoint unavailable")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.append(conn)
        self.connections_opened += 1
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                req = json.loads(msg.data)
                if req.get("method") == "SUBSCRIBE":
                    conn.streams.update(req.get("params", []))
                elif req.get("method") == "UNSUBSCRIBE":
                    conn.streams.difference_update(req.get("params", []))
                if not conn.stalled:
                    await ws.send_str(json.dumps({"result": None, "id": req.get("id")}))
        finally:
            self._conns.remove(conn)
        return ws
