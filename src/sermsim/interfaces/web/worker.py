"""One computation at a time, in one worker thread, each with a wall-clock limit.

The engine (JAX) is driven from a single thread, never concurrently: requests line up for it,
at most ``max_waiting`` of them; one that passes its limit is answered at once (the caller
turns :class:`ComputeTimeoutError` into 504) while the server keeps serving. A computation
that reports progress (a trial, a comparison) is stopped at its next report once past its
deadline; one that does not (a single simulation) runs to its end, which the years limit
keeps short.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sermsim.core.errors import SermsimError

T = TypeVar("T")


class ComputeTimeoutError(SermsimError, TimeoutError):
    """A computation passed its wall-clock limit (the server's limit, not the user's fault)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"the computation passed this server's limit of {seconds:g} s")


class BusyError(SermsimError, RuntimeError):
    """Too many requests are already waiting for the engine."""


@dataclass(frozen=True)
class Deadline:
    """The moment (``time.monotonic``) a computation must stop; also a progress callback
    (``(message, fraction) -> None``) that stops it there."""

    at: float
    seconds: float

    def check(self) -> None:
        """Raise :class:`ComputeTimeoutError` once the deadline has passed."""
        if time.monotonic() > self.at:
            raise ComputeTimeoutError(self.seconds)

    def __call__(self, message: str, fraction: float) -> None:
        self.check()


class ComputeWorker:
    """A line of computations served by one thread, each under a time limit."""

    def __init__(self, max_waiting: int) -> None:
        self._max_waiting = max_waiting
        self._count_lock = threading.Lock()
        self._in_line = 0  # running or waiting
        self._executor: ThreadPoolExecutor | None = None
        self._stopped: ThreadPoolExecutor | None = None  # shut down, its last work may still run

    def _thread(self) -> ThreadPoolExecutor:
        """The worker thread, started again after a :meth:`shutdown` (an app's lifespan may
        end and start again: a test client, a schema loader). A new thread first waits for the
        old one's last computation, so that computations still never overlap."""
        with self._count_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="sermsim-compute")
                if self._stopped is not None:
                    self._executor.submit(self._stopped.shutdown, wait=True)
                    self._stopped = None
            return self._executor

    async def run(self, work: Callable[[Deadline], T], seconds: float) -> T:
        """Run ``work(deadline)`` on the worker thread; :class:`BusyError` when the line is
        full, :class:`ComputeTimeoutError` when it has not finished within ``seconds`` (waiting
        included)."""
        with self._count_lock:
            if self._in_line > self._max_waiting:  # one running plus max_waiting waiting
                raise BusyError
            self._in_line += 1
        deadline = Deadline(time.monotonic() + seconds, seconds)
        future = self._thread().submit(_start, work, deadline)
        future.add_done_callback(self._leave)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=seconds)
        except TimeoutError:
            future.cancel()  # a computation still waiting never starts
            raise ComputeTimeoutError(seconds) from None

    def start(self, work: Callable[[], object]) -> None:
        """Hand in work nobody waits for (the start-up warm-up); requests line up behind it."""
        with self._count_lock:
            self._in_line += 1
        self._thread().submit(work).add_done_callback(self._leave)

    def _leave(self, _: Future[Any]) -> None:
        with self._count_lock:
            self._in_line -= 1

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until every computation handed in so far has finished (for tests)."""
        self._thread().submit(lambda: None).result(timeout)

    def shutdown(self) -> None:
        """Drop the computations still waiting and let the running one finish on its own; the
        next computation handed in starts the thread again."""
        with self._count_lock:
            executor, self._executor = self._executor, None
            if executor is not None:
                self._stopped = executor
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _start(work: Callable[[Deadline], T], deadline: Deadline) -> T:
    deadline.check()  # it waited in line past its limit: its caller has been answered
    return work(deadline)
