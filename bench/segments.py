"""Benchmark segmentation against a plain GROUP BY and a pandas recompute, in one run, on one database.

    DATABASE_URL=postgres://regulars:regulars@127.0.0.1:5432/regulars_bench_segments \
        .venv/bin/python bench/segments.py --customers 50000

It creates (or reuses, with --reuse) a database with N customers and their tickets over two years —
``load_demo_data`` (the foundation's demo chain, about 20 tickets per customer) by default, or this script's
own COPY generator with ``--generator copy`` — then times:

1. baseline: ``SELECT customer_id, count(*), max(purchased_at) FROM tickets GROUP BY customer_id`` (all rows fetched);
2. a full ``refresh_segments`` (in process; queries counted);
3. pandas: ``read_csv`` of a CSV export and the same figures (visits, last visit, median gap, window, lapsed,
   best, RFM) — what an analyst would do instead;
4. one day of new tickets appended, then the incremental run for the next day;
5. the BG/NBD fit on distinct (x, t_x, T) combinations: the bench's own and a synthetic 1M-customer set;
6. peak memory of a separate ``refresh_segments --full`` process (what a worker would need);
7. with ``--celery N``: a warm full run through the real Celery path (``outreach.segments_refresh`` →
   chunk tasks → finish) on a worker with N processes and a Redis broker (``--broker``), enqueue to done.

``--code DIR`` runs another checkout's code (a detached worktree of main) under this script.

Ratios are against the GROUP BY baseline measured in the same run. Nothing here runs in the test suite.
"""

import argparse
import datetime as dt
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if "--code" in sys.argv:  # the code under test (before anything of it is imported)
    ROOT = Path(sys.argv[sys.argv.index("--code") + 1]).resolve()
    os.chdir(ROOT)  # Celery's app loading puts the working directory first on sys.path
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://regulars:regulars@127.0.0.1:5432/regulars_bench_segments")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
os.environ.pop("CELERY_BROKER_URL", None)  # the bench runs every phase in process

DEMO_TODAY = dt.date(2026, 11, 1)  # the last day with tickets
AS_OF = DEMO_TODAY + dt.timedelta(days=1)  # the full run counts every day up to DEMO_TODAY
STORES = [("BCHZ", "Asia/Tashkent", 5), ("BMNL", "Asia/Manila", 8), ("BTAS", "Asia/Tashkent", 5)]


def ensure_database(url: str) -> None:
    import psycopg2

    name = url.rsplit("/", 1)[1]
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def timed(label: str, fn, results: dict):
    start = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - start
    print(f"  {label:<34} {results[label]:8.2f} s", flush=True)
    return value


def generate(customers: int, seed: int = 1) -> int:
    """COPY customers and ~20 tickets each (30 % one-timers, occasional, regulars, heavy regulars)."""
    import numpy as np
    from django.db import connection

    from customers.models import Customer, Store, ean13_check_digit

    rng = np.random.default_rng(seed)
    stores = [
        Store.objects.get_or_create(code=code, defaults={"name": code, "time_zone": tz})[0] for code, tz, _ in STORES
    ]
    offsets = {s.pk: off for s, (_, _, off) in zip(stores, STORES, strict=True)}
    home = rng.choice([s.pk for s in stores], customers, p=[0.5, 0.3, 0.2])
    given = ["first_name", "last_name", "city", "preferred_language", "home_store_id", "card_number"]
    # Every other NOT NULL column without a database default gets the model default (consents etc.).
    others = [
        f
        for f in Customer._meta.concrete_fields
        if not (f.primary_key or f.null or f.generated or f.attname in given or f.has_db_default())
    ]
    tail = "\t".join(_copy_value(f.get_default()) for f in others)
    buf = io.StringIO()
    for i, store_id in enumerate(home.tolist()):
        body = f"29{seed:02d}{i:08d}"
        buf.write(f"Bench\tCustomer {i}\tToshkent\tuz\t{store_id}\t{body}{ean13_check_digit(body)}\t{tail}\n")
    buf.seek(0)
    with connection.cursor() as cur:
        columns = ", ".join(given + [f.column for f in others])
        cur.copy_expert(f"COPY customers_customer ({columns}) FROM STDIN", buf)
        cur.execute("SELECT id FROM customers_customer ORDER BY id DESC LIMIT %s", [customers])
        ids = np.array(sorted(r[0] for r in cur.fetchall()))
    # Visit patterns: mean gap in days and number of visits per customer.
    kind = rng.random(customers)
    gap = np.where(kind < 0.3, 1.0, np.where(kind < 0.55, 90.0, np.where(kind < 0.9, 18.0, 4.0)))
    count = np.where(kind < 0.3, 1, np.where(kind < 0.55, rng.integers(2, 6, customers), 1 + rng.poisson(730 / gap)))
    count = np.minimum(count, 250)
    start = rng.integers(0, 730, customers)  # days before AS_OF of the first visit
    per = np.repeat(np.arange(customers), count)
    steps = rng.exponential(np.repeat(gap, count)).astype(int) + 1
    group_first = np.cumsum(count) - count
    steps[group_first] = 0  # the first visit is on `start` days ago
    cum = np.cumsum(steps)
    ago = np.repeat(start, count) - (cum - np.repeat(cum[group_first], count))
    keep = ago >= 1
    per, ago = per[keep], ago[keep]
    extra = rng.random(per.size) < 0.08  # some days have two tickets
    per = np.concatenate([per, per[extra]])
    ago = np.concatenate([ago, ago[extra]])
    n = per.size
    store_of = np.where(rng.random(n) < 0.9, home[per], rng.choice([s.pk for s in stores], n))
    hour = rng.integers(8, 22, n)
    minute = rng.integers(0, 60, n)
    total = rng.integers(200, 30000, n) / 100
    is_return = rng.random(n) < 0.02
    total = np.where(is_return, -total, total)
    as_of_ord = AS_OF.toordinal()  # `ago` ≥ 1: the newest tickets are on DEMO_TODAY
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM customers_purchaseticket")
        base = cur.fetchone()[0]
    with tempfile.TemporaryFile("w+") as f:
        for i in range(n):
            d = dt.date.fromordinal(int(as_of_ord - ago[i]))
            utc_hour = int(hour[i]) - offsets[int(store_of[i])]
            when = dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC) + dt.timedelta(
                hours=utc_hour, minutes=int(minute[i])
            )
            f.write(
                f"{int(store_of[i])}\tB{base + i}\t{when.isoformat()}\t{total[i]:.2f}\t1\t{int(ids[per[i]])}\t"
                f"{'t' if is_return[i] else 'f'}\n"
            )
        f.seek(0)
        with connection.cursor() as cur:
            cur.copy_expert(
                "COPY customers_purchaseticket (store_id, number, purchased_at, total, items, customer_id, is_return) "
                "FROM STDIN",
                f,
            )
            cur.execute("ANALYZE customers_purchaseticket; ANALYZE customers_customer")
    return n


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def append_day(day: dt.date, share: float = 0.03, seed: int = 2) -> list[int]:
    """One day of tickets for ``share`` of the customers (a busy day for a chain); returns their ids."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO customers_purchaseticket (store_id, number, purchased_at, total, items, customer_id, is_return)
            SELECT c.home_store_id, 'N' || %s || '-' || c.id, %s, 25.00, 1, c.id, false
            FROM customers_customer c WHERE random() < %s
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            [f"{day.isoformat()}-{time.time_ns()}", dt.datetime.combine(day, dt.time(8), tzinfo=dt.UTC), share],
        )
        return [r[0] for r in cur.fetchall()]


def receive_day(ticket_ids: list[int]) -> int:
    """What ``tickets_created`` does with the day's tickets during the day, in batches of 500 as a till
    API or an import would send them: the segmentation receiver (visit-days + pending queue)."""
    from outreach.receivers import queue_segment_customers

    for i in range(0, len(ticket_ids), 500):
        queue_segment_customers(sender=None, ticket_ids=ticket_ids[i : i + 500])
    return len(ticket_ids)


def pandas_recompute(csv_path: str, as_of: dt.date) -> dict:
    """What an analyst would do: read the export and compute the same per-customer figures and segments."""
    import numpy as np
    import pandas as pd

    df = pd.read_csv(csv_path, names=["customer_id", "day", "total", "is_return"], parse_dates=["day"])
    df = df[df["day"] < pd.Timestamp(as_of)]
    ws = pd.Timestamp(as_of - dt.timedelta(days=365))
    sales = df[df["is_return"] != "t"]
    days = sales.groupby(["customer_id", "day"]).size().rename("tickets").reset_index()
    days["gap"] = days.groupby("customer_id")["day"].diff().dt.days
    per = days.groupby("customer_id").agg(
        visits=("day", "size"),
        tickets=("tickets", "sum"),
        first=("day", "min"),
        last=("day", "max"),
        gap=("gap", "median"),
    )
    per["window_visits"] = days[days["day"] >= ws].groupby("customer_id").size()
    per["window_revenue"] = df[df["day"] >= ws].groupby("customer_id")["total"].sum()
    per = per.fillna({"window_visits": 0, "window_revenue": 0})
    since = (pd.Timestamp(as_of) - per["last"]).dt.days
    threshold = np.maximum(3 * per["gap"].fillna(0), 30)
    per["lapsed"] = (per["visits"] >= 3) & (since > threshold) & (since <= 730)
    ranked = per.sort_values(["window_visits", "last"], ascending=[False, False], kind="stable")
    per["best"] = per.index.isin(ranked.index[:50])
    per["r"] = 1 + (5 * (per["last"].rank(method="min") - 1) // len(per))
    per["f"] = 1 + (5 * (per["window_visits"].rank(method="min") - 1) // len(per))
    per["m"] = 1 + (5 * (per["window_revenue"].rank(method="min") - 1) // len(per))
    return {"customers": len(per), "lapsed": int(per["lapsed"].sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--reuse", action="store_true", help="Keep the existing data (skip the generator).")
    parser.add_argument("--generator", choices=["demo", "copy"], default="demo")
    parser.add_argument(
        "--keep-visit-days", action="store_true", help="With --reuse: keep the visit-day table (skip the bulk fill)."
    )
    parser.add_argument("--code", help="Run this checkout's code (default: the one holding this script).")
    parser.add_argument("--celery", type=int, default=0, help="Also a warm full run on a worker of N processes.")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14", help="Broker of --celery (purged).")
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    import numpy as np
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from outreach import analytics, bgnbd
    from outreach.models import CustomerSegmentState, SegmentRun, VisitDayFeed
    from outreach.services import segments_refresh

    call_command("migrate", verbosity=0)
    results: dict[str, float] = {}
    code = Path(analytics.__file__).parent.parent
    print(f"database {connection.settings_dict['NAME']}, {os.cpu_count()} cores, code {code}")
    if not args.reuse:
        with connection.cursor() as cur:
            cur.execute("TRUNCATE customers_purchaseticket, customers_customer RESTART IDENTITY CASCADE")
        if args.generator == "demo":
            timed(
                "load_demo_data",
                lambda: call_command(
                    "load_demo_data", "--customers", str(args.customers), "--as-of", DEMO_TODAY.isoformat(), verbosity=0
                ),
                results,
            )
        else:
            timed("generate (COPY)", lambda: generate(args.customers), results)
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    with connection.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT customer_id) FROM customers_purchaseticket")
        tickets, customers = cur.fetchone()
    print(f"  {tickets:,} tickets, {customers:,} customers with tickets")
    CustomerSegmentState.objects.all().delete()
    SegmentRun.objects.all().delete()
    with connection.cursor() as cur:  # start every bench run from compact tables (earlier runs' dead rows)
        cur.execute("VACUUM FULL ANALYZE outreach_customersegmentstate")
        cur.execute("VACUUM FULL ANALYZE outreach_segmentchange")

    def baseline():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT customer_id, count(*), max(purchased_at) FROM customers_purchaseticket GROUP BY customer_id"
            )
            return len(cur.fetchall())

    with connection.cursor() as cur:
        cur.execute(
            "EXPLAIN SELECT customer_id, count(*), max(purchased_at) FROM customers_purchaseticket GROUP BY customer_id"
        )
        plan = [r[0] for r in cur.fetchall()]
    workers = next((line.split(":")[1].strip() for line in plan if "Workers Planned" in line), "0")
    print(f"  baseline plan: {plan[0].split('(')[0].strip()}, parallel workers planned: {workers}")
    timed("baseline GROUP BY (warm-up)", baseline, {})
    timed("baseline GROUP BY", baseline, results)
    # The visit-day table is filled once (the first run after the migration does it), then kept current by
    # tickets_created; timed on its own, not as part of the nightly run.
    if not (args.reuse and args.keep_visit_days):
        VisitDayFeed.objects.all().delete()
    timed("visit-day table bulk fill (once)", lambda: analytics.visit_days_sync(), results)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE outreach_visitday")
        cur.execute("SELECT to_regclass('outreach_chainvisitday') IS NOT NULL")
        if cur.fetchone()[0]:  # the chain's visit-days (branch segnight), filled with the store rows
            cur.execute("VACUUM ANALYZE outreach_chainvisitday")
        cur.execute("SELECT count(*) FROM outreach_visitday")
        print(f"  {cur.fetchone()[0]:,} visit-day rows")
    now = dt.datetime.now(dt.UTC)
    connection.force_debug_cursor = True
    with CaptureQueriesContext(connection) as queries:
        run = timed(
            "full refresh_segments", lambda: segments_refresh(store=None, as_of=AS_OF, now=now, full=True), results
        )
    connection.force_debug_cursor = False
    print(f"  queries in the full run: {len(queries.captured_queries)}; chunks {run.chunks}; counts {run.counts}")

    with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as f:
        csv_path = f.name

    def export():
        with connection.cursor() as cur, open(csv_path, "w") as out:
            cur.copy_expert(
                "COPY (SELECT t.customer_id, (t.purchased_at AT TIME ZONE s.time_zone)::date, t.total, t.is_return "
                "FROM customers_purchaseticket t JOIN customers_store s ON s.id = t.store_id "
                "WHERE t.customer_id IS NOT NULL) TO STDOUT WITH CSV",
                out,
            )

    timed("CSV export (not in pandas time)", export, results)
    pd_result = timed("pandas read_csv + recompute", lambda: pandas_recompute(csv_path, AS_OF), results)
    os.unlink(csv_path)
    print(f"  pandas: {pd_result}; ours: lapsed {run.counts['lapsed']}")

    appended_ids = timed("append one day of tickets", lambda: append_day(AS_OF), results)  # the day after DEMO_TODAY
    appended = len(appended_ids)
    timed("tickets_created receiver (the day's)", lambda: receive_day(appended_ids), results)
    inc = timed(
        "incremental refresh (next day)",
        lambda: segments_refresh(store=None, as_of=AS_OF + dt.timedelta(days=1), now=dt.datetime.now(dt.UTC)),
        results,
    )
    print(
        f"  appended {appended} tickets; incremental recomputed {inc.customers_recomputed} customers, "
        f"{inc.changes} changes"
    )

    combos = analytics.model_inputs(scope_key="chain")
    print(f"  BG/NBD: {len(combos):,} distinct (x, t_x, T) combinations for {customers:,} customers")
    every = timed("BG/NBD fit (bench, every customer)", lambda: segments_fit(combos), results)
    sampled = timed(
        "BG/NBD fit (bench, run's sample)",
        lambda: segments_fit(analytics.model_inputs_sampled(scope_key="chain")),
        results,
    )
    print(f"  every customer: {_params(every)}")
    print(f"  sample of {sampled.customers:,}: {_params(sampled)}; {_deviation(sampled, every)}")
    rng = np.random.default_rng(0)
    n = 1_000_000
    T = rng.integers(1, 731, n)
    x = np.minimum(rng.poisson(rng.gamma(0.6, 1 / 0.05, n) * T / 365), 300)
    t_x = np.where(x > 0, (rng.random(n) * T).astype(int), 0)
    uniq, weights = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_counts=True)
    print(f"  synthetic 1M customers: {len(uniq):,} distinct combinations")
    every = timed(
        "BG/NBD fit (1M synthetic, weighted)", lambda: bgnbd.fit(uniq[:, 0], uniq[:, 1], uniq[:, 2], weights), results
    )

    def sample_fit():
        pick = np.random.default_rng(1).choice(n, analytics.FIT_SAMPLE, replace=False)
        u, w = np.unique(np.stack([x[pick], t_x[pick], T[pick]], axis=1), axis=0, return_counts=True)
        return bgnbd.fit(u[:, 0], u[:, 1], u[:, 2], w)

    sampled = timed("BG/NBD fit (1M synthetic, 50k sample)", sample_fit, results)
    print(f"  every customer: {_params(every)}")
    print(f"  sample of {sampled.customers:,}: {_params(sampled)}; {_deviation(sampled, every)}")

    # The worker-like process reports its own peak RSS from /proc (VmHWM belongs to the exec'd image;
    # getrusage's ru_maxrss would still count the pages of this big process that the fork copied).
    probe = (
        "import os, re, sys, django; sys.path.insert(0, sys.argv[1]); django.setup(); "
        "from django.core.management import call_command; "
        "call_command('refresh_segments', '--full', '--as-of', sys.argv[2], stdout=open(os.devnull, 'w')); "
        "print('PEAK_RSS_KB', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
    )
    done = timed(
        "full run in a separate process",
        lambda: subprocess.run(
            [sys.executable, "-c", probe, str(ROOT), str(AS_OF + dt.timedelta(days=2))],
            env={**os.environ, "LOG_LEVEL": "WARNING"},
            check=True,
            capture_output=True,
            text=True,
        ),
        results,
    )
    peak_mb = int(done.stdout.split("PEAK_RSS_KB")[1].split()[0]) / 1024
    if args.celery:
        celery_s, celery_peak = celery_full_run(args.celery, args.broker, AS_OF + dt.timedelta(days=3), results)

    base = results["baseline GROUP BY"]
    full_s = results["full refresh_segments"]
    pandas_s = results["pandas read_csv + recompute"]
    inc_s = results["incremental refresh (next day)"]
    fit_s = results["BG/NBD fit (1M synthetic, weighted)"]
    fit_sample_s = results["BG/NBD fit (1M synthetic, 50k sample)"]
    print("\nResults")
    print(f"  tickets {tickets:,}; customers {customers:,}")
    print(f"  baseline GROUP BY            {base:7.2f} s   1.00 ×")
    print(f"  full refresh                 {full_s:7.2f} s   {full_s / base:5.2f} × baseline")
    print(f"  pandas read_csv + recompute  {pandas_s:7.2f} s   {pandas_s / base:5.2f} × baseline")
    print(
        f"  incremental (next day)       {inc_s:7.2f} s   {inc_s / base:5.2f} ×, {100 * inc_s / full_s:.1f} % of full"
    )
    print(f"  BG/NBD fit, 1M synthetic     {fit_s:7.2f} s (every customer), {fit_sample_s:.2f} s (50k sample)")
    print(f"  visit-day bulk fill (once)   {results['visit-day table bulk fill (once)']:7.2f} s")
    print(f"  receiver, the day's tickets  {results['tickets_created receiver (the day' + chr(39) + 's)']:7.2f} s")
    print(
        f"  full run, warm (own process) {results['full run in a separate process']:7.2f} s   "
        f"{results['full run in a separate process'] / base:5.2f} × baseline (state rows exist)"
    )
    print(f"  full-run process peak RSS    {peak_mb:7.0f} MB")
    if args.celery:
        print(
            f"  full run, warm, Celery ×{args.celery}  {celery_s:7.2f} s   {celery_s / base:5.2f} × baseline "
            f"(enqueue → done; largest worker process {celery_peak:.0f} MB)"
        )
    print(f"  queries in the full run      {len(queries.captured_queries)}")


def celery_full_run(processes: int, broker: str, as_of: dt.date, results: dict) -> tuple[float, float]:
    """A warm full run the production way: a worker with ``processes`` processes (the code under test),
    ``outreach.segments_refresh`` sent through the broker, timed until the run is done."""
    from celery import Celery

    from outreach.models import SegmentRun

    env = {**os.environ, "CELERY_BROKER_URL": broker, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    app = Celery("bench", broker=broker)
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "crm", "purge", "-f"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    log = open(tempfile.mktemp(prefix="segbench-worker-", suffix=".log"), "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", f"--concurrency={processes}", "--pool=prefork",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"segbench{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not app.control.ping(timeout=1.0):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"the worker did not start (log: {log.name})")
        last = SegmentRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
        start = time.perf_counter()
        app.send_task("outreach.segments_refresh", args=[None, as_of.isoformat(), True])
        while True:
            run = SegmentRun.objects.filter(id__gt=last).order_by("id").first()
            if run and run.status in (SegmentRun.Status.DONE, SegmentRun.Status.FAILED):
                break
            if time.perf_counter() - start > 1800:
                raise RuntimeError("the Celery run did not finish in 30 minutes")
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        if run.status != SegmentRun.Status.DONE:
            raise RuntimeError(f"the Celery run failed: {run.error}")
        results[f"full run, warm, Celery ×{processes}"] = elapsed
        print(f"  full run, warm, Celery ×{processes:<3}         {elapsed:8.2f} s ({run.chunks} chunks)", flush=True)
        peak = 0.0
        for child in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split():
            status = Path(f"/proc/{child}/status").read_text()
            peak = max(peak, int(status.split("VmHWM:")[1].split()[0]) / 1024)
        return elapsed, peak
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()


def _params(p) -> str:
    return f"r={p.r:.4f} alpha={p.alpha:.3f} a={p.a:.4f} b={p.b:.4f}"


def _deviation(p, ref) -> str:
    worst = max(abs(getattr(p, k) / getattr(ref, k) - 1) for k in ("r", "alpha", "a", "b"))
    return f"largest relative difference {100 * worst:.1f} %"


def segments_fit(combos):
    from outreach.services import _fit_combos

    return _fit_combos(combos, AS_OF)


if __name__ == "__main__":
    main()
