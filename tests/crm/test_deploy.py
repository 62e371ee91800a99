"""Production readiness as tests: `check --deploy`, migrations in step with models, ruff clean."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _database_url() -> str:
    """The test run's PostgreSQL (the one `make test` passes in), as a production deployment would use."""
    url = os.environ.get("DATABASE_URL")
    assert url and url.startswith("postgres"), "run through `make test` (DATABASE_URL to PostgreSQL)"
    return url


def _run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _production_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DATABASE_URL=_database_url(),
        SECRET_KEY=secrets.token_urlsafe(64),
        HTTPS="true",
        ALLOWED_HOSTS="shop.example",
        DEBUG="false",
        EMAIL_URL="smtp+tls://regulars:secret@smtp.example:587",
        DJANGO_SETTINGS_MODULE="crm.settings",
    )
    return env


def test_check_deploy_passes_with_production_values():
    result = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


def test_check_deploy_fails_with_the_laptop_defaults():
    """The guard works: the built-in development key and plain HTTP are flagged."""
    env = _production_env()
    del env["SECRET_KEY"], env["HTTPS"]
    result = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode != 0
    assert "security.W009" in result.stderr  # SECRET_KEY
    assert "security.W008" in result.stderr  # SECURE_SSL_REDIRECT


def test_migrations_match_the_models():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    result = _run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"], env)
    assert result.returncode == 0, "models changed without a migration:\n" + result.stdout + result.stderr


def test_ruff_check_is_clean():
    result = _run([str(VENV_BIN / "ruff"), "check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = _run([str(VENV_BIN / "ruff"), "format", "--check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_suite_itself_runs_on_postgresql():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
