"""serve(config): run the server until SIGINT or SIGTERM, then stop gracefully.

This process owns the engine and runs the app. With `config.fronts` = 0 it serves HTTP itself, on
Hypercorn. Otherwise it only opens the listening socket: that many front processes (server/front.py)
accept the connections, parse HTTP and relay each request to the app here (server/relay.py), and this
process runs the app's lifespan itself. Taking connections here too, through Hypercorn, would cost this
process ~300 us a request that the app's work needs: single-log posts from 64 clients, 1 front, measured
6,020 requests/s with this process accepting beside the front and 7,554 without.

Shutdown order: end tail streams; stop the fronts (each stops accepting and lets its in-flight requests
finish, which this process still answers), or stop Hypercorn's accepting and let its in-flight requests
finish (up to `config.graceful_timeout`, then they are cancelled); close the engine. A log whose request
got its 200 was durable before the 200 was sent, so nothing acknowledged is lost at any point of this
sequence.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from hypercorn.trio import serve as hypercorn_serve

from .app import create_app
from .asgi import ASGIApp
from .config import ServerConfig
from .process import hypercorn_config, tune_interpreter
from .relay import serve_front
from .state import ServerState, open_engine

log = logging.getLogger("strata.server")
_LIFESPAN_STOP_SECONDS = 30


def listening_socket(config: ServerConfig) -> socket.socket:
    """The socket that Hypercorn or the fronts accept connections on. Raises OSError when the address is
    taken or cannot be had."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    # Many clients connecting at once (64 concurrent posters, a load balancer's burst) overflow a backlog
    # of 100 and see connection resets.
    return socket.create_server((config.host, config.port), family=family, backlog=1024)


class Front:
    """A running front process and the owner's end of its relay."""

    def __init__(self, config: ServerConfig, listener: socket.socket) -> None:
        own_end, front_end = socket.socketpair()
        self.socket = own_end
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        args = [sys.executable, "-m", "server.front", "--listen-fd", str(listener.fileno()),
                "--relay-fd", str(front_end.fileno()), "--graceful-timeout", str(config.graceful_timeout)]
        if config.access_log:
            args.append("--access-log")
        with front_end:
            # A process group of its own: Ctrl-C in a terminal signals the foreground group, and this
            # process decides when fronts stop (after which it still answers their in-flight requests).
            self.proc = subprocess.Popen(args, pass_fds=(listener.fileno(), front_end.fileno()), env=env,
                                         process_group=0)

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within `grace` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        with trio.move_on_after(grace):
            await trio.to_thread.run_sync(self.proc.wait, abandon_on_cancel=True)
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Fronts:
    """The fronts of one server, kept at `config.fronts`: one that exits unasked is replaced."""

    def __init__(self, config: ServerConfig, listener: socket.socket, app: ASGIApp) -> None:
        self.config = config
        self.listener = listener
        self.app = app
        self.running: set[Front] = set()
        self.stopping = False

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(self.config.fronts):
                nursery.start_soon(self._keep_one)

    async def _keep_one(self) -> None:
        while not self.stopping:
            front = Front(self.config, self.listener)
            self.running.add(front)
            try:
                await serve_front(self.app, front.socket)  # until the front closes its end
            finally:
                self.running.discard(front)
                front.kill()
                front.socket.close()
            if not self.stopping:
                log.error("front process %d exited with status %s; starting another", front.proc.pid,
                          front.proc.returncode)
                await trio.sleep(1)  # a front that cannot start must not spin

    async def stop(self) -> None:
        """Stop every front; each finishes its in-flight requests first (answered by this process)."""
        self.stopping = True
        async with trio.open_nursery() as nursery:
            for front in list(self.running):
                nursery.start_soon(front.stop, self.config.graceful_timeout + 5)


async def serve_async(
    config: ServerConfig, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve until SIGINT/SIGTERM. `task_status.started` gets the bound URLs once the port takes connections
    (with fronts, those wait in the socket's backlog until a front has started, ~0.5 s).

    Raises what `Engine.open` raises (LockedError when another process holds the data directory,
    CorruptionError, ...) before listening, and OSError when the address is taken.
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        engine = await trio.to_thread.run_sync(open_engine, config)
        try:
            with listening_socket(config) as listener:
                app = create_app(config, ServerState(config, engine))
                fronts = Fronts(config, listener, app)

                async def shutdown_trigger() -> None:
                    async for signum in signals:
                        log.warning("%s received: finishing in-flight requests, then stopping",
                                    signal.Signals(signum).name)
                        app.state.begin_shutdown()
                        await fronts.stop()
                        return

                if config.fronts:
                    async with trio.open_nursery() as nursery, lifespan(app, nursery):
                        nursery.start_soon(fronts.run)
                        task_status.started([_url(listener)])
                        await shutdown_trigger()
                    return
                # Hypercorn gets a copy of the socket, which it closes when it stops.
                hc = hypercorn_config([f"fd://{os.dup(listener.fileno())}"], config.graceful_timeout,
                                      config.access_log)
                await hypercorn_serve(app, hc, shutdown_trigger=shutdown_trigger, task_status=task_status)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(engine.close)
            log.warning("engine closed; stopped")


@asynccontextmanager
async def lifespan(app: ASGIApp, nursery: trio.Nursery) -> AsyncIterator[None]:
    """Run `app`'s ASGI lifespan in `nursery`, as Hypercorn would: startup on entry, shutdown on exit."""
    to_app, app_inbox = trio.open_memory_channel[dict](math.inf)
    app_outbox, from_app = trio.open_memory_channel[dict](math.inf)
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    nursery.start_soon(app, scope, app_inbox.receive, app_outbox.send)
    await to_app.send({"type": "lifespan.startup"})
    answer = await from_app.receive()
    if answer["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app failed to start: {answer.get('message', answer['type'])}")
    try:
        yield
    finally:
        # Shielded, so that the app stops even when serving was cancelled; bounded, should it never answer.
        with trio.CancelScope(shield=True, deadline=trio.current_time() + _LIFESPAN_STOP_SECONDS) as waiting:
            await to_app.send({"type": "lifespan.shutdown"})
            answer = await from_app.receive()
            if answer["type"] != "lifespan.shutdown.complete":
                log.error("the app failed to stop: %s", answer.get("message", answer["type"]))
        if waiting.cancelled_caught:
            log.error("the app did not stop within %s s", _LIFESPAN_STOP_SECONDS)


def _url(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(config: ServerConfig) -> None:
    """Run the server in this thread until SIGINT/SIGTERM (blocking; the main thread, for signals)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="[%(asctime)s] %(message)s")
    tune_interpreter()
    trio.run(serve_async, config)
