"""One log on its way in: parse, validate, find its time, and flatten it to dotted fields.

A log is a JSON object. Nested objects are flattened to dotted names (`metadata.parentResourceId`);
the elements of an array are all values of the array's field (an object inside an array flattens under
the array's name). Empty objects and arrays add no field. The original bytes are what searches return.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from .timestamps import parse_log_timestamp

Scalar = str | int | float | bool | None

TIMESTAMP_FIELD = "timestamp"
_MISSING = object()


class InvalidLog(ValueError):
    """One log is invalid; the caller adds its position and raises `IngestError`."""


def flatten(obj: dict) -> list[tuple[str, Scalar]]:
    """(dotted field name, scalar value) pairs of a log, in document order; a field repeats for arrays."""
    out: list[tuple[str, Scalar]] = []
    _flatten_into(out, "", obj)
    return out


def _flatten_into(out: list[tuple[str, Scalar]], prefix: str, obj: dict) -> None:
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict):
            _flatten_into(out, name + ".", value)
        elif isinstance(value, list):
            out.extend(flatten_list(name, value))
        else:
            out.append((name, value))


def flatten_list(name: str, values: list) -> Iterator[tuple[str, Scalar]]:
    for value in values:
        if isinstance(value, dict):
            nested: list[tuple[str, Scalar]] = []
            _flatten_into(nested, name + ".", value)
            yield from nested
        elif isinstance(value, list):
            yield from flatten_list(name, value)
        else:
            yield (name, value)


def log_time(obj: dict, receipt_ns: int) -> int:
    """The log's time in ns: its `timestamp` field, or the time of receipt when it has none."""
    value = obj.get(TIMESTAMP_FIELD, _MISSING)
    if value is _MISSING:
        return receipt_ns
    ns = parse_log_timestamp(value)
    if ns is None:
        raise InvalidLog(
            f'"timestamp" is not a time: {orjson.dumps(value).decode()[:80]} '
            "(expected RFC 3339 like 2023-09-15T08:00:00Z, or epoch seconds, milliseconds or nanoseconds)"
        )
    return ns
