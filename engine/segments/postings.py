"""Posting lists: the sorted document ids holding a term, as stored inside a term block.

Format (little-endian):

    posting := tag u8 | data
      tag 0 (small):   data = doc_id u32{n}, n = (len(posting) - 1) / 4, ascending; used for n <= 8,
                       where a roaring header would outweigh the ids
      tag 1 (roaring): data = pyroaring's portable serialization of a BitMap
      tag 2 (ref):     data = UTF-8 text of a value of the same field, whose posting in the field's value
                       dictionary is this posting too; in token dictionaries only, from segment format 3
                       on (a token that stands in one value of several docs: `server-1234`'s `1234`)
      tag 3 (copy):    data = kind u8 | term bytes: the same docs as the posting of that term in the
                       field's dictionary of that kind (COPY_KINDS: 0 val, 1 tok, 2 num, 3 gram), which is
                       written before this one (dictionaries in that order, terms in order) and is of tag
                       0 or 1; any dictionary, from segment format 3 on (the words of one message template
                       and their grams hold the same docs)

Tags are written to disk; never renumber, only add. A term block stores a posting of one doc as just
its id (engine/segments/termdict.py): `one_or_encoded` gives that id as an int, other postings encoded.
References and copies are resolved by the dictionary that holds them (termdict.TermDict), not by `decode`.
"""

from __future__ import annotations

from array import array
from typing import Any

from pyroaring import BitMap

TAG_SMALL = 0
TAG_ROARING = 1
TAG_REF = 2
TAG_COPY = 3
COPY_KINDS = ("val", "tok", "num", "gram")
SMALL_MAX = 8
SMALL_TAG = bytes((TAG_SMALL,))
REF_TAG = bytes((TAG_REF,))


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


def encode_many(counts: Any, docs: Any) -> tuple[Any, bytes]:
    """The encodings of many postings at once, for numpy arrays: posting i holds counts[i] docs, the next
    counts[i] items of `docs` (ascending ids without repeats). Returns each encoding's length and all of
    them concatenated, the bytes `encode_sorted` gives each. Small postings are laid out by numpy; only
    roaring ones take a Python step each."""
    import numpy as np  # builder processes only: the ingesting process need not import numpy

    starts = np.cumsum(counts) - counts
    small = counts <= SMALL_MAX
    lengths = 1 + 4 * counts
    big = np.flatnonzero(~small).tolist()
    encoded = [encode(BitMap(docs[a:a + c].tolist()))
               for a, c in zip(starts[big].tolist(), counts[big].tolist(), strict=True)]
    lengths[big] = list(map(len, encoded))
    at = np.cumsum(lengths) - lengths  # where each encoding starts in the output
    out = np.zeros(int(lengths.sum()), np.uint8)  # tag 0 (small) where nothing else is written
    small_counts = np.where(small, counts, 0)
    # The k-th id of a small posting goes at its start + 1 + 4 * k (four little-endian bytes).
    id_posting = np.repeat(np.arange(len(counts)), small_counts)
    places = np.arange(len(id_posting)) - np.repeat(np.cumsum(small_counts) - small_counts, small_counts)
    id_bytes = docs[np.repeat(small, counts)].astype("<u4").view(np.uint8).reshape(-1, 4)
    at_id = at[id_posting] + 1 + 4 * places
    for k in range(4):
        out[at_id + k] = id_bytes[:, k]
    for i, data in zip(big, encoded, strict=True):
        out[at[i]:at[i] + len(data)] = np.frombuffer(data, np.uint8)
    return lengths, out.tobytes()


def one_or_encoded(docs: BitMap | list[int]) -> int | bytes:
    """A term block's posting item: the doc id when `docs` (a BitMap, or ascending ids without repeats)
    holds one, else the encoded posting."""
    if len(docs) == 1:
        return docs[0]
    return encode(docs) if isinstance(docs, BitMap) else encode_sorted(docs)


def ref(text: bytes) -> bytes:
    """A posting that is the posting of value `text` (UTF-8) in the same field's value dictionary."""
    return REF_TAG + text


def copy(kind: str, term: bytes) -> bytes:
    """A posting with the docs of `term`'s posting in the field's dictionary `kind` (one of COPY_KINDS)."""
    return bytes((TAG_COPY, COPY_KINDS.index(kind))) + term


def small_ids(data: bytes | memoryview) -> array:
    """The ids of a posting of tag 0 (small)."""
    ids = array("I")
    ids.frombytes(data[1:])
    return ids


def docs_of(posting: int | bytes | memoryview) -> BitMap:
    """The docs of a term block's posting item (`one_or_encoded`): one doc's id, or an encoded posting."""
    return BitMap((posting,)) if type(posting) is int else decode(posting)


def decode(data: bytes | memoryview) -> BitMap:
    tag = data[0]
    if tag == TAG_SMALL:
        return BitMap(small_ids(data))
    if tag == TAG_ROARING:
        return BitMap.deserialize(bytes(data[1:]))
    if tag in (TAG_REF, TAG_COPY):
        raise ValueError("a reference or copy posting is resolved by its dictionary, not decoded")
    raise ValueError(f"unknown posting tag {tag}")
