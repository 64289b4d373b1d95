"""Times as Strata reads them: one parser for a log's `timestamp` and for time bounds in queries.

All times are integers: nanoseconds since the Unix epoch, UTC.

Accepted forms:
- RFC 3339 / ISO 8601: `2023-09-15T08:00:00Z`, `2023-09-15 08:00:00.123456789+02:00`, `...-0700`;
  fractional seconds up to nanoseconds; `T`, `t` or a space between date and time. A time without an
  offset is read as UTC. A date alone (`2023-09-15`) means midnight UTC.
- An epoch number (int, float, or its text): seconds, milliseconds, microseconds or nanoseconds, told apart
  by size (below 1e11 is seconds, below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds).
- In queries only: `now`, and `now-15m`, `now+1d` with units s, m, h, d, w.
"""

from __future__ import annotations

import re
import time

NS_PER_SECOND = 1_000_000_000
_UNIT_NS = {"s": NS_PER_SECOND, "m": 60 * NS_PER_SECOND, "h": 3600 * NS_PER_SECOND,
            "d": 86400 * NS_PER_SECOND, "w": 7 * 86400 * NS_PER_SECOND}

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?"
)
# YYYY-MM-DDTHH:MM:SS[.fraction]Z in ASCII digits: what nearly every log carries.
_USUAL = re.compile(r"(\d{4}-\d\d-\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?[Zz]", re.ASCII)
_RELATIVE = re.compile(r"now(?:([+-])(\d+)([smhdw]))?")
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Howard Hinnant's days_from_civil: proleptic Gregorian date to days since 1970-01-01.
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def parse_rfc3339(text: str) -> int | None:
    """Nanoseconds since the epoch for an RFC 3339 / ISO 8601 text, or None if it is not one."""
    # Logs of one minute share their first 16 characters: once a minute `YYYY-MM-DDTHH:MM` has been read in
    # the usual shape, the texts that start with it only need their seconds read. The 1M generated logs
    # (2.3 a minute) went 0.99 -> 0.67 us a log time; a text of a remembered minute takes 0.47. Time
    # parsing was a third of append_ndjson.
    minute = _MINUTES.get(text[:16])
    if minute is not None:
        n = len(text)
        if text[16:17] == ":" and text[n - 1:] in ("Z", "z") and (n == 20 or (22 <= n <= 30 and text[19] in ".,")):
            digits = text[17:19] + text[20:-1]  # seconds, then 0-9 digits of fraction
            if digits.isdigit() and digits.isascii() and digits[:2] <= "60":
                return minute + int(digits.ljust(11, "0"))
    # The usual shape, with a simpler pattern and the days of a date looked up rather than computed:
    # 1.7 -> 0.9 us a log time; append_ndjson went from 3.3-3.7 to 3.0-3.1 us/log.
    m = _USUAL.fullmatch(text)
    if m is None:
        return _parse_rfc3339_general(text)
    date, hh, mm, ss, frac = m.groups()
    days = _date_days(date)
    h, mi, sec = int(hh), int(mm), int(ss)
    if days is None or h > 23 or mi > 59 or sec > 60:
        return None
    minute = (days * 86400 + h * 3600 + mi * 60) * NS_PER_SECOND
    if len(_MINUTES) >= _MINUTES_MAX:
        _MINUTES.clear()
    _MINUTES[text[:16]] = minute
    return minute + sec * NS_PER_SECOND + (int(frac.ljust(9, "0")) if frac else 0)


# `YYYY-MM-DDTHH:MM` (any separator _USUAL takes) -> ns at that minute's start, UTC, for valid ones only.
_MINUTES: dict[str, int] = {}
_MINUTES_MAX = 1 << 14


def _date_days(date: str) -> int | None:
    """Days since 1970-01-01 of `YYYY-MM-DD` (ASCII digits), or None if there is no such date. Cached: the
    logs of a batch share a handful of dates."""
    days = _DATE_DAYS.get(date, False)
    if days is False:
        y, mo, d = int(date[:4]), int(date[5:7]), int(date[8:10])
        ok = 1 <= mo <= 12 and 1 <= d <= (29 if mo == 2 and _leap(y) else _DAYS_IN_MONTH[mo - 1])
        days = _days_from_civil(y, mo, d) if ok else None
        if len(_DATE_DAYS) >= _DATE_DAYS_MAX:
            _DATE_DAYS.clear()
        _DATE_DAYS[date] = days
    return days


_DATE_DAYS: dict[str, int | None] = {}
_DATE_DAYS_MAX = 4096


def _parse_rfc3339_general(text: str) -> int | None:
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    y, mo, d = int(m[1]), int(m[2]), int(m[3])
    if not 1 <= mo <= 12 or not 1 <= d <= (29 if mo == 2 and _leap(y) else _DAYS_IN_MONTH[mo - 1]):
        return None
    hh = int(m[4] or 0)
    mm = int(m[5] or 0)
    ss = int(m[6] or 0)
    if hh > 23 or mm > 59 or ss > 60:  # 60: a leap second, counted as the next second's start
        return None
    frac = m[7]
    ns = int(frac.ljust(9, "0")) if frac else 0
    offset = 0
    if m[9]:
        oh, om = int(m[10]), int(m[11])
        if oh > 23 or om > 59:
            return None
        offset = (oh * 3600 + om * 60) * (1 if m[9] == "+" else -1)
    seconds = _days_from_civil(y, mo, d) * 86400 + hh * 3600 + mm * 60 + ss - offset
    return seconds * NS_PER_SECOND + ns


def epoch_to_ns(number: int | float) -> int:
    """Nanoseconds for an epoch number in seconds, milliseconds, microseconds or nanoseconds."""
    magnitude = abs(number)
    if magnitude < 1e11:
        scale = NS_PER_SECOND
    elif magnitude < 1e14:
        scale = 1_000_000
    elif magnitude < 1e17:
        scale = 1_000
    else:
        scale = 1
    if isinstance(number, int):
        return number * scale
    return round(number * scale)


def parse_log_timestamp(value: object) -> int | None:
    """Nanoseconds for a log's `timestamp` value, or None when it is not a time Strata understands."""
    if isinstance(value, str):
        return parse_rfc3339(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return epoch_to_ns(value)


def parse_query_time(text: str, now_ns: int | None = None) -> int | None:
    """Nanoseconds for a time bound in a query (any log form, an epoch number as text, or `now-1h`)."""
    text = text.strip()
    rel = _RELATIVE.fullmatch(text)
    if rel is not None:
        now = time.time_ns() if now_ns is None else now_ns
        if rel[1] is None:
            return now
        delta = int(rel[2]) * _UNIT_NS[rel[3]]
        return now + delta if rel[1] == "+" else now - delta
    ns = parse_rfc3339(text)
    if ns is not None:
        return ns
    try:
        number = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
    return parse_log_timestamp(number)


def format_ns(ns: int) -> str:
    """RFC 3339 text in UTC with nanoseconds trimmed of trailing zeros, e.g. `2023-09-15T08:00:00.5Z`."""
    seconds, frac = divmod(ns, NS_PER_SECOND)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"
