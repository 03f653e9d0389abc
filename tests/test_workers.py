"""kombat.workers: results in job order on every core, the first failing job's error raised, nothing
more started after it, and each worker process prepared before its first job."""

from __future__ import annotations

import os
import threading
import time

import pytest

from kombat import workers


def slow_square(n: int) -> int:
    time.sleep(0.05 * (n % 3))  # later jobs often finish first
    return n * n


def pid_and_prepared(_: int) -> tuple[int, str | None]:
    return os.getpid(), os.environ.get("KOMBAT_TEST_PREPARED")


def prepare() -> None:
    os.environ["KOMBAT_TEST_PREPARED"] = "yes"


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(workers, "cores", lambda: 2)


def test_processes_return_results_in_job_order(two_cores):
    assert list(workers.in_processes(slow_square, range(12))) == [n * n for n in range(12)]


def test_each_worker_process_is_prepared_and_is_not_this_process(two_cores):
    seen = list(workers.in_processes(pid_and_prepared, range(6), prepare=prepare))
    assert all(prepared == "yes" for _, prepared in seen)
    assert os.getpid() not in {pid for pid, _ in seen}


def test_jobs_are_taken_as_workers_free_up(two_cores):
    taken = []

    def jobs():
        for n in range(40):
            taken.append(n)
            yield n

    results = workers.in_threads(slow_square, jobs())
    assert next(results) == 0
    assert len(taken) <= workers.AHEAD * 2 + 2  # a few ahead, not all forty
    assert list(results) == [n * n for n in range(1, 40)]


def test_the_first_failing_job_raises_and_later_jobs_never_start(two_cores):
    started = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        if n == 3:
            raise ValueError("job 3 is bad")
        time.sleep(0.02)
        return n

    done = []
    with pytest.raises(ValueError, match="job 3 is bad"):
        for result in workers.in_threads(work, range(100)):
            done.append(result)
    assert done == [0, 1, 2]
    assert max(started) < 3 + workers.AHEAD * 2 + 2  # the queue was cancelled, not run to the end


def test_one_core_runs_in_this_process(monkeypatch):
    monkeypatch.setattr(workers, "cores", lambda: 1)
    assert {pid for pid, _ in workers.in_processes(pid_and_prepared, range(3))} == {os.getpid()}
