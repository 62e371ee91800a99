"""Settings for Regulars: one module, driven by the environment.

Every value comes from an environment variable with a working default, so a
fresh checkout runs on the *embedded default*: SQLite beside manage.py and
Celery tasks executed in-process. A chain sets ``DATABASE_URL`` (PostgreSQL)
and ``CELERY_BROKER_URL`` (Redis) and gets the production shape. There are no
``if ENV == "production"`` branches: each setting is its own variable.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.conf import locale as django_locale
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)  # optional, never committed

# --- Core -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# The default key is only good for a laptop; `check --deploy` flags it.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-regulars-local-only-key-change-me-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "crispy_forms",
    "crispy_bootstrap5",
    "rest_framework",
    "drf_spectacular",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "crm",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files (no CDN)
    "customers",
    "loyalty",
    "outreach",
]

MIDDLEWARE = [
    "crm.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "crm.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout signalled by the backend into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "customers.context_processors.access",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# No DATABASE_URL → SQLite beside manage.py. IMMEDIATE transactions take the
# write lock up front (no "database is locked" upgrade failures under the
# eager Celery path), the busy timeout waits instead of failing, WAL lets the
# dashboard read while an import writes.
SQLITE_PATH = env.str("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3"))
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default=f"sqlite:///{SQLITE_PATH}",
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    # Covering indexes (INCLUDE columns, for PostgreSQL's index-only scans) are plain indexes on SQLite.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 10)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Auth -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out user before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Security ---------------------------------------------------------------
# HTTPS=true says "this deployment is served over TLS": it turns on the
# redirect, secure cookies and HSTS together. Each can still be overridden.
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
# Container healthchecks probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 60 * 60)  # one shop day
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Login protection (django-axes): 5 failures → a 15-minute lock for that user
# from that IP. Counters live in the database (AxesDBHandler), so a Redis
# restart does not reset them. AXES_PROXY_COUNT = how many proxies sit in
# front of gunicorn (1 behind the compose/nginx proxy), for the client IP.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0) or None
AXES_VERBOSE = False  # its log lines name the username; ours carry ids only

# Content-Security-Policy (django-csp): scripts only from our own static files,
# no inline script anywhere; styles from our files (inline style attributes are
# allowed for progress bars and heatmap cells); no framing; forms post home.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Regulars")

# --- I18n -------------------------------------------------------------------
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
# The shops write Uzbek (Latin script), Persian, Bulgarian and Tagalog; many of them, and their
# customers, use Russian every day. Django has no locale data for Tagalog: it is added below.
LANGUAGES = [
    ("en", _("English")),
    ("uz", _("Uzbek")),
    ("ru", _("Russian")),
    ("fa", _("Persian")),
    ("bg", _("Bulgarian")),
    ("tl", _("Tagalog")),
]
LANG_INFO = {"tl": {"bidi": False, "code": "tl", "name": "Tagalog", "name_local": "Tagalog"}}
django_locale.LANG_INFO.update(LANG_INFO)
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env.str("TIME_ZONE", default="UTC")

# --- Static files -----------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str("STATICFILES_STORAGE", default="django.contrib.staticfiles.storage.StaticFilesStorage")
    },
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Email ------------------------------------------------------------------
# EMAIL_URL examples: smtp+tls://user:pass@mail.example:587, consolemail://
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Regulars <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

# --- Celery -----------------------------------------------------------------
# No broker → tasks run eagerly in the web process (the embedded default).
# With a broker, PostgreSQL still holds the truth (rows with a status); Redis
# only carries wake-ups, and sweeper tasks re-queue rows that got stuck.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# Progress and outcomes live in PostgreSQL rows, not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# Ack after the task finished, and give the message back if the worker process
# dies mid-task: with idempotent tasks a redelivery is safe, a loss is not.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Long jobs (segmentation chunks, PDF batches): take one message at a time so a
# busy worker does not hoard work another worker could do.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis redelivers an unacked message after the visibility timeout; it must
# exceed the longest ETA/countdown we schedule (at most a day), or the message
# is delivered twice while still waiting.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 26 * 60 * 60}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=30 * 60)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
# Nightly jobs; each also has a management command for the embedded default.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Proves a worker is consuming: /readyz reports the age of the last beat.
    "worker-heartbeat": {"task": "customers.worker_heartbeat", "schedule": 60.0, "options": {"expires": 55}},
}
# /readyz calls a worker stale when its last heartbeat is older than this.
WORKER_HEARTBEAT_STALE_AFTER = env.int("WORKER_HEARTBEAT_STALE_AFTER", default=180)
# Loyalty (in this order each night: expire, then warn about what is left, then tiers and birthdays).
CELERY_BEAT_SCHEDULE.update(
    {
        "loyalty-points-expire": {"task": "loyalty.points_expire", "schedule": crontab(hour=1, minute=10)},
        "loyalty-expiry-warnings": {"task": "loyalty.expiry_warnings", "schedule": crontab(hour=1, minute=30)},
        "loyalty-tiers-recompute": {"task": "loyalty.tiers_recompute", "schedule": crontab(hour=1, minute=50)},
        "loyalty-birthday-bonuses": {"task": "loyalty.birthday_bonuses", "schedule": crontab(hour=2, minute=10)},
    }
)
# Tasks that re-queue rows stuck after a broker restart; `check --deploy` insists they are scheduled.
REGULARS_SWEEPERS: list[str] = []
# Notes whose email has been "sending" longer than its lease (lost wake-up) are re-queued.
CELERY_BEAT_SCHEDULE["outreach-notes-sweep"] = {"task": "outreach.notes_sweep", "schedule": 5 * 60}
REGULARS_SWEEPERS.append("outreach.notes_sweep")
# Segment runs whose worker died mid-run (their chunks' messages wait a day for the visibility timeout).
CELERY_BEAT_SCHEDULE["outreach-segments-sweep"] = {"task": "outreach.segments_sweep", "schedule": 5 * 60}
REGULARS_SWEEPERS.append("outreach.segments_sweep")
# The mailto: half of List-Unsubscribe (RFC 8058 needs the https URL; some clients prefer mail).
REGULARS_UNSUBSCRIBE_MAILTO = env.str("REGULARS_UNSUBSCRIBE_MAILTO", default="")
# The chain's policy for a note's return code on an anonymous ticket: the note was addressed to the
# customer by name, so by default the sale joins their history; off, only the campaign is credited
# (customers/attribution.py).
RETURN_CODES_IDENTIFY_CUSTOMER = env.bool("RETURN_CODES_IDENTIFY_CUSTOMER", default=True)
# Segments: every night after the tills close, one run per scope (command: refresh_segments).
CELERY_BEAT_SCHEDULE["outreach-segments-refresh"] = {
    "task": "outreach.segments_refresh_all",
    "schedule": crontab(hour=2, minute=30),
}

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "customers.api_auth.StoreTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Regulars POS API",
    "DESCRIPTION": "Purchase tickets, customer look-up and loyalty for point-of-sale systems.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The refusals every operation can give (401/403/400/404/422) and the tickets batch forms.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "customers.api_schema.postprocess"],
}

# --- Logging ----------------------------------------------------------------
# Logs carry ids, never names, emails or phones. LOG_FORMAT=json (default) gives
# one JSON object per line with the request or Celery task id; "plain" reads
# better on a laptop.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "crm.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "crm.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # WeasyPrint and fontTools narrate every rendering step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# Dashboard aggregates (outreach): re-read the last days every night, after the tills closed.
CELERY_BEAT_SCHEDULE["dashboard-aggregates-refresh"] = {
    "task": "outreach.dashboard_aggregates_refresh",
    "schedule": crontab(hour=2, minute=30),
}
