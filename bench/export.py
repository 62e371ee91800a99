"""Export benchmark: streamed CSV and write-only XLSX against a raw ``COPY … TO`` of the same rows.

    .venv/bin/python bench/export.py --db regulars_bench_dashboard --sizes 10000 50000

Uses the database that bench/dashboard.py loaded and refreshed (run that first). For each size
N (the ``all`` list, top N, chain-wide, as of today) it times, each in a fresh process:

- ``COPY (SELECT …) TO STDOUT`` of the same customers and columns (the floor);
- ``manage.py export_customers --format csv`` (the streamed CSV path the web uses);
- ``manage.py export_customers --format xlsx`` (the code the Celery task runs);

and reports seconds, the ratio to COPY, the file size and the peak RSS of the exporting
process (``ru_maxrss`` of the child), which should not grow with N (constant memory).
Targets from the issue: CSV ≤ 3 × COPY and < 100 MB at 1M rows; XLSX ≤ 20 × COPY.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")

COPY_SQL = """
COPY (
    SELECT c.card_number, c.first_name || ' ' || c.last_name, c.email, c.phone, c.postal_address, s.code,
           a.visits, a.tickets, a.last_visit, round(a.spend / nullif(a.tickets, 0), 2), a.spend
    FROM (
        SELECT customer_id, sum(visits) AS visits, sum(tickets) AS tickets, sum(revenue) AS spend,
               max(last_day) AS last_visit
        FROM outreach_customermonth WHERE month >= %(first)s AND month <= %(last)s AND visits > 0
        GROUP BY customer_id ORDER BY 2 DESC, 3 DESC, 4 DESC, customer_id LIMIT %(n)s
    ) a JOIN customers_customer c ON c.id = a.customer_id JOIN customers_store s ON s.id = c.home_store_id
) TO STDOUT WITH CSV HEADER
"""


def ensure_db(db: str, fresh: bool) -> None:
    """Create (or drop and recreate with ``fresh``) the bench database and migrate it."""
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


def manage(db: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_url(db), "CELERY_BROKER_URL": "", "REDIS_URL": ""}
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def db_url(db: str) -> str:
    return f"postgres://regulars:regulars@127.0.0.1:5432/{db}"


def load(db: str, *, customers: int, stores: int = 5) -> dict:
    """Stores, staff, customers, tickets, points accounts and interests with set-based SQL.

    Every customer buys 1–7 times (mean 4) in the last 330 days, so all of them are in the
    export's 12-month window; each sale is rung by one of the store's five staff, skewed so
    that most customers have a favourite (the "served most by" column has something to find).
    One customer in five has one or two interests; four in five have a points account with a tier.
    """
    t0 = time.perf_counter()
    conn = psycopg2.connect(db_url(db))
    with conn, conn.cursor() as cur:
        for i in range(stores):
            cur.execute(
                "INSERT INTO customers_store (code, name, address, time_zone, currency, country, locale, calendar,"
                " margin, created_at)"
                " VALUES (%s, %s, '', 'Asia/Tashkent', 'UZS', 'UZ', 'uz', 'gregorian', 0.300, now())",
                [f"E{i:02d}", f"Export bench store {i}"],
            )
        cur.execute("SELECT array_agg(id ORDER BY id) FROM customers_store")
        (store_ids,) = cur.fetchone()
        cur.execute(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                   is_active, date_joined)
            SELECT '!', false, 'staff' || k || '.' || s, 'Staff' || k, 'Of store ' || s, '', false, true, now()
            FROM unnest(%(stores)s::bigint[]) s CROSS JOIN generate_series(0, 4) k
            """,
            {"stores": store_ids},
        )
        cur.execute(
            """
            INSERT INTO customers_membership (user_id, store_id, role, is_active, on_leave, kiosk_pin, created_at)
            SELECT u.id, split_part(u.username, '.', 2)::bigint, 'staff', true, false, '', now()
            FROM auth_user u WHERE u.username LIKE 'staff%%'
            """,
            {},
        )
        cur.execute(
            """
            INSERT INTO customers_customer (first_name, last_name, email, phone, city, postal_address,
                preferred_language, preferred_channel, home_store_id, card_number, details_missing, created_at,
                consent_email, consent_post, consent_sms, do_not_contact)
            SELECT CASE WHEN g %% 1000 = 0 THEN '=HYPERLINK(1)' ELSE 'First' || g END, 'Last' || g,
                   'c' || g || '@bench.test', '+99890' || lpad(g::text, 7, '0'),
                   'Toshkent', 'Street ' || g, 'uz', 'post', (%(stores)s::bigint[])[1 + g %% %(n)s],
                   '2' || lpad(g::text, 12, '0'), false, now(), g %% 3 = 0, g %% 2 = 0, g %% 5 = 0, g %% 50 = 0
            FROM generate_series(1, %(customers)s) g
            """,
            {"stores": store_ids, "n": len(store_ids), "customers": customers},
        )
        print(f"  customers inserted {time.perf_counter() - t0:.1f} s", flush=True)
        cur.execute(
            """
            WITH staff AS (
                SELECT store_id, array_agg(user_id ORDER BY user_id) AS ids FROM customers_membership
                WHERE role = 'staff' GROUP BY store_id
            )
            INSERT INTO customers_purchaseticket (store_id, number, purchased_at, total, items, customer_id,
                served_by_id, is_return, return_code, created_at)
            SELECT t.store_id, 'C' || t.id || '-' || t.i,
                   now() - make_interval(
                       secs => 3600 + ((t.id * 7919) %% 2592000 + t.i * (28512000 / t.n)) %% 28512000),
                   round((5 + ((t.id * 31 + t.i * 17) %% 9500) / 100.0)::numeric, 2), 1, t.id,
                   staff.ids[1 + CASE WHEN t.i %% 3 = 0 THEN (t.id + t.i) %% 5 ELSE t.id %% 5 END],
                   false, '', now()
            FROM (
                SELECT c.id, i, k.n, CASE WHEN i %% 10 = 0 THEN (%(stores)s::bigint[])[1 + (c.id + i) %% %(n)s]
                                          ELSE c.home_store_id END AS store_id
                FROM customers_customer c
                CROSS JOIN LATERAL (SELECT 1 + (c.id * 2654435761 %% 7)::int AS n) k
                CROSS JOIN LATERAL generate_series(1, k.n) i
            ) t JOIN staff ON staff.store_id = t.store_id
            """,
            {"stores": store_ids, "n": len(store_ids)},
        )
        print(f"  tickets inserted {time.perf_counter() - t0:.1f} s", flush=True)
        for rank, (name, threshold) in enumerate([("Regular", 0), ("Silver", 200), ("Gold", 500)], start=1):
            cur.execute(
                "INSERT INTO loyalty_tier (name, rank, basis, threshold, earn_multiplier, perks)"
                " VALUES (%s, %s, 'spend', %s, 1.00, '')",
                [name, rank, threshold],
            )
        cur.execute(
            """
            INSERT INTO loyalty_account (customer_id, store_id, balance, tier_id, created_at)
            SELECT c.id, c.home_store_id, (c.id * 37) %% 900,
                   (SELECT id FROM loyalty_tier ORDER BY rank OFFSET c.id %% 3 LIMIT 1), now()
            FROM customers_customer c WHERE c.id %% 5 <> 0
            """,
            {},
        )
        print(f"  accounts inserted {time.perf_counter() - t0:.1f} s", flush=True)
        cur.execute(
            "INSERT INTO customers_tag (name) SELECT unnest(ARRAY['jazz', 'kosher', 'size M', 'size L', 'halal',"
            " 'organic', 'coffee', '+vip', 'gluten-free', 'kids'])"
        )
        cur.execute(
            """
            INSERT INTO customers_customer_tags (customer_id, tag_id)
            SELECT c.id, t.id FROM customers_customer c
            JOIN LATERAL (SELECT id FROM customers_tag ORDER BY id
                          OFFSET c.id %% 10 LIMIT CASE WHEN c.id %% 2 = 0 THEN 2 ELSE 1 END) t ON true
            WHERE c.id %% 5 = 1 OR c.id %% 10 = 2
            """,
            {},
        )
        cur.execute("SELECT count(*) FROM customers_purchaseticket")
        (n_tickets,) = cur.fetchone()
    print(f"  committed {time.perf_counter() - t0:.1f} s", flush=True)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()
    return {"customers": customers, "tickets": n_tickets, "seconds": time.perf_counter() - t0}


def copy_time(db_url: str, n: int, out: Path) -> float:
    import datetime as dt

    today = dt.date.today()
    last = today.replace(day=1)
    first = (
        last.replace(year=last.year - 1) if last.month == 12 else last.replace(year=last.year - 1, month=last.month + 1)
    )
    conn = psycopg2.connect(db_url)
    t0 = time.perf_counter()
    with conn.cursor() as cur, out.open("w") as f:
        cur.copy_expert(cur.mogrify(COPY_SQL, {"first": first, "last": last, "n": n}).decode(), f)
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def writers_child(n: int) -> None:
    """CPU seconds of the two XLSX writers on the same N rows (the export's own query, read once)."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    django.setup()
    import openpyxl
    import xlsxwriter

    from customers.models import Store
    from outreach import exports
    from outreach.analytics_exports import export_tuples_sql

    request = exports.ExportRequest(
        segment="all", top=n, store_ids=tuple(Store.objects.values_list("pk", flat=True)), as_of=dt.date.today()
    )
    t0 = time.process_time()
    rows = [row for batch in export_tuples_sql(request, limit=n) for row in batch]
    print(f"query + fetch {len(rows)} rows: {time.process_time() - t0:.1f} s CPU", flush=True)
    text = exports._text_columns()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("Customers")
        for row in rows:  # text cells already neutralised: openpyxl sees no leading "="
            ws.append(row)
        wb.save(Path(tmp) / "o.xlsx")
        print(f"openpyxl write-only: {time.process_time() - t0:.1f} s CPU", flush=True)
        t0 = time.process_time()
        book = xlsxwriter.Workbook(str(Path(tmp) / "x.xlsx"), exports.XLSX_OPTIONS)
        sheet = book.add_worksheet("Customers")
        for r, row in enumerate(rows, start=1):
            exports.xlsx_write_row(sheet, r, row, text)
        book.close()
        print(f"XlsxWriter constant_memory: {time.process_time() - t0:.1f} s CPU", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="regulars_bench_export")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    ap.add_argument("--load", type=int, metavar="N", help="Drop and recreate --db, load N customers, refresh.")
    ap.add_argument("--refresh", action="store_true", help="Only re-run the dashboard refresh on --db.")
    ap.add_argument("--formats", nargs="+", default=["csv", "xlsx"], choices=["csv", "xlsx"])
    ap.add_argument(
        "--code", default=str(ROOT), help="Checkout whose manage.py exports (e.g. /work/main for the before figures)."
    )
    ap.add_argument(
        "--writers", type=int, metavar="N", help="Only compare openpyxl write-only and XlsxWriter on N rows (CPU s)."
    )
    ap.add_argument("--writers-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    url = db_url(args.db)
    if args.writers_child:
        return writers_child(args.writers_child)
    if args.writers:
        env = {**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": "", "REDIS_URL": ""}
        print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
        subprocess.run([PY, __file__, "--db", args.db, "--writers-child", str(args.writers)], env=env, check=True)
        return
    if args.load:
        ensure_db(args.db, fresh=True)
        print("loaded", load(args.db, customers=args.load), flush=True)
    if args.load or args.refresh:
        # The app's own set-based refresh fills CustomerMonth (and the per-month staff counts).
        t0 = time.perf_counter()
        manage(args.db, "refresh_dashboard", "--since", "all")
        print(f"refresh_dashboard {time.perf_counter() - t0:.1f} s", flush=True)
        conn = psycopg2.connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:  # autovacuum would get there; the bench should not wait for it
            cur.execute("VACUUM ANALYZE outreach_customermonth")
            cur.execute("VACUUM ANALYZE outreach_customermonthstaff")
        conn.close()
        return
    env = {**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": "", "REDIS_URL": ""}
    print(f"code {args.code}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    print(f"{'rows':>8} {'format':6} {'seconds':>8} {'x COPY':>7} {'MB file':>8} {'VmHWM MB':>9} {'CPU s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            copy_out = Path(tmp) / f"copy-{n}.csv"
            base = copy_time(url, n, copy_out)
            print(f"{n:8d} {'COPY':6} {base:8.2f} {1:7.1f} {copy_out.stat().st_size / 1e6:8.1f} {'-':>11}", flush=True)
            for fmt in args.formats:
                out = Path(tmp) / f"export-{n}.{fmt}"
                cmd = [
                    PY,
                    str(Path(args.code) / "manage.py"),
                    "export_customers",
                    "--segment",
                    "all",
                    "--top",
                    str(n),
                    "--format",
                    fmt,
                    "-o",
                    str(out),
                ]
                # Each child is a fresh process: ru_maxrss of RUSAGE_CHILDREN is the max over children so far,
                # so measure each in its own wrapper to read its own peak.
                wrapper = [
                    PY,
                    "-c",
                    (
                        "import resource, subprocess, sys; "
                        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
                        "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
                        "print(r.ru_maxrss // 1024, r.ru_utime + r.ru_stime)"
                    ),
                    *cmd,
                ]
                t0 = time.perf_counter()
                child = subprocess.run(wrapper, cwd=args.code, env=env, check=True, capture_output=True, text=True)
                seconds = time.perf_counter() - t0
                peak, cpu = child.stdout.split()
                print(
                    f"{n:8d} {fmt:6} {seconds:8.2f} {seconds / base:7.1f} {out.stat().st_size / 1e6:8.1f} "
                    f"{int(peak):9d} {float(cpu):7.1f}   load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    sys.exit(main())
