"""A real Celery worker (subprocess, Redis broker) killed with SIGKILL in the middle of a batch of 500 emails
loses and duplicates nothing: exactly 500 distinct messages reach the real SMTP server."""

import time

import pytest
import redis
from django.conf import settings

from outreach.emails import SENDING_LEASE
from outreach.notes import notes_queue
from outreach.notes_models import CampaignKind, ChannelPolicy, EmailState, Note
from outreach.tasks_notes import note_email_send_task, notes_sweep_task
from tests.conftest import AS_OF
from tests.processes import Worker, queued_tasks, wait_for

from .notes_helpers import best, campaign, consenting

pytestmark = [pytest.mark.worker, pytest.mark.faults, pytest.mark.slow]

BATCH = 500
KILL_AT = 137  # the worker dies while the 137th message is on the wire


def _sent() -> int:
    return Note.objects.filter(email_state=EmailState.SENT).count()


@pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs the Redis broker")
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_batch_of_500_emails_loses_and_duplicates_nothing(store, staff, smtp_server, tmp_path):
    mailbox, port = smtp_server
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()  # this test's own Redis db: no wake-ups left over from other tests
    env = {"EMAIL_URL": f"smtp://127.0.0.1:{port}", "SITE_URL": "https://crm.example.test"}
    workers: list[Worker] = []

    def kill_mid_send(box):
        # Called by the SMTP server when the 137th message's DATA arrives: the worker dies before
        # the server accepts it, so it never learns whether the message went out.
        if len(box.messages) == KILL_AT - 1 and workers and workers[0].alive():
            workers[0].kill_all()
            return "421 4.3.0 Connection lost"
        return None

    mailbox.on_data = kill_mid_send
    try:
        for rank in range(1, BATCH + 1):
            best(consenting(store, consent_post=False), rank=rank)
        campaign(CampaignKind.THANK_YOU, channel_policy=ChannelPolicy.EMAIL)
        notes_queue(as_of=AS_OF)  # commits, then one wake-up per note goes to Redis
        ids = list(Note.objects.values_list("pk", flat=True))
        assert len(ids) == BATCH
        assert queued_tasks(broker, "outreach.note_email_send") == BATCH

        workers.append(Worker(tmp_path, broker=settings.CELERY_BROKER_URL, env=env))
        wait_for(lambda: not workers[0].alive(), 120, "the worker to be killed mid-send")
        assert _sent() == KILL_AT - 1
        assert len(mailbox.messages) == KILL_AT - 1

        mailbox.on_data = None
        workers.append(Worker(tmp_path, broker=settings.CELERY_BROKER_URL, pool="prefork", concurrency=2, env=env))
        # The killed task's message stays unacknowledged in Redis until its visibility timeout (a day);
        # the rest of the queue goes to the new worker.
        wait_for(lambda: _sent() == BATCH - 1, 180, f"the rest of the batch\n{workers[1].log_tail()}", every=0.5)
        # The sweeper finds the one note still "sending" once its lease is over and wakes it up again.
        later = (AS_OF.replace(year=2100) + SENDING_LEASE).isoformat()
        assert notes_sweep_task(later) == 1
        for note_id in ids[::10]:  # and a sample once more: duplicated wake-ups must not send twice
            note_email_send_task.delay(note_id)
        wait_for(lambda: _sent() == BATCH, 60, "the swept note")
        wait_for(lambda: broker.llen("celery") == 0, 120, "the duplicated wake-ups to be consumed")
        time.sleep(1.5)  # the last consumed message finishes

        ids_at_server = mailbox.message_ids()
        assert len(ids_at_server) == BATCH, workers[1].log_tail()
        assert len(set(ids_at_server)) == BATCH
        assert set(ids_at_server) == {f"<regulars-note-{pk}@localhost>" for pk in ids}
        # The killed attempt rolled back with its transaction: every note counts one attempt.
        assert Note.objects.filter(email_state=EmailState.SENT, email_attempts=1).count() == BATCH
    finally:
        for worker in workers:
            worker.stop()
        broker.flushdb()
