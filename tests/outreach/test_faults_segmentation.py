"""Workers SIGKILLed in the middle of a chunked segmentation run: the run completes on a new worker, and
the notes queued after it are exactly those of an uninterrupted run — none lost, none twice.

Two kills, as production sees them:

1. the pool process dies after a chunk committed and before its message was acknowledged (an OOM kill
   of the child): the parent gives the message back (``reject_on_worker_lost``) and the chunk is
   delivered again — it must not be counted twice, or the finish step would start before the last
   chunk and the notes would miss its customers;
2. the whole worker dies in the middle of a chunk (a lost node): that chunk's message stays
   unacknowledged in Redis for a day; a new worker does the rest and the sweeper re-queues the chunk.
"""

import os
import signal

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customers.models import Customer, Role
from outreach import services
from outreach.models import CustomerSegmentState, SegmentChange, SegmentRun
from outreach.notes import notes_queue
from outreach.notes_models import Campaign, CampaignKind, Note, NoteRun
from outreach.tasks import segments_refresh_task, segments_sweep_task
from tests.factories import MembershipFactory
from tests.processes import Worker, wait_for

from .conftest import AS_OF_DATE, generate_chain
from .notes_helpers import campaign

pytestmark = [pytest.mark.worker, pytest.mark.faults, pytest.mark.slow]

CHUNK = "outreach.segments_refresh_chunk"
SMALL_CHUNKS = {"FAULT_SEGMENT_CHUNK": "10,40"}  # 300 customers → 8 chunk tasks (production: ≥ 500 each)


class _Rollback(Exception):
    pass


def _states() -> set[tuple]:
    return set(
        CustomerSegmentState.objects.values_list(
            "scope_key", "customer_id", "status", "ladder", "visits", "is_best", "best_rank", "is_at_risk", "risk_on"
        )
    )


def _notes() -> set[tuple]:
    return set(Note.objects.values_list("customer_id", "campaign_id", "channel", "status"))


def _reference(campaign_ids: list[int]) -> tuple[set, int, set]:
    """States, history rows and notes of an uninterrupted in-process run (rolled back afterwards)."""
    try:
        with transaction.atomic():
            services.segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now(), full=True)
            states, changes = _states(), SegmentChange.objects.count()
            notes_queue(as_of=timezone.now(), campaign_ids=campaign_ids)
            notes = _notes()
            raise _Rollback
    except _Rollback:
        pass
    return states, changes, notes


@pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs the Redis broker")
@pytest.mark.django_db(transaction=True)
def test_workers_killed_mid_segmentation_lose_and_duplicate_no_note(tmp_path):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()
    chain = generate_chain(customers=300, seed=11)
    Customer.objects.update(consent_post=True, postal_address="Amir Temur 1, Toshkent")  # handwritten notes
    for store in (chain["east"], chain["west"]):
        MembershipFactory.create_batch(2, store=store, role=Role.STAFF)
    campaign_ids = [campaign(CampaignKind.THANK_YOU).pk, campaign(CampaignKind.WIN_BACK).pk]
    expected_states, expected_changes, expected_notes = _reference(campaign_ids)
    assert len(expected_notes) > 40, "the chain gives both campaigns work"
    assert not SegmentRun.objects.exists() and not Note.objects.exists()

    workers = [
        Worker(
            tmp_path,
            broker=settings.CELERY_BROKER_URL,
            pool="prefork",
            pause=f"{CHUNK}:postrun:2,{CHUNK}:prerun:5",
            env=SMALL_CHUNKS,
        )
    ]
    try:
        segments_refresh_task.delay(None, AS_OF_DATE.isoformat(), True)
        # Kill 1: the pool process, after the 2nd chunk committed, before its message was acknowledged.
        os.kill(workers[0].paused_pid(0), signal.SIGKILL)
        # Kill 2: the whole worker (parent and pool), in the middle of the 5th chunk execution.
        workers[0].paused_pid(1)
        workers[0].kill_all()
        run = SegmentRun.objects.get()
        assert run.status == SegmentRun.Status.RUNNING and run.chunks == 8

        workers.append(Worker(tmp_path, broker=settings.CELERY_BROKER_URL, env=SMALL_CHUNKS))
        wait_for(
            lambda: len(SegmentRun.objects.get().chunks_done) == run.chunks - 1 and broker.llen("celery") == 0,
            120,
            f"every chunk but the killed one\n{workers[1].log_tail()}",
            every=0.3,
        )
        run.refresh_from_db()
        assert run.status == SegmentRun.Status.RUNNING, "no finish step before the last chunk"
        assert run.chunks_left == 1 and not NoteRun.objects.exists()

        # The sweeper (every 5 minutes on beat) re-queues the killed chunk once the run has been quiet
        # for a lease; within the lease it leaves the run alone.
        assert segments_sweep_task(timezone.now().isoformat()) == 0
        assert segments_sweep_task((timezone.now() + services.SEGMENT_LEASE).isoformat()) == 1
        wait_for(
            lambda: NoteRun.objects.filter(finished_at__isnull=False).exists(),
            120,
            f"the run to finish and queue its notes\n{workers[1].log_tail()}",
            every=0.3,
        )
        wait_for(lambda: broker.llen("celery") == 0, 30, "the queue to drain")
    finally:
        for worker in workers:
            worker.stop()
        broker.flushdb()

    run.refresh_from_db()
    assert run.status == SegmentRun.Status.DONE
    assert run.chunks_done == list(range(8)) and run.chunks_left == 0
    assert run.progress_done == run.progress_total == 9
    assert _states() == expected_states
    assert SegmentChange.objects.count() == expected_changes, "no history row written twice"

    notes = Note.objects.all()
    assert _notes() == expected_notes, "exactly the notes of an uninterrupted run"
    per_key = {(n.customer_id, n.campaign_id, n.period) for n in notes}
    assert len(per_key) == notes.count() == len(expected_notes)
    assert not notes.filter(assigned_to__isnull=True).exists(), "every handwritten note has a writer"
    assert set(Campaign.objects.values_list("pk", flat=True)) == set(campaign_ids)
    print(f"\nsegmentation faults: {run.chunks} chunks, {len(expected_states)} states, {len(expected_notes)} notes")
