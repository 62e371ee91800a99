"""Dashboard tasks and the ticket receiver (imported by OutreachConfig.ready).

Kept out of ``outreach/tasks.py`` so segmentation and outreach own that module;
``ready()`` imports this one, which registers the tasks with Celery.
"""

import datetime as dt
import logging

from celery import shared_task
from django.db import transaction

log = logging.getLogger(__name__)

# The nightly run re-reads this many recent days (late POS uploads, returns of last week).
NIGHTLY_DAYS = 3
# A ticket batch spanning more days than this (a history import) is refreshed month by month.
INLINE_MAX_DAYS = 2


@shared_task(
    name="outreach.dashboard_aggregates_refresh",
    bind=True,
    autoretry_for=(Exception,),
    max_retries=3,
    retry_backoff=30,
)
def dashboard_aggregates_refresh_task(
    self,
    start_iso: str | None = None,
    end_iso: str | None = None,
    store_ids: list[int] | None = None,
    customer_ids: list[int] | None = None,
) -> dict:
    """Refresh the dashboard tables for ``start``…``end`` (local days), one calendar month at a time
    (the whole history at once when the range starts before the first ticket: ``refresh_chunks``).

    Without dates it refreshes the last ``NIGHTLY_DAYS`` days up to today (UTC), which
    is what beat runs every night. Each month is its own transaction, so a retry only
    redoes what is left to be safe: every chunk is idempotent anyway.
    """
    from django.utils import timezone

    from .analytics_dashboard import dashboard_aggregates_refresh, refresh_chunks

    today = timezone.now().date()
    end = dt.date.fromisoformat(end_iso) if end_iso else today
    start = dt.date.fromisoformat(start_iso) if start_iso else end - dt.timedelta(days=NIGHTLY_DAYS - 1)
    totals = {"store_days": 0, "customer_months": 0, "cohort_months": 0}
    for a, b in refresh_chunks(start, end, store_ids):
        result = dashboard_aggregates_refresh(
            start=a, end=b, store_ids=store_ids, customer_ids=customer_ids, cohorts=customer_ids is None
        )
        totals["store_days"] += result.store_days
        totals["customer_months"] += result.customer_months
        totals["cohort_months"] += result.cohort_months
    # New tickets move the campaigns' return rates and revenue: refresh the campaigns they touch
    # (a ticket batch) or all of them (the nightly run, a history refresh).
    totals["campaign_results"] = _campaign_results_after_tickets(customer_ids=customer_ids)
    return totals


def _campaign_results_after_tickets(*, customer_ids: list[int] | None) -> int:
    from django.utils import timezone

    from .notes_models import HoldoutMember, Note
    from .results import campaign_results_refresh

    campaign_ids = None
    if customer_ids is not None:
        campaign_ids = sorted(
            set(Note.objects.filter(customer_id__in=customer_ids).values_list("campaign_id", flat=True))
            | set(HoldoutMember.objects.filter(customer_id__in=customer_ids).values_list("campaign_id", flat=True))
        )
        if not campaign_ids:
            return 0
    return campaign_results_refresh(now=timezone.now(), campaign_ids=campaign_ids)


@shared_task(
    name="outreach.campaign_results_refresh",
    bind=True,
    autoretry_for=(Exception,),
    max_retries=3,
    retry_backoff=10,
)
def campaign_results_refresh_task(self, campaign_ids: list[int] | None = None) -> int:
    """Recompute the dashboard's campaign results (``CampaignResult``) of these campaigns (all if None)."""
    from django.utils import timezone

    from .results import campaign_results_refresh

    if campaign_ids:
        from django.core.cache import cache

        cache.delete_many([_DUE_KEY.format(int(i)) for i in campaign_ids])
    return campaign_results_refresh(now=timezone.now(), campaign_ids=campaign_ids)


# A burst of sends (500 emails of one campaign) asks for one refresh, not 500: the first request
# marks the campaign "due" in the cache and queues the task a few seconds later; requests while it
# is due add nothing. The task clears the mark *before* it reads, so a request that arrives during
# the refresh queues the next one and no change is left out.
REFRESH_DEBOUNCE_SECONDS = 5
_DUE_KEY = "outreach:campaign-results-due:{}"


def campaign_results_refresh_later(campaign_ids) -> None:
    """After the current transaction commits, refresh these campaigns' results (in a worker, coalesced)."""
    ids = sorted({int(i) for i in campaign_ids})
    if not ids:
        return

    def enqueue() -> None:
        from django.core.cache import cache

        # The mark outlives the countdown generously, so a lost task is retried by a later request.
        due = [i for i in ids if cache.add(_DUE_KEY.format(i), 1, timeout=REFRESH_DEBOUNCE_SECONDS + 120)]
        if due:
            campaign_results_refresh_task.apply_async((due,), countdown=REFRESH_DEBOUNCE_SECONDS)

    transaction.on_commit(enqueue)


def dashboard_on_tickets_created(sender, ticket_ids: list[int], **kwargs) -> None:
    """New tickets: refresh their stores' days and their customers' months (in the worker).

    The cohort heatmap is left to the nightly run: it reads every customer of the month.
    """
    from .analytics_dashboard import ticket_scope

    scope = ticket_scope(ticket_ids=ticket_ids)
    if scope is None:
        return
    span = (scope.end - scope.start).days + 1
    dashboard_aggregates_refresh_task.delay(
        scope.start.isoformat(),
        scope.end.isoformat(),
        store_ids=scope.store_ids,
        # A big import touches many customers: refresh whole months instead of listing them.
        customer_ids=scope.customer_ids if span <= INLINE_MAX_DAYS and len(scope.customer_ids) <= 5000 else None,
    )


def served_most_forget(sender, **kwargs) -> None:
    """A staff member or a store was deleted: the export computes "served most by" live until the
    next dashboard refresh rebuilds CustomerServedMost (it rebuilds when no window is recorded)."""
    from .models import ServedMostWindow

    ServedMostWindow.objects.all().delete()


@shared_task(name="outreach.export_xlsx", bind=True, max_retries=2, default_retry_delay=60)
def export_xlsx_task(self, job_id: int) -> int:
    """Build one XLSX export (progress in the ExportJob row); a finished job is not rebuilt."""
    from django.utils import timezone

    from .exports import export_job_fail, export_job_run

    try:
        return export_job_run(job_id=job_id, now=timezone.now()).rows_done
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            log.exception("export job=%s failed", job_id)
            export_job_fail(job_id=job_id, message="The export failed; please try again or export CSV.")
            raise
        raise self.retry(exc=exc) from exc
