"""The refresh fans out to a real Celery worker on Redis: chunks, the finish step, progress on the run row."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from crm.celery import app
from outreach import services
from outreach.models import SegmentRun
from tests.outreach.conftest import AS_OF_DATE, generate_chain

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(settings):
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("needs a broker (make test sets CELERY_BROKER_URL)")
    app.conf.task_always_eager = False
    with start_worker(app, perform_ping_check=False, pool="solo", concurrency=1, loglevel="WARNING"):
        yield


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")


def test_refresh_task_runs_in_chunks_on_a_real_worker(worker, monkeypatch):
    from outreach.tasks import segments_refresh_task

    generate_chain(customers=120, seed=4)
    # Small chunks so that this small chain still fans out to several chunk tasks (production: ≥ 500).
    monkeypatch.setattr(services, "MIN_CHUNK", 10)
    monkeypatch.setattr(services, "TARGET_CHUNK", 40)
    segments_refresh_task.delay(None, AS_OF_DATE.isoformat())
    run = wait_for(lambda: SegmentRun.objects.filter(status=SegmentRun.Status.DONE).first())
    assert run.as_of == AS_OF_DATE and run.mode == "full"
    assert run.progress_done == run.progress_total > 1 and run.chunks_left == 0
    assert run.chunks >= 3, "the customers went out in several chunk tasks"
    assert run.counts["customers"] > 80
    # Same result as the in-process path.
    direct = services.segments_refresh(store=None, as_of=AS_OF_DATE, now=run.finished_at, full=True)
    assert direct.changes == 0
