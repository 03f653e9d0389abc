"""Work spread over the machine's cores, results always in the order of the jobs (so a stage's
output is the same bytes on one core or many).

`in_processes` runs Python-heavy work (rendering, imgaug) in worker processes that start clean: from
a forkserver, never a fork of a process that already runs threads such as TensorFlow's. `in_threads`
suits work that waits on something else, such as a video's decoder process (kombat.video), or that lets go of
the GIL while it computes, such as a LiteRT interpreter (kombat.features.embed_litert).
"""

from __future__ import annotations

import collections
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import TypeVar

Job, Result = TypeVar("Job"), TypeVar("Result")
AHEAD = 2  # jobs submitted per worker beyond the one it runs: work queued, memory bounded


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def process_context():
    """forkserver: a clean child forked from a small server (no threads of the caller inherited), cheap
    per process; spawn where the platform has no forkserver (Windows). kombat.video's decoder process
    starts the same way (it keeps its own copy: it ships alone in the package)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def in_processes(work: Callable[[Job], Result], jobs: Iterable[Job],
                 prepare: Callable[[], object] | None = None) -> Iterator[Result]:
    """work(job) for each job, one worker process per core (`work`, and `prepare`, which each worker runs
    before its first job, must be module-level functions), in this process on a one-core machine. Jobs are taken from `jobs` as workers free up (a few ahead),
    so a generator of large jobs never sits in memory whole. A job's exception is raised in job
    order, and nothing more is started."""
    if cores() <= 1:
        yield from map(work, jobs)
        return
    with ProcessPoolExecutor(max_workers=cores(), mp_context=process_context(), initializer=prepare) as pool:
        yield from _in_order(pool, work, jobs)


def in_threads(work: Callable[[Job], Result], jobs: Iterable[Job]) -> Iterator[Result]:
    """work(job) for each job, one thread per core; jobs, order and exceptions as in_processes."""
    if cores() <= 1:
        yield from map(work, jobs)
        return
    with ThreadPoolExecutor(max_workers=cores()) as pool:
        yield from _in_order(pool, work, jobs)


def _in_order(pool: Executor, work: Callable[[Job], Result], jobs: Iterable[Job]) -> Iterator[Result]:
    pending: collections.deque[Future] = collections.deque()
    try:
        for job in jobs:
            pending.append(pool.submit(work, job))
            if len(pending) > AHEAD * cores():
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # an error, Ctrl-C, or a caller that stopped early: start nothing more
        for future in pending:
            future.cancel()
