"""python -m server.front: one front process (server/relay.py), started by `serve`, never by hand.

    python -m server.front --listen-fd N --relay-fd M [--graceful-timeout S] [--access-log]

It inherits the owner's listening socket (fd N) and its end of a relay socketpair (fd M), serves HTTP on
that socket with the relay as its app (server/http1.py: httptools, not Hypercorn, whose work per request
is what fronts are there to take off the owner), and stops like the owner does on SIGTERM: no new
connections, in-flight requests finish. It ignores SIGINT (the owner tells it when to stop), and exits at
once when the owner closes the relay: the kernel closes the owner's end when it dies, even by SIGKILL.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys

import trio

from .http1 import Server
from .process import tune_interpreter
from .relay import FrontApp, Link


async def _serve(listen_fd: int, relay_fd: int, graceful_timeout: float, access_log: bool) -> None:
    app = FrontApp(Link(socket.socket(fileno=relay_fd)))
    listener = socket.socket(fileno=listen_fd)
    listener.setblocking(False)
    server = Server(app, trio.SocketListener(trio.socket.from_stdlib_socket(listener)),
                    graceful_timeout=graceful_timeout, access_log=access_log)
    with trio.open_signal_receiver(signal.SIGTERM) as signals:

        async def shutdown_trigger() -> None:
            async for _ in signals:
                return

        async with trio.open_nursery() as nursery:

            async def relay() -> None:
                await app.run()
                # The owner closed the link: it is gone, and no request can be answered any more.
                nursery.cancel_scope.cancel()

            nursery.start_soon(relay)
            await server.serve(shutdown_trigger)
            nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.front", description=__doc__)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--relay-fd", type=int, required=True)
    parser.add_argument("--graceful-timeout", type=float, default=10.0)
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="[%(asctime)s] front: %(message)s")
    tune_interpreter()
    trio.run(_serve, args.listen_fd, args.relay_fd, args.graceful_timeout, args.access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
