"""ServerState: what every handler shares: the engine, the thread limiters, metrics and the shutdown flag."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

from engine import Engine, EngineClosedError, EngineOptions

from .config import ServerConfig
from .metrics import RequestMetrics

T = TypeVar("T")


def engine_options(config: ServerConfig) -> EngineOptions:
    """The engine's options for this server; a short stall makes backpressure a quick 503."""
    extra = {} if config.max_log_bytes is None else {"max_log_bytes": config.max_log_bytes}
    return EngineOptions(
        fsync=config.fsync,
        stall_timeout=config.stall_timeout,
        search_timeout=config.search_timeout,
        start_builders_at_open=True,
        **extra,
    )


def open_engine(config: ServerConfig) -> Engine:
    """Open (creating if needed) the engine in `config.data_dir`. Blocking: call it from a thread."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return Engine.open(config.data_dir, engine_options(config))


class ServerState:
    """Shared by every request of one app. `engine` is None until startup when the app opens it itself."""

    def __init__(self, config: ServerConfig, engine: Engine | None = None) -> None:
        self.config = config
        self.engine: Engine | None = engine
        self.owns_engine = engine is None
        self.metrics = RequestMetrics()
        # Several bodies may be in the engine at once, so one is parsed while another waits for its fsync;
        # more threads only pass the GIL around (one-log bodies are batched first, see IngestBatcher).
        self.ingest_limiter = trio.CapacityLimiter(config.ingest_threads)
        self.query_limiter = trio.CapacityLimiter(config.query_threads)
        self.stopping = trio.Event()
        # Set at startup: engine callbacks run in engine threads and hop into trio through it.
        self.trio_token: trio.lowlevel.TrioToken | None = None
        # Called by begin_shutdown: each ends one long-lived response (a tail) so shutdown need not wait.
        self.on_shutdown: set[Callable[[], None]] = set()

    async def startup(self) -> None:
        self.trio_token = trio.lowlevel.current_trio_token()
        if self.engine is None:
            self.engine = await trio.to_thread.run_sync(open_engine, self.config)

    async def shutdown(self) -> None:
        self.begin_shutdown()
        if self.owns_engine and self.engine is not None:
            engine, self.engine = self.engine, None
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(engine.close)

    def begin_shutdown(self) -> None:
        """Stop long-lived responses; in-flight ingests and searches go on to their end."""
        self.stopping.set()
        for stop in list(self.on_shutdown):
            stop()

    def require_engine(self) -> Engine:
        if self.engine is None:
            # Only reachable between shutdown and the last response, or before startup.
            raise EngineClosedError("the engine is not open")
        return self.engine

    async def run_ingest(self, fn: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(fn, limiter=self.ingest_limiter)

    async def run_query(self, fn: Callable[[], T]) -> T:
        # Marked from here, not only inside the engine: ingest threads then also give way while the
        # request waits for a thread and while its answer is encoded.
        with self.require_engine().searching():
            return await trio.to_thread.run_sync(fn, limiter=self.query_limiter)
