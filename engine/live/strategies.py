"""Strategy lifecycle in the live engine: start, stop, bars to running strategies."""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

from engine.live.state import (
    EngineState,
)
from engine.messages import (
    StartStrategy,
    StopStrategy,
    StrategyRejected,
    StrategyStarted,
    StrategyStopped,
)
from engine.snapshot import (
    frozen_map,
)
from engine.strategy_host import StrategyHost

log = logging.getLogger(__name__)


class StrategiesMixin(EngineState):
    """Strategy lifecycle in the live engine: start, stop, bars to running strategies."""

    def _start_strategy(self, cmd: StartStrategy, fut: concurrent.futures.Future[Any]) -> None:
        from engine.strategy import ParamError, make_strategy
        from engine.strategy.base import params_mapping

        now = self._now()
        reason = ""
        host: StrategyHost | None = None
        if cmd.symbol not in self._candles:
            reason = f"unknown symbol {cmd.symbol!r}"
        elif any(h.name == cmd.name for h in self._strategy_hosts.values()):
            reason = f"strategy {cmd.name!r} is already running"
        else:
            try:
                strategy = make_strategy(cmd.name, params_mapping(cmd.params))
            except ParamError as exc:
                reason = str(exc)
            else:
                self._strategy_seq += 1
                sid = f"S-{self._strategy_seq:04d}"
                host = StrategyHost(
                    self._kernel,
                    sid,
                    strategy,
                    self.instruments[cmd.symbol],
                    self._candles[cmd.symbol],
                    cmd.params,
                    fees=self._fees,
                )
        if host is None:
            rejected = StrategyRejected(name=cmd.name, reason=reason, ts_ns=now)
            self._emit(rejected)
            self._finish(fut, rejected, durable=False)
            return
        self._strategy_hosts[host.strategy_id] = host
        try:
            host.start()
        except Exception as exc:
            log.exception("strategy %s failed to start", cmd.name)
            self._strategy_hosts.pop(host.strategy_id, None)
            host.running = False
            rejected = StrategyRejected(name=cmd.name, reason=f"failed: {exc}", ts_ns=now)
            self._emit(rejected)
            self._finish(fut, rejected, durable=False)
            return
        self._flush_denials()
        log.info("strategy %s (%s) started on %s", cmd.name, host.strategy_id, cmd.symbol)
        started = StrategyStarted(
            strategy_id=host.strategy_id,
            name=cmd.name,
            symbol=cmd.symbol,
            params=frozen_map(dict(cmd.params)),
            ts_ns=now,
        )
        self._emit(started)
        self._finish(fut, started, durable=False)

    def _stop_strategy(self, cmd: StopStrategy, fut: concurrent.futures.Future[Any]) -> None:
        key = cmd.name_or_id
        host = self._strategy_hosts.get(key) or next(
            (h for h in self._strategy_hosts.values() if h.name == key), None
        )
        if host is None:
            rejected = StrategyRejected(
                name=key, reason=f"no running strategy {key!r}", ts_ns=self._now()
            )
            self._emit(rejected)
            self._finish(fut, rejected, durable=False)
            return
        self._finish(fut, self._end_strategy(host, "stopped by user"), durable=False)

    def _end_strategy(self, host: StrategyHost, reason: str) -> StrategyStopped:
        self._strategy_hosts.pop(host.strategy_id, None)
        try:
            host.stop()
        except Exception:
            log.exception("strategy %s failed in on_stop", host.strategy_id)
        log.info("strategy %s stopped: %s", host.strategy_id, reason)
        event = StrategyStopped(
            strategy_id=host.strategy_id, name=host.name, reason=reason, ts_ns=self._now()
        )
        self._emit(event)
        return event

    def _run_strategies(self) -> None:
        for host in list(self._strategy_hosts.values()):
            try:
                host.drain()
            except Exception as exc:
                log.exception("strategy %s failed on a bar", host.strategy_id)
                self._end_strategy(host, f"failed: {exc}")
