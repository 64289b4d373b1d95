"""Merging segments: the merged segment answers exactly like a segment built from all the logs."""

import random
from itertools import pairwise
from pathlib import Path

import orjson
import pytest
import zstandard
from pyroaring import BitMap

from engine.errors import CorruptionError
from engine.segments import builder, format, merger, postings, rowblock, termdict
from engine.segments.builder import build_segment
from engine.segments.merger import merge
from engine.segments.reader import SegmentReader
from engine.segments.rows import Rows

WORDS = ["failed", "to", "connect", "db", "redis", "timeout", "after", "retry", "user", "login"]


def make_rows(n: int, seed: int, seq0: int, t0: int, spread: int) -> list[tuple[int, int, bytes]]:
    r = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join(r.choices(WORDS, k=r.randint(1, 6)))
        raw = f'{{"level":"{r.choice(["info", "error"])}","message":"{words}","n":{r.randint(0, 9)},' \
              f'"id":"x-{seed}-{i}"}}'.encode()
        out.append((t0 + i * 10 + r.randint(-spread, spread), seq0 + i, raw))
    return out


@pytest.mark.parametrize("block_bytes", [termdict.BLOCK_TARGET_BYTES, 200])  # 200: dozens of blocks a dictionary
@pytest.mark.parametrize("spread", [0, 15, 100_000])  # disjoint, slightly overlapping, interleaved inputs
@pytest.mark.parametrize("window", [merger.WINDOW_TERMS, 1, 7])  # 1, 7: a merge step of a block or a few terms
def test_merged_segment_equals_built_segment(tmp_path, monkeypatch, spread, block_bytes, window):
    monkeypatch.setattr(termdict, "BLOCK_TARGET_BYTES", block_bytes)
    monkeypatch.setattr(merger, "WINDOW_TERMS", window)
    parts = [make_rows(700, s, s * 1000, s * 7000, spread) for s in range(3)]
    inputs = []
    for i, rows in enumerate(parts):
        build_segment(tmp_path / f"in{i}.sst", Rows.pack(rows))
        inputs.append(SegmentReader(tmp_path / f"in{i}.sst", i))
    merge(tmp_path / "merged.sst", inputs)
    build_segment(tmp_path / "built.sst", Rows.pack([r for p in parts for r in p]))
    assert_same_answers(SegmentReader(tmp_path / "merged.sst", 10), SegmentReader(tmp_path / "built.sst", 11))


# Made by the segment builder of format version 1 (commit 4c94fd8), from make_rows(700, seed, seed * 1000,
# seed * 7000, 15) with termdict.BLOCK_TARGET_BYTES = 200, so that each dictionary has many blocks.
V1_SEGMENTS = Path(__file__).parent / "data"


def test_version_1_segments_are_read_and_merged(tmp_path, monkeypatch):
    # Rows as the version 1 segments hold them (no segment compressed rows faster then), so that the two
    # merges below copy the same row blocks and their files can be compared.
    monkeypatch.setattr(builder, "FLUSH_ROWS_LEVEL", format.ROWS_LEVEL)
    parts = [make_rows(700, s, s * 1000, s * 7000, 15) for s in range(3)]
    v1 = [SegmentReader(V1_SEGMENTS / f"segment-v1-seed{s}.sst", s) for s in range(2)]
    assert [r.version for r in v1] == [1, 1]
    build_segment(tmp_path / "v1-rebuilt.sst", Rows.pack(parts[0]))
    assert_same_answers(v1[0], SegmentReader(tmp_path / "v1-rebuilt.sst", 5))
    build_segment(tmp_path / "v2.sst", Rows.pack(parts[2]))
    merge(tmp_path / "merged.sst", [*v1, SegmentReader(tmp_path / "v2.sst", 2)])
    build_segment(tmp_path / "built.sst", Rows.pack([r for p in parts for r in p]))
    merged = SegmentReader(tmp_path / "merged.sst", 10)
    assert merged.version == 3
    assert_same_answers(merged, SegmentReader(tmp_path / "built.sst", 11))
    # The same merge of version 2 inputs writes the same file: nothing of version 1 is carried over.
    for s in range(2):
        build_segment(tmp_path / f"v2-{s}.sst", Rows.pack(parts[s]))
    v2 = [SegmentReader(tmp_path / name, s) for s, name in enumerate(("v2-0.sst", "v2-1.sst", "v2.sst"))]
    merge(tmp_path / "merged-v2.sst", v2)
    assert (tmp_path / "merged.sst").read_bytes() == (tmp_path / "merged-v2.sst").read_bytes()


def _row_levels(reader: SegmentReader) -> set[int]:
    """The zstd levels (of those the engine uses) that give each row block's stored bytes exactly."""
    levels = set()
    for i, (handle, *_) in enumerate(reader.row_blocks()):
        raw = rowblock.encode(reader.rows_of_block(i))
        stored = reader.compressed_section(handle)
        levels |= {lvl for lvl in (format.FLUSH_ROWS_LEVEL, format.ROWS_LEVEL)
                   if zstandard.ZstdCompressor(level=lvl).compress(raw) == stored}
    return levels


def test_merges_recompress_rows_of_flushed_segments_and_copy_the_others(tmp_path):
    parts = [make_rows(1300, s, s * 10_000, s * 100_000, 0) for s in range(3)]
    flushed = []
    for i, rows in enumerate(parts):
        build_segment(tmp_path / f"in{i}.sst", Rows.pack(rows))
        flushed.append(SegmentReader(tmp_path / f"in{i}.sst", i))
    assert [r.rows_level for r in flushed] == [format.FLUSH_ROWS_LEVEL] * 3
    assert _row_levels(flushed[0]) == {format.FLUSH_ROWS_LEVEL}

    merge(tmp_path / "m1.sst", flushed[:2])
    m1 = SegmentReader(tmp_path / "m1.sst", 10)
    assert m1.rows_level == format.ROWS_LEVEL and _row_levels(m1) == {format.ROWS_LEVEL}
    # Re-blocked rows fill whole blocks: 2,600 rows in blocks of 512, not one per input block.
    first_docs = [b[3] for b in m1.row_blocks()]
    assert first_docs == list(range(0, 2600, rowblock.ROWS_PER_BLOCK))
    assert [raw for _, _, raw in m1.iter_rows()] == [raw for part in parts[:2] for _, _, raw in part]

    # A merged input's whole blocks are copied as stored; the flushed one's rows are recompressed.
    merge(tmp_path / "m2.sst", [m1, flushed[2]])
    m2 = SegmentReader(tmp_path / "m2.sst", 11)
    assert _row_levels(m2) == {format.ROWS_LEVEL}
    m1_blocks = {m1.compressed_section(b[0]) for b in m1.row_blocks()}
    copied = [b for b in m2.row_blocks() if m2.compressed_section(b[0]) in m1_blocks]
    assert len(copied) == len(m1.row_blocks())
    assert [raw for _, _, raw in m2.iter_rows()] == [raw for part in parts for _, _, raw in part]


# Hosts per input, and rows whose host is "web-4" instead. The tokens of host values stand in one value in
# some inputs and in several in others, so that merging the merges meets each case of token postings that
# refer to values: the same reference on both sides ("3"), a reference to the token's first value of several
# docs beside a posting ("db") or a one-doc id ("4"), and a reference to another value ("2").
HOSTS = [["web-1", "web-2"], ["web-1", "db-1", "web-3"], ["web-1", "web-3"], ["db-1", "db-2", "web-2"]]
WEB_4 = [{5, 9}, set(), set(), {7}]


@pytest.mark.parametrize(("window", "block_bytes"), [(merger.WINDOW_TERMS, termdict.BLOCK_TARGET_BYTES), (1, 200)])
def test_tokens_that_refer_to_values_merge_like_any_posting(tmp_path, monkeypatch, window, block_bytes):
    monkeypatch.setattr(merger, "WINDOW_TERMS", window)
    monkeypatch.setattr(termdict, "BLOCK_TARGET_BYTES", block_bytes)
    parts = []
    for s, hosts in enumerate(HOSTS):
        r = random.Random(s)
        rows = make_rows(300, s, s * 1000, s * 7000, 15)
        parts.append([(ts, seq, raw[:-1] + f',"host":"{"web-4" if i in WEB_4[s] else r.choice(hosts)}"}}'.encode())
                      for i, (ts, seq, raw) in enumerate(rows)])
    tier1, merged, built = merged_twice(tmp_path, parts)
    assert all(r.token_refs("host") for r in tier1)
    assert_same_answers(merged, built, ("level", "message", "n", "id", "host"))
    hosts = [orjson.loads(raw)["host"] for raw in built.fetch(range(built.doc_count))]
    for token in ("1", "2", "3", "4", "web", "db"):
        assert merged.token("host", token) == BitMap(d for d, h in enumerate(hosts) if token in h.split("-"))
    assert [t for t, _ in merged.token_range("host", "1", "5")] == ["1", "2", "3", "4"]
    with pytest.raises(CorruptionError, match="web-9"):  # a reference to a value the field lacks
        merged.referenced("host", "tok", b"\x02web-9")


def merged_twice(tmp_path: Path, parts: list[list[tuple[int, int, bytes]]],
                 ) -> tuple[list[SegmentReader], SegmentReader, SegmentReader]:
    """Builds a segment of each part (4 of them), merges them two by two, then merges those two. Returns the
    two first merges, the last, and a segment built from all the parts."""
    inputs = []
    for s, rows in enumerate(parts):
        build_segment(tmp_path / f"in{s}.sst", Rows.pack(rows))
        inputs.append(SegmentReader(tmp_path / f"in{s}.sst", s))
    merge(tmp_path / "a.sst", inputs[:2])
    merge(tmp_path / "b.sst", inputs[2:])
    tier1 = [SegmentReader(tmp_path / "a.sst", 10), SegmentReader(tmp_path / "b.sst", 11)]
    merge(tmp_path / "merged.sst", tier1)
    build_segment(tmp_path / "built.sst", Rows.pack([r for p in parts for r in p]))
    return tier1, SegmentReader(tmp_path / "merged.sst", 12), SegmentReader(tmp_path / "built.sst", 13)


def assert_same_answers(merged: SegmentReader, built: SegmentReader,
                        fields: tuple[str, ...] = ("level", "message", "n", "id")) -> None:
    assert list(merged.iter_rows()) == list(built.iter_rows())
    assert merged.fetch(range(merged.doc_count)) == built.fetch(range(built.doc_count))
    for field in fields:
        assert [t for t, _ in merged.tokens(field)] == [t for t, _ in built.tokens(field)]
        for token, thunk in built.tokens(field):
            assert merged.token(field, token) == thunk(), (field, token)
        for value, thunk in built.values(field):
            assert merged.value(field, value) == thunk()
        assert merged.exists(field) == built.exists(field)
    assert merged.numeric("n", 3, 6, True, False) == built.numeric("n", 3, 6, True, False)
    # Grams the merged segment claims complete must be complete.
    for a in WORDS:
        for b in WORDS:
            if merged.is_common("message", a) and merged.is_common("message", b):
                expected = docs_with_pair(built, "message", a, b)
                assert (merged.gram("message", (a, b)) or BitMap()) == expected


def docs_with_pair(reader: SegmentReader, field: str, a: str, b: str) -> BitMap:
    out = BitMap()
    for doc, raw in enumerate(reader.fetch(range(reader.doc_count))):
        tokens = orjson.loads(raw)[field].split(" ")
        if any(x == a and y == b for x, y in pairwise(tokens)):
            out.add(doc)
    return out


TEMPLATES = ["user {n} logged in from {ip}", "payment {n} declined", "cache miss for key {n} in {ip}"]


def template_rows(n: int, seed: int, seq0: int, t0: int) -> list[tuple[int, int, bytes]]:
    r = random.Random(seed)
    out = []
    for i in range(n):
        log = {"message": r.choice(TEMPLATES).format(n=r.randint(0, 10**6),
                                                    ip=f"10.0.{r.randint(0, 3)}.{r.randint(0, 255)}"),
               "code": r.choice([200, 404, 500]), "level": r.choice(["info", "error"])}
        if log["code"] == 500:  # two values of the same docs: "gamma" refers to a value that is a copy
            log["tags"] = ["alpha beta", "gamma delta"]
        out.append((t0 + i * 10, seq0 + i, orjson.dumps(log)))
    return out


@pytest.mark.parametrize(("window", "block_bytes"), [(merger.WINDOW_TERMS, termdict.BLOCK_TARGET_BYTES), (1, 200)])
def test_postings_equal_to_one_written_before_are_copies_and_merge_like_any(tmp_path, monkeypatch, window, block_bytes):
    monkeypatch.setattr(merger, "WINDOW_TERMS", window)
    monkeypatch.setattr(termdict, "BLOCK_TARGET_BYTES", block_bytes)
    # The words of a template share their docs, and so do their grams, and a number's value and number key.
    parts = [template_rows(400, s, s * 1000, s * 10_000) for s in range(4)]
    tier1, merged, built = merged_twice(tmp_path, parts)
    for r in tier1:
        assert r.copies("message", "tok") and r.copies("message", "gram") and r.copies("code", "num")
    assert merged.copies("message", "gram")
    assert_same_answers(merged, built, ("message", "code", "level", "tags"))
    assert merged.copies("tags", "val") and merged.token_refs("tags")
    assert merged.token("tags", "gamma") == merged.value("tags", "alpha beta") == built.token("tags", "gamma")
    assert merged.numeric("code", 200, 404, True, True) == built.numeric("code", 200, 404, True, True)
    words = {w for t in TEMPLATES for w in t.split() if not w.startswith("{")}
    for a in words:
        for b in words:
            if merged.is_common("message", a) and merged.is_common("message", b):
                assert merged.gram("message", (a, b)) == built.gram("message", (a, b)), (a, b)
    assert [t for t, _ in merged.token_range("message", "l", "m")] == ["logged"]
    with pytest.raises(CorruptionError, match="gram dictionary"):  # a copy may only be of one written before
        merged.referenced("message", "tok", postings.copy("gram", b"logged in"))
    with pytest.raises(CorruptionError, match="tag 9"):
        merged.referenced("message", "tok", b"\x09logged")
    with pytest.raises(CorruptionError, match="tag 3, 1 bytes"):  # a copy cut short of its kind
        merged.referenced("message", "tok", b"\x03")
