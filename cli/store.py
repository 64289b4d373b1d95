"""What a command needs from where the logs are: a running server (`remote.py`) or a data directory
opened in this process (`embedded.py`). Both raise only the errors below, so commands never see
HTTP statuses or engine exceptions.

    CliError                  base; the message is shown to the user as is
    ├── BadQuery              the query does not parse or cannot run; `column` is 1-based or None
    ├── BatchRefused          an ingest batch was refused whole because of one log (`line` in the batch)
    └── Unavailable           the server cannot be reached, the data directory is locked, …
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


class CliError(Exception):
    """Base of the errors commands report; `str(error)` is written for a person."""


class BadQuery(CliError):
    """The query has a syntax error (at `column`, 1-based) or cannot run as written (`column` None)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


class BatchRefused(CliError):
    """A batch was refused whole, nothing of it stored, because its log at `line` (1-based) is bad."""

    def __init__(self, reason: str, line: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


class Unavailable(CliError):
    """The logs cannot be reached: no server at the address, a locked data directory, a server error.

    `maybe_sent` is True when a request may have reached the server before the failure (a write in it
    may or may not be stored)."""

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int
    logs: list[dict]
    next_cursor: str | None
    took_ms: float
    # The original JSON text of each log, when the store has it (the embedded engine does).
    raw: list[bytes] | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    logs: int
    segments: int
    bytes_on_disk: int
    oldest_ns: int | None
    newest_ns: int | None
    memtable_logs: int | None = None
    wal_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class TailDropped:
    """In a tail stream: the server dropped `count` logs because this client read too slowly."""

    count: int


class Store(Protocol):
    """Where a command reads and writes logs. Stores are context managers; close releases the directory
    lock or the connection."""

    def search(self, query: str, *, start: str | None, end: str | None, limit: int,
               cursor: str | None = None, order: str = "newest") -> SearchPage: ...

    def export_raw(self, query: str, *, start: str | None, end: str | None) -> Iterator[bytes]:
        """The original JSON text of every match, newest first; the caller may stop early."""
        ...

    def append_ndjson(self, body: bytes) -> int: ...

    def flush(self) -> None:
        """Make what this command appended compact on disk before it exits (a server does it itself)."""
        ...

    def stats(self) -> Stats: ...

    def tail(self, query: str) -> Iterator[dict | TailDropped]:
        """New matching logs as they arrive, forever. Subscribed by the time it returns."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Store: ...

    def __exit__(self, *exc: object) -> None: ...
