"""Nightly loyalty jobs. Thin: parse the ISO time, call one service; retries are bounded.

Each job is idempotent (a rerun changes nothing) and has a management command twin.
"""

import datetime as dt

from celery import shared_task
from django.utils import timezone


def _as_of(as_of_iso: str | None) -> dt.datetime:
    return dt.datetime.fromisoformat(as_of_iso) if as_of_iso else timezone.now()


RETRY = {"autoretry_for": (Exception,), "max_retries": 3, "retry_backoff": 60, "retry_jitter": True}


@shared_task(name="loyalty.points_expire", **RETRY)
def points_expire_task(as_of_iso: str | None = None) -> int:
    from .services import points_expire

    return points_expire(as_of=_as_of(as_of_iso))


@shared_task(name="loyalty.tiers_recompute", **RETRY)
def tiers_recompute_task(as_of_iso: str | None = None) -> dict:
    from .services import tiers_recompute

    return tiers_recompute(as_of=_as_of(as_of_iso))


@shared_task(name="loyalty.birthday_bonuses", **RETRY)
def birthday_bonuses_task(as_of_iso: str | None = None) -> int:
    from .services import points_birthday_grant

    return points_birthday_grant(as_of=_as_of(as_of_iso))


@shared_task(name="loyalty.expiry_warnings", **RETRY)
def expiry_warnings_task(as_of_iso: str | None = None) -> int:
    from .services import expiry_warnings_queue

    return expiry_warnings_queue(as_of=_as_of(as_of_iso))
