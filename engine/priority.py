"""SearchPriority: searches run ahead of bulk ingest work that shares their process.

CPython runs one thread at a time (the GIL). A search in a process whose other threads parse and index
ingest batches holds the GIL only part of the time, so a search of a few milliseconds of work took
30-80 ms while a server ingested (benchmarks/server.py). Ingest work calls `yield_to_searches()` between
chunks of a few hundred logs: while a search younger than `window` seconds is running, it sleeps, which
releases the GIL, until that search ends or turns `window` old. A search older than the window competes
as before, so a stream of slow searches slows ingest down but cannot stop it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class SearchPriority:
    """`window`: seconds from a search's start during which ingest work gives way to it (EngineOptions)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._cv = threading.Condition()
        self._started: dict[int, float] = {}  # running search -> its start, time.monotonic()
        self._next = 0

    @contextmanager
    def searching(self) -> Iterator[None]:
        """Marks a search as running for the duration of the block (blocks may nest and overlap)."""
        with self._cv:
            token = self._next
            self._next += 1
            self._started[token] = time.monotonic()
        try:
            yield
        finally:
            with self._cv:
                del self._started[token]
                self._cv.notify_all()

    def yield_to_searches(self) -> None:
        """Wait while a search younger than the window runs; at once when none does."""
        if not self._started or self.window <= 0:  # the common case, without taking the lock
            return
        with self._cv:
            while self._started:
                remaining = max(self._started.values()) + self.window - time.monotonic()
                if remaining <= 0:
                    return
                self._cv.wait(remaining)
