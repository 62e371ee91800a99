"""docker-compose.yml and the Dockerfile, checked against the settings they configure.

No Docker engine runs here, so the compose file is kept correct by this review-as-code:
the services exist with the right images and commands, every environment name is one
crm/settings.py reads, healthchecks are present, and Redis never evicts broker messages.
"""

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def settings_names() -> set[str]:
    """Every environment variable crm/settings.py reads (env.str("X"), env.db_url("X"), …)."""
    text = (ROOT / "crm" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', text))


def _command(service: dict) -> str:
    command = service["command"]
    return " ".join(command) if isinstance(command, list) else command


def test_compose_has_the_chain_services_with_the_right_images(compose):
    services = compose["services"]
    assert set(services) == {"db", "redis", "migrate", "web", "worker", "beat"}
    assert services["db"]["image"] == "postgres:16"
    assert services["redis"]["image"].startswith("redis:")
    for name in APP_SERVICES:
        assert services[name]["build"] == "." and services[name]["image"] == "regulars:latest", name


def test_database_lives_on_a_named_volume(compose):
    mounts = compose["services"]["db"]["volumes"]
    named = [m.split(":")[0] for m in mounts if m.endswith(":/var/lib/postgresql/data")]
    assert named and named[0] in compose["volumes"], "PostgreSQL data must survive `docker compose down`"


def test_redis_refuses_writes_instead_of_evicting_broker_messages(compose):
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_app_services_run_gunicorn_celery_worker_beat_and_migrate_first(compose):
    services = compose["services"]
    assert _command(services["migrate"]) == "python manage.py migrate --noinput"
    assert services["migrate"]["restart"] == "no"
    assert _command(services["web"]).startswith("gunicorn crm.wsgi:application --bind 0.0.0.0:8000")
    assert _command(services["worker"]).startswith("celery -A crm worker")
    assert _command(services["beat"]).startswith("celery -A crm beat")
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["db"]["condition"] == depends["redis"]["condition"] == "service_healthy", name
    # The names the commands point at exist.
    import crm.celery
    import crm.wsgi

    assert crm.celery.app.main == "crm" and callable(crm.wsgi.application)


def test_every_environment_name_is_read_by_settings(compose, settings_names):
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        unknown = sorted(set(env) - settings_names)
        assert not unknown, f"{name} sets variables crm/settings.py never reads: {unknown}"
        for required in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "HTTPS",
                         "EMAIL_URL"):  # fmt: skip
            assert required in env, f"{name} lacks {required}"
        assert env["DEBUG"] == "false"


def test_urls_point_at_the_compose_services_and_credentials_match(compose):
    services = compose["services"]
    env = services["web"]["environment"]
    database = urlparse(env["DATABASE_URL"].replace("${POSTGRES_PASSWORD:-regulars}", "pw"))
    db_env = services["db"]["environment"]
    assert (database.scheme, database.hostname, database.port) == ("postgres", "db", 5432)
    assert database.username == db_env["POSTGRES_USER"] and database.path == f"/{db_env['POSTGRES_DB']}"
    assert urlparse(env["CELERY_BROKER_URL"]).hostname == "redis"
    assert urlparse(env["REDIS_URL"]).hostname == "redis"
    assert env["CELERY_BROKER_URL"] != env["REDIS_URL"], "cache and broker use separate Redis databases"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), "no default secret key in production"


def test_every_service_has_a_healthcheck_and_web_probes_healthz(compose):
    for name, service in compose["services"].items():
        if name == "migrate":
            continue  # one-shot: it exits when done
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    probe = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:8000{reverse('healthz')}" in probe


def test_dockerfile_builds_the_app_image():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert "libpango-1.0-0" in text and "libpangoft2-1.0-0" in text, "WeasyPrint needs Pango"
    assert "pip install -r requirements.txt" in text
    assert "collectstatic --noinput" in text and "compilemessages" in text
    assert re.search(r"^USER (?!root)\w+", text, re.M), "the app does not run as root"
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in dockerignore and ".env" in dockerignore


def test_web_access_log_leaves_out_query_strings(compose):
    """A search for a name or phone travels in the query string: the access log must not keep it."""
    command = compose["services"]["web"]["command"]
    fmt = command[command.index("--access-logformat") + 1]
    assert "%(U)s" in fmt
    assert "%(r)s" not in fmt and "%(q)s" not in fmt


def test_gunicorn_reads_threaded_workers_from_its_config_file(compose, monkeypatch):
    """The image and the compose stack start gunicorn from /app, where it reads gunicorn.conf.py."""
    from gunicorn.config import Config

    for name in ("WEB_CONCURRENCY", "WEB_THREADS"):
        monkeypatch.delenv(name, raising=False)
    cfg = Config()
    for key, value in _gunicorn_conf().items():
        if key in cfg.settings:
            cfg.set(key, value)
    assert cfg.worker_class_str == "gthread" and cfg.threads == 4 and cfg.timeout == 60
    assert cfg.workers >= 1
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("WEB_THREADS", "8")
    assert (_gunicorn_conf()["workers"], _gunicorn_conf()["threads"]) == (3, 8)
    # Nothing on the command lines overrides it.
    assert "--workers" not in _command(compose["services"]["web"])
    assert "--workers" not in (ROOT / "Dockerfile").read_text()


def _gunicorn_conf() -> dict:
    import runpy

    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))
