"""Redis restarted with 500 email wake-ups queued: the queue is gone, the sweeper re-queues from PostgreSQL,
a real worker sends all 500, none twice.

The test runs its own redis-server (free port, ``--save "" --appendonly no``) so the restart really loses
the queue; the shared Redis is never touched. Producer (this process) and worker point at it.
"""

import pytest
import redis
from django.conf import settings

from outreach.emails import SENDING_LEASE
from outreach.notes import notes_queue
from outreach.notes_models import CampaignKind, ChannelPolicy, EmailState, Note
from outreach.tasks_notes import notes_sweep_task
from tests.conftest import AS_OF
from tests.processes import Worker, celery_broker, queued_tasks, wait_for

from .notes_helpers import best, campaign, consenting

pytestmark = [pytest.mark.worker, pytest.mark.faults, pytest.mark.slow]

BATCH = 500


@pytest.mark.skipif(settings.CELERY_TASK_ALWAYS_EAGER, reason="needs a broker (make test sets CELERY_BROKER_URL)")
@pytest.mark.django_db(transaction=True)
def test_redis_restart_with_500_queued_emails_loses_nothing(store, staff, smtp_server, private_redis, tmp_path):
    mailbox, port = smtp_server
    queue = redis.Redis(port=private_redis.port)
    with celery_broker(private_redis.url):
        for rank in range(1, BATCH + 1):
            best(consenting(store, consent_post=False), rank=rank)
        campaign(CampaignKind.THANK_YOU, channel_policy=ChannelPolicy.EMAIL)
        notes_queue(as_of=AS_OF)  # commits, then one wake-up per note goes to the private Redis
        ids = set(Note.objects.values_list("pk", flat=True))
        assert len(ids) == BATCH
        assert queued_tasks(queue, "outreach.note_email_send") == BATCH, "500 tasks queued, no worker running"

        private_redis.restart()
        assert queue.llen("celery") == 0, "the restart lost the queue"
        assert Note.objects.filter(email_state=EmailState.SENDING).count() == BATCH  # PostgreSQL still knows

        # The sweeper (every 5 minutes on beat) finds the notes once their lease ran out.
        assert notes_sweep_task(AS_OF.isoformat()) == 0, "within the lease nothing is re-queued"
        later = (AS_OF.replace(year=2100) + SENDING_LEASE).isoformat()
        assert notes_sweep_task(later) == BATCH
        assert queued_tasks(queue, "outreach.note_email_send") == BATCH

        env = {"EMAIL_URL": f"smtp://127.0.0.1:{port}", "SITE_URL": "https://crm.example.test"}
        worker = Worker(tmp_path, broker=private_redis.url, pool="prefork", concurrency=2, env=env)
        try:
            wait_for(
                lambda: Note.objects.filter(email_state=EmailState.SENT).count() == BATCH,
                240,
                f"the 500 emails\n{worker.log_tail()}",
                every=0.5,
            )
            wait_for(lambda: queue.llen("celery") == 0, 30, "the queue to drain")
        finally:
            worker.stop()

    ids_at_server = mailbox.message_ids()
    assert len(ids_at_server) == BATCH
    assert set(ids_at_server) == {f"<regulars-note-{pk}@localhost>" for pk in ids}
