"""The jobs the builder process runs: a frozen memtable into a segment, and segments into one.

Both take and return plain values (paths, `Rows`, dicts), so they pickle cheaply to a worker process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .segments.builder import build_segment
from .segments.merger import merge
from .segments.reader import SegmentReader
from .segments.rows import Rows


def write_segment(path: str, rows: Rows) -> dict[str, Any]:
    return build_segment(Path(path), rows)


def merge_segments(path: str, inputs: list[tuple[str, int]]) -> dict[str, Any]:
    """Merge the segments at `inputs` ((path, id) pairs) into one segment at `path`."""
    readers = [SegmentReader(Path(in_path), segment_id) for in_path, segment_id in inputs]
    try:
        return merge(Path(path), readers)
    finally:
        for reader in readers:
            reader.close()
