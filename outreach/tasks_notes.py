"""Celery tasks for notes: queue after segmentation, send one email, sweep stuck sends.

Thin wrappers taking ids and ISO strings; each calls one service. ``outreach.notes_queue`` also runs
by itself after every segmentation run: a ``task_success`` receiver on
``outreach.segments_refresh_finish`` (the segments task module stays untouched) enqueues it.
"""

import datetime as dt
import logging
import smtplib

from celery import shared_task
from celery.signals import task_success
from django.utils import timezone

__all__ = ["notes_queue_task", "note_email_send_task", "notes_sweep_task", "queue_notes_after_segmentation"]

logger = logging.getLogger(__name__)

EMAIL_MAX_RETRIES = 5


def _aware(iso: str | None) -> dt.datetime:
    if not iso:
        return timezone.now()
    value = dt.datetime.fromisoformat(iso)
    if value.tzinfo is None:  # a date: the start of that day in the default time zone
        value = timezone.make_aware(value)
    return value


@shared_task(name="outreach.notes_queue", bind=True, max_retries=3, default_retry_delay=60)
def notes_queue_task(
    self, as_of_iso: str | None = None, store_id: int | None = None, scope_key: str | None = None
) -> int:
    """Queue notes for every active campaign (or one store's); returns the NoteRun id.

    ``scope_key`` ("chain" / "store:<id>", a segmentation scope) limits the run to the active
    campaigns of that scope: the scope whose segments were just refreshed.
    """
    from customers.models import Store

    from .notes import notes_queue
    from .notes_models import Campaign

    store = Store.objects.get(pk=store_id) if store_id else None
    campaign_ids = None
    if scope_key:
        scoped = Campaign.objects.filter(is_active=True)
        if scope_key == "chain":
            scoped = scoped.filter(store__isnull=True)
        else:
            scoped = scoped.filter(store_id=int(scope_key.split(":", 1)[1]))
        campaign_ids = list(scoped.values_list("pk", flat=True))
    run = notes_queue(as_of=_aware(as_of_iso), store=store, campaign_ids=campaign_ids, now=timezone.now())
    return run.pk


@shared_task(
    name="outreach.note_email_send",
    bind=True,
    max_retries=EMAIL_MAX_RETRIES,
    default_retry_delay=60,
    acks_late=True,
    reject_on_worker_lost=True,
)
def note_email_send_task(self, note_id: int) -> str:
    """Send one note's email; a duplicate or retried delivery of the same id sends nothing more."""
    from .emails import note_email_give_up, note_email_send

    try:
        return note_email_send(note_id=note_id, now=timezone.now())
    except (smtplib.SMTPException, OSError) as exc:
        if self.request.retries >= self.max_retries:
            note_email_give_up(note_id=note_id, error=f"{type(exc).__name__}: {exc}")
            logger.warning("note %s email gave up after %s attempts", note_id, self.request.retries + 1)
            return "failed"
        # Back off 1, 2, 4, 8, 16 minutes.
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc


@shared_task(name="outreach.notes_sweep")
def notes_sweep_task(now_iso: str | None = None) -> int:
    """Re-queue notes whose email has been "sending" too long (a lost wake-up after a broker restart).

    ``now_iso`` (default: now) lets a test or an operator sweep as if the lease had run out.
    """
    from .emails import notes_sweep

    ids = notes_sweep(now=_aware(now_iso))
    for note_id in ids:
        note_email_send_task.delay(note_id)
    return len(ids)


@task_success.connect(dispatch_uid="outreach.notes_after_segments")
def queue_notes_after_segmentation(sender=None, result=None, **kwargs) -> None:
    """After a segmentation run finishes (its finish task succeeded), queue that scope's notes."""
    if getattr(sender, "name", None) != "outreach.segments_refresh_finish":
        return
    args = getattr(sender.request, "args", None) or []
    run_id = args[0] if args else (getattr(sender.request, "kwargs", None) or {}).get("run_id")
    if run_id is None:
        return
    from .models import SegmentRun

    run = SegmentRun.objects.filter(pk=run_id, status=SegmentRun.Status.DONE).first()
    if run is None:
        return
    notes_queue_task.delay(None, None, run.scope_key)
