"""Trigram block filters of value dictionaries: never rule out a block holding a match, and do skip others."""

from __future__ import annotations

import struct
import zlib

import orjson
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import CorruptionError
from engine.search import required_literals
from engine.segments import blockfilter, postings, termdict
from engine.segments.blockfilter import BlockFilters
from engine.segments.builder import build_segment
from engine.segments.format import MAGIC, VERSION, SegmentFile
from engine.segments.reader import SegmentReader
from engine.segments.rows import Rows

# Word characters of several scripts, digits and separators, so runs start and end everywhere.
_TEXT = st.text(alphabet="abcXYZ019_é ошибка-./:", max_size=30)  # 30 values stay under MAX_TRIGRAMS


@given(values=st.lists(_TEXT, min_size=1, max_size=30), pick=st.data())
def test_a_block_holding_a_value_admits_every_literal_of_it(values, pick):
    terms = sorted({v.encode() for v in values})
    filters = BlockFilters(blockfilter.encode_section([blockfilter.build(terms)]))
    value = pick.draw(st.sampled_from(values))
    start = pick.draw(st.integers(0, len(value)))
    literal = value[start:pick.draw(st.integers(start, len(value)))]
    assert filters.may_hold(0, blockfilter.probes([literal]))


def test_a_block_without_the_literal_is_ruled_out():
    failed = [f"Failed to connect to server-{i:04d}".encode() for i in range(200)]
    filters = BlockFilters(blockfilter.encode_section([blockfilter.build(failed)]))
    assert filters.may_hold(0, blockfilter.probes(["ed to conn"]))
    assert not filters.may_hold(0, blockfilter.probes(["Timeout ", " after "]))


def test_digits_alone_never_rule_out_a_block():
    # Runs of digits are not in filters, so a literal of digits has no probes and admits every block.
    assert blockfilter.probes(["12345", "-", "42"]) == []


def test_a_block_with_too_many_trigrams_leaves_the_dictionary_without_filters():
    # Random six-letter words: about 6 * 20 distinct trigrams per 20 values.
    ids = sorted({"".join(chr(97 + (i * 7919 >> k) % 26) for k in range(0, 24, 4)).encode() for i in range(3000)})
    assert blockfilter.build(ids[:2000]) is None
    sections: list[bytes] = []

    def add(data: bytes) -> list[int]:
        sections.append(data)
        return [len(sections) - 1, len(data), 0]

    meta = termdict.write_batches(add, [(ids, [postings.encode_sorted([i]) for i in range(len(ids))])], filters=True)
    assert "filters" not in meta


def test_a_scan_reads_only_blocks_whose_filters_admit_the_literals():
    values = sorted(
        [f"Payment {i} declined: insufficient funds".encode() for i in range(3000)]
        + [f"Timeout while calling svc-{i % 7} after {i % 60}s".encode() for i in range(300)]
        + [f"User {i} logged in from 10.0.{i % 250}.{i % 7}".encode() for i in range(3000)])
    sections: list[bytes] = []

    def add(data: bytes) -> list[int]:
        sections.append(data)
        return [len(sections) - 1]

    meta = termdict.write_batches(add, [(values, [postings.encode_sorted([i]) for i in range(len(values))])],
                                   filters=True)
    loaded: list[int] = []

    def load(i: int) -> termdict.TermBlock:
        loaded.append(i)
        return termdict.TermBlock(sections[meta["blocks"][i][0]])

    d = termdict.TermDict([t.encode("latin-1") for t in meta["first"]], load,
                          load_filters=lambda: BlockFilters(sections[meta["filters"][0]]))
    literals = required_literals(r"Timeout .* after [0-9]+s")
    assert literals == ["Timeout ", " after ", "s"]
    found = [term for term, _ in d.containing(b"Timeout ", blockfilter.probes(literals))]
    assert found == [v for v in values if b"Timeout " in v]
    assert len(meta["blocks"]) > 10
    assert 0 < len(loaded) <= 3, f"read {len(loaded)} of {len(meta['blocks'])} blocks"


def test_required_literals_come_from_the_top_level_sequence_only():
    assert required_literals(r"Timeout .* after [0-9]+s") == ["Timeout ", " after ", "s"]
    assert required_literals(r"(?i)timeout") == []
    assert required_literals(r"a|b") == []
    assert required_literals(r"ab*c") == ["a", "c"]
    assert required_literals(r"x(yz)?w") == ["x", "w"]
    assert required_literals(r"[unclosed") == []


def test_a_filter_section_for_another_dictionary_is_reported_as_corruption(tmp_path):
    # Point one field's value dictionary at the filters of another with a different number of blocks,
    # through a rewritten meta and footer (valid checksums): the reader must refuse, not index past the end.
    rows = [(i, i, orjson.dumps({"level": "info", "message": f"Payment {i} declined: insufficient funds"}))
            for i in range(2000)]
    path = tmp_path / "seg-00000001.sst"
    build_segment(path, Rows.pack(rows))
    meta = SegmentFile(path).meta
    fields = meta["fields"]
    assert len(fields["message"]["val"]["blocks"]) > 1 == len(fields["level"]["val"]["blocks"])
    fields["message"]["val"]["filters"] = fields["level"]["val"]["filters"]
    body = path.read_bytes()[:-32]
    data = zstandard.ZstdCompressor().compress(orjson.dumps(meta))
    footer = struct.pack("<QIII8s", len(body), len(data), zlib.crc32(data), VERSION, MAGIC)
    path.write_bytes(body + data + footer)
    reader = SegmentReader(path, 1)
    with pytest.raises(CorruptionError, match="value blocks but 1 block filters"):
        list(reader.values("message", ["declined"]))
    reader.close()


@given(st.lists(st.text(alphabet="abcXYZ019_ -./:\n", max_size=40), max_size=40))
def test_ascii_blocks_get_the_filter_of_the_general_path(values):
    text = "\n".join(values).encode()
    grams = blockfilter.trigrams(text.decode())
    if len(grams) > blockfilter.MAX_TRIGRAMS:
        assert blockfilter.build_joined(text) is None
        return
    m = blockfilter._filter_bits(len(grams))
    bits = 0
    for h1, h2 in map(blockfilter._probe, grams):
        for i in range(blockfilter.HASHES):
            bits |= 1 << (h1 + i * h2) % m
    assert blockfilter.build_joined(text) == bits.to_bytes(m // 8, "little")
