"""Trigram filters for the blocks of a value dictionary: which blocks may hold a value containing a text.

A regex is answered by scanning verbatim values for its required literals (engine/search.py). Without
filters that scan decompresses every block of the field's value dictionary, which at 10M messages is
most of a second; with them it reads only the blocks whose filter admits every trigram of the literals.

What a filter holds: the trigrams (three consecutive characters, case as written) of every maximal run
of word characters other than decimal digits (`[^\\W\\d]+`) in any value of the block. A literal contained
in a value has each of its own such runs inside one of the value's runs, so every trigram of those runs
is in the filter of the value's block: a filter never rules out a block that holds a match. Digits are
left out because unique numbers (ids, counts, addresses) would fill the filters.

Section format (one zstd section of the segment file per value dictionary, see format.py; integers
little-endian):

    section := count u32 | end u32{count} | filter bytes (concatenated; filter i ends at end[i])
    filter  := a Bloom filter of m = 8 * its length bits; trigram t is in it when bits
               (h1 + i * h2) mod m are set for i in 0..HASHES-1, where h = zlib.crc32(UTF-8 of t),
               h1 = h & 0xffff and h2 = (h >> 16) | 1. Bit p is bit p % 8 of byte p // 8.

A dictionary has no filter section when one of its blocks has more than MAX_TRIGRAMS distinct trigrams
(ids of random letters, say): such filters would cost more bytes than the scans they save.
"""

from __future__ import annotations

import re
import struct
import zlib
from array import array
from collections.abc import Iterable, Sequence
from typing import AnyStr

# Written to disk: changing either changes the meaning of stored filters.
HASHES = 3
BITS_PER_TRIGRAM = 6  # with 3 hashes, ~6% false positives per trigram; a literal usually has several
MAX_TRIGRAMS = 1024  # generated messages have at most ~300 per 16 KiB block

_RUN = re.compile(r"[^\W\d]+")
# The same runs in ASCII bytes, found with translate + split, which is 4x faster than the regex.
_ASCII_RUN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
_ASCII_RUNS = bytes(c if c in _ASCII_RUN_CHARS else 0x20 for c in range(256))
_COUNT = struct.Struct("<I")

Probe = tuple[int, int]  # (h1, h2) of one trigram


def trigrams(text: str) -> set[bytes]:
    """The trigrams of `text` that a filter holds (see the module docstring), in UTF-8."""
    return {t.encode() for t in _trigrams_of(_RUN.findall(text))}


def _trigrams_of(runs: Iterable[AnyStr]) -> set[AnyStr]:
    out: set[AnyStr] = set()
    for run in set(runs):
        if len(run) >= 3:
            out.update(run[i:i + 3] for i in range(len(run) - 2))
    return out


def build(terms: Sequence[bytes]) -> bytes | None:
    """The filter of one block of UTF-8 terms, or None when the block has too many trigrams."""
    return build_joined(b"\n".join(terms))  # "\n" is not a word character, so no run spans two terms


def build_joined(text: bytes) -> bytes | None:
    """`build` for a block's terms joined by "\n"."""
    if text.isascii():
        return _build_ascii(text)
    grams = trigrams(text.decode())
    if len(grams) > MAX_TRIGRAMS:
        return None
    m = _filter_bits(len(grams))
    bits = 0
    for h1, h2 in map(_probe, grams):
        for i in range(HASHES):
            bits |= 1 << (h1 + i * h2) % m
    return bits.to_bytes(m // 8, "little")


def _filter_bits(trigram_count: int) -> int:
    return max(64, -(-trigram_count * BITS_PER_TRIGRAM // 8) * 8)


def _build_ascii(text: bytes) -> bytes | None:
    """`build_joined` for ASCII text in numpy: the Python loop per trigram of a block cost more than the
    rest of a segment's value dictionaries. Gives the same bytes."""
    import numpy as np  # builder processes only: the ingesting process need not import numpy

    places, crcs = _ascii_tables()
    place = places[np.frombuffer(text, np.uint8)].astype(np.int64)  # -1 outside runs
    starts = (place[:-2] >= 0) & (place[1:-1] >= 0) & (place[2:] >= 0)
    base = len(_ASCII_RUN_CHARS)
    codes = np.sort((place[:-2][starts] * base + place[1:-1][starts]) * base + place[2:][starts])
    codes = codes[np.concatenate([[True], codes[1:] != codes[:-1]])] if len(codes) else codes
    if len(codes) > MAX_TRIGRAMS:
        return None
    m = _filter_bits(len(codes))
    h = crcs[codes].astype(np.int64)
    h1, h2 = h & 0xFFFF, (h >> 16) | 1
    bits = np.zeros(m, np.uint8)
    for i in range(HASHES):
        bits[(h1 + i * h2) % m] = 1
    return np.packbits(bits, bitorder="little").tobytes()


_TABLES: tuple | None = None


def _ascii_tables() -> tuple:
    """(place of each byte in _ASCII_RUN_CHARS or -1, crc32 of every trigram of those chars by its code
    (a * n + b) * n + c): 148,877 crc32s, ~20 ms once per process."""
    global _TABLES
    if _TABLES is None:
        import numpy as np

        places = np.full(256, -1, np.int8)
        places[np.frombuffer(_ASCII_RUN_CHARS, np.uint8)] = np.arange(len(_ASCII_RUN_CHARS))
        chars = _ASCII_RUN_CHARS
        crcs = np.fromiter((zlib.crc32(bytes((a, b, c))) for a in chars for b in chars for c in chars), np.uint32,
                           len(chars) ** 3)
        _TABLES = (places, crcs)
    return _TABLES


def encode_section(filters: Iterable[bytes]) -> bytes:
    filters = list(filters)
    ends = array("I")
    end = 0
    for f in filters:
        end += len(f)
        ends.append(end)
    return _COUNT.pack(len(filters)) + ends.tobytes() + b"".join(filters)


def probes(literals: Iterable[str]) -> list[Probe]:
    """What to look for in filters: the trigrams every value containing all of `literals` has."""
    return [_probe(t) for t in set().union(*map(trigrams, literals))]


class BlockFilters:
    """Read side of one filter section."""

    def __init__(self, data: bytes) -> None:
        (count,) = _COUNT.unpack_from(data, 0)
        ends = array("I")
        ends.frombytes(data[4:4 + 4 * count])
        base = 4 + 4 * count
        # Tuples, not lists: cached for the reader's life, and the collector stops walking tuples of ints.
        self._filters = tuple([int.from_bytes(data[base + a:base + b], "little")
                               for a, b in zip([0, *ends[:-1]], ends, strict=True)])
        self._bits = tuple([8 * (b - a) for a, b in zip([0, *ends[:-1]], ends, strict=True)])

    def __len__(self) -> int:
        return len(self._filters)

    def may_hold(self, block: int, wanted: list[Probe]) -> bool:
        """False when block `block` surely holds no value with all the probed trigrams."""
        bits, m = self._filters[block], self._bits[block]
        for h1, h2 in wanted:
            for i in range(HASHES):
                if not bits >> ((h1 + i * h2) % m) & 1:
                    return False
        return True


def _probe(gram: bytes) -> Probe:
    h = zlib.crc32(gram)
    return h & 0xFFFF, (h >> 16) | 1
