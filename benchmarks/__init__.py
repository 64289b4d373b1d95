"""Printed benchmarks of Strata, alone and side by side with its peers (not timed tests).

- `ingest`: issue 2's ingest figures for Strata; `query`: issue 3's query figures for Strata;
  `compare`: issue 6's table of Strata vs SQLite FTS5, tantivy and chdb (results in RESULTS.md).
- `data` generates and caches the NDJSON file; `queries` holds the query set and the plain scan that
  every engine's counts are checked against; `adapters/` has one module per engine; `worker` runs one
  engine's phase in a process of its own; `measure` holds how figures are measured.

Strata is used only through its public facade (`from engine import ...`).
"""
