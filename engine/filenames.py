"""Every name the engine gives a file in its data directory, made and parsed in one place.

    LOCK                     held with flock by the process that has the directory open; holds its pid
    MANIFEST                 the live segments and the first live WAL generation (engine/manifest.py)
    wal-00000007.log         write-ahead log generation 7 (engine/wal.py)
    seg-00000012.sst         segment 12 (engine/segments/format.py)
    *.tmp                    a file being written; deleted on open, never read
"""

from __future__ import annotations

import os
import re
from pathlib import Path

LOCK = "LOCK"
MANIFEST = "MANIFEST"
TMP_SUFFIX = ".tmp"

_WAL = re.compile(r"wal-(\d{8,})\.log")
_SEGMENT = re.compile(r"seg-(\d{8,})\.sst")


def wal_name(generation: int) -> str:
    return f"wal-{generation:08d}.log"


def segment_name(segment_id: int) -> str:
    return f"seg-{segment_id:08d}.sst"


def temp_name(name: str) -> str:
    return name + TMP_SUFFIX


def parse_wal(name: str) -> int | None:
    """The generation of a WAL file name, or None if it is not one."""
    m = _WAL.fullmatch(name)
    return int(m[1]) if m else None


def parse_segment(name: str) -> int | None:
    """The id of a segment file name, or None if it is not one."""
    m = _SEGMENT.fullmatch(name)
    return int(m[1]) if m else None


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
