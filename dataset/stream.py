"""The row stream of a build: rows read, filtered, turned into lines (here or in worker
processes), de-duplicated and weighted, each counted in the `Summary`.

Memory stays bounded: rows are read one at a time; with `workers`, they go to the worker
processes in windows of `WINDOW` rows a worker, and come back in order.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import sources, splits
from .align import RowProblem, Task
from .rowfn import RowFunction, outcome
from .seen import SeenLines
from .writers import line_text

#: rows a worker gets per window (the rows in flight are workers x WINDOW)
WINDOW = 256


class Stream:
    """One build's row work: the row function, the seen lines (duplicates), the worker pool."""

    def __init__(self, fn: RowFunction, summary: Any, reject: Any, read: Any, dedup: bool, workers: int = 1):
        self.fn, self.summary, self.reject, self.dedup = fn, summary, reject, dedup
        self.workers, self.read = workers, read  # `read()` counts a row read (and moves the bar)
        self.seen = SeenLines()
        self.pool: Any = None

    def __enter__(self) -> "Stream":
        if self.workers > 1:
            import multiprocessing

            # spawn: a fresh interpreter per worker (no forked locks or threads); each loads the
            # prompt file once, from the row function's few names
            self.pool = multiprocessing.get_context("spawn").Pool(self.workers, _start_worker, (self.fn,))
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seen.close()
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def lines(self, index: int, task: Task, path: Any) -> Iterator[tuple[str, dict, str]]:
        """(split, line, its JSON text) for every row of the task written; counts and rejects the others."""
        for row, result in self._outcomes(index, task, self._kept(task, path)):
            if result[0] == "problem":
                self.reject(task, row.number, result[1], result[2], row.line)
                continue
            line = result[1]
            text = line_text(line)
            if self.dedup and not self.seen.add(text):
                self.summary.duplicates += 1
                continue
            if not task.splits and task.weight == 1:  # no split nor sampling: no row hash needed
                yield splits.TRAIN, line, text
                continue
            key = splits.row_key(row.data)
            copies = _copies(key, task)
            self.summary.sampled_out += copies == 0
            self.summary.repeated += max(copies - 1, 0)
            for _ in range(copies):
                yield splits.split_of(key, task.splits, task.seed), line, text

    def _kept(self, task: Task, path: Any) -> Iterator[sources.Row]:
        """The rows `where` keeps, up to `limit`; bad, filtered and cut rows counted."""
        kept = 0
        for row in sources.read_rows(path):
            self.read()
            if isinstance(row, sources.BadRow):
                self.reject(task, row.number, "row", row.reason, row.line, row.column)
                continue
            try:
                keep = task.keeps(row.data)
            except RowProblem as problem:
                self.reject(task, row.number, problem.field, problem.reason, row.line)
                continue
            if not keep:
                self.summary.filtered += 1
            elif task.limit is not None and kept >= task.limit:
                self.summary.cut += 1
            else:
                kept += 1
                yield row

    def _outcomes(self, index: int, task: Task, rows: Iterator[sources.Row]) -> Iterator[tuple[sources.Row, tuple]]:
        if self.pool is None:
            fn = self.fn
            task = fn.state[4][index]
            for row in rows:
                try:
                    yield row, ("line", fn.line(task, row.data))
                except RowProblem as problem:  # as `outcome` gives it
                    yield row, ("problem", problem.field, problem.reason)
            return
        window: list[sources.Row] = []
        for row in rows:
            window.append(row)
            if len(window) >= WINDOW * self.workers:
                yield from self._run_window(index, window)
                window = []
        yield from self._run_window(index, window)

    def _run_window(self, index: int, window: list) -> Iterator[tuple[sources.Row, tuple]]:
        results = self.pool.starmap(_worker_outcome, [(index, row.data) for row in window],
                                    chunksize=max(1, WINDOW // 4))
        return zip(window, results)


def _copies(key: bytes, task: Task) -> int:
    """How many times a row is written: its dataset's weight, the fraction decided by the row's
    hash (so the same rows are kept on every run)."""
    whole = int(task.weight)
    part = task.weight - whole
    return whole + (1 if part and splits.fraction(key, task.seed + 1) < part else 0)


_WORKER_FN: RowFunction | None = None


def _start_worker(fn: RowFunction) -> None:
    global _WORKER_FN
    _WORKER_FN = fn


def _worker_outcome(index: int, row: dict) -> tuple:
    assert _WORKER_FN is not None
    return outcome(_WORKER_FN, index, row)
