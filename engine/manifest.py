"""The manifest: which segments are live, and from which WAL generation recovery replays.

Format (integers little-endian):

    MANIFEST := magic "STRATMAN" (8 bytes) | version u32 (= 1) | length u32 | crc u32 | body[length]
    body     := UTF-8 JSON {"segments": [SegmentMeta...], "wal_start": int, "next_segment_id": int,
                            "next_seq": int}
    crc      := zlib.crc32 of body

`wal_start` is the first WAL generation not yet in a segment; every WAL file below it may be deleted.
`next_seq` is one past the highest ingest sequence number stored in a segment.

Writing is atomic: the new manifest goes to MANIFEST.tmp, is fsynced, renamed over MANIFEST, and the
directory is fsynced. A crash at any point leaves either the old or the new manifest, never a mix.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from .errors import CorruptionError, FormatVersionError
from .filenames import MANIFEST, fsync_dir, temp_name

MAGIC = b"STRATMAN"
VERSION = 1
_HEADER = struct.Struct("<8sIII")


@dataclass(frozen=True, slots=True)
class SegmentMeta:
    """What the manifest knows of one segment, enough to plan merges without opening it."""

    id: int
    docs: int
    min_ts: int
    max_ts: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Manifest:
    segments: tuple[SegmentMeta, ...] = field(default_factory=tuple)
    wal_start: int = 1
    next_segment_id: int = 1
    next_seq: int = 0


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Replace the directory's manifest atomically (see module docstring)."""
    body = orjson.dumps({
        "segments": [asdict(s) for s in manifest.segments],
        "wal_start": manifest.wal_start,
        "next_segment_id": manifest.next_segment_id,
        "next_seq": manifest.next_seq,
    })
    tmp = directory / temp_name(MANIFEST)
    with open(tmp, "wb") as f:
        f.write(_HEADER.pack(MAGIC, VERSION, len(body), zlib.crc32(body)))
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MANIFEST)
    fsync_dir(directory)


def read_manifest(directory: Path) -> Manifest | None:
    """The directory's manifest, or None when it has none yet."""
    path = directory / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < _HEADER.size:
        raise CorruptionError(f"{path}: manifest is cut short ({len(data)} bytes)", path=str(path))
    magic, version, length, crc = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise CorruptionError(f"{path}: not a Strata manifest (bad magic)", path=str(path), offset=0)
    if version != VERSION:
        raise FormatVersionError(
            f"{path}: manifest format version {version} is not supported (this build reads {VERSION})",
            path=str(path), offset=0)
    body = data[_HEADER.size:]
    if len(body) != length or zlib.crc32(body) != crc:
        raise CorruptionError(f"{path}: manifest checksum mismatch", path=str(path), offset=_HEADER.size)
    doc = orjson.loads(body)
    return Manifest(
        segments=tuple(SegmentMeta(**s) for s in doc["segments"]),
        wal_start=doc["wal_start"],
        next_segment_id=doc["next_segment_id"],
        next_seq=doc["next_seq"],
    )
