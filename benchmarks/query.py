"""Issue 3's query benchmark for Strata (printed figures, not a timed test).

    python -m benchmarks.query                    # 1M logs
    python -m benchmarks.query --count 10000000   # targets are 5x looser there

Ingests the generated file (seed 7) into a store once (reused by later runs unless `--fresh`), then
prints p50/p99 of each query of the set, each returning the exact total plus the 100 newest logs,
warm, over `--runs` runs, with the total checked against a plain Python scan of the file.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .data import CACHE_DIR, ensure_logs
from .measure import format_figure, machine
from .queries import QUERIES, scan_cached
from .worker import spawn

# Issue 3's p50 targets at 1M logs, in seconds: lookups of a value that matches few logs, broad queries,
# and the regex. At 10M logs each may be 5x larger.
_FEW, _BROAD, _REGEX = 0.001, 0.010, 0.100
TARGET_P50_S = {
    "level": _BROAD,
    "phrase": _BROAD,
    "resourceId": _FEW,
    "range": _BROAD,
    "and": _BROAD,
    "traceId": _FEW,
    "parentResourceId": _FEW,
    "word": _FEW,
    "prefix": _FEW,
    "regex": _REGEX,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=1_000_000, help="logs to generate (default 1,000,000)")
    p.add_argument("--runs", type=int, default=20, help="warm runs per query (default 20)")
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="where data and the store live")
    p.add_argument("--fresh", action="store_true", help="ingest again even if a store exists")
    a = p.parse_args(argv)

    logs = ensure_logs(a.count, a.cache_dir)
    expected = scan_cached(logs)
    store = a.cache_dir / "stores" / f"strata-query-{a.count}"
    # Written only after a complete ingest, and kept outside the store so the engine never sees it.
    complete = store.with_name(store.name + ".complete")
    if a.fresh or not complete.exists():
        complete.unlink(missing_ok=True)
        shutil.rmtree(store, ignore_errors=True)
        store.parent.mkdir(parents=True, exist_ok=True)
        print(f"ingesting {logs.name} into {store} ...", file=sys.stderr)
        spawn(["strata", "ingest", str(logs), str(store)])
        complete.touch()

    figures = spawn(["strata", "query", str(store), "--runs", str(a.runs)])
    scale = 5 if a.count > 1_000_000 else 1
    print(f"Strata queries on {a.count:,} logs: exact total + 100 newest logs, {a.runs} warm runs")
    print(f"Machine: {machine()}\n")
    print("| query | hits | p50 ms | p99 ms | p50 target ms | met |\n|---|---|---|---|---|---|")
    wrong = 0
    for q in QUERIES:
        f = figures["queries"][q.key]
        if "total" not in f:
            print(f"| {q.title} | {f.get('error') or f.get('unsupported')} | | | | no |")
            wrong += 1
            continue
        want = expected[q.key]
        hits = f"{f['total']:,}"
        if f["total"] != want.total or tuple(f["newest_ns"]) != want.newest_ns:
            hits += f" ⚠ scan: {want.total:,}" if f["total"] != want.total else " ⚠ wrong newest"
            wrong += 1
        target = TARGET_P50_S[q.key] * scale
        print(
            f"| {q.title} | {hits} | {format_figure(f['p50'] * 1000)} | {format_figure(f['p99'] * 1000)} "
            f"| {format_figure(target * 1000)} | {'yes' if f['p50'] <= target else 'no'} |"
        )
    if wrong:
        print(f"\n!!! {wrong} queries disagree with the plain scan or failed !!!", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
