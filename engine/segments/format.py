"""The segment file: an immutable, checksummed container of zstd-compressed sections.

Format (integers little-endian):

    file    := magic "STRATSEG" (8 bytes) | section* | meta | footer
    section := zstd frame; located by a handle [offset, length, crc] in the meta, crc = zlib.crc32 of the
               stored (compressed) bytes
    meta    := zstd(UTF-8 JSON object), see below
    footer  := meta_offset u64 | meta_length u32 | meta_crc u32 | version u32 | magic "STRATSEG"   (32 bytes)
    version := 3; version 2 differs only in that no posting stands for another (postings.py, tags 2 and 3),
               and version 1 also in its term blocks (engine/segments/termdict.py)

The meta (written by engine/segments/builder.py, read by engine/segments/reader.py):

    docs, min_ts, max_ts, min_seq, max_seq
    row_blocks: [[handle, min_ts, max_ts, first_doc], ...]   in doc-id order; a row block holds the docs from
               its first_doc to the next block's (engine/segments/rowblock.py)
    rows_level: the zstd level of the row blocks (absent: ROWS_LEVEL); a merge recompresses rows written
               at a lower level
    times: handle of the doc-id-ordered time column, seqs: of the ingest sequence column; each column is
           i64{docs} holding the first value, then the difference of each value from the one before
           (sorted times give small differences, which compress to a fraction of the raw values)
    fields: {name: {"docs": logs having it, "exists": handle of a posting (engine/segments/postings.py),
                    "tok": dict, "val": dict, "num": dict or null, "gram": dict or null,
                    "common": [tokens whose grams are complete: every "a b" / "a b c" of them that stands in
                               a value of the field is in "gram"]}}
    dict := {"first": [first term of each block, latin-1 text of its UTF-8 bytes], "blocks": [handle, ...],
             "filters": handle of the blocks' trigram filters (engine/segments/blockfilter.py); value
                        dictionaries only, and absent when a block had too many trigrams,
             "refs": true in a token dictionary that may hold references to values (postings.py, tag 2),
             "copies": true in a dictionary that may hold copies of other postings (postings.py, tag 3);
                     both absent otherwise}

Documents are sorted by (time, seq), so doc ids follow time and a time range is a doc-id interval.
The file is written under a temporary name, fsynced, then renamed: a crash leaves no partial segment.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from array import array
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any

import orjson
import zstandard

from ..errors import CorruptionError, FormatVersionError
from ..filenames import fsync_dir, temp_name

MAGIC = b"STRATSEG"
# Version 2 changed the term block (engine/segments/termdict.py), version 3 let postings stand for others
# (postings.py); older files are still read.
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
_FOOTER = struct.Struct("<QIII8s")
# Sections are compressed at INDEX_LEVEL, row blocks at ROWS_LEVEL. Measured on 100,000 generated logs in
# blocks of 512 rows: level 3 gives 50.7 bytes/log at 0.5 us/log, level 9 44.1 bytes/log at 2.5 us/log
# and decompresses faster (74 vs 121 us a block); level 15 saves 4 more bytes at 10x the time.
INDEX_LEVEL = 3
ROWS_LEVEL = 9
# Segments written from memtables compress their rows at FLUSH_ROWS_LEVEL, and the first merge that takes
# them recompresses the rows at ROWS_LEVEL (as LSM stores pick a fast codec for young levels): flushes are
# what ingest waits for, merges run behind. On 20,480 generated logs: level 1 takes 0.34 us/log for 51.0
# bytes/log, level 9 2.59 us/log for 47.3; both decompress a block in ~60 us.
FLUSH_ROWS_LEVEL = 1

Handle = list[int]  # [offset, length, crc]


def encode_column(values: array) -> bytes:
    """An i64 column as its first value and successive differences (see the module docstring)."""
    deltas = array("q", values[:1])
    deltas.extend(b - a for a, b in pairwise(values))
    return deltas.tobytes()


def decode_column(data: bytes) -> array:
    deltas = array("q")
    deltas.frombytes(data)
    return array("q", accumulate(deltas))


class SegmentFileWriter:
    """Writes sections, then the meta and footer; `finish` makes the file durable under its final name."""

    def __init__(self, final_path: Path, *, rows_level: int = ROWS_LEVEL) -> None:
        self.final_path = final_path
        self.rows_level = rows_level
        self.tmp_path = final_path.with_name(temp_name(final_path.name))
        self._file = open(self.tmp_path, "wb")  # noqa: SIM115 - closed by finish() or abort()
        self._file.write(MAGIC)
        self._pos = len(MAGIC)
        self._zstd = zstandard.ZstdCompressor(level=INDEX_LEVEL)
        self._zstd_rows = zstandard.ZstdCompressor(level=rows_level)

    def add(self, raw: bytes, *, rows: bool = False) -> Handle:
        """Compress and append one section (`rows`: a row block, compressed harder); return its handle."""
        data = (self._zstd_rows if rows else self._zstd).compress(raw)
        handle = [self._pos, len(data), zlib.crc32(data)]
        self._file.write(data)
        self._pos += len(data)
        return handle

    def add_compressed(self, data: bytes) -> Handle:
        """Append a section that is already compressed (copied from another segment)."""
        handle = [self._pos, len(data), zlib.crc32(data)]
        self._file.write(data)
        self._pos += len(data)
        return handle

    def __enter__(self) -> SegmentFileWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()

    def column_meta(self, times: array, seqs: array, row_blocks: list[list]) -> dict[str, Any]:
        """Write the time and seq columns; the meta's entries for them and for the rows."""
        return {
            "docs": len(times),
            "min_ts": times[0],
            "max_ts": times[-1],
            "min_seq": min(seqs),
            "max_seq": max(seqs),
            "row_blocks": row_blocks,
            "rows_level": self.rows_level,
            "times": self.add(encode_column(times)),
            "seqs": self.add(encode_column(seqs)),
            "fields": {},
        }

    def finish(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Write meta and footer, fsync, rename into place, fsync the directory.
        Returns {"docs", "min_ts", "max_ts", "bytes"}: what the manifest records of the segment."""
        data = self._zstd.compress(orjson.dumps(meta))
        self._file.write(data)
        self._file.write(_FOOTER.pack(self._pos, len(data), zlib.crc32(data), VERSION, MAGIC))
        self._pos += len(data) + _FOOTER.size
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        # link, not rename: never replace an existing segment, whoever wrote it.
        os.link(self.tmp_path, self.final_path)
        os.unlink(self.tmp_path)
        fsync_dir(self.final_path.parent)
        return {"docs": meta["docs"], "min_ts": meta["min_ts"], "max_ts": meta["max_ts"], "bytes": self._pos}

    def abort(self) -> None:
        self._file.close()
        self.tmp_path.unlink(missing_ok=True)


class SegmentFile:
    """Read side: checks the footer, and serves sections by handle with positioned reads, verifying each
    crc. Positioned reads rather than a mapping: pages read through a mapping count in the process's
    resident memory (a merge reading 3 GB of inputs showed it all as RSS), page-cache reads do not, and
    every section is copied out to be decompressed either way. The descriptor stays open, so a segment
    deleted by a merge stays readable for searches that still hold it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(self._fd).st_size
            if size < len(MAGIC) + _FOOTER.size:
                raise self._corrupt(f"file is cut short ({size} bytes)", 0)
            self.size = size
            if os.pread(self._fd, len(MAGIC), 0) != MAGIC:
                raise self._corrupt("not a Strata segment (bad magic)", 0)
            self._open(size)
        except BaseException:
            self.close()
            raise

    def _open(self, size: int) -> None:
        path = self.path
        footer = os.pread(self._fd, _FOOTER.size, size - _FOOTER.size)
        meta_offset, meta_length, meta_crc, version, magic = _FOOTER.unpack(footer)
        if magic != MAGIC:
            raise self._corrupt("footer is damaged or the file is cut short", size - _FOOTER.size)
        if version not in READABLE_VERSIONS:
            raise FormatVersionError(
                f"{path}: segment format version {version} is not supported (this build reads "
                f"{', '.join(map(str, READABLE_VERSIONS))})", path=str(path), offset=size - _FOOTER.size)
        self.version = version
        self._local = threading.local()  # a ZstdDecompressor must not be shared between threads
        self.meta: dict[str, Any] = orjson.loads(self.read([meta_offset, meta_length, meta_crc]))

    def read(self, handle: Handle) -> bytes:
        data = self.read_compressed(handle)
        dctx = getattr(self._local, "dctx", None)
        if dctx is None:
            dctx = self._local.dctx = zstandard.ZstdDecompressor()
        return dctx.decompress(data)

    def read_compressed(self, handle: Handle) -> bytes:
        """A section's stored bytes, checksum verified, still compressed."""
        offset, length, crc = handle
        if offset + length > self.size:
            raise self._corrupt("section runs past the end of the file", offset)
        data = os.pread(self._fd, length, offset)
        if len(data) != length or zlib.crc32(data) != crc:
            raise self._corrupt("section checksum mismatch", offset)
        return data

    def _corrupt(self, what: str, offset: int) -> CorruptionError:
        return CorruptionError(f"{self.path}: {what} at offset {offset}", path=str(self.path), offset=offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        # A merged-away segment is not closed by the engine: searches may still hold it. The last
        # reference going away closes the descriptor, and that frees the deleted file's space.
        self.close()
