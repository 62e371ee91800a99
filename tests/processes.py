"""Real processes for the fault tests: Celery workers, a private Redis and a private PostgreSQL cluster.

The shared PostgreSQL (5432) and Redis (6379) are never restarted: a test that must kill or restart a
server starts its own on a free port and tears it down. Workers are subprocesses in their own process
group, so ``kill_all`` is a real SIGKILL of the worker and every child it forked.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def queued_tasks(client, name: str, queue: str = "celery") -> int:
    """How many messages for the task ``name`` wait in a Redis broker's queue (other tasks ignored)."""
    return sum(json.loads(raw)["headers"]["task"] == name for raw in client.lrange(queue, 0, -1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, every: float = 0.1):
    """Poll ``predicate`` until it returns something truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def suite_database_url() -> str:
    """The URL of the test database pytest-django created (workers must write where the test reads)."""
    db = settings.DATABASES["default"]
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{port}/{db['NAME']}"


class Worker:
    """``celery worker`` in a subprocess (tests/fault_worker.py), optionally pausing at one point so the
    test can SIGKILL it there: ``pause="outreach.segments_refresh_chunk:postrun:2"`` stops the second
    execution of that task after its body returned and before the message is acknowledged (several
    points: comma-separated, numbered from 0 in ``paused_pid``)."""

    def __init__(
        self,
        tmp: Path,
        *,
        broker: str,
        pool: str = "solo",
        concurrency: int = 1,
        pause: str = "",
        env: dict | None = None,
    ):
        self.tmp = tmp
        self.marker = tmp / f"paused-{time.monotonic_ns()}"
        self.log = tmp / "worker.log"
        full_env = {
            **os.environ,
            "DATABASE_URL": suite_database_url(),
            "CELERY_BROKER_URL": broker,
            "REDIS_URL": broker,
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "FAULT_PAUSE": pause,
            "FAULT_MARKER": str(self.marker),
            "FAULT_COUNTER_DIR": str(tmp),
            **(env or {}),
        }
        args = [sys.executable, "-m", "tests.fault_worker", "worker", f"--pool={pool}", f"--concurrency={concurrency}",
                "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel=WARNING"]  # fmt: skip
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=full_env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def paused_pid(self, point: int = 0, timeout: float = 90) -> int:
        """Wait until pause point ``point`` is reached; the pid of the process holding the task there."""
        marker = Path(f"{self.marker}.{point}")
        wait_for(
            lambda: marker.exists() and marker.read_text().strip(), timeout, f"pause point {point}\n{self.log_tail()}"
        )
        return int(marker.read_text())

    def kill_all(self) -> None:
        """SIGKILL the worker and every process it forked (a crashed machine or an OOM-killed container)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


class PrivateRedis:
    """A redis-server of the test's own on a free port, with no persistence: a restart loses the queue."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--maxmemory-policy", "noeviction", "--dir", str(self.dir)],
            stdout=(self.dir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_for(lambda: _answers(client), 10, "the private Redis")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: nothing is written anywhere (and --save "" would not write either)
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


def _answers(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


class PrivatePostgres:
    """A PostgreSQL 15 cluster of the test's own: initdb into a temporary directory as the ``postgres``
    user (the suite may run as root, which initdb refuses), trust auth on 127.0.0.1 and a free port."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="regulars-pg-"))
        self.data = self.dir / "data"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run([PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                # fsync off: the tests crash processes, not the machine (the OS keeps what was written);
                # synchronous_commit stays on, so a commit the client saw survives an immediate restart.
                "fsync = off\nfull_page_writes = off\nshared_buffers = 32MB\nmax_connections = 30\n"
            )
        self.start()

    def _run(self, args, check=True, **kw) -> subprocess.CompletedProcess:
        args = [str(a) for a in args]
        if self._as_root:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, check=check, capture_output=True, text=True, **kw)

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self._run([PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "server.log", "-w", "-t", "60", "start"])

    def restart(self, mode: str = "fast") -> float:
        """Restart the server (``fast``: roll back open transactions; ``immediate``: crash and recover).
        Returns the seconds the server was unavailable."""
        started = time.monotonic()
        self._run([PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "restart",
                   "-l", self.dir / "server.log"])  # fmt: skip
        return time.monotonic() - started

    def sql(self, statement: str, db: str = "postgres") -> str:
        out = subprocess.run(
            ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port), "-U",
             "postgres", "-d", db, "-c", statement],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout.strip()

    def stop(self) -> None:
        self._run([PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def celery_broker(url: str):
    """Point this process's Celery producer (``.delay`` in product code) at ``url``, then back.

    crm/celery.py reads the broker from settings once; the app caches a connection pool and a producer
    pool built from it, so both are dropped and rebuilt lazily for the new URL.
    """
    from kombu import pools

    from crm.celery import app

    def reset() -> None:
        # kombu keeps its pools in a process-wide registry keyed by connection: empty it (closing its
        # pools), or the next producer for the old URL would get a closed pool back.
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    keys = ("broker_url", "broker_read_url", "broker_write_url")  # the last two default to the first
    old = {key: app.conf[key] for key in keys}
    app.conf.update(dict.fromkeys(keys, url))
    reset()
    try:
        yield app
    finally:
        app.conf.update(old)
        reset()
