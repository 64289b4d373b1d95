"""The side-by-side harness end to end on a small file: Strata and SQLite agree with the plain scan."""

from pathlib import Path

import pytest

from benchmarks import compare


def test_strata_and_sqlite_agree_with_the_plain_scan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = compare.main(
        ["--count", "2000", "--engines", "strata,sqlite", "--runs", "2", "--cache-dir", str(tmp_path)]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "DISAGREEMENT" not in err
    assert "⚠" not in out
    # Every query has a figure from both engines.
    rows = [line for line in out.splitlines() if " p50 ms |" in line]
    assert len(rows) == len(compare.QUERIES)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert all(c and c[0].isdigit() for c in cells[1:3]), row
