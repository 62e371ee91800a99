"""Dashboard aggregates: refresh StoreDay, CustomerMonth and CohortMonth from the tickets.

The dashboard never scans ``PurchaseTicket``: it reads these tables, which are
refreshed

- for a date range by ``dashboard_aggregates_refresh_task`` (one calendar month per
  chunk; nightly by beat for the last days, by hand with ``manage.py refresh_dashboard``);
- for the days and customers of new tickets by the ``tickets_created`` receiver.

Definitions (the README quotes them):

- A **visit** is a customer-day: a known customer with at least one sale (not a return)
  at a store on a local calendar day (the store's time zone decides the day).
- A customer is **active** at a store at the close of day D if they made a sale there in
  the ``ACTIVE_WINDOW_DAYS`` (90) days ending D.
- A customer is **new** at a store on the day of their first-ever sale there.
- CustomerMonthStaff, refreshed with CustomerMonth, counts per month the sales each staff
  member rang for the customer (the owner export's "served most by"); CustomerServedMost keeps,
  in the same transaction, who that is chain-wide over the current 12-month window (one row per
  customer, so the export of a million customers does not sort two million pairs).
- Customer figures count (customer, store) relationships, so the figures of several
  stores add up: a customer who buys in two stores is a customer of each.

Every refresh is idempotent (INSERT … ON CONFLICT DO UPDATE, plus a delete of rows
that no longer have tickets): running it twice, or for overlapping ranges, is safe.
PostgreSQL gets one set-based statement per table; other databases (the embedded
SQLite default) get an ORM/Python fallback that a test proves gives the same rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from django.db import connection, transaction
from django.db.models import DateTimeField, Func, Min

from customers.models import PurchaseTicket, Store

from .models import (
    ACTIVE_WINDOW_DAYS,
    VISITORS_30_DAYS,
    CohortMonth,
    CustomerMonth,
    CustomerMonthStaff,
    CustomerServedMost,
    ServedMostWindow,
    StoreDay,
)

log = logging.getLogger(__name__)

Engine = Literal["auto", "sql", "orm"]
ONE_DAY = dt.timedelta(days=1)
# Time zones run from UTC−12 to UTC+14: a local day lies within one UTC day either side.
TZ_MARGIN = dt.timedelta(days=1)


@dataclass(frozen=True)
class RefreshResult:
    """How many rows each table received (inserted or updated)."""

    store_days: int
    customer_months: int
    cohort_months: int


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def refresh_chunks(
    start: dt.date, end: dt.date, store_ids: Sequence[int] | None = None
) -> list[tuple[dt.date, dt.date]]:
    """The refresh task's units of work: calendar months, or the whole range at once when it starts
    before the stores' first ticket (``refresh_dashboard --since all``).

    A history refresh in one piece reads the tickets once (monthly pieces each re-read their
    90-day look-back, and each scanned the ticket table) and, reaching back to the first ticket,
    needs no per-customer look-up of earlier sales.
    """
    if (end - start).days < 62:
        return list(month_chunks(start, end))
    from django.db.models import OuterRef, Subquery

    stores = Store.objects.all() if store_ids is None else Store.objects.filter(pk__in=store_ids)
    # Each store's first ticket: one probe of its (store, purchased_at) index.
    first_ticket = (
        PurchaseTicket.objects.filter(store_id=OuterRef("pk")).order_by("purchased_at").values("purchased_at")
    )
    firsts = [f for f in stores.annotate(first=Subquery(first_ticket[:1])).values_list("first", flat=True) if f]
    if not firsts or min(firsts).date() - TZ_MARGIN >= start:
        return [(start, end)]
    return list(month_chunks(start, end))


def month_chunks(start: dt.date, end: dt.date) -> Iterator[tuple[dt.date, dt.date]]:
    """Split ``[start, end]`` into calendar-month pieces (the refresh task's unit of work)."""
    cursor = start
    while cursor <= end:
        last = min(next_month(cursor) - ONE_DAY, end)
        yield cursor, last
        cursor = last + ONE_DAY


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def dashboard_aggregates_refresh(
    *,
    start: dt.date,
    end: dt.date,
    store_ids: Sequence[int] | None = None,
    customer_ids: Sequence[int] | None = None,
    cohorts: bool = True,
    engine: Engine = "auto",
) -> RefreshResult:
    """Recompute the dashboard tables for the local days ``start``…``end`` (inclusive).

    StoreDay rows are recomputed for every store in scope and every day of the range
    (days without tickets get a row too: the active count moves every day).
    CustomerMonth rows are recomputed for the whole months the range touches, limited to
    ``customer_ids`` when given (the ticket receiver's cheap path). CohortMonth rows are
    recomputed for those months unless ``cohorts`` is False.
    """
    if end < start:
        raise ValueError("end before start")
    stores = list(store_ids) if store_ids is not None else None
    customers = list(customer_ids) if customer_ids is not None else None
    use_sql = engine == "sql" or (engine == "auto" and connection.vendor == "postgresql")
    with transaction.atomic():
        if use_sql:
            with connection.cursor() as cursor:
                # Sorts and hashes in memory (the default 4 MB spilled the visit sort to disk at 1M
                # customers), and no JIT compile for statements that run once per refresh.
                cursor.execute("SET LOCAL work_mem = '64MB'")
                cursor.execute("SET LOCAL jit = off")
            days = _store_days_sql(start, end, stores)
            months = _customer_months_sql(start, end, stores, customers)
            cohort_rows = _cohort_months_sql(start, end, stores) if cohorts else 0
        else:
            days = _store_days_orm(start, end, stores)
            months = _customer_months_orm(start, end, stores, customers)
            cohort_rows = _cohort_months_orm(start, end, stores) if cohorts else 0
        _served_most_after(start, end, customers, engine="sql" if use_sql else "orm")
    log.info(
        "dashboard aggregates refreshed start=%s end=%s stores=%s days=%s months=%s cohorts=%s",
        start,
        end,
        stores,
        days,
        months,
        cohort_rows,
    )
    return RefreshResult(store_days=days, customer_months=months, cohort_months=cohort_rows)


# --- Served most by (the owner export's standard window) ------------------------------------------

WINDOW_MONTHS = 12  # the owner export's window: 12 whole months up to the month of its "as of" day
SERVED_CHUNK = 250_000  # customer ids per statement of a full rebuild (bounds each statement's sort)


def window_first(last: dt.date) -> dt.date:
    """The first month of the ``WINDOW_MONTHS`` months ending with the month ``last`` (first days)."""
    first = month_start(last)
    for _i in range(WINDOW_MONTHS - 1):
        first = month_start(first - ONE_DAY)
    return first


def served_most_month() -> dt.date:
    """The window CustomerServedMost is kept for: the 12 months up to the current local month."""
    from django.utils import timezone

    return month_start(timezone.localdate())


def _served_most_after(start: dt.date, end: dt.date, customers: list[int] | None, *, engine: Engine) -> int:
    """Keep CustomerServedMost in step with the CustomerMonthStaff rows just refreshed (same transaction).

    The table holds another window (a new month began) or none: rebuilt for the current one. Else the
    refreshed customers (all when the refresh was not limited to some) are recomputed, if the
    refreshed months touch the window.
    """
    month = served_most_month()
    held = ServedMostWindow.objects.values_list("month", flat=True).first()
    if held == month:
        if month_start(end) < window_first(month) or month_start(start) > month:
            return 0
        return served_most_refresh(month=month, customer_ids=customers, engine=engine)
    return served_most_refresh(month=month, engine=engine)


def served_most_refresh(*, month: dt.date, customer_ids: Sequence[int] | None = None, engine: Engine = "auto") -> int:
    """Recompute CustomerServedMost for the 12 months ending ``month`` (its first day); rows written.

    Without ``customer_ids``: every customer, in ranges of ``SERVED_CHUNK`` ids, and the window is
    recorded (``ServedMostWindow``). With them: only those customers, and only if the table already
    holds that window (else there is nothing valid to keep up to date: returns 0). Idempotent: a row
    is written only when its staff member changes, and customers with no staffed sale in the window
    lose theirs. Run it inside the transaction that changed CustomerMonthStaff.
    """
    from django.utils import timezone

    month = month_start(month)
    first = window_first(month)
    use_sql = engine == "sql" or (engine == "auto" and connection.vendor == "postgresql")
    with transaction.atomic():
        if customer_ids is not None:
            if ServedMostWindow.objects.filter(month=month).exists():
                ids = sorted(set(customer_ids))
                return _served_most_sql(first, month, ids) if use_sql else _served_most_orm(first, month, ids)
            return 0
        ServedMostWindow.objects.all().delete()
        if use_sql:
            with connection.cursor() as cursor:
                cursor.execute("SELECT min(id), max(id) FROM customers_customer")
                lo, hi = cursor.fetchone()
            written = 0
            for a in range(lo or 0, (hi or 0) + 1, SERVED_CHUNK):
                written += _served_most_sql(first, month, None, (a, a + SERVED_CHUNK))
        else:
            written = _served_most_orm(first, month, None)
        ServedMostWindow.objects.create(month=month, refreshed_at=timezone.now())
    return written


_SERVED_MOST_SQL = """
WITH totals AS (
    SELECT customer_id, staff_id, sum(tickets) AS n, max(last_day) AS last_day
    FROM outreach_customermonthstaff
    WHERE month >= %(first)s AND month <= %(last)s AND {scope}
    GROUP BY customer_id, staff_id
),
best AS (
    SELECT DISTINCT ON (customer_id) customer_id, staff_id FROM totals
    ORDER BY customer_id, n DESC, last_day DESC, staff_id
),
gone AS (
    DELETE FROM outreach_customerservedmost sm
    WHERE {sm_scope} AND NOT EXISTS (SELECT 1 FROM best WHERE best.customer_id = sm.customer_id)
)
INSERT INTO outreach_customerservedmost (customer_id, staff_id)
SELECT customer_id, staff_id FROM best
ON CONFLICT (customer_id) DO UPDATE SET staff_id = EXCLUDED.staff_id
    WHERE outreach_customerservedmost.staff_id <> EXCLUDED.staff_id
"""


def _served_most_sql(
    first: dt.date, last: dt.date, customers: list[int] | None, ids: tuple[int, int] | None = None
) -> int:
    """One statement: the customers' (or the id range's) staff member, written where it changed."""
    if customers is not None:
        scope = "customer_id = ANY(%(customers)s::bigint[])"
    else:
        scope = "customer_id >= %(lo)s AND customer_id < %(hi)s"
    params = {"first": first, "last": last, "customers": customers, "lo": ids[0] if ids else None}
    params["hi"] = ids[1] if ids else None
    sql = _SERVED_MOST_SQL.format(scope=scope, sm_scope=scope.replace("customer_id", "sm.customer_id"))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _served_most_orm(first: dt.date, last: dt.date, customers: list[int] | None) -> int:
    """The same rows from one read of the window's CustomerMonthStaff (the embedded default)."""
    from django.db.models import Max, Sum

    rows = CustomerMonthStaff.objects.filter(month__gte=first, month__lte=last)
    served = CustomerServedMost.objects.all()
    if customers is not None:
        rows = rows.filter(customer_id__in=customers)
        served = served.filter(customer_id__in=customers)
    best: dict[int, tuple] = {}
    for r in rows.values("customer_id", "staff_id").annotate(n=Sum("tickets"), last_day=Max("last_day")).order_by():
        key = (r["n"], r["last_day"], -r["staff_id"])
        if r["customer_id"] not in best or key > best[r["customer_id"]]:
            best[r["customer_id"]] = key
    held = dict(served.values_list("customer_id", "staff_id"))
    gone = [c for c in held if c not in best]
    for i in range(0, len(gone), 500):
        CustomerServedMost.objects.filter(customer_id__in=gone[i : i + 500]).delete()
    changed = [CustomerServedMost(customer_id=c, staff_id=-key[2]) for c, key in best.items() if held.get(c) != -key[2]]
    CustomerServedMost.objects.bulk_create(
        changed, update_conflicts=True, unique_fields=["customer"], update_fields=["staff"], batch_size=500
    )
    return len(changed)


# --- PostgreSQL: one set-based statement per table ----------------------------------------------

# ``first_day``: the local day of the store's first ticket (an index probe per store). A refresh
# whose tickets reach back to it sees the store's whole history, so "the first sale ever" is the
# first one it reads (no look-up of earlier tickets per customer: see ``fresh`` and ``first_seen``).
_STORES_CTE = """
st AS (
    SELECT s.id, s.time_zone,
           (SELECT (min(p.purchased_at) AT TIME ZONE s.time_zone)::date FROM customers_purchaseticket p
            WHERE p.store_id = s.id) AS first_day
    FROM customers_store s
    WHERE (%(stores)s::bigint[] IS NULL OR s.id = ANY(%(stores)s::bigint[]))
)"""

_STORE_DAYS_SQL = f"""
WITH {_STORES_CTE},
t AS (
    SELECT p.store_id, p.customer_id, p.is_return, p.total,
           (p.purchased_at AT TIME ZONE st.time_zone)::date AS day
    FROM customers_purchaseticket p JOIN st ON st.id = p.store_id
    WHERE p.purchased_at >= %(lo)s AND p.purchased_at < %(hi)s
),
tick AS (
    SELECT store_id, day,
        count(*) AS tickets,
        count(*) FILTER (WHERE NOT is_return) AS sales,
        count(*) FILTER (WHERE is_return) AS returns,
        coalesce(sum(total) FILTER (WHERE NOT is_return), 0) AS sales_amount,
        coalesce(sum(total), 0) AS revenue,
        count(DISTINCT customer_id) FILTER (WHERE NOT is_return) AS visits,
        count(*) FILTER (WHERE NOT is_return AND customer_id IS NOT NULL) AS customer_sales,
        coalesce(sum(total) FILTER (WHERE NOT is_return AND customer_id IS NOT NULL), 0) AS customer_sales_amount,
        count(*) FILTER (WHERE NOT is_return AND customer_id IS NULL) AS anonymous_sales
    FROM t WHERE day BETWEEN %(a)s AND %(b)s
    GROUP BY store_id, day
),
v AS (
    SELECT DISTINCT store_id, customer_id, day FROM t
    WHERE NOT is_return AND customer_id IS NOT NULL AND day BETWEEN %(w0)s AND %(b)s
),
-- Each visit keeps its customer active from its day until the next visit or until the
-- window runs out, whichever is first: +1 on the visit day, -1 when that stops. The same
-- with the 30-day window counts the distinct visitors of the 30 days ending each day.
vn AS (
    SELECT store_id, customer_id, day, lag(day) OVER w AS prev_day, lead(day) OVER w AS next_day FROM v
    WINDOW w AS (PARTITION BY store_id, customer_id ORDER BY day)
),
ev AS (
    SELECT store_id, day, 1 AS delta, 1 AS delta30 FROM v
    UNION ALL
    SELECT store_id, least(next_day, day + %(window)s), -1, 0 FROM vn
    UNION ALL
    SELECT store_id, least(next_day, day + %(window30)s), 0, -1 FROM vn
),
evd AS (SELECT store_id, day, sum(delta) AS delta, sum(delta30) AS delta30 FROM ev GROUP BY store_id, day),
grid AS (
    SELECT st.id AS store_id, g::date AS day
    FROM st CROSS JOIN generate_series(%(w0)s::date, %(b)s::date, interval '1 day') AS g
),
act AS (
    SELECT grid.store_id, grid.day,
           sum(coalesce(evd.delta, 0)) OVER (PARTITION BY grid.store_id ORDER BY grid.day) AS active,
           sum(coalesce(evd.delta30, 0)) OVER (PARTITION BY grid.store_id ORDER BY grid.day) AS visitors_30
    FROM grid LEFT JOIN evd ON evd.store_id = grid.store_id AND evd.day = grid.day
),
-- New: no earlier visit in the window read, and no earlier sale at all (not looked up when the
-- window reaches back to the store's first ticket: a history refresh probes no index per visit).
fresh AS (
    SELECT v.store_id, v.day, count(*) AS new_customers
    FROM vn v JOIN st ON st.id = v.store_id
    WHERE v.day BETWEEN %(a)s AND %(b)s AND v.prev_day IS NULL AND (st.first_day >= %(w0)s OR NOT EXISTS (
        SELECT 1 FROM customers_purchaseticket p
        WHERE p.customer_id = v.customer_id AND p.store_id = v.store_id AND NOT p.is_return
          AND p.purchased_at < (v.day::timestamp AT TIME ZONE st.time_zone)
    ))
    GROUP BY v.store_id, v.day
)
INSERT INTO outreach_storeday (
    store_id, day, tickets, sales, returns, sales_amount, revenue, visits, customer_sales,
    customer_sales_amount, anonymous_sales, new_customers, active_customers, visitors_30, refreshed_at
)
SELECT act.store_id, act.day,
       coalesce(tick.tickets, 0), coalesce(tick.sales, 0), coalesce(tick.returns, 0),
       coalesce(tick.sales_amount, 0), coalesce(tick.revenue, 0), coalesce(tick.visits, 0),
       coalesce(tick.customer_sales, 0), coalesce(tick.customer_sales_amount, 0),
       coalesce(tick.anonymous_sales, 0), coalesce(fresh.new_customers, 0), act.active, act.visitors_30,
       clock_timestamp()
FROM act
LEFT JOIN tick ON tick.store_id = act.store_id AND tick.day = act.day
LEFT JOIN fresh ON fresh.store_id = act.store_id AND fresh.day = act.day
WHERE act.day BETWEEN %(a)s AND %(b)s
ON CONFLICT (store_id, day) DO UPDATE SET
    tickets = EXCLUDED.tickets, sales = EXCLUDED.sales, returns = EXCLUDED.returns,
    sales_amount = EXCLUDED.sales_amount, revenue = EXCLUDED.revenue, visits = EXCLUDED.visits,
    customer_sales = EXCLUDED.customer_sales, customer_sales_amount = EXCLUDED.customer_sales_amount,
    anonymous_sales = EXCLUDED.anonymous_sales, new_customers = EXCLUDED.new_customers,
    active_customers = EXCLUDED.active_customers, visitors_30 = EXCLUDED.visitors_30,
    refreshed_at = EXCLUDED.refreshed_at
"""


def _store_days_sql(a: dt.date, b: dt.date, stores: list[int] | None) -> int:
    w0 = a - dt.timedelta(days=ACTIVE_WINDOW_DAYS - 1)
    params = {
        "stores": stores,
        "a": a,
        "b": b,
        "w0": w0,
        "window": ACTIVE_WINDOW_DAYS,
        "window30": VISITORS_30_DAYS,
        "lo": _utc(w0) - TZ_MARGIN,
        "hi": _utc(b) + ONE_DAY + TZ_MARGIN,
    }
    with connection.cursor() as cursor:
        cursor.execute(_STORE_DAYS_SQL, params)
        return cursor.rowcount


_CUSTOMER_SCOPE = """
    (%(stores)s::bigint[] IS NULL OR {alias}.store_id = ANY(%(stores)s::bigint[]))
    AND (%(customers)s::bigint[] IS NULL OR {alias}.customer_id = ANY(%(customers)s::bigint[]))"""

_CUSTOMER_MONTHS_SQL = f"""
WITH {_STORES_CTE},
t AS (
    SELECT p.store_id, p.customer_id, p.is_return, p.total,
           (p.purchased_at AT TIME ZONE st.time_zone)::date AS day
    FROM customers_purchaseticket p JOIN st ON st.id = p.store_id
    WHERE p.customer_id IS NOT NULL AND p.purchased_at >= %(lo)s AND p.purchased_at < %(hi)s
      AND {_CUSTOMER_SCOPE.format(alias="p")}
),
m AS (
    SELECT customer_id, store_id, date_trunc('month', day)::date AS month,
        count(DISTINCT day) FILTER (WHERE NOT is_return) AS visits,
        count(*) FILTER (WHERE NOT is_return) AS tickets,
        sum(total) AS revenue,
        min(day) FILTER (WHERE NOT is_return) AS first_day,
        max(day) FILTER (WHERE NOT is_return) AS last_day,
        coalesce(bit_or(1::bigint << (extract(day FROM day)::int - 1)) FILTER (WHERE NOT is_return), 0)
            AS visit_days
    FROM t WHERE day >= %(m0)s AND day < %(m1)s
    GROUP BY customer_id, store_id, date_trunc('month', day)
),
gone AS (
    DELETE FROM outreach_customermonth cm
    WHERE cm.month >= %(m0)s AND cm.month < %(m1)s AND {_CUSTOMER_SCOPE.format(alias="cm")}
      AND NOT EXISTS (
        SELECT 1 FROM m WHERE m.customer_id = cm.customer_id AND m.store_id = cm.store_id AND m.month = cm.month
      )
)
INSERT INTO outreach_customermonth (
    customer_id, store_id, month, visits, tickets, revenue, first_day, last_day, visit_days, first_seen
)
SELECT m.customer_id, m.store_id, m.month, m.visits, m.tickets, m.revenue, m.first_day, m.last_day,
       m.visit_days,
       -- The first sale ever: the first one read when the range starts at the store's first ticket
       -- (a history refresh), else looked up in the customer's tickets.
       CASE WHEN st.first_day >= %(m0)s THEN min(m.first_day) OVER (PARTITION BY m.customer_id, m.store_id)
       ELSE (SELECT (min(p.purchased_at) AT TIME ZONE st.time_zone)::date FROM customers_purchaseticket p
             WHERE p.customer_id = m.customer_id AND p.store_id = m.store_id AND NOT p.is_return)
       END
FROM m JOIN st ON st.id = m.store_id
ON CONFLICT (customer_id, store_id, month) DO UPDATE SET
    visits = EXCLUDED.visits, tickets = EXCLUDED.tickets, revenue = EXCLUDED.revenue,
    first_day = EXCLUDED.first_day, last_day = EXCLUDED.last_day, visit_days = EXCLUDED.visit_days,
    first_seen = EXCLUDED.first_seen
"""


_CUSTOMER_MONTH_STAFF_SQL = f"""
WITH {_STORES_CTE},
t AS (
    SELECT p.store_id, p.customer_id, p.served_by_id, (p.purchased_at AT TIME ZONE st.time_zone)::date AS day
    FROM customers_purchaseticket p JOIN st ON st.id = p.store_id
    WHERE p.customer_id IS NOT NULL AND p.served_by_id IS NOT NULL AND NOT p.is_return
      AND p.purchased_at >= %(lo)s AND p.purchased_at < %(hi)s
      AND {_CUSTOMER_SCOPE.format(alias="p")}
),
m AS (
    SELECT customer_id, store_id, date_trunc('month', day)::date AS month, served_by_id AS staff_id,
           count(*) AS tickets, max(day) AS last_day
    FROM t WHERE day >= %(m0)s AND day < %(m1)s
    GROUP BY customer_id, store_id, date_trunc('month', day), served_by_id
),
gone AS (
    DELETE FROM outreach_customermonthstaff cm
    WHERE cm.month >= %(m0)s AND cm.month < %(m1)s AND {_CUSTOMER_SCOPE.format(alias="cm")}
      AND NOT EXISTS (
        SELECT 1 FROM m WHERE m.customer_id = cm.customer_id AND m.store_id = cm.store_id AND m.month = cm.month
          AND m.staff_id = cm.staff_id
      )
)
INSERT INTO outreach_customermonthstaff (customer_id, store_id, month, staff_id, tickets, last_day)
SELECT customer_id, store_id, month, staff_id, tickets, last_day FROM m
ON CONFLICT (customer_id, store_id, month, staff_id) DO UPDATE SET
    tickets = EXCLUDED.tickets, last_day = EXCLUDED.last_day
"""


def _month_bounds(a: dt.date, b: dt.date) -> tuple[dt.date, dt.date]:
    return month_start(a), next_month(b)


def _customer_months_sql(a: dt.date, b: dt.date, stores: list[int] | None, customers: list[int] | None) -> int:
    m0, m1 = _month_bounds(a, b)
    params = {
        "stores": stores,
        "customers": customers,
        "m0": m0,
        "m1": m1,
        "lo": _utc(m0) - TZ_MARGIN,
        "hi": _utc(m1) + TZ_MARGIN,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CUSTOMER_MONTHS_SQL, params)
        rows = cursor.rowcount
        cursor.execute(_CUSTOMER_MONTH_STAFF_SQL, params)
        return rows


_COHORT_MONTHS_SQL = """
WITH c AS (
    SELECT store_id, date_trunc('month', first_seen)::date AS cohort, month,
           count(*) AS customers, sum(revenue) AS revenue
    FROM outreach_customermonth
    WHERE month >= %(m0)s AND month < %(m1)s AND visits > 0 AND first_seen IS NOT NULL
      AND date_trunc('month', first_seen)::date <= month
      AND (%(stores)s::bigint[] IS NULL OR store_id = ANY(%(stores)s::bigint[]))
    GROUP BY store_id, date_trunc('month', first_seen), month
),
gone AS (
    DELETE FROM outreach_cohortmonth x
    WHERE x.month >= %(m0)s AND x.month < %(m1)s
      AND (%(stores)s::bigint[] IS NULL OR x.store_id = ANY(%(stores)s::bigint[]))
      AND NOT EXISTS (SELECT 1 FROM c WHERE c.store_id = x.store_id AND c.cohort = x.cohort AND c.month = x.month)
)
INSERT INTO outreach_cohortmonth (store_id, cohort, month, customers, revenue)
SELECT store_id, cohort, month, customers, revenue FROM c
ON CONFLICT (store_id, cohort, month) DO UPDATE SET customers = EXCLUDED.customers, revenue = EXCLUDED.revenue
"""


def _cohort_months_sql(a: dt.date, b: dt.date, stores: list[int] | None) -> int:
    m0, m1 = _month_bounds(a, b)
    with connection.cursor() as cursor:
        cursor.execute(_COHORT_MONTHS_SQL, {"stores": stores, "m0": m0, "m1": m1})
        return cursor.rowcount


# --- ORM fallback (SQLite, the embedded default) -------------------------------------------------
# Same results, computed from one streamed read of the tickets in range per table. Fine for the
# shop-sized databases the embedded default serves; PostgreSQL takes the set-based path above.


class ClockTimestamp(Func):
    """The wall-clock time of the statement (not of the transaction, unlike Now() on PostgreSQL)."""

    template = "clock_timestamp()"
    output_field = DateTimeField()

    def as_sqlite(self, compiler, connection, **extra):
        return "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')", []


def _stores(stores: list[int] | None) -> dict[int, Store]:
    qs = Store.objects.all() if stores is None else Store.objects.filter(pk__in=stores)
    return {s.pk: s for s in qs}


def _ticket_rows(
    store_map: dict[int, Store],
    lo: dt.datetime,
    hi: dt.datetime,
    customers: list[int] | None = None,
    *,
    staff: bool = False,
):
    """(store, customer, is_return, total, local day[, served_by]) of the tickets in range."""
    qs = PurchaseTicket.objects.filter(store_id__in=list(store_map), purchased_at__gte=lo, purchased_at__lt=hi)
    if customers is not None:
        qs = qs.filter(customer_id__in=customers)
    fields = ["store_id", "customer_id", "is_return", "total", "purchased_at"] + (["served_by_id"] if staff else [])
    for row in qs.values_list(*fields).iterator(chunk_size=5000):
        day = row[4].astimezone(store_map[row[0]].tz).date()
        yield (*row[:4], day, row[5]) if staff else (*row[:4], day)


def _first_sales(store_map: dict[int, Store], customers: list[int] | None = None) -> dict[tuple[int, int], dt.date]:
    """First-ever sale day of each (store, customer) in scope."""
    qs = PurchaseTicket.objects.filter(store_id__in=list(store_map), is_return=False, customer__isnull=False)
    if customers is not None:
        qs = qs.filter(customer_id__in=customers)
    return {
        (row["store_id"], row["customer_id"]): row["first"].astimezone(store_map[row["store_id"]].tz).date()
        for row in qs.values("store_id", "customer_id").annotate(first=Min("purchased_at")).iterator()
    }


def _store_days_orm(a: dt.date, b: dt.date, stores: list[int] | None) -> int:
    store_map = _stores(stores)
    w0 = a - dt.timedelta(days=ACTIVE_WINDOW_DAYS - 1)
    zero = Decimal("0")
    figures: dict[tuple[int, dt.date], dict] = defaultdict(
        lambda: {
            "tickets": 0,
            "sales": 0,
            "returns": 0,
            "sales_amount": zero,
            "revenue": zero,
            "customer_sales": 0,
            "customer_sales_amount": zero,
            "anonymous_sales": 0,
        }
    )
    visit_days: dict[tuple[int, int], set[dt.date]] = defaultdict(set)
    for store_id, customer_id, is_return, total, day in _ticket_rows(
        store_map, _utc(w0) - TZ_MARGIN, _utc(b) + ONE_DAY + TZ_MARGIN
    ):
        if not (w0 <= day <= b):
            continue
        if not is_return and customer_id is not None:
            visit_days[(store_id, customer_id)].add(day)
        if day < a:
            continue
        f = figures[(store_id, day)]
        f["tickets"] += 1
        f["revenue"] += total
        if is_return:
            f["returns"] += 1
            continue
        f["sales"] += 1
        f["sales_amount"] += total
        if customer_id is None:
            f["anonymous_sales"] += 1
        else:
            f["customer_sales"] += 1
            f["customer_sales_amount"] += total
    first = _first_sales(store_map)
    visits: dict[tuple[int, dt.date], int] = defaultdict(int)
    fresh: dict[tuple[int, dt.date], int] = defaultdict(int)
    active: dict[tuple[int, dt.date], int] = defaultdict(int)
    visitors_30: dict[tuple[int, dt.date], int] = defaultdict(int)
    windows = ((active, dt.timedelta(days=ACTIVE_WINDOW_DAYS)), (visitors_30, dt.timedelta(days=VISITORS_30_DAYS)))
    for (store_id, customer_id), days in visit_days.items():
        ordered = sorted(days)
        for i, day in enumerate(ordered):
            if day >= a:
                visits[(store_id, day)] += 1
                if first.get((store_id, customer_id)) == day:
                    fresh[(store_id, day)] += 1
            # Active from this visit until the next one or the end of the window.
            for counts, window in windows:
                stop = min(ordered[i + 1] if i + 1 < len(ordered) else day + window, day + window)
                d = max(day, a)
                while d < stop and d <= b:
                    counts[(store_id, d)] += 1
                    d += ONE_DAY
    rows = []
    for store_id in store_map:
        day = a
        while day <= b:
            key = (store_id, day)
            rows.append(
                StoreDay(
                    store_id=store_id,
                    day=day,
                    visits=visits[key],
                    new_customers=fresh[key],
                    active_customers=active[key],
                    visitors_30=visitors_30[key],
                    **figures.get(key, figures.default_factory()),
                )
            )
            day += ONE_DAY
    fields = [f.name for f in StoreDay._meta.concrete_fields if f.name not in ("id", "store", "day", "refreshed_at")]
    StoreDay.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["store", "day"], update_fields=fields, batch_size=500
    )
    # refreshed_at versions the cached KPI reads: it must move on every refresh.
    StoreDay.objects.filter(store_id__in=list(store_map), day__range=(a, b)).update(refreshed_at=ClockTimestamp())
    return len(rows)


def _customer_months_orm(a: dt.date, b: dt.date, stores: list[int] | None, customers: list[int] | None) -> int:
    store_map = _stores(stores)
    m0, m1 = _month_bounds(a, b)
    acc: dict[tuple[int, int, dt.date], dict] = {}
    by_staff: dict[tuple[int, int, dt.date, int], list] = {}  # key → [tickets, last day]
    for store_id, customer_id, is_return, total, day, served_by in _ticket_rows(
        store_map, _utc(m0) - TZ_MARGIN, _utc(m1) + TZ_MARGIN, customers, staff=True
    ):
        if customer_id is None or not (m0 <= day < m1):
            continue
        key = (customer_id, store_id, month_start(day))
        row = acc.setdefault(key, {"days": set(), "tickets": 0, "revenue": Decimal("0")})
        row["revenue"] += total
        if not is_return:
            row["tickets"] += 1
            row["days"].add(day)
            if served_by is not None:
                served = by_staff.setdefault((*key, served_by), [0, day])
                served[0] += 1
                served[1] = max(served[1], day)
    first = _first_sales(store_map, customers)
    rows = []
    for (customer_id, store_id, month), row in acc.items():
        days = row["days"]
        rows.append(
            CustomerMonth(
                customer_id=customer_id,
                store_id=store_id,
                month=month,
                visits=len(days),
                tickets=row["tickets"],
                revenue=row["revenue"],
                first_day=min(days) if days else None,
                last_day=max(days) if days else None,
                visit_days=sum(1 << (d.day - 1) for d in days),
                first_seen=first.get((store_id, customer_id)),
            )
        )
    scope = CustomerMonth.objects.filter(month__gte=m0, month__lt=m1, store_id__in=list(store_map))
    if customers is not None:
        scope = scope.filter(customer_id__in=customers)
    keep = set(acc)
    stale = [
        pk
        for pk, c, s, m in scope.values_list("pk", "customer_id", "store_id", "month").iterator()
        if (c, s, m) not in keep
    ]
    CustomerMonth.objects.filter(pk__in=stale).delete()
    CustomerMonth.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["customer", "store", "month"],
        update_fields=["visits", "tickets", "revenue", "first_day", "last_day", "visit_days", "first_seen"],
        batch_size=500,
    )
    staff_scope = CustomerMonthStaff.objects.filter(month__gte=m0, month__lt=m1, store_id__in=list(store_map))
    if customers is not None:
        staff_scope = staff_scope.filter(customer_id__in=customers)
    staff_scope.exclude(
        pk__in=[
            pk
            for pk, *key in staff_scope.values_list("pk", "customer_id", "store_id", "month", "staff_id").iterator()
            if tuple(key) in by_staff
        ]
    ).delete()
    CustomerMonthStaff.objects.bulk_create(
        [
            CustomerMonthStaff(customer_id=c, store_id=s, month=m, staff_id=u, tickets=n, last_day=last)
            for (c, s, m, u), (n, last) in by_staff.items()
        ],
        update_conflicts=True,
        unique_fields=["customer", "store", "month", "staff"],
        update_fields=["tickets", "last_day"],
        batch_size=500,
    )
    return len(rows)


def _cohort_months_orm(a: dt.date, b: dt.date, stores: list[int] | None) -> int:
    m0, m1 = _month_bounds(a, b)
    scope = CustomerMonth.objects.filter(month__gte=m0, month__lt=m1, visits__gt=0, first_seen__isnull=False)
    cohort_scope = CohortMonth.objects.filter(month__gte=m0, month__lt=m1)
    if stores is not None:
        scope = scope.filter(store_id__in=stores)
        cohort_scope = cohort_scope.filter(store_id__in=stores)
    acc: dict[tuple[int, dt.date, dt.date], list] = {}
    for store_id, first_seen, month, revenue in scope.values_list(
        "store_id", "first_seen", "month", "revenue"
    ).iterator(chunk_size=5000):
        cohort = month_start(first_seen)
        if cohort > month:
            continue
        row = acc.setdefault((store_id, cohort, month), [0, Decimal("0")])
        row[0] += 1
        row[1] += revenue
    stale = [
        pk for pk, s, c, m in cohort_scope.values_list("pk", "store_id", "cohort", "month") if (s, c, m) not in acc
    ]
    CohortMonth.objects.filter(pk__in=stale).delete()
    CohortMonth.objects.bulk_create(
        [CohortMonth(store_id=s, cohort=c, month=m, customers=n, revenue=r) for (s, c, m), (n, r) in acc.items()],
        update_conflicts=True,
        unique_fields=["store", "cohort", "month"],
        update_fields=["customers", "revenue"],
        batch_size=500,
    )
    return len(acc)


# --- Refresh for new tickets ----------------------------------------------------------------------


@dataclass(frozen=True)
class TicketScope:
    """What a batch of new tickets touches: stores, customers and the local days."""

    store_ids: list[int]
    customer_ids: list[int]
    start: dt.date
    end: dt.date


def ticket_scope(*, ticket_ids: Sequence[int]) -> TicketScope | None:
    """The stores, customers and local-day range a batch of tickets touches (one query)."""
    rows = list(
        PurchaseTicket.objects.filter(pk__in=list(ticket_ids)).values_list(
            "store_id", "customer_id", "purchased_at", "store__time_zone"
        )
    )
    if not rows:
        return None
    import zoneinfo

    days = [at.astimezone(zoneinfo.ZoneInfo(tz)).date() for _, _, at, tz in rows]
    return TicketScope(
        store_ids=sorted({s for s, _, _, _ in rows}),
        customer_ids=sorted({c for _, c, _, _ in rows if c is not None}),
        start=min(days),
        end=max(days),
    )


# --- Reads for the dashboard's charts (one query each, on the precomputed tables) ----------------


@dataclass(frozen=True)
class WeekRow:
    week: dt.date  # the week's first day (Monday unless the store's locale starts it elsewhere)
    visits: int
    new_customers: int
    sales: int
    sales_amount: Decimal


def visits_by_week(*, store_ids: Sequence[int], start: dt.date, end: dt.date, first_weekday: int = 0) -> list[WeekRow]:
    """Visits, new customers and sales per week for ``start``…``end``.

    Weeks start on ``first_weekday`` (0 = Monday … 5 = Saturday in Iran, 6 = Sunday in the Philippines;
    ``customers.locales.first_weekday``). One query sums per day (at most a row per day of the period);
    the days are then put into weeks here, which works alike on PostgreSQL and SQLite.
    """
    from django.db.models import Sum

    weeks: dict[dt.date, list] = {}
    for r in (
        StoreDay.objects.filter(store_id__in=list(store_ids), day__range=(start, end))
        .values("day")
        .annotate(visits=Sum("visits"), new=Sum("new_customers"), sales=Sum("sales"), amount=Sum("sales_amount"))
        .order_by("day")
    ):
        week = r["day"] - dt.timedelta(days=(r["day"].weekday() - first_weekday) % 7)
        totals = weeks.setdefault(week, [0, 0, 0, Decimal(0)])
        totals[0] += r["visits"] or 0
        totals[1] += r["new"] or 0
        totals[2] += r["sales"] or 0
        totals[3] += r["amount"] or Decimal(0)
    return [
        WeekRow(week=week, visits=v, new_customers=n, sales=s, sales_amount=a)
        for week, (v, n, s, a) in sorted(weeks.items())
    ]


@dataclass(frozen=True)
class CohortRow:
    cohort: dt.date
    size: int
    # Share of the cohort (0–100) that bought in month 0, 1, 2… after their first; None: not yet.
    cells: list[tuple[int | None, Decimal | None]]


def cohort_heatmap(*, store_ids: Sequence[int], end: dt.date, months: int = 12) -> list[CohortRow]:
    """Monthly cohort retention for the ``months`` cohorts up to the month of ``end`` (one query)."""
    from django.db.models import Sum

    last = month_start(end)
    first = last
    for _ in range(months - 1):
        first = month_start(first - ONE_DAY)
    counts: dict[tuple[dt.date, dt.date], int] = {
        (r["cohort"], r["month"]): r["n"]
        for r in CohortMonth.objects.filter(
            store_id__in=list(store_ids), cohort__gte=first, cohort__lte=last, month__lte=last
        )
        .values("cohort", "month")
        .annotate(n=Sum("customers"))
        .order_by()
    }
    rows = []
    cohort = first
    while cohort <= last:
        size = counts.get((cohort, cohort), 0)
        cells: list[tuple[int | None, Decimal | None]] = []
        month = cohort
        for _ in range(months):
            if month > last:
                cells.append((None, None))
            else:
                n = counts.get((cohort, month), 0)
                cells.append((n, (Decimal(n) * 100 / size) if size else None))
            month = next_month(month)
        rows.append(CohortRow(cohort=cohort, size=size, cells=cells))
        cohort = next_month(cohort)
    return rows


def complaints_by_reason(*, store_ids: Sequence[int], start: dt.date, end: dt.date) -> dict | None:
    """Complaints per month and reason, or None while the customer file has no Feedback model.

    Seam for the customer-file branch (customers.Feedback: kind, reason, store, created_at).
    """
    from django.apps import apps
    from django.db.models import Count
    from django.db.models.functions import TruncMonth

    try:
        feedback = apps.get_model("customers", "Feedback")
    except LookupError:
        return None
    reasons = dict(feedback.Reason.choices)
    rows = (
        feedback.objects.filter(
            store_id__in=list(store_ids),
            kind=feedback.Kind.COMPLAINT,
            created_at__gte=_utc(start) - TZ_MARGIN,
            created_at__lt=_utc(end) + ONE_DAY + TZ_MARGIN,
        )
        .annotate(month=TruncMonth("created_at"))
        .values("month", "reason")
        .annotate(n=Count("id"))
        .order_by("month", "reason")
    )
    months: list[dt.date] = []
    series: dict[str, dict[dt.date, int]] = {code: {} for code in reasons}
    for r in rows:
        month = r["month"].date() if isinstance(r["month"], dt.datetime) else r["month"]
        if month not in months:
            months.append(month)
        series.setdefault(r["reason"], {})[month] = r["n"]
    return {
        "months": months,
        "reasons": [
            {"code": code, "label": str(label), "counts": [series.get(code, {}).get(m, 0) for m in months]}
            for code, label in reasons.items()
        ],
    }
