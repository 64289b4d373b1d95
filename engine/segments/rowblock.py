"""The row block: the original JSON of up to ROWS_PER_BLOCK consecutive docs of a segment.

Format (before the segment file compresses it as a section; integers little-endian):

    block := count u32 | length u32{count} | row{count}
    row   := the log's original JSON bytes, as appended (no separator)

Row i spans bytes offsets[i]:offsets[i + 1], where offsets[0] = 4 + 4 * count and each next offset adds a
length; the last offset is the block's end. Which docs a block holds is in the segment meta (row_blocks,
engine/segments/format.py), and the section's crc there guards the bytes.
"""

from __future__ import annotations

from array import array
from itertools import accumulate, pairwise

# 512 rows of generated logs are ~150 KiB: big enough for zstd to find the repeats between logs, small
# enough that fetching one hit decompresses little.
ROWS_PER_BLOCK = 512


def encode(raws: list[bytes]) -> bytes:
    return b"".join((len(raws).to_bytes(4, "little"), array("I", map(len, raws)).tobytes(), *raws))


class RowBlock:
    """A decoded block: its bytes and row offsets, no list of rows, so that a cache of many blocks holds
    few objects for the garbage collector to walk (TermBlock in termdict.py says more)."""

    __slots__ = ("data", "offsets")

    def __init__(self, data: bytes) -> None:
        count = int.from_bytes(data[:4], "little")
        lengths = array("I")
        lengths.frombytes(data[4:4 + 4 * count])
        self.data = data
        self.offsets = tuple(accumulate(lengths, initial=4 + 4 * count))  # row i: offsets[i]:offsets[i + 1]

    def rows(self) -> list[bytes]:
        data = self.data
        return [data[a:b] for a, b in pairwise(self.offsets)]
