"""Load test: 50 locust users on loopback against gunicorn for 5 minutes; 0 server errors.

    .venv/bin/python bench/load.py            # 20,000 demo customers, 5 minutes
    .venv/bin/python bench/load.py --quick    # 30 seconds (reuses the database if it is there)

What it does (bounded and self-stopping; everything on loopback, nothing left running):
1. creates its own PostgreSQL database ``--db`` (default ``regulars_bench_load``; never a test
   database) and migrates it, then ``load_demo_data --customers N`` (3 stores, two years of
   tickets), ``load_demo_loyalty`` and ``refresh_dashboard`` for the last 60 days; ``--reuse`` keeps a
   database loaded by an earlier run;
2. issues a POS token for CHZ, sets the kiosk PIN of one member of staff and picks search
   terms (surnames, misspelt surnames, card and phone endings) and cards from the data;
3. starts gunicorn in gunicorn.conf.py's shape (or ``--workers`` / ``--worker-class`` / ``--threads``;
   embedded Celery: a ticket's loyalty points are earned inside the request, the slow case) and
   runs ``locust --headless`` with the users of bench/locustfile.py — 18 staff searching, 10
   kiosks signing customers up, 12 tills posting tickets, 5 managers on the dashboard, 5 probes on
   /healthz — for ``--run-time``;
4. stops locust and gunicorn, prints p50/p95 per endpoint, the errors (server errors apart),
   and each p95 divided by the /healthz p95 of the same run; exits 1 on any server error.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PASSWORD = "bench-load-password"
PIN = "2468"
TEST_DB_PREFIX = "test_"


def db_url(db: str) -> str:
    return f"postgres://regulars:regulars@127.0.0.1:5432/{db}"


def env_for(db: str) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url(db),
            "CELERY_BROKER_URL": "",
            "REDIS_URL": "",
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DEMO_PASSWORD": PASSWORD,
            "DEBUG": "false",
        }
    )
    return env


def manage(db: str, *args: str, capture: bool = False) -> str:
    out = subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env_for(db),
        check=True,
        capture_output=capture,
        text=True,
        timeout=1800,
    )
    return out.stdout if capture else ""


def ensure_db(db: str, *, reuse: bool) -> bool:
    """Create (or with ``reuse`` keep) the database; True if it already holds demo data."""
    if db.startswith(TEST_DB_PREFIX) or db in {"regulars", "postgres"}:
        raise SystemExit(f"refusing to use {db!r}: the load test creates and drops its own database")
    conn = psycopg2.connect(db_url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db])
        exists = cur.fetchone() is not None
        if exists and not reuse:
            cur.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
            exists = False
        if not exists:
            cur.execute(f'CREATE DATABASE "{db}"')
    conn.close()
    manage(db, "migrate", "-v", "0")
    if not exists:
        return False
    return (
        manage(
            db, "shell", "-c", "from customers.models import Customer; print(Customer.objects.count())", capture=True
        ).strip()
        != "0"
    )


def prepare(db: str, *, customers: int, reuse: bool) -> None:
    if ensure_db(db, reuse=reuse):
        print("reusing the loaded database", db, flush=True)
        return
    for step in (
        ["load_demo_data", "--customers", str(customers), "--stores", "3"],
        ["load_demo_loyalty"],
        # The dashboard's default period (30 days) and the one before it; the whole two years takes
        # PostgreSQL minutes on a loaded 2-core machine and the load test reads only the recent days.
        ["refresh_dashboard", "--since", (dt.date.today() - dt.timedelta(days=60)).isoformat()],
    ):
        t0 = time.perf_counter()
        manage(db, *step, capture=True)
        print(f"{' '.join(step)}: {time.perf_counter() - t0:.1f} s", flush=True)


def scenario_data(db: str, path: Path) -> dict:
    """A fresh POS token, the kiosk PIN, search terms and cards, written to ``path`` for the locust users."""
    code = f"""
import json
from customers.models import ApiToken, Customer, Membership, Role, Store
from customers.services import kiosk_pin_set
store = Store.objects.get(code="CHZ")
_, token = ApiToken.issue(store=store, name="bench-load")
staff = list(Membership.objects.filter(store=store, role=Role.STAFF).order_by("user__username")
             .values_list("user__username", flat=True))
kiosk = Membership.objects.get(store=store, user__username=staff[0])
kiosk_pin_set(membership=kiosk, pin="{PIN}")
manager = Membership.objects.filter(store=store, role=Role.MANAGER).values_list("user__username", flat=True).first()
sample = list(Customer.objects.filter(home_store=store).exclude(card_number="").order_by("?")[:400]
              .values_list("last_name", "card_number", "phone"))
queries = []
for last, card, phone in sample[:200]:
    queries.append(last)
    if len(last) > 4:
        queries.append(last[:2] + last[3:])  # a letter left out
    queries.append(card[-4:])
    if phone:
        queries.append(phone[-7:])
print(json.dumps({{"token": token, "staff": staff, "kiosk_staff": staff[0], "kiosk_store": store.pk,
                  "kiosk_pin": "{PIN}", "manager": manager, "queries": queries,
                  "cards": [c for _, c, _ in sample]}}))
"""
    data = json.loads(manage(db, "shell", "-c", code, capture=True).strip().splitlines()[-1])
    data["password"] = PASSWORD
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(csv_path: Path) -> dict[str, dict]:
    rows = {}
    with csv_path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows[row["Name"]] = {
                "n": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50": float(row["50%"] or 0),
                "p95": float(row["95%"] or 0),
                "rps": float(row["Requests/s"] or 0),
            }
    return rows


def server_errors(csv_path: Path) -> dict[str, int]:
    errors: dict[str, int] = {}
    if csv_path.exists():
        with csv_path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if "server error" in row["Error"] or "Connection" in row["Error"]:
                    errors[row["Name"]] = errors.get(row["Name"], 0) + int(row["Occurrences"])
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="regulars_bench_load")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--users", type=int, default=50, help="Locust users (the mix's fixed counts add up to 50).")
    ap.add_argument("--run-time", default="5m", help="Locust --run-time (default 5m).")
    ap.add_argument("--quick", action="store_true", help="30 s, and reuse the database if it is loaded.")
    ap.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py's).")
    ap.add_argument("--worker-class", default="", help="gunicorn worker class (default: gunicorn.conf.py's).")
    ap.add_argument("--threads", type=int, default=0, help="Threads per gthread worker (default: gunicorn.conf.py's).")
    ap.add_argument("--reuse", action="store_true", help="Keep the database and its data from a previous run.")
    ap.add_argument("--drop", action="store_true", help="Drop the database at the end.")
    args = ap.parse_args()
    run_time = "30s" if args.quick else args.run_time

    prepare(args.db, customers=args.customers, reuse=args.reuse or args.quick)
    work = Path(tempfile.mkdtemp(prefix="regulars-load-"))
    data = scenario_data(args.db, work / "data.json")
    print(f"{len(data['queries'])} search terms, {len(data['cards'])} cards; output in {work}", flush=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = (work / "gunicorn.log").open("w")
    shape = (["-w", str(args.workers)] if args.workers else []) + (
        ["-k", args.worker_class] if args.worker_class else []
    )
    shape += ["--threads", str(args.threads)] if args.threads else []
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "crm.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            *shape,
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=env_for(args.db),
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    locust = None
    try:
        for _ in range(150):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit(f"gunicorn did not answer; see {work / 'gunicorn.log'}")
        print("before the run: load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
        started = time.perf_counter()
        locust = subprocess.Popen(
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                "10",
                "--run-time",
                run_time,
                "--stop-timeout",
                "10",
                "--host",
                base,
                "--csv",
                str(work / "load"),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env={**os.environ, "BENCH_LOAD_DATA": str(work / "data.json")},
        )
        seconds = {"s": 1, "m": 60, "h": 3600}[run_time[-1]] * float(run_time[:-1])
        locust.wait(timeout=seconds + 180)
        elapsed = time.perf_counter() - started
        print("after the run: load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    finally:
        if locust is not None and locust.poll() is None:
            locust.terminate()
            locust.wait(timeout=30)
        server.terminate()
        server.wait(timeout=60)
        server_log.close()

    stats = percentiles(work / "load_stats.csv")
    fivexx = server_errors(work / "load_failures.csv")
    logged_500 = sum(1 for line in (work / "gunicorn.log").open(encoding="utf-8") if '"status_code": 5' in line)
    base_p95 = stats["healthz"]["p95"] or 1
    print(
        f"\n{args.users} users, {elapsed:.0f} s, gunicorn {' '.join(shape) or '(gunicorn.conf.py)'},"
        f" {args.customers:,} demo customers"
    )
    print(
        f"{'endpoint':20} {'requests':>8} {'rps':>6} {'p50 ms':>8} {'p95 ms':>8} {'p95/healthz':>11} "
        f"{'errors':>6} {'5xx':>4}"
    )
    order = ["healthz", "search", "kiosk signup GET", "kiosk signup POST", "api tickets POST", "dashboard"]
    for name in order + sorted(set(stats) - set(order) - {"Aggregated"}) + ["Aggregated"]:
        if name not in stats:
            continue
        r = stats[name]
        print(
            f"{name:20} {r['n']:8d} {r['rps']:6.1f} {r['p50']:8.0f} {r['p95']:8.0f} {r['p95'] / base_p95:11.1f} "
            f"{r['failures']:6d} {fivexx.get(name, 0):4d}"
        )
    total_5xx = sum(fivexx.values())
    print(f"server errors: {total_5xx} seen by locust, {logged_500} logged by the server")
    if args.drop:
        conn = psycopg2.connect(db_url("postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE "{args.db}" WITH (FORCE)')
        conn.close()
    return 1 if total_5xx or logged_500 else 0


if __name__ == "__main__":
    sys.exit(main())
