"""Rows handed to the segment builder: (time, seq, original JSON) triples packed into a few flat buffers,
so that sending a memtable's worth to the builder process is one cheap pickle, not millions of objects."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate


@dataclass(slots=True)
class Rows:
    times: array  # array("q"): ns since epoch
    seqs: array  # array("q"): ingest order
    ends: array  # array("Q"): end offset of row i in `blob`; row i starts at ends[i - 1] (0 for i = 0)
    blob: bytes

    @classmethod
    def pack(cls, triples: Iterable[tuple[int, int, bytes]]) -> Rows:
        times, seqs, ends, parts = array("q"), array("q"), array("Q"), []
        end = 0
        for ts, seq, raw in triples:
            times.append(ts)
            seqs.append(seq)
            end += len(raw)
            ends.append(end)
            parts.append(raw)
        return cls(times, seqs, ends, b"".join(parts))

    @classmethod
    def of_columns(cls, times: array, seqs: array, raws: list[bytes]) -> Rows:
        """`pack` for rows held as columns (a memtable's), in C passes: 1.44 -> 0.48 ms for 10,000 rows."""
        if not len(times) == len(seqs) == len(raws):
            raise ValueError("times, seqs and raws must have one item per row")
        return cls(array("q", times), array("q", seqs), array("Q", accumulate(map(len, raws))), b"".join(raws))

    def __len__(self) -> int:
        return len(self.times)

    def raw(self, i: int) -> bytes:
        start = self.ends[i - 1] if i else 0
        return self.blob[start:self.ends[i]]
