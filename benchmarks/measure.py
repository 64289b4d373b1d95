"""How figures are measured and written: peak RSS, size on disk, latency percentiles, the machine."""

from __future__ import annotations

import math
import os
import platform
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def peak_rss_bytes() -> int:
    """The peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _children(pid: int) -> list[int]:
    # /proc/PID/task/TID/children lists the children each thread started (Linux 3.5+).
    found: list[int] = []
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/children") as f:
                found.extend(int(c) for c in f.read().split())
    except OSError:
        pass  # the process just exited
    return found


def tree_rss_bytes(pid: int) -> int:
    """The summed RSS of process `pid` and all its descendants, now (0 once it has exited).

    Engines that build segments in a child process are charged for the child too. Summing is exact for
    children started with spawn (no copy-on-write pages shared with the parent).
    """
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * page
        except OSError:
            continue
        stack.extend(_children(p))
    return total


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting for I/O) since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_for_idle(max_wait: float, busy_below: float = 0.2, window: float = 2.0) -> float:
    """Sleep until the machine's busy cores, averaged over `window` seconds, fall below `busy_below`, or
    until `max_wait` seconds have passed. Returns the last average measured (this process is asleep, so
    it is all other work)."""
    deadline = time.monotonic() + max_wait
    while True:
        start = busy_cpu_seconds()
        time.sleep(window)
        busy = (busy_cpu_seconds() - start) / window
        if busy < busy_below or time.monotonic() >= deadline:
            return busy


def cpu_seconds(who: int) -> float:
    """User + system CPU seconds of `resource.RUSAGE_SELF` or `RUSAGE_CHILDREN` (waited-for descendants)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def dir_bytes(path: Path) -> int:
    """Apparent size of every file under `path` (what `du --apparent-size` counts)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: with 20 samples, p50 is the 10th fastest and p99 the slowest."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def format_figure(x: float) -> str:
    """About three significant digits, with thousands separators: 0.0712, 12.3, 1,235."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def time_calls(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall-clock seconds of `runs` calls of `fn`, one sample per call."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def machine() -> str:
    """One line naming the machine: cores, CPU model, RAM, OS and Python."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (
        f"{len(os.sched_getaffinity(0))} cores (nproc; {model}), {ram / 2**30:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )
