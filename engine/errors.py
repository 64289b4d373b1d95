"""Every error the engine raises, as one tree.

    StrataError                       base of all of them
    ├── IngestError (ValueError)      a log in an append call is invalid; nothing of the call was stored
    ├── QueryError (ValueError)       a query is valid syntax but cannot run (e.g. a regex on timestamp)
    ├── QueryTimeoutError             a search ran past its time budget
    ├── QueryTooBroadError            a search would need more memory than its budget allows
    ├── BackpressureError             segment writing is behind the memory budget; retry later
    ├── CorruptionError               a file on disk is damaged; the engine refuses to open and changes nothing
    │   └── FormatVersionError        a file was written by an unknown format version
    ├── LockedError                   another process holds the data directory
    ├── EngineClosedError             the engine was used after close()
    └── WriteFailedError              an earlier write or fsync failed; the engine takes no more writes

Syntax errors in queries are `querylang.QuerySyntaxError`, re-exported by the engine facade.
"""

from __future__ import annotations


class StrataError(Exception):
    """Base class of every error raised by the engine."""


class IngestError(StrataError, ValueError):
    """Raised by `append`/`append_ndjson` when a log is invalid. Nothing of that call was stored.

    `index` is the 0-based position of the bad log in the call; `line` is its 1-based line number
    for NDJSON input (None for a list of dicts).
    """

    def __init__(self, reason: str, *, index: int, line: int | None = None) -> None:
        where = f"line {line}" if line is not None else f"log {index}"
        super().__init__(f"{where}: {reason}")
        self.reason = reason
        self.index = index
        self.line = line


class QueryError(StrataError, ValueError):
    """Raised when a well-formed query cannot be run as written; the message says why."""


class QueryTimeoutError(StrataError):
    """Raised when a search runs past its time budget (`EngineOptions.search_timeout`)."""


class QueryTooBroadError(StrataError):
    """Raised when a search would hold more rows in memory than its budget allows; narrow the query."""


class BackpressureError(StrataError):
    """Raised by `append` when segment writing is too far behind; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CorruptionError(StrataError):
    """Raised on open when a file is damaged in a way that is not a torn tail. Nothing was changed."""

    def __init__(self, message: str, *, path: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.offset = offset


class FormatVersionError(CorruptionError):
    """Raised when a file carries a format version this build does not read."""


class LockedError(StrataError):
    """Raised by `Engine.open` when another process holds the data directory's lock."""


class EngineClosedError(StrataError):
    """Raised when an engine is used after `close()`."""


class WriteFailedError(StrataError):
    """Raised by every write after a write or fsync failed: the WAL's state is unknown, so the engine
    stops taking writes rather than risk acknowledging logs it may not have stored. Reopen to recover."""
