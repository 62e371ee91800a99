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


@shared_task(name="customers.tickets_announce", max_retries=3, default_retry_delay=60)
def tickets_announce_task(
    ticket_ids: list[int] | None = None, customer_ids: list[int] | None = None, source: str = ""
) -> int:
    """Send ``customer_created`` / ``tickets_created`` for one chunk of a big import's new rows (in a worker).

    The rows are committed before this task is queued; receivers are idempotent, so a retry is safe.
    """
    from .signals import customer_created, tickets_created

    for customer_id in customer_ids or []:
        customer_created.send(sender=None, customer_id=customer_id, source=source)
    if ticket_ids:
        tickets_created.send(sender=None, ticket_ids=list(ticket_ids))
    return len(ticket_ids or []) + len(customer_ids or [])
