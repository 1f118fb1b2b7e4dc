"""The live shell: the engine thread and its API around the kernel (``engine.core``).

One module per concept: ``engine`` (thread, API, lifecycle), ``commands`` (queue, priority lane,
dispatch table), ``orders``, ``risk_desk``, ``panic``, ``strategies``, ``feed`` (market loops),
``restore`` (startup from SQLite), ``journal`` (write then publish, the backlog and probe),
``publisher`` (subscribers, snapshots); ``state`` declares what they share.
"""

from engine.live.engine import Engine
from engine.live.errors import EngineNotRunning, NotPersisted

__all__ = ["Engine", "EngineNotRunning", "NotPersisted"]
