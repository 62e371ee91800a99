"""Deploy checks of our own, run by `manage.py check --deploy`.

They catch the settings that make a job queue lose or repeat work, and email
that would travel in clear text.
"""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def celery_reliability(app_configs=None, **kwargs) -> list[Warning]:
    problems = []
    if not getattr(settings, "CELERY_TASK_ACKS_LATE", False):
        problems.append(
            Warning(
                "CELERY_TASK_ACKS_LATE is off: a task is acknowledged before it runs and lost if the worker dies.",
                id="regulars.W001",
            )
        )
    if not getattr(settings, "CELERY_TASK_REJECT_ON_WORKER_LOST", False):
        problems.append(
            Warning(
                "CELERY_TASK_REJECT_ON_WORKER_LOST is off: a task whose worker was killed is not redelivered.",
                id="regulars.W002",
            )
        )
    scheduled = {entry.get("task") for entry in getattr(settings, "CELERY_BEAT_SCHEDULE", {}).values()}
    for task in getattr(settings, "REGULARS_SWEEPERS", []):
        if task not in scheduled:
            problems.append(
                Warning(
                    f"The sweeper {task} is not in CELERY_BEAT_SCHEDULE: rows stuck after a broker restart "
                    "would never be re-queued.",
                    id="regulars.W003",
                )
            )
    return problems


@register(Tags.security, deploy=True)
def redis_noeviction(app_configs=None, **kwargs) -> list[Warning]:
    url = getattr(settings, "CELERY_BROKER_URL", "")
    if not url.startswith(("redis://", "rediss://")):
        return []
    import redis

    try:
        policy = redis.Redis.from_url(url, socket_connect_timeout=2).config_get("maxmemory-policy")
    except redis.RedisError as exc:
        return [
            Warning(
                f"Could not read Redis maxmemory-policy ({exc.__class__.__name__}).",
                hint="Make sure the broker answers and allows CONFIG GET, then run the check again.",
                id="regulars.W004",
            )
        ]
    value = policy.get("maxmemory-policy") or policy.get(b"maxmemory-policy")
    if isinstance(value, bytes):
        value = value.decode()
    if value != "noeviction":
        return [
            Warning(
                f"Redis maxmemory-policy is {value!r}: under memory pressure Redis would silently drop queued tasks.",
                hint="Run redis-server with --maxmemory-policy noeviction.",
                id="regulars.W005",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def email_transport(app_configs=None, **kwargs) -> list[Warning]:
    backend = getattr(settings, "EMAIL_BACKEND", "")
    if backend != "django.core.mail.backends.smtp.EmailBackend":
        return [
            Warning(
                f"EMAIL_BACKEND is {backend}: notes and password resets are not sent.",
                hint="Set EMAIL_URL=smtp+tls://user:password@host:587.",
                id="regulars.W006",
            )
        ]
    local = getattr(settings, "EMAIL_HOST", "") in {"localhost", "127.0.0.1", "::1"}
    if not local and not (getattr(settings, "EMAIL_USE_TLS", False) or getattr(settings, "EMAIL_USE_SSL", False)):
        return [
            Warning(
                "Email goes to a remote SMTP server without TLS: customer data would travel in clear text.",
                hint="Use EMAIL_URL=smtp+tls://... or smtp+ssl://...",
                id="regulars.W007",
            )
        ]
    return []
