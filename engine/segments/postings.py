"""Posting lists: the sorted document ids holding a term, as stored inside a term block.

Format (little-endian):

    posting := tag u8 | data
      tag 0 (small):   data = doc_id u32{n}, n = (len(posting) - 1) / 4, ascending; used for n <= 8,
                       where a roaring header would outweigh the ids
      tag 1 (roaring): data = pyroaring's portable serialization of a BitMap

Tags are written to disk; never renumber, only add.
"""

from __future__ import annotations

from array import array

from pyroaring import BitMap

TAG_SMALL = 0
TAG_ROARING = 1
SMALL_MAX = 8
SMALL_TAG = bytes((TAG_SMALL,))


def encode(docs: BitMap) -> bytes:
    if len(docs) <= SMALL_MAX:
        return SMALL_TAG + array("I", docs).tobytes()
    docs.run_optimize()
    return bytes((TAG_ROARING,)) + docs.serialize()


def encode_sorted(docs: list[int]) -> bytes:
    """`encode` for ascending ids without repeats, skipping the BitMap for short lists."""
    if len(docs) == 1:
        return SMALL_TAG + docs[0].to_bytes(4, "little")
    if len(docs) <= SMALL_MAX:
        return SMALL_TAG + array("I", docs).tobytes()
    return encode(BitMap(docs))


def decode(data: bytes | memoryview) -> BitMap:
    tag = data[0]
    if tag == TAG_SMALL:
        ids = array("I")
        ids.frombytes(data[1:])
        return BitMap(ids)
    if tag == TAG_ROARING:
        return BitMap.deserialize(bytes(data[1:]))
    raise ValueError(f"unknown posting tag {tag}")
