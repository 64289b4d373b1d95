"""WAL round trip and the recovery rules of engine/wal.py, pinned by byte surgery."""

from pathlib import Path

import pytest

from engine.errors import CorruptionError, FormatVersionError
from engine.wal import WalWriter, encode_entries, frame_batch, read_wal


def write_batches(path: Path, batches: list[list[tuple[int, bytes]]]) -> list[int]:
    """Write batches; return the file offset where each record starts."""
    w = WalWriter(path, create=True)
    offsets, seq = [], 0
    for entries in batches:
        offsets.append(w.size)
        w.write(frame_batch(seq, len(entries), encode_entries(entries)))
        seq += len(entries)
    w.sync()
    w.close()
    return offsets


BATCHES = [
    [(1, b'{"a":1}'), (2, b'{"b":2}')],
    [(3, b'{"c":"three"}')],
    [(4, b'{"d":4}'), (5, b'{"e":5}'), (6, b'{"f":6}')],
]


def entries_of(path: Path, is_last: bool = True) -> list[list[tuple[int, bytes]]]:
    return [b.entries for b in read_wal(path, is_last=is_last)]


def test_round_trip(tmp_path):
    p = tmp_path / "wal-00000001.log"
    write_batches(p, BATCHES)
    batches = list(read_wal(p, is_last=True))
    assert [b.entries for b in batches] == BATCHES
    assert [b.first_seq for b in batches] == [0, 2, 3]


def test_reopen_appends(tmp_path):
    p = tmp_path / "wal-00000001.log"
    write_batches(p, BATCHES[:1])
    w = WalWriter(p, create=False)
    w.write(frame_batch(2, 1, encode_entries(BATCHES[1])))
    w.close()
    assert entries_of(p) == BATCHES[:2]


@pytest.mark.parametrize("cut", [1, 4, 8, 9, 15])
def test_truncated_trailing_record_is_torn_tail(tmp_path, cut):
    p = tmp_path / "wal-00000001.log"
    write_batches(p, BATCHES)
    size = p.stat().st_size
    with open(p, "r+b") as f:
        f.truncate(size - cut)
    assert entries_of(p) == BATCHES[:2]
    # The torn tail is gone from the file, so the next writer appends after the last whole record.
    assert entries_of(p) == BATCHES[:2]


def test_bad_checksum_on_last_record_is_torn_tail(tmp_path):
    p = tmp_path / "wal-00000001.log"
    offsets = write_batches(p, BATCHES)
    data = bytearray(p.read_bytes())
    data[offsets[2] + 12] ^= 0xFF
    p.write_bytes(bytes(data))
    assert entries_of(p) == BATCHES[:2]


def test_zero_tail_is_torn_tail(tmp_path):
    p = tmp_path / "wal-00000001.log"
    write_batches(p, BATCHES)
    with open(p, "ab") as f:
        f.write(b"\0" * 4096)
    assert entries_of(p) == BATCHES


def test_corrupt_record_followed_by_valid_ones_is_refused_untouched(tmp_path):
    p = tmp_path / "wal-00000001.log"
    offsets = write_batches(p, BATCHES)
    data = bytearray(p.read_bytes())
    data[offsets[1] + 10] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptionError) as info:
        entries_of(p)
    assert info.value.offset == offsets[1]
    assert str(p) in str(info.value)
    assert p.read_bytes() == bytes(data)  # nothing changed


def test_damage_in_an_older_generation_is_corruption(tmp_path):
    p = tmp_path / "wal-00000001.log"
    write_batches(p, BATCHES)
    with open(p, "r+b") as f:
        f.truncate(p.stat().st_size - 3)
    with pytest.raises(CorruptionError):
        entries_of(p, is_last=False)


def test_bad_magic_and_unknown_version(tmp_path):
    p = tmp_path / "wal-00000001.log"
    write_batches(p, BATCHES)
    data = bytearray(p.read_bytes())
    p.write_bytes(b"NOTAWAL!" + bytes(data[8:]))
    with pytest.raises(CorruptionError, match="bad magic"):
        entries_of(p)
    data[8] = 99
    p.write_bytes(bytes(data))
    with pytest.raises(FormatVersionError, match="version 99"):
        entries_of(p)


def test_empty_file_from_a_crash_before_the_header(tmp_path):
    p = tmp_path / "wal-00000001.log"
    p.write_bytes(b"")
    assert entries_of(p) == []
    assert entries_of(p) == []
