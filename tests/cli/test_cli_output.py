"""Terminal rendering in-process: fitting to the width, escaping log text, times."""

from __future__ import annotations

import io

import pytest

from cli.output import display_width, fit, render_table
from cli.store import SearchPage
from cli.times import display_time, parse_duration


def test_fit_cuts_and_pads_to_terminal_columns() -> None:
    assert fit("abcdef", 4) == "abc…"
    assert fit("ab", 4) == "ab  "
    assert display_width(fit("日本語のログ", 5)) == 5
    assert fit("日本語", 6) == "日本語"


def test_log_text_cannot_drive_the_terminal() -> None:
    page = SearchPage(total=1, next_cursor=None, took_ms=0.0, logs=[{
        "timestamp": "2023-09-15T08:00:00Z", "level": "error\x1b[2J", "resourceId": "r",
        "message": "line one\nline two\x1b]0;pwned\x07"}])
    out = io.StringIO()
    render_table(page, out, colour=False, width=120)
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "line one⏎line two\\x1b]0;pwned\\x07" in text
    assert len(text.splitlines()) == 2


def test_log_without_message_shows_its_other_fields() -> None:
    page = SearchPage(total=1, next_cursor=None, took_ms=0.0, logs=[{"level": "info", "status": 500}])
    out = io.StringIO()
    render_table(page, out, colour=False, width=100)
    assert '{"status":500}' in out.getvalue()


@pytest.mark.parametrize(("value", "shown"), [
    ("2023-09-15T08:00:00Z", "2023-09-15 08:00:00.000"),
    ("2023-09-15T10:00:00.123456789+02:00", "2023-09-15 08:00:00.123"),
    (1694764800, "2023-09-15 08:00:00.000"),
    (1694764800123, "2023-09-15 08:00:00.123"),
    (1694764800123456789, "2023-09-15 08:00:00.123"),
    ("yesterday", "yesterday"),
    (None, "-"),
])
def test_display_time(value: object, shown: str) -> None:
    assert display_time(value) == shown


def test_parse_duration() -> None:
    assert parse_duration("90s").total_seconds() == 90
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("7d").total_seconds() == 7 * 86400
    for bad in ("", "h", "1x", "1h 2"):
        with pytest.raises(ValueError):
            parse_duration(bad)
