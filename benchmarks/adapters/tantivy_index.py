"""tantivy (PyPI `tantivy`, the engine inside Quickwit): queried fields indexed, message as text.

Schema: `ts` (i64 milliseconds, indexed + fast, to sort by time: the binding's date fields keep
only whole seconds), `level`/`resourceId`/`traceId` (raw tokenizer: one term per value),
`metadata` (JSON field, raw tokenizer), `message` (text with positions, tokenized by a `\\w+`
regex tokenizer + lowercase, i.e. exactly Strata's tokens), and `_raw` (the original line, stored
only). One `commit()` per batch: tantivy fsyncs the new segment files and `meta.json`.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import tantivy

from ..data import read_batches
from ..queries import NEWEST, RANGE, BenchQuery, parse_timestamp_ns
from . import Adapter, Answer

_WORDS = "strata_words"

# The writer's memory budget, split among its indexing threads; tantivy's default.
_WRITER_HEAP = 128_000_000


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("ts", indexed=True, fast=True)
    for name in ("level", "resourceId", "traceId"):
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    sb.add_json_field("metadata", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("message", tokenizer_name=_WORDS, index_option="position")
    sb.add_bytes_field("_raw", stored=True)
    return sb.build()


def _index(directory: Path) -> tantivy.Index:
    index = tantivy.Index(_schema(), path=str(directory))
    # Tokenizers are not persisted with the index; register on every open.
    words = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"\w+")).filter(tantivy.Filter.lowercase()).build()
    index.register_tokenizer(_WORDS, words)
    return index


def ingest(logs: Path, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    index = _index(directory)
    # num_threads=0: tantivy picks one indexing thread per core (both cores here); Python parses JSON.
    writer = index.writer(heap_size=_WRITER_HEAP, num_threads=0)
    count = 0
    for batch in read_batches(logs):
        for line in batch.splitlines():
            log = orjson.loads(line)
            doc = tantivy.Document(
                ts=parse_timestamp_ns(log["timestamp"]) // 1_000_000,
                level=log.get("level", ""),
                resourceId=log.get("resourceId", ""),
                traceId=log.get("traceId", ""),
                message=log.get("message", ""),
                _raw=line,
            )
            if isinstance(log.get("metadata"), dict):
                doc.add_json("metadata", log["metadata"])
            writer.add_document(doc)
            count += 1
        writer.commit()
    # Let background merges finish and drop merged-away files, so the size on disk is the final one.
    writer.wait_merging_threads()
    return count


# "tantivy v0.27.0, index_format v7" -> "v0.27.0"
_VERSION = tantivy.__version__.split(",")[0].split()[-1]

_REGEX = re.compile(r"Timeout .* after [0-9]+s")


class TantivyStore:
    def __init__(self, directory: Path) -> None:
        self._index = _index(directory)
        self._index.reload()
        self._searcher = self._index.searcher()
        s = self._index.schema
        T, Q = tantivy.Query.term_query, tantivy.Query
        level = T(s, "level", "error")
        phrase = Q.phrase_query(s, "message", ["failed", "to", "connect"])
        resource = T(s, "resourceId", "server-1234")
        low, high = (parse_timestamp_ns(t) // 1_000_000 for t in (RANGE.low, RANGE.high))
        time_range = Q.range_query(s, "ts", tantivy.FieldType.Integer, low, high)
        must = tantivy.Occur.Must
        self._queries = {
            "level": level,
            "phrase": phrase,
            "resourceId": resource,
            "range": time_range,
            "and": Q.boolean_query([(must, level), (must, phrase), (must, resource), (must, time_range)]),
            "traceId": T(s, "traceId", "abc-xyz-123"),
            "parentResourceId": T(s, "metadata.parentResourceId", "server-0987"),
            "word": T(s, "message", "refused"),
            "prefix": Q.regex_query(s, "message", "insuff.*"),
            # Candidates: the regex's literal words; the regex itself runs on the stored message.
            "regex": Q.boolean_query([(must, T(s, "message", "timeout")), (must, T(s, "message", "after"))]),
        }

    def _raw(self, address: tantivy.DocAddress) -> bytes:
        return self._searcher.doc(address)["_raw"][0]

    def search(self, query: BenchQuery) -> Answer:
        q = self._queries[query.key]
        if query.key != "regex":
            result = self._searcher.search(q, limit=NEWEST, count=True, order_by_field="ts")
            return Answer(result.count, [orjson.loads(self._raw(a)) for _, a in result.hits])
        # Post-filter: every candidate's stored log is fetched and checked, newest first.
        candidates = self._searcher.search(q, limit=1, count=True).count
        result = self._searcher.search(q, limit=max(candidates, 1), count=False, order_by_field="ts")
        logs = [orjson.loads(self._raw(a)) for _, a in result.hits]
        hits = [log for log in logs if _REGEX.search(log.get("message", ""))]
        return Answer(len(hits), hits[:NEWEST])

    def close(self) -> None:
        del self._searcher, self._index


ADAPTER = Adapter(
    name="tantivy",
    setup=(
        f"tantivy-py {_VERSION}, one commit per batch, default merge policy; "
        "indexing on one thread per core, JSON parsing + documents in Python (one thread)"
    ),
    ingest=ingest,
    open=TantivyStore,
    notes={
        "level": "exact value (raw tokenizer)",
        "resourceId": "exact value (raw tokenizer)",
        "traceId": "exact value (raw tokenizer)",
        "parentResourceId": "exact value (raw tokenizer)",
        "word": "message only",
        "regex": "post-filtered: index finds `timeout AND after`, Python `re` checks the stored logs",
    },
)
