"""A real Celery worker (subprocess, Redis broker) killed with SIGKILL mid-send loses and duplicates nothing."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from outreach.emails import SENDING_LEASE, notes_sweep
from outreach.notes import notes_queue
from outreach.notes_models import CampaignKind, ChannelPolicy, EmailState, Note
from tests.conftest import AS_OF

from .notes_helpers import best, campaign, consenting

BATCH = 30
KILL_AT = 10  # the worker dies while the 10th message is on the wire
ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{port}",
        "SITE_URL": "https://crm.example.test",
        "DJANGO_SETTINGS_MODULE": "crm.settings",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool=solo", "--without-heartbeat",
         "--without-mingle", "--without-gossip", "--loglevel=WARNING"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs the Redis broker")
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_send_loses_and_duplicates_nothing(store, staff, smtp_server, tmp_path):
    mailbox, port = smtp_server
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()  # this test's own Redis db: no wake-ups left over from other tests
    workers: list[subprocess.Popen] = []
    log = tmp_path / "worker.log"

    def kill_mid_send(box):
        # Called by the SMTP server when the 10th message's DATA arrives: the worker dies before
        # the server accepts it, so it never learns whether the message went out.
        if len(box.messages) == KILL_AT - 1 and workers and workers[0].poll() is None:
            os.killpg(workers[0].pid, signal.SIGKILL)
            return "421 4.3.0 Connection lost"
        return None

    mailbox.on_data = kill_mid_send
    try:
        workers.append(_start_worker(port, log))
        for rank in range(1, BATCH + 1):
            best(consenting(store, consent_post=False), rank=rank)
        campaign(CampaignKind.THANK_YOU, channel_policy=ChannelPolicy.EMAIL)
        notes_queue(as_of=AS_OF)  # commits, then one wake-up per note goes to Redis
        ids = list(Note.objects.values_list("pk", flat=True))
        assert len(ids) == BATCH

        _wait(lambda: workers[0].poll() is not None, 90, "the worker to be killed mid-send")
        sent_before_restart = Note.objects.filter(email_state=EmailState.SENT).count()
        assert sent_before_restart == KILL_AT - 1
        assert len(mailbox.messages) == KILL_AT - 1

        mailbox.on_data = None
        workers.append(_start_worker(port, log))
        # The killed task's message stays unacknowledged in Redis until its visibility timeout; the
        # sweeper finds the note still "sending" once its lease is over and wakes it up again.
        _wait(
            lambda: Note.objects.filter(email_state=EmailState.SENT).count() == BATCH - 1, 90, "the rest of the batch"
        )
        from outreach.tasks_notes import note_email_send_task

        swept = notes_sweep(now=AS_OF.replace(year=2100) + SENDING_LEASE)
        assert len(swept) == 1
        for note_id in swept + ids:  # and every note once more: duplicated wake-ups must not send twice
            note_email_send_task.delay(note_id)
        _wait(lambda: Note.objects.filter(email_state=EmailState.SENT).count() == BATCH, 90, "the swept note")
        _wait(lambda: broker.llen("celery") == 0, 90, "the duplicated wake-ups to be consumed")
        time.sleep(1.5)  # the last consumed message finishes

        ids_at_server = mailbox.message_ids()
        assert len(ids_at_server) == BATCH, log.read_text()[-3000:]
        assert len(set(ids_at_server)) == BATCH
        assert set(ids_at_server) == {f"<regulars-note-{pk}@localhost>" for pk in ids}
    finally:
        for proc in workers:
            _stop(proc)
        broker.flushdb()
