"""Builder processes: where segments are written and merged, beside the process that ingests.

Each worker is a plain `python -m engine.buildworker` child that reads jobs from its stdin and writes results
to its stdout, one pickled frame each (length u64 little-endian + pickle). It is not started through
multiprocessing, because multiprocessing's spawn re-runs the embedding program's main script in the child,
which breaks every script without an `if __name__ == "__main__"` guard.

`BuilderPool.submit(fn, *args)` returns a Future; each of its threads owns one worker and waits on its pipe
without holding the GIL. `abandon(future)` kills the worker running that job (its future then fails), for work
that is only worth finishing while the engine stays open: a merge. A worker asks Linux to kill it when its
parent dies (even by SIGKILL), so an orphan never renames a segment into a directory that another process has
since opened.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_LENGTH = struct.Struct("<Q")


class BuilderError(RuntimeError):
    """A builder process failed a job or died; the message carries its traceback or exit status."""


def _write_frame(stream, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_frame(stream) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError
    return pickle.loads(data)


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        # stdout carries results, so the child's prints must not go there: its stdout is our pipe and
        # stderr is shared with ours for tracebacks.
        # A process group of its own: Ctrl-C in a terminal signals the whole foreground group, and a
        # builder killed by it would fail the flush of a server that is shutting down gracefully.
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.buildworker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, process_group=0)

    def run(self, fn: Callable, args: tuple) -> Any:
        try:
            _write_frame(self.proc.stdin, (fn.__module__, fn.__qualname__, args))
            ok, value = _read_frame(self.proc.stdout)
        except (EOFError, BrokenPipeError, OSError) as exc:
            code = self.proc.poll()
            raise BuilderError(f"builder process died (exit status {code})") from exc
        if not ok:
            raise BuilderError(value)
        return value

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class BuilderPool:
    """`processes` builder processes behind an executor interface."""

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._threads = ThreadPoolExecutor(processes, thread_name_prefix="strata-builder")
        self._local = threading.local()
        self._workers: list[_Worker] = []
        self._started: list[_Worker] = []  # started by start(), not yet taken by a thread
        self._running: dict[object, _Worker] = {}  # job token -> the worker running it
        self._tokens: dict[Future, object] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the builder processes now rather than at the first job, so that their start (~0.2 s of
        Python and imports) overlaps whatever comes before it."""
        with self._lock:
            while len(self._workers) < self._processes:
                worker = _Worker()
                self._workers.append(worker)
                self._started.append(worker)

    def submit(self, fn: Callable, *args: Any) -> Future:
        token = object()
        future = self._threads.submit(self._run, token, fn, args)
        with self._lock:
            self._tokens[future] = token
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._tokens.pop(future, None)

    def abandon(self, future: Future) -> None:
        """Stop the job of `future`: not started, it never starts; running, its worker is killed."""
        future.cancel()
        with self._lock:
            worker = self._running.get(self._tokens.get(future))
            if worker is not None:
                worker.proc.kill()

    def _run(self, token: object, fn: Callable, args: tuple) -> Any:
        worker = getattr(self._local, "worker", None)
        if worker is None or worker.proc.poll() is not None:
            with self._lock:
                worker = self._started.pop() if self._started else None
            if worker is None or worker.proc.poll() is not None:
                worker = _Worker()
                with self._lock:
                    self._workers.append(worker)
            self._local.worker = worker
        with self._lock:
            self._running[token] = worker
        try:
            return worker.run(fn, args)
        finally:
            with self._lock:
                del self._running[token]

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)
        with self._lock:
            for worker in self._workers:
                worker.close()


def _die_with_parent() -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def serve() -> None:
    """The worker's main loop (engine/buildworker.py): run jobs until stdin closes."""
    import importlib
    import traceback

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine's process decides when builders stop
    jobs, results = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print in a job must not corrupt the result stream
    while True:
        try:
            module, name, args = _read_frame(jobs)
        except EOFError:
            return
        try:
            fn = getattr(importlib.import_module(module), name)
            _write_frame(results, (True, fn(*args)))
        except Exception:
            _write_frame(results, (False, traceback.format_exc()))

