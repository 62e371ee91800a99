"""Celery tasks for segmentation: thin wrappers that take ids and ISO strings and call one service each.

``outreach.segments_refresh`` plans a run and fans its customers out as ``outreach.segments_refresh_chunk``
tasks (≥ 500 customers each, never one per customer); the chunk that completes the count enqueues
``outreach.segments_refresh_finish``. Progress lives on the SegmentRun row, which the page polls.
``outreach.segments_sweep`` re-queues the chunks (or the finish) of a run whose worker died.
"""

import datetime as dt
import logging

from celery import shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(name="outreach.segments_refresh", bind=True, max_retries=3, default_retry_delay=60)
def segments_refresh_task(
    self, store_id: int | None = None, as_of_iso: str | None = None, full: bool = False, user_id: int | None = None
) -> int | None:
    """Start a refresh of one scope (the chain when ``store_id`` is None); returns the run id."""
    from customers.models import Store

    from . import services

    store = Store.objects.get(pk=store_id) if store_id else None
    as_of = dt.date.fromisoformat(as_of_iso) if as_of_iso else timezone.localdate()
    try:
        run, chunks = services.segments_run_start(
            store=store, as_of=as_of, now=timezone.now(), full=full, by=_user(user_id)
        )
    except services.SegmentRunBusy as busy:
        logger.info("segment refresh skipped: run %s is running", busy.run.pk if busy.run else None)
        return None
    if not chunks:
        segments_refresh_finish_task.delay(run.pk)
    else:
        for index, chunk in enumerate(chunks):
            segments_refresh_chunk_task.delay(run.pk, chunk.to_json(), index)
    return run.pk


@shared_task(name="outreach.segments_refresh_chunk", bind=True, max_retries=3, default_retry_delay=30)
def segments_refresh_chunk_task(self, run_id: int, chunk: dict, index: int | None = None) -> None:
    """Recompute chunk ``index`` of the plan; the chunk that completes the plan enqueues the finish step.

    Safe to deliver twice (a redelivery after a killed worker, a sweep): a committed chunk is skipped,
    and it is counted once (``services.segments_chunk_done``).
    """
    from . import services
    from .models import SegmentRun

    run = SegmentRun.objects.select_related("store").get(pk=run_id)
    if run.status != SegmentRun.Status.RUNNING or (index is not None and index in run.chunks_done):
        return
    spec = services.ChunkSpec.from_json(chunk)
    try:
        services.segments_chunk_apply(run=run, chunk=spec)
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            services.segments_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}", now=timezone.now())
            raise
        raise self.retry(exc=exc) from exc
    left = services.segments_chunk_done(run_id=run_id, index=index, chunk=spec, now=timezone.now())
    if left == 0:
        segments_refresh_finish_task.delay(run_id)


@shared_task(name="outreach.segments_refresh_finish", bind=True, max_retries=3, default_retry_delay=30)
def segments_refresh_finish_task(self, run_id: int) -> None:
    """Fit the visit model, apply P(alive)/ranks, count, and release the scope lock."""
    from . import services
    from .models import SegmentRun

    run = SegmentRun.objects.select_related("store").get(pk=run_id)
    if run.status != SegmentRun.Status.RUNNING:
        return
    try:
        services.segments_run_finish(run=run, now=timezone.now())
    except Exception as exc:
        services.segments_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}", now=timezone.now())
        raise


@shared_task(name="outreach.segments_sweep")
def segments_sweep_task(now_iso: str | None = None) -> int:
    """Re-queue the lost work of runs quiet for longer than the lease (a worker died); returns tasks queued.

    ``now_iso`` (default: now) lets a test or an operator sweep as if the lease had run out.
    """
    from . import services

    now = dt.datetime.fromisoformat(now_iso) if now_iso else timezone.now()
    queued = 0
    for swept in services.segments_sweep(now=now):
        for index, chunk in swept.chunks:
            segments_refresh_chunk_task.delay(swept.run_id, chunk, index)
        if swept.finish:
            segments_refresh_finish_task.delay(swept.run_id)
        queued += len(swept.chunks) + swept.finish
    return queued


@shared_task(name="outreach.segments_refresh_all")
def segments_refresh_all_task() -> int:
    """Nightly: refresh the chain and every store (each its own run and lock)."""
    from customers.models import Store

    segments_refresh_task.delay(None)
    count = 1
    for store_id in Store.objects.values_list("pk", flat=True):
        segments_refresh_task.delay(store_id)
        count += 1
    return count


def _user(user_id: int | None):
    if not user_id:
        return None
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id).first()


from .tasks_notes import *  # noqa: E402,F401,F403  (notes tasks: outreach.notes_queue, note_email_send, notes_sweep)
