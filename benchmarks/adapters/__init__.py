"""One adapter per engine: how it stores the NDJSON file durably and how it answers the query set.

Every adapter has the same contract, so the harness treats all engines alike:

- `ingest(logs, directory)` reads the file in batches of `BATCH_LOGS` lines, JSON parsing included,
  and makes each batch durable (fsynced) before the next one; when it returns, every log is
  queryable and the store is closed. `settle(directory)`, if given, runs untimed afterwards and
  waits for background clean-up, so the size on disk is the store's final size.
- `open(directory)` opens the store for searching; `Store.search(query)` returns the exact total and
  the `NEWEST` newest logs as the original objects; `Unsupported` means the engine cannot express it.

Adapters are imported lazily by name (`load`), so a worker process loads only its own engine's
libraries and its peak RSS is that engine's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..queries import BenchQuery


class Unsupported(Exception):
    """The engine cannot express this query; the table says so instead of a figure."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The exact number of matching logs and the newest of them (original objects, newest first)."""

    total: int
    logs: list[dict[str, Any]]


class Store(Protocol):
    def search(self, query: BenchQuery) -> Answer: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Adapter:
    name: str
    # One line for the results: schema, durability, how many cores it uses.
    setup: str
    ingest: Callable[[Path, Path], int]
    open: Callable[[Path], Store]
    # Query key -> how the query was translated, where that is more than a plain index look-up
    # (exact-value instead of token match, a post-filter, a full scan).
    notes: Mapping[str, str] = field(default_factory=dict)
    # What the translation table says for a query without a note.
    default_note: str = "index"
    # Untimed work after ingest so the size on disk is final (merged-away files deleted).
    settle: Callable[[Path], None] | None = None


# Engine name (as given on the command line) -> module holding its ADAPTER.
ENGINES: dict[str, str] = {
    "strata": "benchmarks.adapters.strata",
    "sqlite": "benchmarks.adapters.sqlite_fts5",
    "tantivy": "benchmarks.adapters.tantivy_index",
    "chdb": "benchmarks.adapters.chdb_mergetree",
}


def load(name: str) -> Adapter:
    """The adapter of engine `name` (a key of ENGINES), importing that engine's libraries."""
    try:
        module = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}") from None
    return importlib.import_module(module).ADAPTER
