"""`strata ingest`: input forms, batches refused and resumed, `--data`, and the directory lock."""

from __future__ import annotations

import gzip
import io
import json
import re
import shlex
from pathlib import Path

import zstandard

from cli.progress import Progress
from tests.live_server import ServerProcess, free_port

from .strata_command import run_strata


def _logs(source: str, count: int) -> list[dict]:
    return [{"level": "info", "message": f"log {i} from {source}", "resourceId": f"server-{i:04d}",
             "timestamp": f"2023-09-15T08:{i // 60:02d}:{i % 60:02d}Z", "src": source} for i in range(count)]


def _ndjson(logs: list[dict]) -> bytes:
    return b"".join(json.dumps(log).encode() + b"\n" for log in logs)


def test_every_input_form(fresh_server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "a.ndjson").write_bytes(_ndjson(_logs("a", 50)))
    (tmp_path / "b.ndjson.gz").write_bytes(gzip.compress(_ndjson(_logs("b", 40))))
    (tmp_path / "c.ndjson.zst").write_bytes(zstandard.ZstdCompressor().compress(_ndjson(_logs("c", 30))))
    (tmp_path / "d.json").write_text(json.dumps(_logs("d", 20), indent=2))
    (tmp_path / "e.json").write_text(json.dumps(_logs("e", 1)[0], indent=2))
    names = [str(tmp_path / n) for n in ("a.ndjson", "b.ndjson.gz", "c.ndjson.zst", "d.json", "e.json")]
    result = run_strata("ingest", "--batch-size", "16", *names, "--server", fresh_server.url)
    assert result.returncode == 0, result.stderr
    assert "ingested 141 logs from 5 inputs" in result.stderr
    piped = run_strata("ingest", "-", "--server", fresh_server.url, input=_ndjson(_logs("stdin", 10)))
    assert piped.returncode == 0, piped.stderr
    counts = {src: fresh_server.search(f"src:{src}", limit=1)["total"] for src in "abcde"}
    assert counts == {"a": 50, "b": 40, "c": 30, "d": 20, "e": 1}
    assert fresh_server.search("src:stdin")["total"] == 10
    assert fresh_server.search("*")["total"] == 151


def test_refused_line_is_named_and_resume_completes(fresh_server: ServerProcess, tmp_path: Path) -> None:
    lines = _ndjson(_logs("r", 10)).splitlines()
    lines[5] = b'{"level": "info", "message": "broken'  # line 6
    path = tmp_path / "logs.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = run_strata("ingest", "--batch-size", "4", str(path), "--server", fresh_server.url)
    assert result.returncode == 3
    assert f"{path} line 6:" in result.stderr
    assert "everything before line 6 is stored" in result.stderr
    # Batches are atomic, so lines 5-8 were refused together; line 5 was sent again on its own.
    assert fresh_server.search("src:r")["total"] == 5

    command = re.search(r"resume with: strata (ingest .*)", result.stderr)
    assert command is not None
    args = shlex.split(command.group(1))
    assert args[:3] == ["ingest", "--skip", "5"]
    lines[5] = json.dumps(_logs("r", 6)[5]).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    resumed = run_strata(*args, "--server", fresh_server.url)
    assert resumed.returncode == 0, resumed.stderr
    found = fresh_server.search("src:r", limit=100)
    assert found["total"] == 10
    assert sorted(h["message"] for h in found["hits"]) == sorted(f"log {i} from r" for i in range(10))


def test_refused_array_element_is_named(fresh_server: ServerProcess, tmp_path: Path) -> None:
    items: list[object] = list(_logs("arr", 5))
    items[2] = "not an object"
    path = tmp_path / "logs.json"
    path.write_text(json.dumps(items))
    result = run_strata("ingest", str(path), "--server", fresh_server.url)
    assert result.returncode == 3
    assert f"{path} element 3:" in result.stderr
    assert "--skip 2" in result.stderr
    assert fresh_server.search("src:arr")["total"] == 2


def test_ingest_into_a_data_directory_then_query_and_stats(tmp_path: Path, logs_file: Path) -> None:
    data = tmp_path / "data"
    result = run_strata("ingest", str(logs_file), "--data", str(data))
    assert result.returncode == 0, result.stderr
    stats = json.loads(run_strata("stats", "--data", str(data), "--output", "json").stdout)
    assert stats["logs"] == 3001
    found = run_strata("query", "resourceId:server-1234", "-o", "json", "--data", str(data))
    assert found.returncode == 0
    assert any(h["message"] == "Failed to connect to DB" for h in json.loads(found.stdout)["hits"])


def test_a_second_writer_is_refused_naming_the_holder(server: ServerProcess, logs_file: Path) -> None:
    before = server.search("*")["total"]
    for args in (["query", "*"], ["ingest", str(logs_file)], ["stats"]):
        result = run_strata(*args, "--data", str(server.data_dir))
        assert result.returncode == 3, result.stderr
        assert f"pid {server.pid}" in result.stderr
        assert "--server" in result.stderr
        assert "Traceback" not in result.stderr
    assert server.search("*")["total"] == before


def test_unreachable_server_is_reported_without_a_resume_hint(logs_file: Path) -> None:
    result = run_strata("ingest", str(logs_file), "--server", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 3
    assert "cannot reach the server" in result.stderr
    assert "resume" not in result.stderr


def test_missing_file_is_reported(fresh_server: ServerProcess, tmp_path: Path) -> None:
    result = run_strata("ingest", str(tmp_path / "nope.ndjson"), "--server", fresh_server.url)
    assert result.returncode == 3
    assert "cannot read" in result.stderr


def test_progress_line_shows_rate_bytes_and_eta() -> None:
    out = io.StringIO()
    progress = Progress(out, enabled=True, total_bytes=4 << 20)
    progress.update(logs=10_000, bytes_read=1 << 20)
    line = progress.line(now=progress._started + 2.0)
    assert "10,000 logs" in line
    assert "1.0 MiB / 4.0 MiB" in line
    assert "5,000 logs/s" in line
    assert "ETA 0:00:06" in line
    assert "25%" in line
    silent = io.StringIO()
    Progress(silent, enabled=False).update(logs=1, bytes_read=1)
    assert silent.getvalue() == ""
