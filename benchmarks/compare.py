"""Strata side by side with SQLite FTS5, tantivy and chdb: same data, same run, same machine (issue 6).

    python -m benchmarks.compare                      # 1M logs, every engine
    python -m benchmarks.compare --count 100000       # a quick smoke run
    python -m benchmarks.compare --engines strata,sqlite --runs 5

Each engine ingests the generated NDJSON file (seed 7) in batches of 10,000 durable calls, then answers
the query set (`benchmarks/queries.py`) with the exact total plus the 100 newest logs, warm, `--runs`
times. Every engine runs in processes of its own. Totals and the timestamps of the newest hits are
checked against a plain Python scan of the file; any disagreement is printed loudly and makes the
exit status 1. Prints one markdown table, with Strata's ratio to the best peer for every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .adapters import ENGINES
from .data import CACHE_DIR, REPO_ROOT, count_lines, ensure_logs
from .measure import format_figure, machine, wait_for_idle
from .queries import QUERIES, Expected, scan_cached
from .worker import spawn

DEFAULT_COUNT = 1_000_000
STRATA = "strata"


@dataclass
class EngineRun:
    """Everything measured for one engine; `failure` is set when a phase crashed."""

    name: str
    title: str
    setup: str
    notes: dict[str, str]
    default_note: str = "index"
    ingest: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    failure: str | None = None


def _describe(name: str) -> tuple[str, str, dict[str, str], str]:
    # In a throwaway process, so the harness itself never imports an engine's libraries, and an
    # adapter that fails to import fails its own engine only.
    code = (
        "import json, sys; from benchmarks.adapters import load; a = load(sys.argv[1]); "
        "print(json.dumps([a.name, a.setup, dict(a.notes), a.default_note]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, name], cwd=REPO_ROOT, check=True, capture_output=True, text=True
    ).stdout
    title, setup, notes, default_note = json.loads(out.strip().splitlines()[-1])
    return title, setup, notes, default_note


def run_engine(
    name: str, logs: Path, store: Path, runs: int, timeout: float | None = None, wait_idle: float = 0.0
) -> EngineRun:
    """Ingest then query with engine `name`, each phase in a fresh process.

    With `wait_idle` > 0, each phase first waits up to that many seconds for the machine to go quiet.
    """
    try:
        title, setup, notes, default_note = _describe(name)
    except subprocess.CalledProcessError as e:
        return EngineRun(name, name, "", {}, failure=f"cannot load adapter: {e.stderr.strip()[-500:]}")
    run = EngineRun(name, title, setup, notes, default_note)
    shutil.rmtree(store, ignore_errors=True)
    store.parent.mkdir(parents=True, exist_ok=True)

    def phase(what: str) -> None:
        busy = f" (other work: {wait_for_idle(wait_idle):.2f} cores)" if wait_idle > 0 else ""
        print(f"[{name}] {what}{busy} ...", file=sys.stderr, flush=True)

    try:
        phase(f"ingesting {logs.name}")
        run.ingest = spawn([name, "ingest", str(logs), str(store)], timeout)
        phase("querying")
        run.query = spawn([name, "query", str(store), "--runs", str(runs)], timeout)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        run.failure = str(e)
    return run


def check(run: EngineRun, expected: dict[str, Expected], file_logs: int) -> list[str]:
    """Every way the engine's answers differ from the plain scan's (empty when they agree)."""
    problems = []
    if run.failure:
        problems.append(f"{run.name}: failed: {run.failure}")
    if run.ingest and run.ingest["logs"] != file_logs:
        problems.append(f"{run.name}: ingested {run.ingest['logs']} logs, the file has {file_logs}")
    for key, figures in ((run.query or {}).get("queries") or {}).items():
        want = expected[key]
        if "error" in figures:
            problems.append(f"{run.name} {key}: error: {figures['error']}")
        elif "total" in figures:
            if figures["total"] != want.total:
                problems.append(f"{run.name} {key}: total {figures['total']}, plain scan says {want.total}")
            elif tuple(figures["newest_ns"]) != want.newest_ns:
                problems.append(f"{run.name} {key}: the newest hits' timestamps differ from the plain scan's")
    return problems


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    higher_is_better: bool
    # EngineRun -> the figure, or a string saying why there is none.
    value: Callable[[EngineRun], float | str | None]
    # False for context rows that no engine should be ranked on.
    ranked: bool = True


def _ingest_value(key: str, scale: float = 1.0) -> Callable[[EngineRun], float | None]:
    return lambda run: None if run.ingest is None else run.ingest[key] * scale


def _query_value(key: str, stat: str, expected: Expected) -> Callable[[EngineRun], float | str | None]:
    def value(run: EngineRun) -> float | str | None:
        if run.query is None:
            return None
        figures = run.query["queries"][key]
        if "unsupported" in figures:
            return "cannot express"
        if "error" in figures:
            return "error"
        ms = figures[stat] * 1000
        if figures["total"] != expected.total:
            return f"{format_figure(ms)} ⚠ total {figures['total']:,}"
        if tuple(figures["newest_ns"]) != expected.newest_ns:
            return f"{format_figure(ms)} ⚠ wrong newest"
        return ms

    return value


def rows(expected: dict[str, Expected]) -> list[Row]:
    out = [
        Row("ingest, logs/s", True, _ingest_value("logs_per_s")),
        Row("peak RSS while ingesting, MiB", False, _ingest_value("peak_rss", 1 / 2**20)),
        Row("bytes per log on disk", False, _ingest_value("bytes_per_log")),
        Row("open the store, ms", False, lambda r: None if r.query is None else r.query["open_s"] * 1000),
        Row("other processes' CPU during ingest, cores", False, _ingest_value("other_cores"), ranked=False),
        Row(
            "other processes' CPU during queries, cores",
            False,
            lambda r: None if r.query is None else r.query["other_cores"],
            ranked=False,
        ),
        Row(
            "peak RSS while querying, MiB",
            False,
            lambda r: None if r.query is None else r.query["peak_rss"] / 2**20,
        ),
    ]
    for q in QUERIES:
        want = expected[q.key]
        label = f"{q.title} ({want.total:,} hits)"
        out.append(Row(f"{label} p50 ms", False, _query_value(q.key, "p50", want)))
        out.append(Row(f"{label} p99 ms", False, _query_value(q.key, "p99", want)))
    return out


def table(runs: Sequence[EngineRun], expected: dict[str, Expected]) -> str:
    """The markdown table of every figure, with Strata's ratio to the best peer (>1: Strata ahead)."""
    strata = next((r for r in runs if r.name == STRATA), None)
    peers = [r for r in runs if r.name != STRATA]
    head = ["figure", *(r.title for r in runs)]
    if strata and peers:
        head += ["best peer", "Strata vs best peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows(expected):
        values = {r.name: row.value(r) for r in runs}
        cells = [row.label]
        for r in runs:
            v = values[r.name]
            cells.append("—" if v is None else v if isinstance(v, str) else format_figure(v))
        if strata and peers and not row.ranked:
            cells += ["", ""]
        elif strata and peers:
            numeric = {r.title: values[r.name] for r in peers if isinstance(values[r.name], float | int)}
            mine = values[strata.name]
            if numeric:
                pick = max if row.higher_is_better else min
                best_title = pick(numeric, key=numeric.__getitem__)
                best = numeric[best_title]
                cells.append(best_title)
                if isinstance(mine, float | int) and mine > 0 and best > 0:
                    ratio = mine / best if row.higher_is_better else best / mine
                    cells.append(f"{ratio:.2f}x " + ("ahead" if ratio >= 1 else "behind"))
                else:
                    cells.append("—")
            else:
                cells += ["—", "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def translations(runs: Sequence[EngineRun]) -> str:
    """A table of how each engine expresses each query, where it is more than a plain index look-up."""
    head = ["query", *(r.title for r in runs)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for q in QUERIES:
        cells = [q.title]
        for r in runs:
            figures = ((r.query or {}).get("queries") or {}).get(q.key, {})
            if "unsupported" in figures:
                cells.append("cannot express")
            else:
                cells.append(r.notes.get(q.key, r.default_note))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(
    runs: Sequence[EngineRun],
    expected: dict[str, Expected],
    count: int,
    runs_per_query: int,
    load_before: float,
) -> str:
    """The whole markdown report: machine, each engine's setup, the figures, the query translations."""
    setups = "\n".join(f"- **{r.title}**: {r.setup}" for r in runs if r.setup)
    return (
        f"### {count:,} logs (seed 7), {runs_per_query} warm runs per query\n\n"
        f"Machine: {machine()}.\n"
        f"Load average (1 min) before the run {load_before:.2f}, after {os.getloadavg()[0]:.2f}.\n\n"
        f"{setups}\n\n"
        f"{table(runs, expected)}\n\n"
        "Latency = exact total + the 100 newest full logs, in ms; "
        f"p99 of {runs_per_query} runs is the slowest run. "
        "Counts in the labels come from a plain Python scan of the file. Peak RSS sums every process of "
        'the engine (Strata builds segments in a child process). "Other processes\' CPU" is what the rest of '
        "the machine used meanwhile: above 0.1 core, that engine's figures are skewed.\n\n"
        f"How each engine runs each query:\n\n{translations(runs)}\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=DEFAULT_COUNT, help="logs to generate (default 1,000,000)")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, from: " + ", ".join(ENGINES))
    p.add_argument("--runs", type=int, default=20, help="warm runs per query (default 20)")
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="where data and stores live")
    p.add_argument("--keep-stores", action="store_true", help="keep each engine's store after the run")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per engine phase")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each phase, wait up to this long for other work on the machine to stop",
    )
    p.add_argument("--output", type=Path, help="also write the markdown report here")
    a = p.parse_args(argv)
    names = [n.strip() for n in a.engines.split(",") if n.strip()]
    for n in names:
        if n not in ENGINES:
            p.error(f"unknown engine {n!r}")

    logs = ensure_logs(a.count, a.cache_dir)
    print(f"scanning {logs.name} with plain Python (cached after the first run) ...", file=sys.stderr)
    expected = scan_cached(logs)
    # Other work on the machine skews every figure; the report shows how busy it was.
    load_before = os.getloadavg()[0]
    runs = []
    for name in names:
        store = a.cache_dir / "stores" / f"{name}-{a.count}"
        runs.append(run_engine(name, logs, store, a.runs, a.timeout, a.wait_idle))
        if not a.keep_stores:
            shutil.rmtree(store, ignore_errors=True)

    text = report(runs, expected, a.count, a.runs, load_before)
    print(text)
    if a.output:
        a.output.write_text(text)
    file_logs = count_lines(logs)
    problems = [msg for r in runs for msg in check(r, expected, file_logs)]
    if problems:
        bar = "!" * 78
        print(f"\n{bar}\nDISAGREEMENT WITH THE PLAIN SCAN OR FAILURE ({len(problems)}):", file=sys.stderr)
        for msg in problems:
            print(f"  - {msg}", file=sys.stderr)
        print(bar, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
