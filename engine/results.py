"""What the engine answers: a page of hits, a histogram, and statistics. Plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import orjson


@dataclass(frozen=True)
class Hits:
    """One page of a search: the exact total and up to `limit` logs, newest first (or oldest first)."""

    total: int
    raw: list[bytes]
    timestamps: list[int]
    next_cursor: str | None
    took: float

    @cached_property
    def logs(self) -> list[dict]:
        return [orjson.loads(r) for r in self.raw]


@dataclass(frozen=True)
class Histogram:
    interval_ns: int
    buckets: list[tuple[int, int]]
    series: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EngineStatistics:
    logs: int
    segments: int
    memtable_logs: int
    bytes_on_disk: int
    wal_bytes: int
    oldest_ns: int | None
    newest_ns: int | None
    appended_logs_total: int
    appended_bytes_total: int
    fsyncs_total: int
    fsync_seconds_total: float
    flushes_total: int
    merges_total: int
