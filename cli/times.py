"""Times on the command line: `--since 1h` in, and log times out for the table."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `1h`, `1h30m`, `7d`, `2w` → timedelta; ValueError otherwise."""
    text = text.strip().lower()
    pos, seconds = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        seconds += float(m[1]) * _UNIT_SECONDS[m[2]]
        pos = m.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 15m, 1h, 7d)")
    return timedelta(seconds=seconds)


def since_to_start(since: str, now: datetime | None = None) -> str:
    """RFC 3339 text for `since` ago; computed here so the range follows this machine's clock."""
    now = now or datetime.now(UTC)
    return format_rfc3339(now - parse_duration(since))


def format_rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def log_datetime(value: object) -> datetime | None:
    """A log's `timestamp` as an aware datetime (RFC 3339 text or epoch s/ms/µs/ns), or None."""
    if isinstance(value, str):
        text = value.strip()
        # fromisoformat takes at most 6 fractional digits; logs may carry nanoseconds.
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    magnitude = abs(value)
    # The engine tells epoch units apart by size the same way (see engine/timestamps.py).
    scale = 1 if magnitude < 1e11 else 1e3 if magnitude < 1e14 else 1e6 if magnitude < 1e17 else 1e9
    try:
        return datetime.fromtimestamp(value / scale, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def display_time(value: object, *, local: bool = False) -> str:
    """`2023-09-15 08:00:00.000` in UTC (or local time), or the value as text when it is not a time."""
    moment = log_datetime(value)
    if moment is None:
        return "-" if value is None else str(value)
    moment = moment.astimezone() if local else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def format_ns(ns: int | None) -> str:
    if ns is None:
        return "-"
    return format_rfc3339(datetime.fromtimestamp(ns / 1e9, UTC))
