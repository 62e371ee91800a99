"""Operational facts for /readyz: the worker heartbeat (written by a periodic task, read by the probe).

Kept apart from services.py because it is about the running system, not the customer file.
"""

import datetime as dt

from .models import WorkerHeartbeat

HEARTBEAT_KEEP = dt.timedelta(days=7)


def worker_heartbeat_record(*, hostname: str, at: dt.datetime) -> WorkerHeartbeat:
    """Upsert the heartbeat row of ``hostname`` and prune rows of workers gone for a week."""
    beat, _ = WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"beat_at": at})
    WorkerHeartbeat.objects.filter(beat_at__lt=at - HEARTBEAT_KEEP).delete()
    return beat


def worker_heartbeat_latest() -> WorkerHeartbeat | None:
    """The most recent heartbeat of any worker, or None if no worker ever ran the task."""
    return WorkerHeartbeat.objects.order_by("-beat_at").first()
