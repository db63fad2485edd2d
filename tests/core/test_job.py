"""lib/core/job.py: the one background Job behind a chat reply, a comparison, an experiment run and an
attribution. Each test waits on events, never on time."""

import threading

from lib.core.job import Job


def test_a_job_returns_its_result_on_its_own_thread():
    ran_on = []

    def work(_stopping: threading.Event) -> int:
        ran_on.append(threading.current_thread().name)
        return 42

    job = Job(work, "context-lab-test")
    assert job.wait(30) and job.done
    assert (job.result, job.exception) == (42, None) and ran_on == ["context-lab-test"]
    assert job.finished_at is not None and job.finished_at >= job.started_at


def test_stop_ends_the_work_that_reads_its_event():
    began = threading.Event()

    def work(stopping: threading.Event) -> str:
        began.set()
        stopping.wait()  # the work's own loop, until Stop
        return "stopped"

    job = Job(work, "context-lab-test")
    assert began.wait(30) and not job.done and not job.stopped
    job.stop()
    assert job.wait(30) and job.stopped and job.result == "stopped"


def test_a_failure_is_kept_for_the_page_and_done_is_set_anyway():
    def work(_stopping: threading.Event) -> None:
        raise ValueError("the store failed")

    job = Job(work, "context-lab-test")
    assert job.wait(30)
    assert isinstance(job.exception, ValueError) and str(job.exception) == "the store failed"
    assert job.result is None


def test_a_shared_stop_event_and_a_deferred_start():
    shared = threading.Event()
    job = Job(lambda stopping: stopping is shared, "context-lab-test", stopping=shared, start=False)
    assert not job.started and not job.wait(0)  # nothing runs before `start`
    job.start()
    assert job.wait(30) and job.started and job.result is True
