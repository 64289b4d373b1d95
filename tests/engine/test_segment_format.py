"""Segment files: round trip of rows and indexes, and detection of damage."""

from array import array

import pytest

from engine.errors import CorruptionError, FormatVersionError
from engine.segments.builder import build_segment
from engine.segments.reader import SegmentReader
from engine.segments.rows import Rows

LOGS = [
    (30, 2, b'{"level":"error","message":"Failed to connect to DB","n":5}'),
    (10, 0, b'{"level":"info","message":"User 12 logged in","n":7.5,"tags":["a","b"]}'),
    (20, 1, b'{"level":"ERROR","message":"failed to connect to redis","meta":{"r":"eu"}}'),
    (20, 3, b'{"level":"warn","message":"slow","n":-1}'),
]


@pytest.fixture
def segment(tmp_path):
    path = tmp_path / "seg-00000001.sst"
    info = build_segment(path, Rows.pack(LOGS))
    assert info["docs"] == 4 and info["min_ts"] == 10 and info["max_ts"] == 30
    reader = SegmentReader(path, 1)
    yield reader
    reader.close()


def test_rows_are_sorted_by_time_then_seq(segment):
    assert list(segment.iter_rows()) == sorted(LOGS)
    assert segment.fetch([3, 0]) == [LOGS[0][2], LOGS[1][2]]


def test_indexes(segment):
    assert list(segment.token("level", "error")) == [1, 3]
    assert list(segment.value("level", "ERROR")) == [1]
    assert list(segment.token("message", "connect")) == [1, 3]
    assert sorted(segment.resolve_field("LEVEL")) == ["level"]
    assert list(segment.numeric("n", 0, None, True, True)) == [0, 3]
    assert list(segment.numeric("n", None, 5, True, False)) == [2]
    assert list(segment.exists("meta.r")) == [1]
    assert list(segment.token("tags", "b")) == [0]
    assert list(segment.time_range(15, 25)) == [1, 2]
    assert segment.newest(segment.everything(), 2) == [(30, 2, 3), (20, 3, 2)]
    assert [t for t, _ in segment.token_range("message", "f", "g")] == ["failed"]


def test_truncated_file_is_refused(tmp_path, segment):
    data = segment.path.read_bytes()
    bad = tmp_path / "seg-00000002.sst"
    bad.write_bytes(data[:-5])
    with pytest.raises(CorruptionError):
        SegmentReader(bad, 2)


def test_flipped_byte_in_a_section_is_detected(tmp_path, segment):
    handle = segment._meta["row_blocks"][0][0]
    data = bytearray(segment.path.read_bytes())
    data[handle[0] + 3] ^= 0xFF
    bad = tmp_path / "seg-00000002.sst"
    bad.write_bytes(bytes(data))
    reader = SegmentReader(bad, 2)
    with pytest.raises(CorruptionError, match="checksum"):
        reader.fetch([0])


def test_unknown_version_is_refused(tmp_path, segment):
    data = bytearray(segment.path.read_bytes())
    data[-12] = 42  # version field of the footer
    bad = tmp_path / "seg-00000002.sst"
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatVersionError, match="version 42"):
        SegmentReader(bad, 2)


def test_rows_of_columns_are_the_packed_rows():
    times, seqs, raws = array("q", [t for t, _, _ in LOGS]), array("q", [s for _, s, _ in LOGS]), [r for *_, r in LOGS]
    assert Rows.of_columns(times, seqs, raws) == Rows.pack(LOGS)
    with pytest.raises(ValueError, match="one item per row"):
        Rows.of_columns(times, seqs, raws[:-1])
