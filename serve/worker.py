"""Local generation off the event loop: one worker thread behind a bounded queue.

A model on the CPU answers one request at a time; the event loop must stay free to accept, check
and compile other requests meanwhile. `Worker.run(fn)` runs `fn` in the worker thread and awaits
it; when `limit` jobs are already waiting or running it raises `QueueFull` at once (the server
answers 429 with Retry-After) instead of queueing without bound.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
import time
from typing import Any, Callable

__all__ = ["QueueFull", "Worker"]


class QueueFull(Exception):
    """The worker's queue is full; `retry_after` is a guess, in whole seconds, of when it has room."""

    def __init__(self, retry_after: int):
        super().__init__(f"the generation queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class Worker:
    """A single worker thread with at most `limit` jobs waiting or running."""

    def __init__(self, limit: int, threads: int = 1):
        if limit < 1:
            raise ValueError("the queue holds at least one job")
        self.limit, self.threads = limit, threads
        self.pending = 0
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._mean_s = 1.0  # a moving mean of a job's time, for Retry-After

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="polyprompt-gen")
        return self._pool

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        """Queue `fn(*args)` for the worker thread; QueueFull at once when `limit` jobs are in already."""
        with self._lock:
            if self.pending >= self.limit:
                raise QueueFull(max(1, math.ceil(self._mean_s * self.pending / self.threads)))
            self.pending += 1
        try:
            future = self._executor().submit(self._timed, fn, *args)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)  # a job counts until it ends, even if its client has gone
        return future

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` in the worker thread, awaited; QueueFull when `limit` jobs are in already."""
        future = self.submit(fn, *args)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()  # the client went away: a job that has not started never runs
            raise

    def _done(self, _future) -> None:
        with self._lock:
            self.pending -= 1

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self._mean_s = 0.8 * self._mean_s + 0.2 * (time.perf_counter() - start)

    def close(self) -> None:
        """Let the jobs already in finish, then stop the thread (the app's shutdown calls it)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
