"""What every server process shares, the owner's and each front's: how its interpreter is tuned, and
Hypercorn's settings."""

from __future__ import annotations

import gc
import logging
import sys

from hypercorn.config import Config as HypercornConfig

# Seconds a thread may hold the GIL while another waits (Python's default is 0.005). A search thread
# waits up to this long every time it takes the GIL back (after each read and decompression) while
# ingest threads parse; benchmarks/server.py, search while ingesting ~20k logs/s: p50 18-47 ms at 5 ms,
# 8-30 ms at 1 ms, no better at 0.5 ms; ingest speed the same within noise.
GIL_SWITCH_INTERVAL = 0.001
# A young collection every 10,000 net new container objects instead of Python's 700. Ingest keeps creating
# them (the memtable's index; its postings were lists then), and every collection stops all threads.
# benchmarks.server, search while ingesting, time spent in the collector over the server's life: 2.33-2.43 s
# at 700 and 0.75-0.77 s at 10,000 (two 25 s runs each); 7.25 and 3.39 s over a 75 s run. Search p99 and the
# longest pause (40-110 ms) did not change beyond this machine's noise; 50,000 made single pauses longer
# (73-84 ms).
GC_THRESHOLDS = (10_000, 10, 10)


def tune_interpreter() -> None:
    """Call once the process has imported what it needs, before serving."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    # What exists now (modules, classes, the parser's tables) lives as long as the process: moved out of
    # the cyclic GC's reach, full collections scan only what requests and memtables create, and stall
    # every thread for less (200 searches while ingesting, two runs each: p99 62-71 ms against 81-93 ms).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def hypercorn_config(binds: list[str], graceful_timeout: float, access_log: bool) -> HypercornConfig:
    """Hypercorn's settings, the same in the owner and in every front."""
    hc = HypercornConfig()
    hc.bind = binds
    # Logger objects, not "-": Hypercorn then adds no handler of its own, and lines go through the root
    # logger once (serve() configures it unless the caller did).
    hc.accesslog = logging.getLogger("hypercorn.access") if access_log else None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = graceful_timeout
    # Many clients connecting at once (64 concurrent posters, a load balancer's burst) overflow the
    # default backlog of 100 and see connection resets.
    hc.backlog = 1024
    hc.include_server_header = False
    return hc
