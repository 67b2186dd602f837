"""Metric sources: every source implements :class:`~oracle.sources.base.MetricSource` and takes its endpoint or
path as an argument, so tests and the daemon can replay recorded data."""

from oracle.sources.base import (
    Metric,
    MetricBatch,
    MetricSource,
    ReadingColumns,
    ScrapeGrid,
)
from oracle.sources.recording import RecordingSource, parse_exposition

__all__ = [
    "Metric",
    "MetricBatch",
    "MetricSource",
    "ReadingColumns",
    "RecordingSource",
    "ScrapeGrid",
    "parse_exposition",
]
