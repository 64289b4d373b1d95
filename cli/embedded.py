"""A `Store` over a data directory opened in this process (`--data DIR`), through the engine facade.

The engine locks its directory: while a server (or another `--data` command) has it open, opening it
here fails with `Unavailable` naming the holder, and nothing in the directory is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine import Engine, IngestError, LockedError, QueryError, QuerySyntaxError, StrataError

from .store import BadQuery, BatchRefused, SearchPage, Stats, TailDropped, Unavailable


class EmbeddedStore:
    """Opens the data directory at `path`; `create` allows making a new one (ingest), otherwise a missing
    directory is an error rather than a silently empty result."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        path = Path(path)
        if not create and not path.is_dir():
            raise Unavailable(f"no data directory at {path}")
        self._appended = 0
        try:
            self._engine = Engine.open(path)
        except LockedError as exc:
            raise Unavailable(f"{exc} (while a server holds it, query through the server: --server URL)"
                              ) from None
        except StrataError as exc:
            raise Unavailable(f"cannot open {path}: {exc}") from None

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def flush(self) -> None:
        """Write what this command appended into segments. The engine's close leaves the memtable in the
        WAL; after a bulk ingest that would make every later open replay all of it."""
        if self._appended:
            self._engine.flush()
            self._appended = 0

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._engine.close()

    def search(self, query: str, *, start: str | None, end: str | None, limit: int,
               cursor: str | None = None, order: str = "newest") -> SearchPage:
        with _query_errors():
            hits = self._engine.search(query, start=start, end=end, limit=limit, cursor=cursor, order=order)
        return SearchPage(total=hits.total, logs=list(hits.logs), next_cursor=hits.next_cursor,
                          took_ms=hits.took * 1000.0, raw=list(hits.raw))

    def export_raw(self, query: str, *, start: str | None, end: str | None) -> Iterator[bytes]:
        with _query_errors():
            yield from self._engine.export(query, start=start, end=end)

    def append_ndjson(self, body: bytes) -> int:
        try:
            count = self._engine.append_ndjson(body)
        except IngestError as exc:
            raise BatchRefused(exc.reason, exc.line if exc.line is not None else exc.index + 1) from None
        except StrataError as exc:
            raise Unavailable(str(exc)) from None
        self._appended += count
        return count

    def stats(self) -> Stats:
        s = self._engine.statistics()
        return Stats(logs=s.logs, segments=s.segments, bytes_on_disk=s.bytes_on_disk,
                     oldest_ns=s.oldest_ns, newest_ns=s.newest_ns, memtable_logs=s.memtable_logs,
                     wal_bytes=s.wal_bytes)

    def tail(self, query: str) -> Iterator[dict | TailDropped]:
        # Only this process would append to a directory it holds locked, so there is nothing to follow.
        raise Unavailable("tail follows a running server (--server URL); a data directory opened "
                          "with --data receives no new logs while this command holds it")


@contextmanager
def _query_errors() -> Iterator[None]:
    """Turns the engine's query errors into `BadQuery`, and its other errors into `Unavailable`."""
    try:
        yield
    except QuerySyntaxError as exc:
        raise BadQuery(str(exc), getattr(exc, "column", None)) from None
    except QueryError as exc:
        raise BadQuery(str(exc)) from None
    except StrataError as exc:
        raise Unavailable(str(exc)) from None
