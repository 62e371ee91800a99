"""Benchmark: `import_tickets` against a raw `COPY` of the same CSV, in the same run.

    DATABASE_URL=postgres://regulars:regulars@127.0.0.1:5432/regulars_bench_pos \\
        .venv/bin/python bench/import_tickets.py --sizes 100000 1000000

For each size it builds a canonical ticket CSV (bench/out/, git-ignored), then
(a) times `COPY` of the file into an unindexed table (typed columns, no
    constraints) — the floor for getting these bytes into PostgreSQL;
(b) recreates the project database empty (migrations applied, three stores,
    three staff users) and times `python manage.py import_tickets FILE` in a
    subprocess, reading that subprocess's peak RSS with getrusage.
It prints b/a and peak memory. Targets (issue 3): b/a ≤ 4, peak < 150 MB and
the same for every size. The database named in DATABASE_URL is dropped and
recreated: never point it at a database you care about.
"""

import argparse
import csv
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PY = sys.executable
COLUMNS = [
    "store",
    "ticket",
    "purchased_at",
    "total",
    "items",
    "customer_card",
    "customer_email",
    "customer_phone",
    "staff",
    "return_of",
]
STORES = ["CHZ", "YUN", "SAM"]
STAFF = ["anna", "bekzod", "dilnoza"]


def build_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A realistic file: 60 % card holders (a pool of rows/10 cards), 12 % email only, 6 % phone only,
    the rest anonymous; 2 % returns linked to an earlier sale of the same store; local (naive) times."""
    rnd = random.Random(seed)
    cards = max(rows // 10, 1)
    sales_by_store: dict[str, list[str]] = {s: [] for s in STORES}
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(rows):
            store = STORES[i % 3]
            number = f"{store}-{i:08d}"
            day = 1 + (i * 7919) % 300
            month, dom = 1 + day // 28 % 10, 1 + day % 28
            at = f"2025-{month:02d}-{dom:02d}T{9 + i % 11:02d}:{i % 60:02d}:00"
            kind = rnd.random()
            card = email = phone = ""
            if kind < 0.60:
                card = f"2{rnd.randrange(cards):011d}"
            elif kind < 0.72:
                email = f"person{rnd.randrange(cards)}@example.test"
            elif kind < 0.78:
                n = rnd.randrange(cards)
                phone = f"+99890{n:07d}" if n % 2 else f"90 {n // 10000 % 1000:03d} {n // 100 % 100:02d} {n % 100:02d}"
            staff = STAFF[i % 3] if i % 4 else ""
            previous = sales_by_store[store]
            if previous and rnd.random() < 0.02:
                total, return_of = f"-{rnd.randrange(100, 5000) / 100:.2f}", rnd.choice(previous[-1000:])
            else:
                total, return_of = f"{rnd.randrange(100, 50000) / 100:.2f}", ""
                previous.append(number)
                if len(previous) > 2000:
                    del previous[:1000]
            w.writerow([store, number, at, total, 1 + i % 5, card, email, phone, staff, return_of])


def admin_dsn(url: str) -> tuple[str, str]:
    u = urlparse(url)
    return u.path.lstrip("/"), url.replace(u.path, "/postgres")


def recreate_database(url: str) -> None:
    name, admin = admin_dsn(url)
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def raw_copy_seconds(url: str, path: Path) -> float:
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_raw_tickets")
        cur.execute(
            """CREATE UNLOGGED TABLE bench_raw_tickets (store text, ticket text, purchased_at timestamp,
               total numeric(12,2), items integer, customer_card text, customer_email text, customer_phone text,
               staff text, return_of text)"""
        )
        conn.commit()
        cur.execute("TRUNCATE bench_raw_tickets")
        t0 = time.perf_counter()
        with path.open("r", encoding="utf-8") as f:
            cur.copy_expert("COPY bench_raw_tickets FROM STDIN WITH (FORMAT csv, HEADER true)", f, size=1 << 16)
        conn.commit()
        seconds = time.perf_counter() - t0
        cur.execute("DROP TABLE bench_raw_tickets")
        conn.commit()
    conn.close()
    return seconds


SETUP = """
import django; django.setup()
from django.contrib.auth import get_user_model
from customers.models import Store
for code in {stores!r}:
    Store.objects.create(code=code, name=code, time_zone="Asia/Tashkent", country="UZ", currency="UZS")
for name in {staff!r}:
    get_user_model().objects.create_user(username=name)
"""

MEASURE = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - t0
sys.stdout.write(done.stdout[-2000:] + done.stderr[-2000:])
print("BENCH", seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode)
"""


def project_import(url: str, path: Path, broker: str) -> tuple[float, float, str]:
    # Production shape: with a broker, receivers that hand work to Celery only enqueue it (the
    # queue is flushed afterwards, no worker runs); with broker="" Celery is eager and every
    # receiver's task (the dashboard refresh of the touched months) runs inside the import.
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "crm.settings", "CELERY_BROKER_URL": broker}
    env.pop("REDIS_URL", None)
    if broker:
        env["REDIS_URL"] = broker
    recreate_database(url)
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PY, "-c", SETUP.format(stores=STORES, staff=STAFF)], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [PY, "-c", MEASURE, PY, "manage.py", "import_tickets", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = [x for x in out.splitlines() if x.startswith("BENCH")][-1].split()
    seconds, maxrss_kb, code = float(line[1]), int(line[2]), int(line[3])
    summary = next((x for x in out.splitlines() if x.startswith("import #")), out[-500:])
    phases = next((x[x.index("phases=") :] for x in out.splitlines() if "phases=" in x), "")
    signals = next((x[x.index("tickets import signals") :] for x in out.splitlines() if "import signals" in x), "")
    summary = f"{summary}\n          {phases}\n          {signals}"
    if code != 0:
        raise SystemExit(f"import_tickets failed ({code}):\n{out}")
    if broker:
        import redis

        redis.Redis.from_url(broker).flushdb()
    return seconds, maxrss_kb / 1024, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--broker",
        default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/11"),
        help='Celery broker for the import (its Redis db is FLUSHED afterwards); "" = eager Celery',
    )
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database this benchmark may drop and recreate.")
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes:
        path = OUT / f"tickets_{size}.csv"
        if not path.exists():
            t0 = time.perf_counter()
            build_csv(path, size)
            print(f"built {path.name} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
        recreate_database(url)
        a = raw_copy_seconds(url, path)
        b, peak_mb, summary = project_import(url, path, args.broker)
        results.append((size, a, b, peak_mb))
        print(
            f"{size:>9,} rows: (a) raw COPY {a:6.2f} s   (b) import_tickets {b:6.2f} s   b/a {b / a:5.2f}   "
            f"peak RSS of (b) {peak_mb:6.1f} MB"
        )
        print(f"          {summary}")
    print("\n| rows | raw COPY (a) | import_tickets (b) | b/a | peak RSS (b) |")
    print("|---:|---:|---:|---:|---:|")
    for size, a, b, peak in results:
        print(f"| {size:,} | {a:.2f} s | {b:.2f} s | {b / a:.2f} | {peak:.0f} MB |")


if __name__ == "__main__":
    main()
