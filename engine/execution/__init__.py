"""Execution venues: where accepted orders go (the paper broker now, real exchanges next)."""

from engine.execution.paper import PaperExecutionVenue
from engine.execution.venue import (
    ExecutionReportSink,
    ExecutionVenue,
    FillReport,
    OrderReport,
    ReconciliationReport,
    VenueOrderState,
)

__all__ = [
    "ExecutionReportSink",
    "ExecutionVenue",
    "FillReport",
    "OrderReport",
    "PaperExecutionVenue",
    "ReconciliationReport",
    "VenueOrderState",
]
