"""The embedded default boots: SQLite beside the code, Celery in-process, no other service.

A subprocess with no DATABASE_URL / CELERY_BROKER_URL / REDIS_URL migrates, loads demo
data and serves the app; a person logs in through the real form (with its CSRF token)
and lands on Today. This is what `make demo` does on a fresh machine.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "smoke-test-demo-password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def embedded_env(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        SQLITE_PATH=str(tmp_path / "regulars.sqlite3"),
        DEMO_PASSWORD=DEMO_PASSWORD,
        DJANGO_SETTINGS_MODULE="crm.settings",
        DEBUG="false",
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env, *args, timeout=60) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_make_demo_runs_every_step_on_the_embedded_default_and_serves_a_login(embedded_env, tmp_path):
    """scripts/demo.sh (what `make demo` runs) from start to the running server, on SQLite."""
    port = _free_port()
    server = subprocess.Popen(
        ["bash", "scripts/demo.sh"],
        cwd=ROOT,
        env={**embedded_env, "PORT": str(port), "DEMO_CUSTOMERS": "150"},
        stdout=(tmp_path / "demo.log").open("w"),  # a file, not a pipe: the script logs more than a pipe holds
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # every step of the script runs before the server starts
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, "the demo exited:\n" + (tmp_path / "demo.log").read_text()[-5000:]
            assert time.monotonic() < deadline, "the demo did not answer within 240 s"
            time.sleep(0.2)

        ready = requests.get(f"{base}/readyz", timeout=5).json()
        assert ready["database"] == {"ok": True, "vendor": "sqlite"}
        assert ready["broker"] == {"ok": True, "mode": "eager"}

        session = requests.Session()
        login = session.get(f"{base}/accounts/login/", timeout=5)
        assert login.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        response = session.post(
            f"{base}/accounts/login/",
            data={"csrfmiddlewaretoken": token, "username": "anna", "password": DEMO_PASSWORD},
            headers={"Referer": f"{base}/accounts/login/"},
            timeout=10,
        )
        assert response.status_code == 200
        assert response.url == f"{base}/", "a successful login lands on Today"
        assert re.search(r"<h1[^>]*>\s*Today\s*</h1>", response.text)
        assert "anna" in response.text

        customers = session.get(f"{base}/customers/", timeout=10)
        assert customers.status_code == 200 and "Chilonzor" in customers.text
        static = session.get(f"{base}/static/vendor/bootstrap-5.3.8/bootstrap.min.css", timeout=5)
        assert static.status_code == 200, "static files are served without DEBUG (whitenoise)"
        assert (tmp_path / "regulars.sqlite3").stat().st_size > 100_000
        manager = requests.Session()
        login = manager.get(f"{base}/accounts/login/", timeout=5)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        manager.post(
            f"{base}/accounts/login/",
            data={"csrfmiddlewaretoken": token, "username": "dilnoza", "password": DEMO_PASSWORD},
            headers={"Referer": f"{base}/accounts/login/"},
            timeout=10,
        )
        dashboard = manager.get(f"{base}/dashboard/", timeout=30)
        assert dashboard.status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
