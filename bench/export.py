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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="regulars_bench_dashboard")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    args = ap.parse_args()
    url = f"postgres://regulars:regulars@127.0.0.1:5432/{args.db}"
    env = {**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": "", "REDIS_URL": ""}
    print(f"{'rows':>8} {'format':6} {'seconds':>8} {'x COPY':>7} {'MB file':>8} {'peak RSS MB':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            copy_out = Path(tmp) / f"copy-{n}.csv"
            base = copy_time(url, n, copy_out)
            print(f"{n:8d} {'COPY':6} {base:8.2f} {1:7.1f} {copy_out.stat().st_size / 1e6:8.1f} {'-':>11}", flush=True)
            for fmt in ("csv", "xlsx"):
                out = Path(tmp) / f"export-{n}.{fmt}"
                cmd = [
                    PY,
                    "manage.py",
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
                        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)"
                    ),
                    *cmd,
                ]
                t0 = time.perf_counter()
                peak = subprocess.run(wrapper, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
                seconds = time.perf_counter() - t0
                print(
                    f"{n:8d} {fmt:6} {seconds:8.2f} {seconds / base:7.1f} {out.stat().st_size / 1e6:8.1f} "
                    f"{int(peak.stdout.strip()):11d}",
                    flush=True,
                )


if __name__ == "__main__":
    sys.exit(main())
