"""Celery tasks of the customer file. Thin: take ids / ISO strings, call one service, own retries."""

import socket

from celery import shared_task
from django.utils import timezone


@shared_task(name="customers.worker_heartbeat", bind=True, ignore_result=True, max_retries=0)
def worker_heartbeat_task(self) -> str:
    """Record that a worker is alive and consuming (scheduled every minute by beat; /readyz reads it).

    No retries: a missed beat is replaced by the next one a minute later.
    """
    from .health import worker_heartbeat_record

    # A worker reports its host (the container's name under compose); an eager run says so.
    host = self.request.hostname or socket.gethostname()
    hostname = f"eager@{host}" if self.request.is_eager else host
    worker_heartbeat_record(hostname=hostname, at=timezone.now())
    return hostname
