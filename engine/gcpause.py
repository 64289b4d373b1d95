"""Pausing Python's cyclic garbage collector around bulk index building.

Building an index creates millions of small lists and tuples; each batch of new objects triggers a
collection that walks every live container, so with a large index most of the time went to the collector
(segment building of 250,000 logs: ~50 us/log with it, ~25 without). The index builders create no
reference cycles, so pausing it loses nothing.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
