"""Candle history from an exchange through ccxt: paginated, rate-limited, resumable, exact.

``fetch_history`` pages ``fetch_ohlcv`` forward from ``since`` (one request per ``page_limit``
bars), with ccxt's own throttle on (``enableRateLimit``: requests at least ``rateLimit`` x the
endpoint's cost apart) and pages at least one whole ``rateLimit`` apart. A 429 / 418
(``DDoSProtection``) waits what the exchange's ``Retry-After`` says (else an exponential backoff
with jitter) before the same page is asked again; other network errors back off the same way, a
bounded number of times.

Bars go to a ``KlineFile``: a Binance-kline-style CSV (``open_time_ms,open,high,low,close,
volume``) appended one page at a time, so a run stopped at any point (Ctrl+C, a network that
gives up) resumes after its last complete bar. Prices and volumes are the exchange's own text
(ccxt's ``number`` is ``str`` while fetching), written as exact decimals without trailing zeros:
no float ever touches them. The bar still open at the exchange (``open + interval > now``) is not
stored, so a stored bar never changes.

Gaps (bars the exchange does not have, e.g. outages) are reported, never filled.

Bad requests raise ``HistoryInputError`` (unknown exchange, timeframe or symbol, since in the
future, an unreachable or malformed URL); a failure part-way raises ``HistoryFetchError`` after
everything fetched so far is stored. Both carry one line of text with no secrets in it.
"""

from __future__ import annotations

import contextlib
import email.utils
import itertools
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

from engine.venues.ccxt.keys import redact

HEADER: Final = "open_time_ms,open,high,low,close,volume"
PAGE_LIMIT: Final = 1000  # Binance spot's maximum per klines request
MAX_RETRIES: Final = 8
MAX_WAIT_S: Final = 120.0  # a Retry-After above this is not waited out: run again later
_SAFE_NAME = re.compile(r"[^A-Za-z0-9]+")

Row = tuple[int, str, str, str, str, str]


class HistoryInputError(ValueError):
    """The request cannot be served as asked (one line, for the user)."""


class HistoryFetchError(RuntimeError):
    """The fetch stopped part-way; what was fetched is stored and a new run resumes."""


# ---------------------------------------------------------------------------- the stored file


def dataset_filename(exchange: str, market: str, symbol: str, timeframe: str) -> str:
    """``binance_spot_BTCUSDT_1h.csv``: how a fetched dataset is named (the shared data's way)."""
    pair = _SAFE_NAME.sub("", symbol.upper())
    return f"{exchange}_{market}_{pair}_{timeframe}.csv"


def exact_text(value: object) -> str:
    """An exchange number (text, int or float) as plain decimal text without trailing zeros."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    try:
        d = Decimal(value if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {str(value)[:30]!r}") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"not a price or volume: {str(value)[:30]!r}")
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


@dataclass
class KlineFile:
    """The stored bars of one dataset, appended a page at a time."""

    path: Path

    def read(self) -> list[Row]:
        """The complete rows stored; a torn last line (a run killed mid-write) is cut off."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with self.path.open("r+b") as fh:
                fh.truncate(keep)
            data = data[:keep]
        lines = data.decode("ascii").splitlines()
        if not lines:
            return []
        if lines[0] != HEADER:
            raise HistoryInputError(
                f"{self.path} is not a dataset written by `data fetch` (its header is not "
                f"{HEADER!r}); move it aside or pass another --out-dir"
            )
        rows: list[Row] = []
        for n, line in enumerate(lines[1:], start=2):
            parts = line.split(",")
            try:
                t = int(parts[0])
                o, h, lo, c, v = parts[1:6]
                if len(parts) != 6:
                    raise ValueError
            except ValueError:
                raise HistoryInputError(
                    f"{self.path} line {n} is damaged; move the file aside"
                ) from None
            rows.append((t, o, h, lo, c, v))
        return rows

    def append(self, rows: list[Row]) -> None:
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        text = "".join(",".join((str(r[0]), *r[1:])) + "\n" for r in rows)
        with self.path.open("a", encoding="ascii") as fh:
            fh.write((HEADER + "\n" if new else "") + text)
            fh.flush()
            os.fsync(fh.fileno())


# ---------------------------------------------------------------------------- the exchange


def _rewrite(url: str, base: str) -> str:
    src = urlparse(url)
    return base.rstrip("/") + (src.path or "") + (f"?{src.query}" if src.query else "")


def check_url(url: str) -> str:
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname or u.query or u.fragment:
        raise HistoryInputError(f"--api-url {url[:80]!r} is not an http(s)://host[:port] URL")
    try:
        u.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise HistoryInputError(f"--api-url {url[:80]!r} has a bad port") from None
    return url.rstrip("/")


def make_exchange(exchange_id: str, *, api_url: str | None = None, timeout_ms: int = 10_000) -> Any:
    """A sync ccxt exchange for public candles, spot markets only; ``api_url`` replaces the host
    of every REST endpoint (paths are kept: Binance spot klines are ``URL/api/v3/klines``)."""
    import ccxt

    if not isinstance(exchange_id, str) or exchange_id not in ccxt.exchanges:
        raise HistoryInputError(
            f"unknown exchange {str(exchange_id)[:40]!r} (ccxt ids, e.g. binance, bybit, okx)"
        )
    base = check_url(api_url) if api_url is not None else None
    exchange = getattr(ccxt, exchange_id)({"enableRateLimit": True, "timeout": timeout_ms})
    if not exchange.has.get("fetchOHLCV"):
        raise HistoryInputError(f"{exchange_id} has no candle history in ccxt (fetchOHLCV)")
    fetch_markets = exchange.options.get("fetchMarkets")
    if isinstance(fetch_markets, dict) and "types" in fetch_markets:
        fetch_markets["types"] = ["spot"]
    elif isinstance(fetch_markets, list):
        exchange.options["fetchMarkets"] = ["spot"]
    exchange.options["fetchCurrencies"] = False
    if base is not None:
        api = exchange.urls.get("api")
        if isinstance(api, dict):
            exchange.urls["api"] = {
                k: _rewrite(v, base) if isinstance(v, str) else v for k, v in api.items()
            }
        elif isinstance(api, str):
            exchange.urls["api"] = _rewrite(api, base)
    return exchange


def timeframe_ms(exchange: Any, timeframe: str) -> int:
    frames = getattr(exchange, "timeframes", None) or {}
    if timeframe not in frames:
        raise HistoryInputError(
            f"timeframe {timeframe[:20]!r} is not offered by {exchange.id} "
            f"(offered: {', '.join(frames)})"
        )
    if timeframe.endswith("M"):
        raise HistoryInputError("monthly candles are not on a fixed grid; use 1w or shorter")
    return int(exchange.parse_timeframe(timeframe)) * 1000


def retry_after_s(headers: Any, now_s: float | None = None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if not headers:
        return None
    value = None
    with contextlib.suppress(AttributeError, TypeError):
        value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    now = time.time() if now_s is None else now_s
    return max(0.0, when.timestamp() - now)


# ---------------------------------------------------------------------------- the fetch


@dataclass(frozen=True, slots=True)
class Gap:
    after_ms: int  # open time of the bar before the hole
    before_ms: int  # open time of the bar after it
    missing: int


@dataclass(frozen=True, slots=True)
class Progress:
    stored: int  # bars in the file now
    fetched: int  # bars added by this run
    last_ms: int | None
    fraction: float  # of the asked span, 0..1


@dataclass
class FetchResult:
    path: Path
    exchange: str
    symbol: str
    timeframe: str
    interval_ms: int
    stored_before: int
    fetched: int
    stored: int
    first_ms: int | None
    last_ms: int | None
    resumed_from_ms: int | None  # open time the run started at when it continued a file
    requests: int
    retries: int
    waited_s: float
    gaps: list[Gap] = field(default_factory=list)

    @property
    def missing_bars(self) -> int:
        return sum(g.missing for g in self.gaps)


def find_gaps(times: list[int], interval_ms: int) -> list[Gap]:
    out = []
    for a, b in itertools.pairwise(times):
        if b - a > interval_ms:
            out.append(Gap(a, b, (b - a) // interval_ms - 1))
    return out


class _Pager:
    def __init__(
        self,
        exchange: Any,
        sleep: Callable[[float], None],
        rng: random.Random,
        max_retries: int,
    ) -> None:
        self.exchange = exchange
        self.sleep = sleep
        self.rng = rng
        self.max_retries = max_retries
        self.requests = 0
        self.retries = 0
        self.waited_s = 0.0
        # ccxt's own throttle spaces requests by rateLimit x the endpoint's cost, which can be
        # below 1 (Binance spot klines: 0.4); a history download is never urgent, so pages are
        # also at least one full rateLimit apart.
        # Measured from ccxt's own record of its last request (after its throttle slept).
        self._fallback_last_ms = 0

    def _pace(self) -> None:
        ex = self.exchange
        min_ms = float(getattr(ex, "rateLimit", 0) or 0)
        last = getattr(ex, "lastRestRequestTimestamp", None)
        last_ms = float(last) if isinstance(last, int | float) else self._fallback_last_ms
        now_ms = time.time() * 1000
        if last_ms + min_ms > now_ms:
            time.sleep((last_ms + min_ms - now_ms) / 1000)
        self._fallback_last_ms = int(time.time() * 1000)

    def _backoff(self, attempt: int) -> float:
        base: float = min(30.0, 2.0 ** (attempt - 1))
        return base + self.rng.uniform(0.0, base / 4)

    def call(self, what: str, fn: Callable[[], Any]) -> Any:
        import ccxt

        attempt = 0
        while True:
            self.requests += 1
            self._pace()
            try:
                return fn()
            except ccxt.DDoSProtection as exc:  # 429, 418, Binance -1003: wait as told
                attempt += 1
                asked = retry_after_s(getattr(self.exchange, "last_response_headers", None))
                if asked is not None and asked > MAX_WAIT_S:
                    raise HistoryFetchError(
                        f"{self.exchange.id} asks to wait {asked:.0f} s before {what}; "
                        "run the same command later to resume"
                    ) from None
                wait = asked if asked is not None else self._backoff(attempt)
                last: Exception = exc
            except ccxt.NetworkError as exc:  # timeouts, 5xx, refused connections
                attempt += 1
                wait = self._backoff(attempt)
                last = exc
            except (
                ccxt.BaseError
            ) as exc:  # the exchange refused the request: asking again won't help
                raise HistoryFetchError(
                    f"{what}: {self.exchange.id} refused ({type(exc).__name__}: "
                    f"{_one_line(redact(exc))[:200]})"
                ) from None
            if attempt > self.max_retries:
                raise HistoryFetchError(
                    f"{what} failed {attempt} times ({type(last).__name__}: "
                    f"{_one_line(redact(last))[:200]}); run the same command again to resume"
                ) from None
            self.retries += 1
            self.waited_s += wait
            self.sleep(wait)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def load_symbol(exchange: Any, symbol: str) -> None:
    """Load the exchange's spot markets and check ``symbol`` is one of them."""
    import ccxt

    try:
        exchange.load_markets()
    except ccxt.NetworkError as exc:
        raise HistoryInputError(
            f"cannot reach {exchange.id} at {_host(exchange)} "
            f"({type(exc).__name__}: {_one_line(redact(exc))[:160]})"
        ) from None
    except ccxt.BaseError as exc:
        raise HistoryInputError(
            f"{exchange.id} did not answer its market list "
            f"({type(exc).__name__}: {_one_line(redact(exc))[:160]})"
        ) from None
    if symbol not in exchange.markets:
        near = [s for s in exchange.markets if s.split("/")[0] == symbol.split("/")[0].upper()]
        hint = f"; e.g. {', '.join(sorted(near)[:5])}" if near else ""
        raise HistoryInputError(f"unknown symbol {symbol[:30]!r} on {exchange.id} spot{hint}")


def _host(exchange: Any) -> str:
    api = exchange.urls.get("api")
    url = next(iter(api.values()), "") if isinstance(api, dict) else str(api)
    u = urlparse(str(url))
    return f"{u.scheme}://{u.netloc}" if u.netloc else str(url)


@contextlib.contextmanager
def _exact_numbers(exchange: Any) -> Iterator[None]:
    """ccxt parses numbers with ``exchange.number`` (float); text keeps the exchange's digits."""
    before = exchange.number
    exchange.number = str
    try:
        yield
    finally:
        exchange.number = before


def fetch_history(
    exchange: Any,
    symbol: str,
    timeframe: str,
    since_ms: int,
    store: KlineFile,
    *,
    until_ms: int | None = None,
    now_ms: int | None = None,
    page_limit: int = PAGE_LIMIT,
    max_retries: int = MAX_RETRIES,
    progress: Callable[[Progress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> FetchResult:
    """Fetch ``[since_ms, until_ms)`` (until now when None) into ``store``, after what it holds.

    The markets must be loaded (``load_symbol``). A stored file resumes after its last bar;
    ``since_ms`` earlier than its first bar is refused when the exchange has bars there (the
    file would have a hole), and accepted when it has none (the pair was listed later).
    """
    step = timeframe_ms(exchange, timeframe)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if since_ms >= now:
        raise HistoryInputError("--since is in the future")
    end = now if until_ms is None else min(until_ms, now)
    if end <= since_ms:
        raise HistoryInputError("--until must be after --since")
    stored = store.read()
    resumed_from = None
    start = since_ms
    pager = _Pager(exchange, sleep, rng or random.Random(), max_retries)
    if stored:
        first, last = stored[0][0], stored[-1][0]
        if since_ms < first and _has_bars_before(
            pager, exchange, symbol, timeframe, since_ms, first
        ):
            raise HistoryInputError(
                f"{store.path} starts at {_iso(first)}, after --since, and the exchange has "
                "earlier bars; move it aside (or pass --restart) to fetch from an earlier date"
            )
        start = max(since_ms, last + step)
        resumed_from = start
    times = [r[0] for r in stored]
    fetched = 0
    span = max(1, end - since_ms)

    def report() -> None:
        if progress is not None:
            last = times[-1] if times else None
            done = 0.0 if last is None else min(1.0, (last + step - since_ms) / span)
            progress(Progress(len(times), fetched, last, done))

    report()
    while start < end:
        page_start = start

        def one_page(page_start: int = page_start) -> Any:
            with _exact_numbers(exchange):
                return exchange.fetch_ohlcv(symbol, timeframe, since=page_start, limit=page_limit)

        page = pager.call(f"fetching {symbol} {timeframe} from {_iso(page_start)}", one_page)
        rows: list[Row] = []
        reached_end = False
        for candle in page or []:
            t = int(candle[0])
            if t < start or (times and t <= times[-1]) or (rows and t <= rows[-1][0]):
                continue  # before the page (or repeated): keep the file strictly increasing
            if t >= end or t + step > now:
                reached_end = True  # past --until, or the bar still open at the exchange
                break
            try:
                rows.append((t, *(exact_text(x) for x in candle[1:6])))  # type: ignore[arg-type]
            except ValueError as exc:
                raise HistoryFetchError(
                    f"{exchange.id} sent a bad candle at {_iso(t)}: {exc}"
                ) from None
        store.append(rows)
        fetched += len(rows)
        times.extend(r[0] for r in rows)
        report()
        if not rows or reached_end:
            break
        start = rows[-1][0] + step
    return FetchResult(
        path=store.path,
        exchange=str(exchange.id),
        symbol=symbol,
        timeframe=timeframe,
        interval_ms=step,
        stored_before=len(stored),
        fetched=fetched,
        stored=len(times),
        first_ms=times[0] if times else None,
        last_ms=times[-1] if times else None,
        resumed_from_ms=resumed_from,
        requests=pager.requests,
        retries=pager.retries,
        waited_s=pager.waited_s,
        gaps=find_gaps(times, step),
    )


def _has_bars_before(
    pager: _Pager, exchange: Any, symbol: str, timeframe: str, since_ms: int, first_ms: int
) -> bool:
    """Whether the exchange has a bar in ``[since_ms, first_ms)`` (one request for one bar): a
    file that starts later than ``--since`` only because the exchange has nothing earlier (the
    pair's listing) resumes; one that lacks bars the exchange has would get a hole."""
    page = pager.call(
        f"checking for {symbol} bars before {_iso(first_ms)}",
        lambda: exchange.fetch_ohlcv(symbol, timeframe, since=since_ms, limit=1),
    )
    return any(since_ms <= int(c[0]) < first_ms for c in page or [])


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(ms / 1000))
