"""Project-level endpoints that belong to no app: liveness and readiness probes."""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from customers.health import worker_heartbeat_latest


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving (no dependency checks: that is /readyz)."""
    return JsonResponse({"status": "ok"})


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "vendor": connection.vendor}


def _check_broker() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "eager"}
    import redis

    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
    except Exception as exc:  # connection refused, timeout, auth: all "not ready"
        return {"ok": False, "mode": "redis", "error": exc.__class__.__name__}
    return {"ok": True, "mode": "redis"}


def _check_worker(*, now) -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"mode": "in-process", "last_heartbeat_age_s": None, "stale": False}
    try:
        beat = worker_heartbeat_latest()
    except Exception as exc:
        return {"last_heartbeat_age_s": None, "stale": True, "error": exc.__class__.__name__}
    if beat is None:
        return {"last_heartbeat_age_s": None, "stale": True}
    age = max(0, int((now - beat.beat_at).total_seconds()))
    return {
        "last_heartbeat_age_s": age,
        "hostname": beat.hostname,
        "stale": age > settings.WORKER_HEARTBEAT_STALE_AFTER,
    }


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers and the broker answers (503 otherwise).

    The worker's heartbeat age is reported but does not decide readiness: the web
    serves shops even while the worker restarts; monitoring alerts on ``stale``.
    """
    database = _check_database()
    broker = _check_broker()
    worker = _check_worker(now=timezone.now()) if database["ok"] else {"last_heartbeat_age_s": None}
    ready = database["ok"] and broker["ok"]
    body = {"status": "ok" if ready else "unavailable", "database": database, "broker": broker, "worker": worker}
    return JsonResponse(body, status=200 if ready else 503)
