"""`strata ingest`: read NDJSON or JSON files (gzip/zstd by extension, `-` for stdin) and send them in
batches, each stored atomically.

Input forms, told apart by the first non-blank line:
- NDJSON: one JSON object per line; a position is a line number (blank lines count, and are not sent);
- a JSON array of objects (the first line starts with `[`): a position is the element number;
- one JSON object spread over several lines (the first line is not a whole JSON value).

Resuming: a batch is refused whole when one of its logs is bad, so before stopping we send the logs of
that batch that precede the bad one. Everything before the bad position is then stored and nothing
after it, and the report gives the exact command (`--skip N`) that carries on once the log is fixed.
"""

from __future__ import annotations

import gzip
import io
import os
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson
import zstandard

from .progress import Progress
from .store import BatchRefused, CliError, Store, Unavailable

DEFAULT_BATCH_LOGS = 5000
# Well under the server's default 64 MiB body limit, and small enough that a refused batch is cheap to redo.
DEFAULT_BATCH_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class Entry:
    position: int  # 1-based line number (NDJSON) or element number (JSON array)
    data: bytes


@dataclass(slots=True)
class IngestReport:
    logs: int = 0
    files: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.logs / self.seconds if self.seconds > 0 else 0.0
        return (f"ingested {self.logs:,} logs from {self.files} input{'s' if self.files != 1 else ''} "
                f"in {self.seconds:.{1 if self.seconds >= 10 else 2}f} s ({rate:,.0f} logs/s)")


class IngestFailed(CliError):
    """Ingest stopped; the message says where, what is stored, and how to resume."""


class InputFile:
    """One input named on the command line; `unit` is "line" or "element" once `entries` has started."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.unit = "line"
        self._raw: IO[bytes] | None = None
        self.size: int | None = None
        if name != "-":
            try:
                self.size = os.path.getsize(name)
            except OSError as exc:
                raise IngestFailed(f"cannot read {name}: {exc.strerror}") from None

    @property
    def bytes_read(self) -> int:
        """Bytes of the file (compressed, as on disk) consumed so far; drives the ETA."""
        if self._raw is None or self.size is None:
            return 0
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return self.size

    def entries(self, skip: int = 0) -> Iterator[Entry]:
        with ExitStack() as stack:
            stream = self._open(stack)
            yield from (e for e in self._parse(stream) if e.position > skip)

    def _open(self, stack: ExitStack) -> IO[bytes]:
        if self.name == "-":
            return sys.stdin.buffer
        raw = stack.enter_context(open(self.name, "rb"))  # noqa: SIM115 - the stack closes it
        self._raw = raw
        suffix = Path(self.name).suffix.lower()
        if suffix == ".gz":
            return stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        if suffix in (".zst", ".zstd"):
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
            return stack.enter_context(io.BufferedReader(reader, 1 << 20))
        return raw

    def _parse(self, stream: IO[bytes]) -> Iterator[Entry]:
        number = 0
        for line in stream:
            number += 1
            first = line.strip()
            if not first:
                continue
            if first.startswith(b"["):
                self.unit = "element"
                yield from self._whole_document(line + stream.read(), as_array=True)
                return
            try:
                orjson.loads(first)
            except orjson.JSONDecodeError:
                # Not a whole value on one line: maybe one pretty-printed object.
                rest = line + stream.read()
                try:
                    doc = orjson.loads(rest)
                except orjson.JSONDecodeError:
                    doc = None
                if isinstance(doc, dict):
                    yield Entry(number, orjson.dumps(doc))
                    return
                # NDJSON with a bad first line: send as it is, so the store names the line.
                yield from _lines(rest, number)
                return
            yield Entry(number, first)
            for line in stream:
                number += 1
                line = line.strip()
                if line:
                    yield Entry(number, line)
            return

    def _whole_document(self, content: bytes, *, as_array: bool) -> Iterator[Entry]:
        try:
            doc = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise IngestFailed(f"{self.name}: not valid JSON: {exc}") from None
        items = doc if isinstance(doc, list) else [doc]
        for index, item in enumerate(items, start=1):
            yield Entry(index, orjson.dumps(item))


def _lines(content: bytes, first_number: int) -> Iterator[Entry]:
    for offset, line in enumerate(content.split(b"\n")):
        line = line.strip()
        if line:
            yield Entry(first_number + offset, line)


def _batches(entries: Iterator[Entry], max_logs: int, max_bytes: int) -> Iterator[list[Entry]]:
    batch: list[Entry] = []
    size = 0
    for entry in entries:
        if batch and (len(batch) >= max_logs or size + len(entry.data) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += len(entry.data) + 1
    if batch:
        yield batch


def _body(batch: list[Entry]) -> bytes:
    return b"\n".join(e.data for e in batch) + b"\n"


def ingest(store: Store, names: list[str], *, skip: int = 0, batch_logs: int = DEFAULT_BATCH_LOGS,
           batch_bytes: int = DEFAULT_BATCH_BYTES, progress: Progress | None = None) -> IngestReport:
    """Send every input in order; `skip` drops the first N lines/elements of the first input (resume).

    Raises IngestFailed (with a resume command) when a log is refused or the store goes away.
    """
    started = time.monotonic()
    report = IngestReport()
    inputs = [InputFile(name) for name in names]
    if progress is not None and all(f.size is not None for f in inputs):
        progress.total_bytes = sum(f.size or 0 for f in inputs)
    done_bytes = 0
    for index, current in enumerate(inputs):
        stored_through = skip if index == 0 else 0
        for batch in _batches(current.entries(stored_through), batch_logs, batch_bytes):
            try:
                report.logs += store.append_ndjson(_body(batch))
            except BatchRefused as exc:
                if progress is not None:
                    progress.clear()
                report.logs += _send_prefix(store, batch, exc)
                raise IngestFailed(_refused_message(current, batch, exc, names[index:])) from None
            except Unavailable as exc:
                if progress is not None:
                    progress.clear()
                raise IngestFailed(_unavailable_message(current, batch, exc, stored_through,
                                                        names[index:])) from None
            stored_through = batch[-1].position
            if progress is not None:
                progress.update(logs=report.logs, bytes_read=done_bytes + current.bytes_read)
        done_bytes += current.size or 0
        report.files += 1
    report.seconds = time.monotonic() - started
    if progress is not None:
        progress.update(logs=report.logs, bytes_read=done_bytes)
        progress.finish()
    return report


def _bad_index(batch: list[Entry], exc: BatchRefused) -> int | None:
    if exc.line is None or not 1 <= exc.line <= len(batch):
        return None
    return exc.line - 1


def _send_prefix(store: Store, batch: list[Entry], exc: BatchRefused) -> int:
    """Store the logs of a refused batch that come before its bad log; returns how many."""
    bad = _bad_index(batch, exc)
    if not bad:
        return 0
    try:
        return store.append_ndjson(_body(batch[:bad]))
    except (BatchRefused, Unavailable):
        return 0


def _resume_command(skip: int, names: list[str]) -> str:
    return "strata ingest " + " ".join([f"--skip {skip}", *map(shlex.quote, names)])


def _refused_message(current: InputFile, batch: list[Entry], exc: BatchRefused, remaining: list[str]) -> str:
    bad = _bad_index(batch, exc)
    where = f"{current.name}"
    if bad is None:
        first, last = batch[0].position, batch[-1].position
        return (f"{where} {current.unit}s {first}-{last} were refused: {exc.reason}\n"
                f"  everything before {current.unit} {first} is stored, nothing from it on.\n"
                f"  resume with: {_resume_command(first - 1, remaining)}")
    position = batch[bad].position
    return (f"{where} {current.unit} {position}: {exc.reason}\n"
            f"  everything before {current.unit} {position} is stored, nothing from it on.\n"
            f"  fix that {'log' if current.unit == 'element' else 'line'}, then resume with: "
            f"{_resume_command(position - 1, remaining)}")


def _unavailable_message(current: InputFile, batch: list[Entry], exc: Unavailable, stored_through: int,
                         remaining: list[str]) -> str:
    first, last = batch[0].position, batch[-1].position
    unit = current.unit
    if not exc.maybe_sent:
        if stored_through == 0:
            return str(exc)
        return (f"{exc}\n  {current.name}: {unit}s up to {stored_through} are stored, nothing after.\n"
                f"  resume with: {_resume_command(stored_through, remaining)}")
    return (f"{exc}\n"
            f"  {current.name}: {unit}s up to {stored_through} are stored; {unit}s {first}-{last} were "
            "being sent and may or may not be (check with strata query before resuming).\n"
            f"  resume with: {_resume_command(stored_through, remaining)}")
