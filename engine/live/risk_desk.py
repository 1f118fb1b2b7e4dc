"""The risk desk: limit changes, the halt reset, the risk state and the audit trail."""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

from engine.live.state import (
    EngineState,
)
from engine.messages import (
    HaltResetRefused,
    ResetHalt,
    RiskLimitsChanged,
    RiskLimitsRejected,
    TradingStateChanged,
    UpdateRiskLimits,
)
from engine.risk import LimitError
from engine.snapshot import (
    frozen_map,
)

log = logging.getLogger(__name__)


class RiskDeskMixin(EngineState):
    """The risk desk: limit changes, the halt reset, the risk state and the audit trail."""

    def _save_risk_state(self, now: int) -> None:
        risk = self._kernel.risk
        state, reason = risk.state_name, risk.reason
        day, sod = risk.current_day or "", self._portfolio.start_of_day_equity
        self._persist("risk state", lambda s: s.save_risk_state(state, reason, day, sod, now))

    def _update_limits(self, cmd: UpdateRiskLimits, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        outcome = self._kernel.risk.update_limits(cmd.changes())
        if isinstance(outcome, LimitError):
            rejected = RiskLimitsRejected(
                reason=outcome.reason, field=outcome.field, value=outcome.value, ts_ns=now
            )
            log.info("risk limits refused: %s", outcome.reason)
            self._audit(
                now, cmd.actor, "refused", outcome.field, None, outcome.value, outcome.reason
            )
            self._emit(rejected)
            self._finish(fut, rejected, durable=False)
            return
        old, new = outcome
        old_s, new_s = old.to_strings(), new.to_strings()
        self._persist("risk limits", lambda s: s.save_risk_limits(new_s))
        for name in new_s:
            if old_s.get(name) != new_s[name]:
                self._audit(
                    now, cmd.actor, "limit", name, old_s.get(name), new_s[name], "limit changed"
                )
        changed = RiskLimitsChanged(
            old=frozen_map(old.as_dict()), new=frozen_map(new.as_dict()), actor=cmd.actor, ts_ns=now
        )
        self._publish_snapshot(force=True)
        self._emit(changed)
        self._finish(fut, changed)

    def _reset_halt(self, cmd: ResetHalt, fut: concurrent.futures.Future[Any]) -> None:
        now = self._now()
        if self._backlog:
            self._flush_backlog()  # the probe: a reset needs a database that takes writes
        if self._backlog:
            refused = HaltResetRefused(
                reason=f"reset refused: the database cannot be written ({self._storage_error})",
                ts_ns=now,
            )
            self._emit(refused)
            self._finish(fut, refused, durable=False)
            return
        old = self._kernel.risk.state_name
        outcome = self._kernel.reset_halt(cmd.confirm, now)
        if isinstance(outcome, str):
            refused = HaltResetRefused(reason=outcome, ts_ns=now)
            self._emit(refused)
            self._finish(fut, refused, durable=False)
            return
        self._audit(
            now, cmd.actor, "reset_halt", "trading_state", old, outcome.new_state, outcome.reason
        )
        self._finish(
            fut, TradingStateChanged(state=outcome.new_state, reason=outcome.reason, ts_ns=now)
        )

    def _audit(
        self,
        ts_ns: int,
        actor: str,
        action: str,
        field_name: str | None,
        old: str | None,
        new: str | None,
        reason: str,
    ) -> None:
        """Persist one risk audit entry and keep it for the snapshot's audit log."""
        self._persist(
            "risk audit",
            lambda s: s.record_risk_audit(ts_ns, actor, action, field_name, old, new, reason),
        )
        entry = {
            "ts_ns": str(ts_ns),
            "actor": actor,
            "action": action,
            "field": field_name or "",
            "old": old or "",
            "new": new or "",
            "reason": reason,
        }
        self._audit_log.append(frozen_map(entry))
        self._audit_cache = tuple(self._audit_log)
