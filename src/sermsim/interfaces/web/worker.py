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
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sermsim-compute")
        self._max_waiting = max_waiting
        self._count_lock = threading.Lock()
        self._in_line = 0  # running or waiting

    async def run(self, work: Callable[[Deadline], T], seconds: float) -> T:
        """Run ``work(deadline)`` on the worker thread; :class:`BusyError` when the line is
        full, :class:`ComputeTimeoutError` when it has not finished within ``seconds`` (waiting
        included)."""
        with self._count_lock:
            if self._in_line > self._max_waiting:  # one running plus max_waiting waiting
                raise BusyError
            self._in_line += 1
        deadline = Deadline(time.monotonic() + seconds, seconds)
        future = self._executor.submit(_start, work, deadline)
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
        self._executor.submit(work).add_done_callback(self._leave)

    def _leave(self, _: Future[Any]) -> None:
        with self._count_lock:
            self._in_line -= 1

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until every computation handed in so far has finished (for tests)."""
        self._executor.submit(lambda: None).result(timeout)

    def shutdown(self) -> None:
        """Stop taking work; computations still waiting are dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _start(work: Callable[[Deadline], T], deadline: Deadline) -> T:
    deadline.check()  # it waited in line past its limit: its caller has been answered
    return work(deadline)
