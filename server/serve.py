"""serve(config): run the server until SIGINT or SIGTERM, then stop gracefully.

Shutdown order: stop accepting connections; end tail streams; let in-flight requests finish (up to
`config.graceful_timeout`, then they are cancelled); close the engine. A log whose request got its 200 was
durable before the 200 was sent, so nothing acknowledged is lost at any point of this sequence.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from .app import create_app
from .config import ServerConfig
from .state import ServerState, open_engine

log = logging.getLogger("strata.server")

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


def hypercorn_config(config: ServerConfig) -> HypercornConfig:
    hc = HypercornConfig()
    host = f"[{config.host}]" if ":" in config.host else config.host
    hc.bind = [f"{host}:{config.port}"]
    # Logger objects, not "-": Hypercorn then adds no handler of its own, and lines go through the root
    # logger once (serve() configures it unless the caller did).
    hc.accesslog = logging.getLogger("hypercorn.access") if config.access_log else None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = config.graceful_timeout
    # Many clients connecting at once (64 concurrent posters, a load balancer's burst) overflow the
    # default backlog of 100 and see connection resets.
    hc.backlog = 1024
    hc.include_server_header = False
    return hc


async def serve_async(
    config: ServerConfig, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve until SIGINT/SIGTERM. `task_status.started` gets the bound URLs once connections are accepted.

    Raises what `Engine.open` raises (LockedError when another process holds the data directory,
    CorruptionError, ...) before listening, and OSError when the address is taken.
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        engine = await trio.to_thread.run_sync(open_engine, config)
        state = ServerState(config, engine)
        try:

            async def shutdown_trigger() -> None:
                async for signum in signals:
                    log.warning("%s received: finishing in-flight requests, then stopping", signal.Signals(signum).name)
                    state.begin_shutdown()
                    return

            await hypercorn_serve(
                create_app(config, state),
                hypercorn_config(config),
                shutdown_trigger=shutdown_trigger,
                task_status=task_status,
            )
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(engine.close)
            log.warning("engine closed; stopped")


def serve(config: ServerConfig) -> None:
    """Run the server in this thread until SIGINT/SIGTERM (blocking; the main thread, for signals)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="[%(asctime)s] %(message)s")
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    # What exists now (modules, classes, the parser's tables) lives as long as the process: moved out of
    # the cyclic GC's reach, full collections scan only what requests and memtables create, and stall
    # every thread for less (200 searches while ingesting, two runs each: p99 62-71 ms against 81-93 ms).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    trio.run(serve_async, config)
