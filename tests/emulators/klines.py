"""A Binance spot REST emulator on 127.0.0.1: exchangeInfo, time and klines, with faults.

It serves real candles (rows ``(open_ms, open, high, low, close, volume)`` as the CSV's text)
the way ``GET /api/v3/klines`` does: bars with ``startTime <= open <= endTime``, at most
``limit`` (default 500, at most 1000), each as Binance's 12-field array with 8-decimal strings.
Faults are injected by request number (``faults={n: (status, headers)}`` answers the n-th klines
request, counted from 1, with that status). Every request is logged with its arrival time
(``time.monotonic()``), so a test can check what a client asked for and when.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Row = tuple[int, str, str, str, str, str]

INTERVALS_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "1d": 86_400_000}


@dataclass
class Request:
    t: float
    path: str
    query: dict[str, str]
    status: int


def _symbol_info(base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": base + quote,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _b8(text: str) -> str:
    return f"{Decimal(text):.8f}"


@dataclass
class KlineEmulator:
    rows: list[Row]
    interval: str = "1h"
    symbols: tuple[tuple[str, str], ...] = (("BTC", "USDT"), ("ETH", "USDT"))
    kline_symbol: str = "BTCUSDT"
    faults: dict[int, tuple[int, dict[str, str]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _klines_seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def klines_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/api/v3/klines"]

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if path == "/api/v3/time":
            return 200, {}, {"serverTime": int(time.time() * 1000)}
        if path == "/api/v3/exchangeInfo":
            return (
                200,
                {},
                {
                    "timezone": "UTC",
                    "serverTime": int(time.time() * 1000),
                    "rateLimits": [],
                    "exchangeFilters": [],
                    "symbols": [_symbol_info(b, q) for b, q in self.symbols],
                },
            )
        if path == "/api/v3/klines":
            with self._lock:
                self._klines_seen += 1
                n = self._klines_seen
            if n in self.faults:
                status, headers = self.faults[n]
                return status, headers, {"code": -1003, "msg": "Too many requests."}
            return self._klines(query)
        return 404, {}, {"code": -1, "msg": f"no route {path}"}

    def _klines(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if query.get("symbol") != self.kline_symbol:
            return 400, {}, {"code": -1121, "msg": "Invalid symbol."}
        if query.get("interval") != self.interval:
            return 400, {}, {"code": -1120, "msg": "Invalid interval."}
        limit = min(int(query.get("limit", 500)), 1000)
        start = int(query.get("startTime", 0))
        end = int(query.get("endTime", 2**62))
        step = INTERVALS_MS[self.interval]
        out = []
        for t, o, h, lo, c, v in self.rows:
            if start <= t <= end:
                qv = Decimal(v) * Decimal(c)
                out.append(
                    [t, _b8(o), _b8(h), _b8(lo), _b8(c), _b8(v), t + step - 1,
                     f"{qv:.8f}", 100, _b8(v), f"{qv:.8f}", "0"]
                )  # fmt: skip
                if len(out) >= limit:
                    break
        return 200, {}, out


class _Handler(BaseHTTPRequestHandler):
    emulator: KlineEmulator

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        status, headers, body = self.server.emulator.answer(url.path, query)  # type: ignore[attr-defined]
        self.server.emulator.requests.append(  # type: ignore[attr-defined]
            Request(time.monotonic(), url.path, query, status)
        )
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class KlineServer:
    """``with KlineServer(emulator) as url:`` serves on 127.0.0.1 (a free port) in the block."""

    def __init__(self, emulator: KlineEmulator) -> None:
        self.emulator = emulator
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.emulator = emulator  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="kline-emulator", daemon=True
        )

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
