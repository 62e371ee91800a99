"""Dashboard benchmark: p50/p95 of the manager dashboard against /healthz in the same run.

    .venv/bin/python bench/dashboard.py --customers 50000 --tickets 20 --users 20 --duration 30

What it does (bounded and self-stopping; everything on loopback):
1. creates (or reuses with --reuse) the PostgreSQL database ``--db`` and migrates it;
2. loads ``--customers`` customers over ``--stores`` stores with on average ``--tickets`` sales
   each over two years (skewed: a few regulars, many one-timers) plus 10 % anonymous sales,
   with set-based SQL;
3. refreshes the dashboard tables (``manage.py refresh_dashboard --since all``) and times it;
4. counts the queries of one dashboard page (Django test client, same database);
5. starts gunicorn (``--workers``) and runs ``--users`` closed-loop clients for ``--duration``
   seconds against /healthz, then the same against the dashboard for a store manager and for
   the chain owner; prints p50/p95 and the ratio to /healthz; stops gunicorn.

Run it twice with different ``--tickets`` to see whether p95 stays flat as history grows
(the issue's target: p95 at 20M tickets ≤ 1.2 × p95 at 2M).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
PASSWORD = "bench-password-1"


def db_url(db: str) -> str:
    return f"postgres://regulars:regulars@127.0.0.1:5432/{db}"


def env_for(db: str) -> dict:
    env = dict(os.environ)
    env.update(
        {"DATABASE_URL": db_url(db), "CELERY_BROKER_URL": "", "REDIS_URL": "", "DJANGO_SETTINGS_MODULE": "crm.settings"}
    )
    return env


def manage(db: str, *args: str, capture: bool = False) -> str:
    out = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env_for(db), check=True, capture_output=capture, text=True
    )
    return out.stdout if capture else ""


def ensure_db(db: str, fresh: bool) -> None:
    conn = psycopg2.connect(db_url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db])
        exists = cur.fetchone() is not None
        if exists and fresh:
            cur.execute(f'DROP DATABASE "{db}"')
            exists = False
        if not exists:
            cur.execute(f'CREATE DATABASE "{db}"')
    conn.close()
    manage(db, "migrate", "-v", "0")


def load(db: str, *, customers: int, tickets: int, stores: int) -> dict:
    """Stores, customers and tickets with set-based SQL; returns row counts and seconds."""
    t0 = time.perf_counter()
    conn = psycopg2.connect(db_url(db))
    with conn, conn.cursor() as cur:
        for i in range(stores):
            cur.execute(
                "INSERT INTO customers_store (code, name, address, time_zone, currency, country, locale, margin,"
                " calendar, created_at)"
                " VALUES (%s, %s, '', 'Asia/Tashkent', 'UZS', 'UZ', 'uz', 0.300, 'gregorian', now())",
                [f"B{i:02d}", f"Bench store {i}"],
            )
        cur.execute("SELECT array_agg(id ORDER BY id) FROM customers_store")
        (store_ids,) = cur.fetchone()
        cur.execute(
            """
            INSERT INTO customers_customer (first_name, last_name, email, phone, city, postal_address,
                preferred_language, preferred_channel, home_store_id, card_number, details_missing, created_at,
                consent_email, consent_post, consent_sms, do_not_contact)
            SELECT 'First' || g, 'Last' || g, 'c' || g || '@bench.test', '+99890' || lpad(g::text, 7, '0'),
                   'Toshkent', 'Street ' || g, 'uz', 'post', (%(stores)s::bigint[])[1 + g %% %(n)s],
                   '2' || lpad(g::text, 12, '0'), false, now(), g %% 3 = 0, true, false, g %% 50 = 0
            FROM generate_series(1, %(customers)s) g
            """,
            {"stores": store_ids, "n": len(store_ids), "customers": customers},
        )
        # Skewed visit counts (mean ≈ ``tickets``), each customer's visits spread evenly over the two
        # years from a random phase; 10 % of sales happen in another store of the chain.
        cur.execute(
            """
            INSERT INTO customers_purchaseticket (store_id, number, purchased_at, total, items, customer_id,
                is_return, created_at)
            SELECT CASE WHEN i %% 10 = 0 THEN (%(stores)s::bigint[])[1 + (c.id + i) %% %(n)s] ELSE c.home_store_id END,
                   'C' || c.id || '-' || i,
                   now() - make_interval(secs => ((c.id * 7919) %% 2592000 + i * (63072000 / k.n)) %% 63072000),
                   round((5 + ((c.id * 31 + i * 17) %% 9500) / 100.0)::numeric, 2), 1, c.id, false, now()
            FROM customers_customer c
            CROSS JOIN LATERAL (SELECT 1 + (c.id * 2654435761 %% (2 * %(tickets)s - 1))::int AS n) k
            CROSS JOIN LATERAL generate_series(1, k.n) i
            """,
            {"stores": store_ids, "n": len(store_ids), "tickets": tickets},
        )
        cur.execute(
            """
            INSERT INTO customers_purchaseticket (store_id, number, purchased_at, total, items, is_return, created_at)
            SELECT (%(stores)s::bigint[])[1 + g %% %(n)s], 'A' || g,
                   now() - make_interval(secs => ((g::bigint * 7919) %% (730 * 86400))), 12.50, 1, false, now()
            FROM generate_series(1, %(anon)s) g
            """,
            {"stores": store_ids, "n": len(store_ids), "anon": customers * tickets // 10},
        )
        cur.execute("SELECT count(*) FROM customers_purchaseticket")
        (n_tickets,) = cur.fetchone()
    with conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
    conn.close()
    return {"customers": customers, "tickets": n_tickets, "seconds": time.perf_counter() - t0}


def users(db: str) -> None:
    """A manager of the first store and a chain owner, password ``PASSWORD``."""
    code = f"""
from django.contrib.auth import get_user_model
from customers.models import Membership, Role, Store
User = get_user_model()
first = Store.objects.order_by("id").first()
for name, role, store in (("bench.manager", Role.MANAGER, first), ("bench.owner", Role.OWNER, None)):
    u, _ = User.objects.get_or_create(username=name)
    u.set_password("{PASSWORD}"); u.save()
    Membership.objects.get_or_create(user=u, store=store, defaults={{"role": role}})
for s in Store.objects.all():  # five note writers per store
    for i in range(5):
        name = f"bench.staff{{i}}.{{s.code}}"
        u, _ = User.objects.get_or_create(username=name, defaults={{"first_name": f"Staff{{i}}"}})
        Membership.objects.get_or_create(user=u, store=s, defaults={{"role": Role.STAFF}})
"""
    manage(db, "shell", "-c", code)


def has_rows(db: str, table: str) -> bool:
    """Whether ``table`` holds a row already: the idempotent loading steps skip themselves then."""
    conn = psycopg2.connect(db_url(db))
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # nosec B608 - our own table names
            return cur.fetchone()[0]
    finally:
        conn.close()


def accounts(db: str) -> None:
    """Points accounts for four customers in five (balances 0–899), as a loyalty programme has them.

    Idempotent: skipped when accounts exist. The page's points liability sums them (a dashboard
    without accounts would not pay for that read: ~45 ms a store, ~160 ms a chain at this size).
    """
    if has_rows(db, "loyalty_account"):
        return
    conn = psycopg2.connect(db_url(db))
    with conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.execute(
            """
            INSERT INTO loyalty_account (customer_id, store_id, balance, created_at)
            SELECT c.id, c.home_store_id, (c.id * 37) % 900, now() FROM customers_customer c WHERE c.id % 5 <> 0
            """
        )
        print(f"points accounts: {cur.rowcount} in {time.perf_counter() - t0:.1f} s", flush=True)
    with conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE loyalty_account")
    conn.close()


def outreach(db: str) -> None:
    """Campaigns, notes and holdouts (set-based), then the campaign results refresh, timed.

    Idempotent: skipped when the database already has campaigns. Per store a win-back campaign
    (notes to 1 customer in 23, holdout 1 in 247) and a chain thank-you (1 in 61); notes are
    posted over the last 80 days, a few still to write or written, assigned to five staff of
    each store round-robin; 40 % of the contacted customers have a sale after their note.
    """
    if has_rows(db, "outreach_campaign"):
        return
    conn = psycopg2.connect(db_url(db))
    with conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.execute(
            """
            INSERT INTO outreach_campaign (name, kind, store_id, is_active, channel_policy, incentive_kind,
                incentive_valid_days, cost_per_note, interest_tag, top_n, filter_segment, filter_min_visits,
                created_at, updated_at)
            SELECT 'Win-back ' || code, 'win_back', id, true, 'handwritten_first', 'none', 60, 1.50, '', 50, '', 0,
                   now(), now() FROM customers_store
            UNION ALL
            SELECT 'Thank-you (chain)', 'thank_you', NULL, true, 'handwritten_first', 'none', 60, 1.20, '', 50, '', 0,
                   now(), now()
            """
        )
        cur.execute(
            """
            WITH staff AS (
                SELECT m.store_id, array_agg(m.user_id ORDER BY m.user_id) AS ids FROM customers_membership m
                WHERE m.role = 'staff' GROUP BY m.store_id
            ),
            picked AS (
                SELECT c.id AS customer_id, c.home_store_id AS store_id, k.id AS campaign_id, k.kind
                FROM customers_customer c JOIN outreach_campaign k
                  ON (k.store_id = c.home_store_id AND c.id %% 23 = 0) OR (k.store_id IS NULL AND c.id %% 61 = 7)
            )
            INSERT INTO outreach_note (customer_id, campaign_id, store_id, kind, period, channel, assigned_to_id,
                status, email_state, return_code, why, context, language, subject, wording, queued_at, written_at,
                posted_at, email_attempts, email_error)
            SELECT p.customer_id, p.campaign_id, p.store_id, p.kind, '2026-bench', 'post',
                   s.ids[1 + p.customer_id %% array_length(s.ids, 1)],
                   CASE WHEN p.customer_id %% 10 = 0 THEN 'queued' WHEN p.customer_id %% 10 = 5 THEN 'written'
                        ELSE 'posted' END,
                   '', 'B' || lpad(p.customer_id::text || p.campaign_id::text, 7, '0'), '-', '', 'uz', '', '-',
                   now() - (5 + p.customer_id %% 80) * interval '1 day',
                   CASE WHEN p.customer_id %% 10 <> 0 THEN now() - (2 + p.customer_id %% 80) * interval '1 day' END,
                   CASE WHEN p.customer_id %% 5 <> 0 THEN now() - (1 + p.customer_id %% 80) * interval '1 day' END,
                   0, ''
            FROM picked p LEFT JOIN staff s ON s.store_id = p.store_id
            """,
            {},
        )
        cur.execute(
            """
            INSERT INTO outreach_holdoutmember (customer_id, campaign_id, store_id, kind, period, held_at)
            SELECT c.id, k.id, c.home_store_id, k.kind, '2026-bench', now() - interval '40 days'
            FROM customers_customer c JOIN outreach_campaign k ON k.store_id = c.home_store_id
            WHERE c.id %% 247 = 1
            """,
            {},
        )
        cur.execute(
            """
            INSERT INTO customers_purchaseticket (store_id, number, purchased_at, total, items, customer_id,
                is_return, created_at)
            SELECT n.store_id, 'N' || n.id, n.posted_at + (1 + n.customer_id %% 50) * interval '1 day', 42.00, 1,
                   n.customer_id, false, now()
            FROM outreach_note n WHERE n.posted_at IS NOT NULL AND n.customer_id %% 5 IN (1, 3)
              AND n.posted_at + (1 + n.customer_id %% 50) * interval '1 day' < now()
            """,
            {},
        )
        cur.execute("SELECT count(*) FROM outreach_note")
        notes = cur.fetchone()[0]
    conn.autocommit = True
    with conn.cursor() as cur:  # statistics and the visibility map (index-only scans) for the new rows
        for table in ("outreach_note", "outreach_holdoutmember", "customers_purchaseticket"):
            cur.execute(f"VACUUM ANALYZE {table}")
    conn.close()
    print(f"outreach data: {notes} notes in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    manage(
        db,
        "shell",
        "-c",
        "import time; from django.utils import timezone; from outreach.results import campaign_results_refresh;"
        " t = time.perf_counter(); n = campaign_results_refresh(now=timezone.now());"
        " print(f'campaign_results_refresh: {n} rows in {time.perf_counter() - t:.2f} s in-process')",
    )
    print(f"  (with Django start-up: {time.perf_counter() - t0:.1f} s)", flush=True)


def query_count(db: str, username: str, params: str) -> int:
    """One page in-process: queries and time with an empty cache (cold), then warm (mean of 20)."""
    code = f"""
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
import time
from django.core.cache import cache
c = Client(); c.force_login(get_user_model().objects.get(username="{username}"))
c.get("/healthz")
cache.clear()
t = time.perf_counter()
with CaptureQueriesContext(connection) as cold:
    c.get("/dashboard/?{params}")
print("cold page ms", round((time.perf_counter() - t) * 1000), "queries", len(cold.captured_queries))
t, cpu = time.perf_counter(), time.process_time()
for _ in range(20):
    c.get("/dashboard/?{params}")
print("warm page ms", round((time.perf_counter() - t) * 50, 1), "cpu ms", round((time.process_time() - cpu) * 50, 1))
with CaptureQueriesContext(connection) as ctx:
    r = c.get("/dashboard/?{params}")
assert r.status_code == 200, r.status_code
print(len(ctx.captured_queries))
"""
    lines = manage(db, "shell", "-c", code, capture=True).strip().splitlines()
    for prefix in ("cold page ms", "warm page ms"):
        print("  " + next(line for line in lines if line.startswith(prefix)), f"({username})")
    return int(lines[-1])


def login_cookies(base: str, username: str) -> dict:
    s = requests.Session()
    s.get(f"{base}/accounts/login/", timeout=10)
    r = s.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": s.cookies["csrftoken"]},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
    )
    r.raise_for_status()
    return s.cookies.get_dict()


def hammer(url: str, cookies: dict, *, users_n: int, duration: float) -> dict:
    """``users_n`` closed-loop clients for ``duration`` seconds; latencies in ms."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def user():
        s = requests.Session()
        s.cookies.update(cookies)
        mine = []
        while time.monotonic() < stop:
            t = time.perf_counter()
            r = s.get(url, timeout=30)
            mine.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=user) for _ in range(users_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q = statistics.quantiles(latencies, n=100)
    return {"n": len(latencies), "p50": q[49], "p95": q[94], "errors": errors[0], "rps": len(latencies) / duration}


def hammer_wrk(url: str, cookies: dict, *, users_n: int, duration: float) -> dict:
    """The same closed loop with wrk (C, one thread): the client takes almost no CPU from the server."""
    import json
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk), or run with --client python")
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{users_n}",
            f"-d{int(duration)}s",
            "--timeout",
            "30s",
            "-s",
            str(ROOT / "bench/dashboard.lua"),
            url,
        ],
        env={**os.environ, "WRK_COOKIE": cookie},
        check=True,
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    r = json.loads(next(line for line in out.splitlines() if line.startswith("WRKJSON "))[len("WRKJSON ") :])
    return {
        "n": r["n"],
        "p50": r["p50"],
        "p95": r["p95"],
        "errors": r["socket_errors"] + r["non2xx"],
        "rps": r["n"] / r["duration_s"],
    }


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="regulars_bench_dashboard")
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--tickets", type=int, default=20, help="Mean sales per customer over two years.")
    ap.add_argument("--stores", type=int, default=5)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py's).")
    ap.add_argument("--worker-class", default="", help="gunicorn worker class (default: gunicorn.conf.py's).")
    ap.add_argument("--threads", type=int, default=0, help="Threads per gthread worker (default: gunicorn.conf.py's).")
    ap.add_argument("--client", choices=("wrk", "python"), default="wrk", help="Load generator.")
    ap.add_argument(
        "--shapes",
        default="",
        help="Several server shapes in one run, e.g. sync:2:1,gthread:2:4 (class:workers:threads).",
    )
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--reuse", action="store_true", help="Keep the database and its data from a previous run.")
    args = ap.parse_args()

    ensure_db(args.db, fresh=not args.reuse)
    if not args.reuse:
        print("load:", load(args.db, customers=args.customers, tickets=args.tickets, stores=args.stores), flush=True)
        t0 = time.perf_counter()
        manage(args.db, "refresh_dashboard", "--since", "all")
        print(f"refresh_dashboard --since all: {time.perf_counter() - t0:.1f} s", flush=True)
    users(args.db)
    accounts(args.db)
    outreach(args.db)
    params = "start=2026-08-01&end=2026-10-31"
    print("queries per dashboard page (manager, tiles cached):", query_count(args.db, "bench.manager", params))
    print("queries per dashboard page (owner, chain, tiles cached):", query_count(args.db, "bench.owner", params))

    base = f"http://127.0.0.1:{args.port}"
    shapes = (
        [shape.split(":") for shape in args.shapes.split(",")]
        if args.shapes
        else [(args.worker_class, str(args.workers or ""), str(args.threads or ""))]
    )
    for kind, workers, threads in shapes:
        results = serve_and_hammer(args, base, params, kind=kind, workers=int(workers or 0), threads=int(threads or 0))
        base_p95 = results["healthz"]["p95"]
        print(f"\n{'page':45} {'requests':>8} {'rps':>7} {'p50 ms':>8} {'p95 ms':>8} {'p95/healthz':>11} errors")
        for name, r in results.items():
            print(
                f"{name:45} {r['n']:8d} {r['rps']:7.1f} {r['p50']:8.1f} {r['p95']:8.1f} {r['p95'] / base_p95:11.1f} "
                f"{r['errors']}"
            )


def serve_and_hammer(args, base: str, params: str, *, kind: str, workers: int, threads: int) -> dict:
    """Start gunicorn in this shape (what is 0 or empty: gunicorn.conf.py's), hammer /healthz and the two
    dashboards, stop it."""
    shape = (["-w", str(workers)] if workers else []) + (["-k", kind] if kind else [])
    shape += ["--threads", str(threads)] if threads else []
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "crm.wsgi",
            "-b",
            f"127.0.0.1:{args.port}",
            *shape,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**env_for(args.db), "DEBUG": "false"},
    )
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        manager, owner = login_cookies(base, "bench.manager"), login_cookies(base, "bench.owner")
        for cookies in (manager, owner):  # a lost session would be a fast redirect to the login page
            r = requests.get(f"{base}/dashboard/?{params}", cookies=cookies, allow_redirects=False, timeout=60)
            assert r.status_code == 200 and b"<canvas" in r.content, r.status_code
        run = hammer_wrk if args.client == "wrk" else hammer
        print(
            f"\nserver: gunicorn {' '.join(shape) or '(gunicorn.conf.py)'};"
            f" client: {args.client}, {args.users} connections, {args.duration:.0f} s each",
            flush=True,
        )
        # Every worker's tile cache (per process without Redis) warms before the measured run.
        for cookies in (manager, owner):
            run(f"{base}/dashboard/?{params}", cookies, users_n=args.users, duration=5)
        print("before the hammer:", load_average(), flush=True)
        results = {
            "healthz": run(f"{base}/healthz", {}, users_n=args.users, duration=args.duration),
            "dashboard (manager, one store, 92 days)": run(
                f"{base}/dashboard/?{params}", manager, users_n=args.users, duration=args.duration
            ),
            "dashboard (owner, chain, 92 days)": run(
                f"{base}/dashboard/?{params}", owner, users_n=args.users, duration=args.duration
            ),
        }
        print("after the hammer:", load_average(), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


if __name__ == "__main__":
    sys.exit(main())
