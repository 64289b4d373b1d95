"""The manifest: round trip, atomic replacement, and refusal of a damaged file."""

import pytest

from engine.errors import CorruptionError, FormatVersionError
from engine.manifest import Manifest, SegmentMeta, read_manifest, write_manifest

MANIFEST = Manifest(segments=(SegmentMeta(id=3, docs=10, min_ts=1, max_ts=9, bytes=500),), wal_start=4,
                    next_segment_id=5, next_seq=11)


def test_round_trip_and_replace(tmp_path):
    assert read_manifest(tmp_path) is None
    write_manifest(tmp_path, MANIFEST)
    assert read_manifest(tmp_path) == MANIFEST
    newer = Manifest((), wal_start=6, next_segment_id=7, next_seq=20)
    write_manifest(tmp_path, newer)
    assert read_manifest(tmp_path) == newer
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MANIFEST"]  # no temporary file left


def test_leftover_temporary_file_does_not_count(tmp_path):
    write_manifest(tmp_path, MANIFEST)
    (tmp_path / "MANIFEST.tmp").write_bytes(b"half written")  # a crash before the rename
    assert read_manifest(tmp_path) == MANIFEST


@pytest.mark.parametrize("damage", ["flip", "cut"])
def test_damage_is_refused(tmp_path, damage):
    write_manifest(tmp_path, MANIFEST)
    path = tmp_path / "MANIFEST"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-3] ^= 0x20
    else:
        del data[-5:]
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptionError, match="MANIFEST"):
        read_manifest(tmp_path)


def test_unknown_version_is_refused(tmp_path):
    write_manifest(tmp_path, MANIFEST)
    path = tmp_path / "MANIFEST"
    data = bytearray(path.read_bytes())
    data[8] = 7
    path.write_bytes(bytes(data))
    with pytest.raises(FormatVersionError, match="version 7"):
        read_manifest(tmp_path)
