"""Issue 2's ingest benchmark for Strata (printed figures, not a timed test).

    python -m benchmarks.ingest                   # 1M logs
    python -m benchmarks.ingest --count 10000000  # the scale the RSS and open targets are set for

In-process (no server) `append_ndjson` of the generated file (seed 7) in batches of 10,000 with fsync "always", so
each call is durable, until every log is in a segment (`flush()`). Prints logs/s, peak RSS, bytes per
log on disk after the final flush, and the time to open the resulting directory (in a new process),
next to the targets. Peak RSS includes the segment-building child process.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .data import CACHE_DIR, ensure_logs
from .measure import format_figure, machine
from .worker import spawn

# Issue 2's targets on the 2-core machine (RSS and open time are set for 10M logs).
TARGET_LOGS_PER_S = 200_000
TARGET_BYTES_PER_LOG = 40
TARGET_PEAK_RSS = 1 << 30
TARGET_OPEN_S = 0.5


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=1_000_000, help="logs to generate (default 1,000,000)")
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="where data and the store live")
    p.add_argument("--keep", action="store_true", help="keep the store afterwards")
    a = p.parse_args(argv)

    logs = ensure_logs(a.count, a.cache_dir)
    store = a.cache_dir / "stores" / f"strata-ingest-{a.count}"
    shutil.rmtree(store, ignore_errors=True)
    store.parent.mkdir(parents=True, exist_ok=True)
    figures = spawn(["strata", "ingest", str(logs), str(store)])
    open_s = spawn(["strata", "open", str(store)])["open_s"]
    if not a.keep:
        shutil.rmtree(store, ignore_errors=True)

    mib = 2**20
    # (figure, measured, target, higher is better), in the units printed
    rows = [
        ("ingest, logs/s", figures["logs_per_s"], TARGET_LOGS_PER_S, True),
        ("bytes per log on disk", figures["bytes_per_log"], TARGET_BYTES_PER_LOG, False),
        ("peak RSS, MiB (target for 10M logs)", figures["peak_rss"] / mib, TARGET_PEAK_RSS / mib, False),
        ("open, ms (target for 10M logs)", open_s * 1000, TARGET_OPEN_S * 1000, False),
    ]
    print(f"Strata ingest: {figures['logs']:,} logs in {figures['seconds']:.1f} s,", end=" ")
    print("append_ndjson in batches of 10,000, fsync always, then flush()")
    print(f"Machine: {machine()}\n")
    print("| figure | measured | target | met |\n|---|---|---|---|")
    for label, value, target, higher in rows:
        met = "yes" if (value >= target if higher else value <= target) else "no"
        bound = ">=" if higher else "<="
        print(f"| {label} | {format_figure(value)} | {bound} {format_figure(target)} | {met} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
