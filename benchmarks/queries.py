"""The benchmark's query set and the plain Python scan that every engine's counts are checked against.

Semantics (those of Strata's query language, issue 3), implemented here without any engine code:
- a word or phrase matches when the field's tokens contain the query's tokens consecutively; a token
  is a maximal run of `\\w` characters, lowercased (so matching is case-insensitive);
- a prefix `field:insuff*` matches a token starting with `insuff`;
- a regex is Python `re.search` on the field's verbatim value, case-sensitive;
- a timestamp range is inclusive at both ends, compared in nanoseconds;
- a word without a field matches in any field; field names match in any letter case; nested objects
  are flattened to dotted names (`metadata.parentResourceId`).
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

# A search returns the exact total plus this many newest logs (issues 3 and 6).
NEWEST = 100

_WORD = re.compile(r"\w+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# One flattened log: lowercased dotted field name -> verbatim text of the value.
FlatLog = Mapping[str, str]


def tokens(text: str) -> list[str]:
    """Strata's tokenization: maximal runs of word characters, lowercased."""
    return _WORD.findall(text.lower())


def parse_timestamp_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp as the generator writes it (`...:00.123Z`)."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _value_text(value: object) -> str:
    # Numbers and booleans are matched through their JSON text, as Strata indexes them.
    if isinstance(value, str):
        return value
    return json.dumps(value)


def flatten(log: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    """Nested objects to dotted names; names lowercased, because field names match in any case."""
    out: dict[str, str] = {}
    for name, value in log.items():
        key = f"{prefix}{name}".lower()
        if isinstance(value, dict):
            out.update(flatten(value, key + "."))
        else:
            out[key] = _value_text(value)
    return out


def _contains_run(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    if n == 0:
        return False
    first = needle[0]
    return any(haystack[i] == first and list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def _values(log: FlatLog, field: str | None) -> Iterable[str]:
    if field is None:
        return log.values()
    value = log.get(field.lower())
    return () if value is None else (value,)


@dataclass(frozen=True, slots=True)
class Phrase:
    """The field's tokens contain `text`'s tokens consecutively (a word is a phrase of one token)."""

    field: str | None
    text: str

    def __call__(self, log: FlatLog) -> bool:
        want = tokens(self.text)
        return any(_contains_run(tokens(v), want) for v in _values(log, self.field))


@dataclass(frozen=True, slots=True)
class Prefix:
    """Some token of the field starts with `text` (lowercased)."""

    field: str | None
    text: str

    def __call__(self, log: FlatLog) -> bool:
        start = self.text.lower()
        return any(t.startswith(start) for v in _values(log, self.field) for t in tokens(v))


@dataclass(frozen=True, slots=True)
class Regex:
    """`re.search` on the field's verbatim value."""

    field: str | None
    pattern: str

    def __call__(self, log: FlatLog) -> bool:
        rx = re.compile(self.pattern)
        return any(rx.search(v) for v in _values(log, self.field))


@dataclass(frozen=True, slots=True)
class TimeRange:
    """`timestamp` within [low, high], both inclusive, RFC 3339 bounds."""

    low: str
    high: str

    def __call__(self, log: FlatLog) -> bool:
        ts = log.get("timestamp")
        return ts is not None and (
            parse_timestamp_ns(self.low) <= parse_timestamp_ns(ts) <= parse_timestamp_ns(self.high)
        )


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Callable[[FlatLog], bool], ...]

    def __call__(self, log: FlatLog) -> bool:
        return all(p(log) for p in self.parts)


@dataclass(frozen=True, slots=True)
class BenchQuery:
    """One query of the set: `key` names it in tables and in each engine's translation table."""

    key: str
    strata: str
    matches: Callable[[FlatLog], bool]
    # How tables name it; the query text itself unless that is too long.
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or f"`{self.strata}`"


_LEVEL = Phrase("level", "error")
_PHRASE = Phrase("message", "Failed to connect")
_RESOURCE = Phrase("resourceId", "server-1234")
RANGE = TimeRange("2023-09-10T00:00:00Z", "2023-09-15T23:59:59Z")

QUERIES: tuple[BenchQuery, ...] = (
    BenchQuery("level", "level:error", _LEVEL),
    BenchQuery("phrase", 'message:"Failed to connect"', _PHRASE),
    BenchQuery("resourceId", "resourceId:server-1234", _RESOURCE),
    BenchQuery("range", "timestamp:[2023-09-10T00:00:00Z TO 2023-09-15T23:59:59Z]", RANGE),
    BenchQuery(
        "and",
        'level:error AND message:"Failed to connect" AND resourceId:server-1234'
        " AND timestamp:[2023-09-10T00:00:00Z TO 2023-09-15T23:59:59Z]",
        AllOf((_LEVEL, _PHRASE, _RESOURCE, RANGE)),
        label="the four above, AND-ed",
    ),
    BenchQuery("traceId", "traceId:abc-xyz-123", Phrase("traceId", "abc-xyz-123")),
    BenchQuery(
        "parentResourceId",
        "metadata.parentResourceId:server-0987",
        Phrase("metadata.parentResourceId", "server-0987"),
    ),
    BenchQuery("word", "refused", Phrase(None, "refused")),
    BenchQuery("prefix", "message:insuff*", Prefix("message", "insuff")),
    BenchQuery("regex", "message:/Timeout .* after [0-9]+s/", Regex("message", r"Timeout .* after [0-9]+s")),
)


@dataclass(frozen=True, slots=True)
class Expected:
    """What a correct engine returns for one query: the total and the timestamps of the newest hits.

    Timestamps, not logs, because engines may break ties between equal timestamps differently.
    """

    total: int
    newest_ns: tuple[int, ...]


def scan(path: Path, queries: Sequence[BenchQuery] = QUERIES) -> dict[str, Expected]:
    """Run every query as a plain predicate over every log of the file."""
    hits: dict[str, list[int]] = {q.key: [] for q in queries}
    with path.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            log = flatten(orjson.loads(line))
            ts = parse_timestamp_ns(log["timestamp"])
            for q in queries:
                if q.matches(log):
                    hits[q.key].append(ts)
    return {k: Expected(len(v), tuple(heapq.nlargest(NEWEST, v))) for k, v in hits.items()}


def scan_cached(path: Path, queries: Sequence[BenchQuery] = QUERIES) -> dict[str, Expected]:
    """`scan`, remembered beside the data file (keyed by the query texts, so editing a query rescans)."""
    import hashlib

    digest = hashlib.sha256("\n".join(f"{q.key}={q.strata}" for q in queries).encode()).hexdigest()[:12]
    cache = path.with_name(f"{path.stem}.scan-{digest}.json")
    if cache.exists():
        raw = json.loads(cache.read_text())
        return {k: Expected(v["total"], tuple(v["newest_ns"])) for k, v in raw.items()}
    result = scan(path, queries)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: {"total": e.total, "newest_ns": list(e.newest_ns)} for k, e in result.items()}))
    tmp.replace(cache)
    return result
