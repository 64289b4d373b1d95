"""Rendering for the terminal: hits as a table, JSON, NDJSON or raw text, and engine statistics.

Log text is untrusted: control characters (terminal escape sequences included) never reach the terminal
as such; the table shows them escaped.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Iterable
from typing import IO

import orjson

from .store import SearchPage, Stats
from .times import display_time, format_ns

OUTPUT_FORMATS = ("table", "json", "ndjson", "raw")

_LEVEL_COLOURS = {
    "fatal": "\x1b[1;97;41m", "critical": "\x1b[1;97;41m", "panic": "\x1b[1;97;41m",
    "error": "\x1b[1;31m", "err": "\x1b[1;31m",
    "warn": "\x1b[33m", "warning": "\x1b[33m",
    "info": "\x1b[32m",
    "debug": "\x1b[2m", "trace": "\x1b[2m",
}
_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TIME_WIDTH = len("2023-09-15 08:00:00.000")
_LEVEL_WIDTH = 5
RESOURCE_MAX = 24
_MESSAGE_MIN = 20


def terminal_width() -> int:
    """Columns of the terminal (or $COLUMNS); 100 when there is none, e.g. output piped to a file."""
    return max(shutil.get_terminal_size((100, 24)).columns, 40)


def _printable(text: str) -> str:
    # Newlines, tabs and escape sequences from log text would break the row or drive the terminal.
    return _CONTROL.sub(lambda m: {"\n": "⏎", "\t": " ", "\r": ""}.get(m[0], f"\\x{ord(m[0]):02x}"), text)


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    return sum(_char_width(ch) for ch in text)


def fit(text: str, width: int) -> str:
    """`text` cut to `width` terminal columns (with `…` when cut) and padded with spaces to exactly that."""
    if width <= 0:
        return ""
    used, out = 0, []
    for ch in text:
        w = _char_width(ch)
        if used + w > width:
            while out and used + 1 > width:
                used -= _char_width(out.pop())
            out.append("…")
            used += 1
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * (width - used)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return _printable(value)
    return _printable(orjson.dumps(value).decode())


def _message(log: dict) -> str:
    if "message" in log:
        return _cell(log["message"])
    # No message field: show what the log has besides the other columns.
    rest = {k: v for k, v in log.items() if k not in ("timestamp", "level", "resourceId")}
    return _cell(rest)


def render_table(page: SearchPage, out: IO[str], *, colour: bool, width: int | None = None,
                 local_time: bool = False, header: bool = True, resource_width: int | None = None) -> None:
    """Time, level, resourceId and message per hit, one line each, fitted to `width` columns.

    The resource column is as wide as the widest value (at most RESOURCE_MAX) unless `resource_width`."""
    width = width or terminal_width()
    resources = [_cell(log.get("resourceId")) for log in page.logs]
    res_width = resource_width or min(max([display_width(r) for r in resources] + [len("RESOURCE")]),
                                       RESOURCE_MAX)
    msg_width = max(width - _TIME_WIDTH - _LEVEL_WIDTH - res_width - 3, _MESSAGE_MIN)
    if header:
        zone = "LOCAL" if local_time else "UTC"
        line = " ".join((fit(f"TIME ({zone})", _TIME_WIDTH), fit("LEVEL", _LEVEL_WIDTH),
                         fit("RESOURCE", res_width), "MESSAGE"))
        out.write((_BOLD + line + _RESET if colour else line) + "\n")
    for log, resource in zip(page.logs, resources, strict=True):
        level_text = _cell(log.get("level"))
        level = fit(level_text, _LEVEL_WIDTH)
        if colour and level_text.lower() in _LEVEL_COLOURS:
            level = _LEVEL_COLOURS[level_text.lower()] + level + _RESET
        row = " ".join((fit(display_time(log.get("timestamp"), local=local_time), _TIME_WIDTH), level,
                        fit(resource, res_width), fit(_message(log), msg_width).rstrip()))
        out.write(row + "\n")


def table_footer(page: SearchPage) -> str:
    """One line for stderr under a table: how many of how many, and how to get the next page."""
    shown = len(page.logs)
    text = f"{shown:,} of {page.total:,} match{'es' if page.total != 1 else ''} ({page.took_ms:.1f} ms)"
    if page.next_cursor and shown < page.total:
        text += f"; next page: --cursor {page.next_cursor}"
    return text


def render_json(page: SearchPage, out: IO[str]) -> None:
    """The whole page as one JSON document, shaped like the server's search answer."""
    doc = {"total": page.total, "hits": page.logs, "next_cursor": page.next_cursor,
           "took_ms": round(page.took_ms, 3)}
    out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def render_ndjson(logs: Iterable[dict], out: IO[str]) -> None:
    """One log per line, as compact JSON (keys in their original order)."""
    for log in logs:
        out.write(orjson.dumps(log).decode() + "\n")


def render_raw(lines: Iterable[bytes], out: IO[bytes]) -> int:
    """The original text of each log, byte for byte as it was ingested, one per line; returns the count."""
    count = 0
    for line in lines:
        out.write(line.rstrip(b"\n") + b"\n")
        count += 1
    out.flush()
    return count


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def stats_fields(stats: Stats) -> dict[str, object]:
    """Statistics as plain values (what `--output json` prints)."""
    return {
        "logs": stats.logs,
        "segments": stats.segments,
        "bytes_on_disk": stats.bytes_on_disk,
        "bytes_per_log": round(stats.bytes_on_disk / stats.logs, 1) if stats.logs else None,
        "oldest": format_ns(stats.oldest_ns) if stats.oldest_ns is not None else None,
        "newest": format_ns(stats.newest_ns) if stats.newest_ns is not None else None,
        "memtable_logs": stats.memtable_logs,
        "wal_bytes": stats.wal_bytes,
    }


def render_stats(stats: Stats, out: IO[str]) -> None:
    """Aligned `name  value` lines for a person."""
    fields = stats_fields(stats)
    rows = [
        ("logs", f"{stats.logs:,}"),
        ("segments", f"{stats.segments:,}"),
        ("bytes on disk", f"{human_bytes(stats.bytes_on_disk)} ({stats.bytes_on_disk:,} bytes)"),
        ("bytes per log", "-" if fields["bytes_per_log"] is None else f"{fields['bytes_per_log']}"),
        ("oldest", fields["oldest"] or "-"),
        ("newest", fields["newest"] or "-"),
    ]
    if stats.memtable_logs is not None:
        rows.append(("in memtable", f"{stats.memtable_logs:,} logs"))
    if stats.wal_bytes is not None:
        rows.append(("write-ahead log", human_bytes(stats.wal_bytes)))
    name_width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out.write(f"{name.ljust(name_width)}  {value}\n")
