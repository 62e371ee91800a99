"""Celery task of the ticket import (imported by CustomersConfig.ready, as autodiscovery only finds tasks.py)."""

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="customers.tickets_import",
    autoretry_for=(OperationalError,),  # the database went away: the batch is still queued, try again
    max_retries=3,
    retry_backoff=30,
)
def tickets_import_task(batch_id: int) -> str:
    """Check or import one ImportBatch (its status says which). Safe to run twice: a finished batch is left alone."""
    from django.utils import timezone

    from .importers import import_batch_process

    batch = import_batch_process(batch_id=batch_id, now=timezone.now())
    return batch.status


@shared_task(name="customers.tickets_announce_plan", max_retries=3, default_retry_delay=60)
def tickets_announce_plan_task(
    ticket_ranges: list[list[int]] | None = None,
    customer_ranges: list[list[int]] | None = None,
    source: str = "",
    chunk: int = 10_000,
) -> int:
    """Cut a big import's new ids — runs ``[lo, hi]`` of consecutive ids — into chunks of ``chunk`` ids and
    queue one ``tickets_announce`` task per chunk (customers first, then tickets, in ascending order).

    The importing process publishes only this one small message; the chunk tasks carry runs too.
    """
    from .importers.idruns import ranges_chunked

    queued = 0
    for group in ranges_chunked(((lo, hi) for lo, hi in customer_ranges or []), chunk):
        tickets_announce_task.delay(customer_ranges=[list(r) for r in group], source=source)
        queued += 1
    for group in ranges_chunked(((lo, hi) for lo, hi in ticket_ranges or []), chunk):
        tickets_announce_task.delay(ticket_ranges=[list(r) for r in group], source=source)
        queued += 1
    return queued


@shared_task(name="customers.tickets_announce", max_retries=3, default_retry_delay=60)
def tickets_announce_task(
    ticket_ids: list[int] | None = None,
    customer_ids: list[int] | None = None,
    source: str = "",
    ticket_ranges: list[list[int]] | None = None,
    customer_ranges: list[list[int]] | None = None,
) -> int:
    """Send ``customer_created`` / ``tickets_created`` for one chunk of a big import's new rows (in a worker).

    The ids come as a list or as runs ``[lo, hi]`` (both ends included). The rows are committed
    before this task is queued; receivers are idempotent, so a retry is safe.
    """
    from .signals import customer_created, tickets_created

    customer_ids = list(customer_ids or []) + [i for lo, hi in customer_ranges or [] for i in range(lo, hi + 1)]
    ticket_ids = list(ticket_ids or []) + [i for lo, hi in ticket_ranges or [] for i in range(lo, hi + 1)]
    for customer_id in customer_ids:
        customer_created.send(sender=None, customer_id=customer_id, source=source)
    if ticket_ids:
        tickets_created.send(sender=None, ticket_ids=list(ticket_ids))
    return len(ticket_ids or []) + len(customer_ids or [])
