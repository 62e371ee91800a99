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
