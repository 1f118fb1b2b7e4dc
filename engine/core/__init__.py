"""The trading kernel: one synchronous order path and trading state (see ``kernel``)."""

from engine.core.context import KernelContext
from engine.core.kernel import Clock, Kernel, fill_id_of, order_id_of
from engine.core.sink import KernelSink

__all__ = ["Clock", "Kernel", "KernelContext", "KernelSink", "fill_id_of", "order_id_of"]
