"""The write-ahead log: one file per memtable generation, written before an append is acknowledged.

Format (all integers little-endian):

    file    := header record*
    header  := magic "STRATWAL" (8 bytes) | version u32 (= 1)
    record  := length u32 | crc u32 | payload[length]
                 crc is zlib.crc32 of payload
    payload := kind u8 (1 = batch) | first_seq u64 | count u32 | entry{count}
    entry   := time i64 (ns since epoch, UTC) | length u32 | json[length]

One `append` call is one record, so a torn write loses a whole call and never part of one. Sequence numbers
(ingest order) of a record's entries are first_seq, first_seq+1, ...

Recovery rules (WalReader), for the last (newest) WAL file:
- a short header or payload at the end of the file, a bad crc on a record that reaches the end of the file,
  or a tail of zero bytes, is a torn tail: the writer died mid-write. The file is truncated to the last
  whole record.
- a bad record followed by a valid record is corruption: CorruptionError naming file and offset; nothing
  is changed.
Older WAL files were fsynced before the next one was started, so any damage in them is corruption.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import CorruptionError, FormatVersionError
from .filenames import fsync_dir

MAGIC = b"STRATWAL"
VERSION = 1
_HEADER = struct.Struct("<8sI")
_RECORD = struct.Struct("<II")  # length, crc
_BATCH = struct.Struct("<BQI")  # kind, first_seq, count
_ENTRY = struct.Struct("<qI")  # time, length
KIND_BATCH = 1  # written to disk; never renumber, only add

Entry = tuple[int, bytes]  # (time ns, original JSON)


def encode_entries(entries: list[Entry]) -> bytes:
    """The entry part of a batch payload; built by the appending thread, outside any lock."""
    pack = _ENTRY.pack
    parts = []
    for ts, raw in entries:
        parts.append(pack(ts, len(raw)))
        parts.append(raw)
    return b"".join(parts)


def frame_batch(first_seq: int, count: int, encoded_entries: bytes) -> bytes:
    """A whole record: framing + batch header + the entries from `encode_entries`."""
    payload = _BATCH.pack(KIND_BATCH, first_seq, count) + encoded_entries
    return _RECORD.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class Batch:
    first_seq: int
    entries: list[Entry]


class WalWriter:
    """Appends framed records to one WAL file. Not thread-safe: the engine's commit leader is its only user."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        if create:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, _HEADER.pack(MAGIC, VERSION))
            os.fsync(fd)
            fsync_dir(path.parent)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._fd = fd
        self.size = os.fstat(fd).st_size

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self.size += len(data)

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_wal(path: Path, *, is_last: bool) -> Iterator[Batch]:
    """Every whole batch in the file, in order. Truncates a torn tail when `is_last` (see module docstring);
    raises CorruptionError, before yielding anything, when the file is damaged otherwise."""
    data = path.read_bytes()
    end, batches = _scan(path, data, is_last=is_last)
    if end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    yield from batches


def _scan(path: Path, data: bytes, *, is_last: bool) -> tuple[int, list[Batch]]:
    if len(data) < _HEADER.size:
        if is_last and not data.strip(b"\0"):
            # Died before the header reached the disk: an empty log.
            with open(path, "wb") as f:
                f.write(_HEADER.pack(MAGIC, VERSION))
                os.fsync(f.fileno())
            return _HEADER.size, []
        raise CorruptionError(f"{path}: WAL header is cut short", path=str(path), offset=0)
    magic, version = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise CorruptionError(f"{path}: not a Strata WAL file (bad magic)", path=str(path), offset=0)
    if version != VERSION:
        raise FormatVersionError(
            f"{path}: WAL format version {version} is not supported (this build reads {VERSION})",
            path=str(path), offset=0)
    pos = _HEADER.size
    batches: list[Batch] = []
    total = len(data)
    while pos < total:
        bad = _bad_record(data, pos)
        if bad is None:
            length, _ = _RECORD.unpack_from(data, pos)
            start = pos + _RECORD.size
            batches.append(_decode_batch(path, data, start, length))
            pos = start + length
            continue
        if is_last and not _valid_record_after(data, pos):
            return pos, batches  # torn tail
        raise CorruptionError(
            f"{path}: corrupt WAL record at offset {pos} ({bad}) with valid records after it; "
            "refusing to open so that nothing acknowledged is silently dropped. "
            "Move the file aside to open the directory without it.",
            path=str(path), offset=pos)
    return pos, batches


def _bad_record(data: bytes, pos: int) -> str | None:
    """Why the record at `pos` is not whole and valid, or None if it is."""
    if pos + _RECORD.size > len(data):
        return "short header"
    length, crc = _RECORD.unpack_from(data, pos)
    start = pos + _RECORD.size
    if length < _BATCH.size or start + length > len(data):
        return "bad length"
    if zlib.crc32(memoryview(data)[start:start + length]) != crc:
        return "checksum mismatch"
    return None


def _valid_record_after(data: bytes, pos: int) -> bool:
    # A corrupt length can make garbage look like a record boundary, so look for any offset after `pos`
    # where a whole record with a matching crc starts. Rare path: only taken when a record is bad.
    view = memoryview(data)
    for candidate in range(pos + 1, len(data) - _RECORD.size - _BATCH.size + 1):
        length, crc = _RECORD.unpack_from(data, candidate)
        start = candidate + _RECORD.size
        if length < _BATCH.size or start + length > len(data) or data[start] != KIND_BATCH:
            continue
        if zlib.crc32(view[start:start + length]) == crc:
            return True
    return False


def _decode_batch(path: Path, data: bytes, start: int, length: int) -> Batch:
    kind, first_seq, count = _BATCH.unpack_from(data, start)
    if kind != KIND_BATCH:
        raise CorruptionError(f"{path}: unknown WAL record kind {kind} at offset {start}",
                              path=str(path), offset=start)
    pos = start + _BATCH.size
    end = start + length
    entries: list[Entry] = []
    unpack = _ENTRY.unpack_from
    for _ in range(count):
        ts, n = unpack(data, pos)
        pos += _ENTRY.size
        entries.append((ts, data[pos:pos + n]))
        pos += n
    if pos != end:
        raise CorruptionError(f"{path}: WAL record at offset {start} does not add up", path=str(path),
                              offset=start)
    return Batch(first_seq, entries)
