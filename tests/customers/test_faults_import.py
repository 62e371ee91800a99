"""PostgreSQL restarted in the middle of a ticket import, at 5 random points: every file ends all in or all
out (tickets, the customers it creates, the batch's status), and running the same import again completes it
with no duplicate.

The test runs its own PostgreSQL 15 cluster (initdb into a temporary directory, a free port) and restarts
that one; the shared server is never touched. ``import_tickets`` runs in a subprocess (one long-lived
process, tests/fault_import_driver.py, so Django starts once) against a fresh copy (``CREATE DATABASE …
TEMPLATE``) of a database migrated once.
"""

import json
import os
import queue
import random
import subprocess
import sys
import threading
import time

import psycopg2
import pytest

from tests.processes import PG_BIN, ROOT, PrivatePostgres, PrivateRedis, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

ROWS = 2000
CUSTOMERS = 400
POINTS = 5
SEED = int(os.environ.get("FAULTS_SEED", "20261123"))


@pytest.fixture(scope="module")
def private_pg():
    if not (PG_BIN / "initdb").exists():
        pytest.skip("needs PostgreSQL 15's initdb")
    pg = PrivatePostgres()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def private_broker(tmp_path_factory):
    """Where the command's after-commit work (dashboard refreshes…) is queued; nobody consumes it here."""
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


BROKER = {}


def _env(pg: PrivatePostgres, db: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": pg.url(db),
        "CELERY_BROKER_URL": BROKER["url"],
        "REDIS_URL": BROKER["url"],
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "LOG_LEVEL": "WARNING",
    }


def _manage(pg: PrivatePostgres, db: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(pg, db),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def _query(pg: PrivatePostgres, db: str, sql: str):
    """One query on a new connection (a restart drops every connection); None while the server is down."""
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname=db, connect_timeout=2)
    except psycopg2.OperationalError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    except psycopg2.Error:
        return None
    finally:
        conn.close()


def _state(pg: PrivatePostgres, db: str) -> dict:
    tickets = _query(pg, db, "SELECT count(*), count(DISTINCT number) FROM customers_purchaseticket")[0]
    customers = _query(pg, db, "SELECT count(*) FROM customers_customer")[0][0]
    batches = _query(pg, db, "SELECT status, inserted, duplicates FROM customers_importbatch ORDER BY id")
    return {"tickets": tickets[0], "distinct": tickets[1], "customers": customers, "batches": batches}


@pytest.fixture(scope="module")
def template_db(private_pg, private_broker):
    """A migrated database with the file's store, used as the template of each run's database."""
    BROKER["url"] = private_broker.url
    private_pg.sql("CREATE DATABASE regulars_tmpl")
    for args in (
        ("migrate", "--noinput"),
        ("add_store", "CHZ", "--name", "Chilonzor", "--time-zone", "Asia/Tashkent", "--currency", "UZS",
         "--country", "UZ", "--locale", "uz"),
    ):  # fmt: skip
        proc = _manage(private_pg, "regulars_tmpl", *args)
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]
    return "regulars_tmpl"


@pytest.fixture(scope="module")
def tickets_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("import") / "tickets.csv"
    lines = ["store,ticket,purchased_at,total,items,customer_email"]
    for i in range(ROWS):
        day, minute = 1 + i % 28, i % 600
        lines.append(
            f"CHZ,F{i:06d},2026-10-{day:02d}T{8 + minute // 60:02d}:{minute % 60:02d}:00,{10 + i % 90}.50,"
            f"{1 + i % 5},buyer{i % CUSTOMERS}@example.test"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_db(pg: PrivatePostgres, template: str, name: str) -> str:
    pg.sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    return name


def _import_running(pg: PrivatePostgres, db: str) -> bool:
    rows = _query(pg, db, "SELECT 1 FROM customers_importbatch WHERE status = 'running'")
    return bool(rows)


class Importer:
    """``tests/fault_import_driver.py`` in a subprocess: ``manage.py import_tickets`` run on request."""

    def __init__(self, pg: PrivatePostgres, db: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fault_import_driver"],
            cwd=ROOT,
            env=_env(pg, db),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            if line.startswith("RESULT "):
                self.lines.put(line)

    def start(self, db: str, path) -> None:
        self.proc.stdin.write(f"{db} {path}\n")
        self.proc.stdin.flush()

    def result(self, timeout: float = 120) -> dict:
        try:
            return json.loads(self.lines.get(timeout=timeout)[len("RESULT ") :])
        except queue.Empty:
            raise AssertionError("".join(self.output)[-3000:]) from None

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_postgres_restarted_mid_import_leaves_every_file_all_in_or_all_out(private_pg, template_db, tickets_file):
    rnd = random.Random(SEED)
    importer = Importer(private_pg, "postgres")  # each run names its own database
    try:
        _restarts(private_pg, template_db, tickets_file, importer, rnd)
    finally:
        importer.stop()


def _restarts(private_pg, template_db, tickets_file, importer, rnd):
    # Uninterrupted imports first (the first one also warms the process up): when the transaction commits,
    # counted from the batch saying "running" (after the commit only the after-commit signals run).
    db = _run_db(private_pg, template_db, "run_warm")
    importer.start(db, tickets_file)
    assert importer.result() == {"code": 0, "message": ""}
    private_pg.sql(f"DROP DATABASE {db}")
    db = _run_db(private_pg, template_db, "run_clean")
    importer.start(db, tickets_file)
    wait_for(lambda: _import_running(private_pg, db), 120, "the import to start", 0.02)
    started = time.monotonic()
    wait_for(lambda: _query(private_pg, db, "SELECT 1 FROM customers_purchaseticket LIMIT 1"), 120, "commit", 0.02)
    window = time.monotonic() - started
    assert importer.result() == {"code": 0, "message": ""}
    clean = _state(private_pg, db)
    assert clean == {"tickets": ROWS, "distinct": ROWS, "customers": CUSTOMERS, "batches": [("done", ROWS, 0)]}
    private_pg.sql(f"DROP DATABASE {db}")

    results = []
    for point in range(POINTS):
        # Stratified random points over the import's transaction (the last one may fall just after it).
        delay = window * 1.1 * (point + rnd.random()) / POINTS
        mode = ("fast", "immediate")[point % 2]
        db = _run_db(private_pg, template_db, f"run_{point}")
        importer.start(db, tickets_file)
        wait_for(lambda: _import_running(private_pg, db), 120, "the import to start", 0.02)  # noqa: B023
        time.sleep(delay)
        down = private_pg.restart(mode)
        result = importer.result()
        after = wait_for(lambda: _query(private_pg, db, "SELECT 1") and _state(private_pg, db), 60, "the server")  # noqa: B023

        # All in (and the batch says done) or all out (and the batch says failed) — nothing in between.
        if after["tickets"]:
            # (The command may still report the lost connection if the restart came after the commit.)
            assert after == clean, result
            outcome = "all in"
        else:
            assert result["code"] == 3, result
            assert "nothing was imported" in result["message"]
            assert after == {"tickets": 0, "distinct": 0, "customers": 0, "batches": [("failed", 0, 0)]}
            outcome = "all out"

        # The same import again completes the file, with no duplicate.
        importer.start(db, tickets_file)
        assert importer.result() == {"code": 0, "message": ""}
        final = _state(private_pg, db)
        assert final["tickets"] == final["distinct"] == ROWS
        assert final["customers"] == CUSTOMERS
        assert final["batches"][-1] == (("done", 0, ROWS) if outcome == "all in" else ("done", ROWS, 0))
        results.append({"delay_s": round(delay, 2), "restart": mode, "down_s": round(down, 2), "outcome": outcome})
        private_pg.sql(f"DROP DATABASE {db}")

    print(f"\nimport transaction {window:.2f} s; restarts: {json.dumps(results)}")
    assert len(results) == POINTS
    assert {r["outcome"] for r in results} >= {"all out"}, "at least one restart hit the open transaction"
