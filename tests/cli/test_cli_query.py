"""`strata query` against a real server and against `--data`: formats, exit codes, times, paging."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli.output import display_width
from tests.live_server import REPO_ROOT, ServerProcess, free_port

from .strata_command import run_strata

SAMPLE_QUERIES = [
    "level:error",
    'message:"Failed to connect"',
    "resourceId:server-1234",
    "timestamp:[2023-09-10T00:00:00Z TO 2023-09-15T23:59:59Z]",
]


@pytest.fixture(params=["server", "data"])
def where(request: pytest.FixtureRequest, server: ServerProcess, data_dir: Path) -> list[str]:
    """The store option of a command: the shared server, or the data directory opened in-process."""
    return ["--server", server.url] if request.param == "server" else ["--data", str(data_dir)]


@pytest.mark.parametrize("query", SAMPLE_QUERIES)
def test_sample_query_ndjson_is_the_api_answer(where: list[str], server: ServerProcess, query: str) -> None:
    result = run_strata("query", query, "--output", "ndjson", "--limit", "50", *where)
    assert result.returncode == 0, result.stderr
    api = server.search(query, limit=50)
    assert [json.loads(line) for line in result.stdout.splitlines()] == api["hits"]


@pytest.mark.parametrize("query", SAMPLE_QUERIES)
def test_sample_query_json_has_exact_total(where: list[str], server: ServerProcess, query: str) -> None:
    result = run_strata("query", query, "--output", "json", "--limit", "20", *where)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    api = server.search(query, limit=20)
    assert doc["total"] == api["total"] > 0
    assert doc["hits"] == api["hits"]
    assert (doc["next_cursor"] is None) == (api["total"] <= 20)


def test_table_fits_the_terminal_without_colour_when_piped(server: ServerProcess) -> None:
    result = run_strata("query", "level:error", "--limit", "20", "--server", server.url,
                        env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TIME", "(UTC)", "LEVEL", "RESOURCE", "MESSAGE"]
    assert len(lines) == 21
    assert all(display_width(line) <= 80 for line in lines)
    assert "\x1b" not in result.stdout
    api = server.search("level:error", limit=20)
    for line, hit in zip(lines[1:], api["hits"], strict=True):
        assert line.split()[2:4] == ["error", hit["resourceId"]]
        assert line.startswith(hit["timestamp"][:10] + " " + hit["timestamp"][11:19])
    assert f"20 of {api['total']:,} matches" in result.stderr


def test_table_colours_levels_when_asked(server: ServerProcess) -> None:
    result = run_strata("query", "level:error", "--limit", "3", "--color", "always", "--server", server.url)
    assert result.returncode == 0
    assert "\x1b[1;31m" in result.stdout


def test_table_local_time(server: ServerProcess) -> None:
    result = run_strata("query", "*", "--limit", "1", "--local", "--server", server.url,
                        env={"TZ": "Asia/Kolkata"})
    hit = server.search("*", limit=1)["hits"][0]
    utc = datetime.fromisoformat(hit["timestamp"].replace("Z", "+00:00"))
    local = (utc + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
    assert result.stdout.splitlines()[0].startswith("TIME (LOCAL)")
    assert result.stdout.splitlines()[1].startswith(local)


def test_raw_prints_the_original_bytes(where: list[str], logs_ndjson: bytes, server: ServerProcess) -> None:
    result = run_strata("query", "level:error", "--output", "raw", "--limit", "25", *where)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.encode().splitlines()
    assert len(lines) == 25
    assert set(lines) <= set(logs_ndjson.splitlines())
    assert [json.loads(line) for line in lines] == server.search("level:error", limit=25)["hits"]


@pytest.mark.parametrize("fmt", ["table", "json", "ndjson", "raw"])
def test_no_match_exits_1(where: list[str], fmt: str) -> None:
    result = run_strata("query", 'message:"no such phrase anywhere"', "--output", fmt, *where)
    assert result.returncode == 1, result.stderr
    if fmt == "json":
        assert json.loads(result.stdout)["total"] == 0
    elif fmt != "table":
        assert result.stdout == ""


@pytest.mark.parametrize(("query", "column"),
                         [("level:", 7), ("level:error AND (", 18), ('message:"open', 9)])
def test_bad_query_exits_2_and_points_at_the_column(where: list[str], query: str, column: int) -> None:
    result = run_strata("query", query, *where)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("strata: bad query:")
    assert f"column {column}" in lines[0]
    assert lines[1] == "  " + query
    assert lines[2] == "  " + " " * (column - 1) + "^"
    assert result.stdout == ""


def test_start_and_end_narrow_like_a_range(where: list[str], server: ServerProcess) -> None:
    result = run_strata("query", "level:error", "--start", "2023-09-10T00:00:00Z",
                        "--end", "2023-09-15T23:59:59Z", "--output", "json", "--limit", "5", *where)
    expected = server.search("level:error AND timestamp:[2023-09-10T00:00:00Z TO 2023-09-15T23:59:59Z]")
    assert json.loads(result.stdout)["total"] == expected["total"] > 0


def test_since_counts_back_from_now(where: list[str]) -> None:
    # The generated logs are from September 2023: none in the last hour, all in the last 10,000 days.
    assert run_strata("query", "*", "--since", "1h", *where).returncode == 1
    result = run_strata("query", "level:error", "--since", "10000d", "--output", "json", *where)
    assert result.returncode == 0
    assert json.loads(result.stdout)["total"] > 0


def test_bad_since_is_a_usage_error(server: ServerProcess) -> None:
    result = run_strata("query", "*", "--since", "soon", "--server", server.url)
    assert result.returncode == 2
    assert "not a duration" in result.stderr


def test_cursor_continues_with_the_next_page(where: list[str], server: ServerProcess) -> None:
    first = json.loads(run_strata("query", "level:warn", "-o", "json", "-n", "10", *where).stdout)
    second = json.loads(run_strata("query", "level:warn", "-o", "json", "-n", "10",
                                   "--cursor", first["next_cursor"], *where).stdout)
    api_first = server.search("level:warn", limit=10)
    api_second = server.search("level:warn", limit=10, cursor=api_first["next_cursor"])
    assert first["hits"] == api_first["hits"]
    assert second["hits"] == api_second["hits"]
    assert not {json.dumps(h) for h in first["hits"]} & {json.dumps(h) for h in second["hits"]}


def test_order_oldest(where: list[str], server: ServerProcess) -> None:
    result = run_strata("query", "level:fatal", "--order", "oldest", "-n", "5", "-o", "ndjson", *where)
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert hits == server.search("level:fatal", limit=5, order="oldest")["hits"]
    assert [h["timestamp"] for h in hits] == sorted(h["timestamp"] for h in hits)


def test_unreachable_server_exits_3() -> None:
    result = run_strata("query", "*", "--server", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 3
    assert "cannot reach the server" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_data_directory_exits_3(tmp_path: Path) -> None:
    result = run_strata("query", "*", "--data", str(tmp_path / "nothing-here"))
    assert result.returncode == 3
    assert "no data directory" in result.stderr
    assert not (tmp_path / "nothing-here").exists()


def test_reader_going_away_is_not_an_error(server: ServerProcess) -> None:
    # `strata query … | head -1`: the pipe closes early; no traceback, no failure status.
    proc = subprocess.Popen([sys.executable, "-m", "cli", "query", "*", "-o", "ndjson", "-n", "3000",
                             "--server", server.url], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"{")
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(30) == 0
    assert b"Traceback" not in stderr


@pytest.mark.parametrize("command", ["serve", "query", "tail", "ingest", "stats"])
def test_every_command_has_help_with_examples(command: str) -> None:
    result = run_strata(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: strata {command}" in result.stdout
    assert "examples:" in result.stdout


def test_top_level_help_lists_the_commands() -> None:
    result = run_strata("--help")
    assert result.returncode == 0
    for command in ("serve", "query", "tail", "ingest", "stats"):
        assert command in result.stdout
    assert run_strata().returncode == 2


def test_since_is_computed_on_this_machine() -> None:
    from cli.times import since_to_start

    now = datetime(2023, 9, 15, 8, 0, tzinfo=UTC)
    assert since_to_start("1h30m", now) == "2023-09-15T06:30:00.000Z"
