"""EngineOptions: every tunable of the engine, each with what raising or lowering it costs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FsyncPolicy = Literal["always", "interval", "never"]


@dataclass(frozen=True, slots=True)
class EngineOptions:
    # "always": append returns once its logs are fsynced (concurrent appends share one fsync).
    # "interval": append returns once written; a background thread fsyncs every `fsync_interval` seconds,
    # so a power cut can lose that much. "never": leave it to the OS (a crash of the machine loses data).
    fsync: FsyncPolicy = "always"
    fsync_interval: float = 0.1

    # The memtable is frozen and written as a segment when it holds this many logs or raw bytes.
    # Larger means fewer merges, but a search under ingest first indexes the memtables not yet written
    # (~17 us/log, competing with ingest for the GIL): measured over HTTP while ingesting, search p50 was
    # 2.5-4.6 s with 50,000 and 0.12-0.6 s with 10,000 (benchmarks/server.py).
    memtable_max_logs: int = 10_000
    memtable_max_bytes: int = 96 << 20

    # The memtable's index is built a field at a time by the first search that uses the field, for the rows
    # appended since. While searches keep coming (within `memtable_index_warm_for` seconds of the last),
    # `append` parses its own rows and indexes the fields searched within that time before it returns, so
    # a search rarely waits for indexing, and fields nobody searches are not indexed.
    memtable_index_warm_for: float = 30.0

    # Frozen memtables waiting for their segment to be written; past this, append waits (stall) for up to
    # `stall_timeout` seconds, then raises BackpressureError. Bounds memory when ingest outruns the writer.
    max_pending_flushes: int = 4
    stall_timeout: float = 30.0
    # A builder that comes free while several frozen memtables wait writes up to this many as one segment
    # (and while another builder works, a lone one waits for the next): when ingest outruns the builders,
    # segments grow instead of multiplying, and fewer merges follow.
    # 1M generated logs at full speed (benchmarks/ingest.py): 101 segments of 10,000 logs at 1 (with 3
    # pending); 52-54 at 2 (with 4 or 5 pending), and builder CPU up to the last merge 30.4-31.3 -> 23.2-24.4 s;
    # 34-41 at 4 (with 6 or 8 pending), but builds of 40,000 logs took more CPU a log and 130-150 MB more.
    flush_memtables: int = 2

    # One log's JSON above this many bytes is refused with IngestError (never a crash, never a partial store).
    max_log_bytes: int = 1 << 20

    # Background merging of small segments into larger ones. A merge rewrites its inputs once per tier, so
    # `merge_factor` segments of one tier become one of the next: higher means less rewriting, more segments.
    # With 10,000-log memtables, 8 gives tiers of 80,000 and 640,000 logs (a merge costs ~9 us/log).
    merge: bool = True
    merge_factor: int = 8
    max_segment_logs: int = 4_000_000
    # Merges wait while memtables wait for a builder, so that ingest at full speed is not slowed by them.
    # But each segment costs every search a look-up and holds a file open, so from this many segments on a
    # merge takes a builder beside the flushes, and from `flushes_wait_for_merges_at` on merges take every
    # builder and no flush starts: ingest slows to what merging keeps up with, and the count stays bounded.
    merge_beside_flushes_at: int = 96
    flushes_wait_for_merges_at: int = 128

    # Segment writing and merging run in a separate process so they use the second core beside ingest.
    # False builds in a thread of this process (simpler to debug; slower ingest).
    build_in_subprocess: bool = True
    # Builder processes: segments of successive memtables are written in parallel, one per process.
    # Each holds one memtable's index while it works (a few hundred MB for 250,000 logs).
    builder_processes: int = 2
    # Start the builder processes when the engine opens instead of at the first flush, which then does not
    # wait ~0.2 s for them (Python, numpy and pyarrow imports). A server does; short-lived engines (scripts,
    # tests) need not start processes they may never use.
    start_builders_at_open: bool = False

    # Ingest work in the engine's process (parsing, memtable indexing) pauses while a search is in its first
    # `search_priority_window` seconds, so searches do not queue for the GIL behind it (engine/priority.py).
    # 0 turns it off. Over HTTP with ~20k logs/s ingested: search p50 5-8 ms with it, 5-12 ms without.
    search_priority_window: float = 0.05

    # A search running longer than this raises QueryTimeoutError instead of stalling the caller.
    search_timeout: float = 30.0
    # A search may hold at most this many rows in memory at once (hits of one page plus context); a larger
    # `limit` is refused with QueryTooBroadError.
    max_search_rows: int = 100_000
    # Top values and histogram series count each distinct value of a field; past this many they raise
    # QueryTooBroadError instead of holding, say, every trace id of millions of logs.
    max_distinct_values: int = 200_000

    def __post_init__(self) -> None:
        if self.fsync not in ("always", "interval", "never"):
            raise ValueError(f'fsync must be "always", "interval" or "never", not {self.fsync!r}')
        if self.memtable_max_logs < 1 or self.memtable_max_bytes < 1:
            raise ValueError("memtable_max_logs and memtable_max_bytes must be positive")
        if self.search_priority_window < 0:
            raise ValueError("search_priority_window must not be negative")
        if self.max_pending_flushes < 1 or self.flush_memtables < 1:
            raise ValueError("max_pending_flushes and flush_memtables must be at least 1")
        if not 1 <= self.merge_beside_flushes_at <= self.flushes_wait_for_merges_at:
            raise ValueError("merge_beside_flushes_at must be at least 1 and at most flushes_wait_for_merges_at")
        if self.merge_factor < 2:
            raise ValueError("merge_factor must be at least 2")
