"""A real Celery worker on Redis consumes the heartbeat task; /readyz reports it.

The worker runs in a thread of the test process (celery.contrib.testing), consuming
from the Redis broker that ``make test`` configures: nothing here runs eagerly.
"""

import io
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from crm.celery import app as celery_app
from customers.models import WorkerHeartbeat
from customers.tasks import worker_heartbeat_task

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return None


def test_heartbeat_task_is_consumed_by_a_real_worker_through_redis(client):
    assert settings.CELERY_TASK_ALWAYS_EAGER is False, "this test needs the Redis broker (make test sets it)"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    celery_app.control.purge()  # drop messages other tests queued and nobody consumed

    # Queued before any worker runs: the message waits in Redis and nothing is written yet.
    worker_heartbeat_task.delay()
    time.sleep(0.3)
    assert not WorkerHeartbeat.objects.exists()

    with start_worker(celery_app, perform_ping_check=False, shutdown_timeout=20):
        beat = _wait_for(lambda: WorkerHeartbeat.objects.first())

    assert beat is not None, "the worker never wrote its heartbeat"
    assert not beat.hostname.startswith("eager@"), "written by the worker, not in-process"

    body = client.get(reverse("readyz")).json()
    assert body["status"] == "ok"
    assert body["broker"] == {"ok": True, "mode": "redis"}
    assert body["database"]["ok"] is True
    assert body["worker"]["hostname"] == beat.hostname
    assert 0 <= body["worker"]["last_heartbeat_age_s"] < 60
    assert body["worker"]["stale"] is False


@pytest.mark.django_db
def test_readyz_calls_the_worker_stale_when_no_heartbeat_was_ever_written(client):
    body = client.get(reverse("readyz")).json()
    assert body["status"] == "ok"  # the web still serves while the worker is down
    assert body["worker"] == {"last_heartbeat_age_s": None, "stale": True}


def test_readyz_is_unavailable_when_the_broker_does_not_answer(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False


def test_beat_schedules_the_heartbeat_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["worker-heartbeat"]
    assert entry["task"] == worker_heartbeat_task.name == "customers.worker_heartbeat"
    assert entry["schedule"] == 60.0


def test_heartbeat_command_runs_the_task_in_process_and_says_so():
    call_command("worker_heartbeat", stdout=io.StringIO())
    beat = WorkerHeartbeat.objects.get()
    assert beat.hostname.startswith("eager@"), "a heartbeat written by hand is never mistaken for a worker's"
