"""Our own `check --deploy` rules: queue reliability, Redis eviction, email transport."""

import pytest
from django.test import override_settings

from crm import checks


def _ids(results) -> set[str]:
    return {r.id for r in results}


def test_celery_settings_as_shipped_pass():
    assert checks.celery_reliability() == []


@override_settings(CELERY_TASK_ACKS_LATE=False, CELERY_TASK_REJECT_ON_WORKER_LOST=False)
def test_early_acks_and_lost_workers_are_flagged():
    assert _ids(checks.celery_reliability()) == {"regulars.W001", "regulars.W002"}


@override_settings(REGULARS_SWEEPERS=["outreach.some_sweep"], CELERY_BEAT_SCHEDULE={})
def test_an_unscheduled_sweeper_is_flagged():
    assert _ids(checks.celery_reliability()) == {"regulars.W003"}


def test_the_test_redis_broker_does_not_evict(settings):
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("no Redis broker configured")
    assert checks.redis_noeviction() == []


@override_settings(EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend")
def test_console_email_is_flagged_for_deployment():
    assert _ids(checks.email_transport()) == {"regulars.W006"}


@override_settings(
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    EMAIL_HOST="smtp.example.net",
    EMAIL_USE_TLS=False,
    EMAIL_USE_SSL=False,
)
def test_remote_smtp_without_tls_is_flagged():
    assert _ids(checks.email_transport()) == {"regulars.W007"}


@override_settings(
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="smtp.example.net", EMAIL_USE_TLS=True
)
def test_smtp_with_tls_passes():
    assert checks.email_transport() == []
