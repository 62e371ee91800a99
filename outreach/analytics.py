"""Set-based aggregates for segmentation: per-customer visit figures, ranks, model inputs, counts.

Two paths compute the same thing: raw, parameterised SQL for PostgreSQL (one statement with a window
function for the gaps and ``percentile_cont`` for the median gap) and an ORM path for the embedded
SQLite default. ``tests/outreach/test_analytics.py`` runs both on one generated dataset and compares.
No Python loop over tickets on either path; the ORM path computes medians from the distinct visit
days (SQLite has no ``percentile_cont``), which it streams ordered, one customer at a time.
"""

import datetime as dt
import itertools
import math
import zoneinfo
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    DecimalField,
    Exists,
    F,
    FloatField,
    Func,
    Max,
    Min,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RowRange
from django.db.models.functions import Coalesce, Rank, RowNumber, TruncDate

from customers.models import Customer, PurchaseTicket, Store

from . import rules
from .models import ChainVisitDay, CustomerSegmentState, SegmentChange, VisitDay, VisitDayFeed


@dataclass(frozen=True)
class CustomerFilter:
    """Which customers a query covers: all, an id range (a full run's chunk) or explicit ids."""

    ids: tuple[int, ...] | None = None
    id_range: tuple[int, int] | None = None

    def sql(self, column: str) -> tuple[str, dict]:
        if self.ids is not None:
            return f" AND {column} = ANY(%(ids)s)", {"ids": list(self.ids)}
        if self.id_range is not None:
            return f" AND {column} BETWEEN %(lo)s AND %(hi)s", {"lo": self.id_range[0], "hi": self.id_range[1]}
        return "", {}

    def q(self, field: str) -> Q:
        if self.ids is not None:
            return Q(**{f"{field}__in": self.ids})
        if self.id_range is not None:
            return Q(**{f"{field}__gte": self.id_range[0], f"{field}__lte": self.id_range[1]})
        return Q()


ALL = CustomerFilter()


def use_sql() -> bool:
    return connection.vendor == "postgresql"


def _bounds(windows: rules.Windows, policy: rules.Policy) -> tuple[int, ...]:
    return (policy.window_days,)


# --- Per-customer visit figures -----------------------------------------------------------------


def visit_stats(
    *,
    store_id: int | None,
    windows: rules.Windows,
    policy: rules.Policy,
    customers: CustomerFilter = ALL,
    force_orm: bool = False,
) -> list[rules.VisitStats]:
    """Every covered customer's figures from their tickets on local days before ``windows.as_of``.

    Customers with no visit (no sale before ``as_of`` in the scope) are absent. Ordered by customer id.
    """
    if use_sql() and not force_orm:
        rows = _visit_stats_sql(store_id=store_id, windows=windows, policy=policy, customers=customers)
        return [rules.VisitStats(**row) for row in rows]
    rows = _visit_stats_orm(store_id=store_id, windows=windows, policy=policy, customers=customers)
    referred = referred_buyers(store_id=store_id, as_of=windows.as_of, customers=customers)
    return [
        rules.VisitStats(**{**row, "referred_buyers": referred.get(row["customer_id"], 0)})
        if row["customer_id"] in referred
        else rules.VisitStats(**row)
        for row in rows
    ]


def _visit_stats_sql(*, store_id, windows, policy, customers) -> list[dict]:
    """The figures from the visit-day table (brought up to date first): the same CTEs a run's chunk uses."""
    visit_days_sync()
    features, params = _features_sql(store_id=store_id, customers=customers, windows=windows, policy=policy)
    months = ", ".join(f"m{i}" for i in range(len(windows.months)))
    sql = f"""
        WITH {features}
        SELECT c1.customer_id, visits, tickets, first_visit, last_visit, median_gap_days, window_visits,
               window_revenue, o0, referred_buyers, {months}
        FROM c1 ORDER BY c1.customer_id
    """
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL work_mem = '64MB'")
        cur.execute(sql, params)
        names = [c.name for c in cur.description]
        out = []
        for rec in cur.fetchall():
            r = dict(zip(names, rec, strict=True))
            out.append(
                {
                    "customer_id": r["customer_id"],
                    "visits": r["visits"],
                    "tickets": int(r["tickets"]),
                    "first_visit": r["first_visit"],
                    "last_visit": r["last_visit"],
                    "median_gap_days": None if r["median_gap_days"] is None else float(r["median_gap_days"]),
                    "window_visits": r["window_visits"],
                    "window_revenue": Decimal(r["window_revenue"]),
                    "month_visits": tuple(r[f"m{i}"] for i in range(len(windows.months))),
                    "oldest_inside": (r["o0"],),
                    "referred_buyers": r["referred_buyers"],
                }
            )
    return out


def local_day(store_id: int | None, prefix: str = ""):
    """The ticket's calendar day in its store's time zone, as an ORM expression (one When per zone)."""
    stores = Store.objects.all() if store_id is None else Store.objects.filter(pk=store_id)
    zones = sorted(set(stores.values_list("time_zone", flat=True))) or ["UTC"]
    if len(zones) == 1:
        return TruncDate(f"{prefix}purchased_at", tzinfo=zoneinfo.ZoneInfo(zones[0]))
    return Case(
        *[
            When(
                **{f"{prefix}store__time_zone": tz},
                then=TruncDate(f"{prefix}purchased_at", tzinfo=zoneinfo.ZoneInfo(tz)),
            )
            for tz in zones
        ],
        output_field=DateField(),
    )


def _tickets_before(*, store_id, as_of: dt.date, customers: CustomerFilter):
    upper = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    qs = PurchaseTicket.objects.filter(customers.q("customer_id"), customer__isnull=False, purchased_at__lt=upper)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    return qs.annotate(day=local_day(store_id)).filter(day__lt=as_of).order_by()


def _visit_stats_orm(*, store_id, windows, policy, customers) -> list[dict]:
    base = _tickets_before(store_id=store_id, as_of=windows.as_of, customers=customers)
    counts = {
        f"m{i}": Count("day", distinct=True, filter=Q(day__gte=s, day__lt=e)) for i, (s, e) in enumerate(windows.months)
    }
    sales = (
        base.filter(is_return=False)
        .values("customer_id")
        .annotate(
            visits=Count("day", distinct=True),
            tickets=Count("id"),
            first_visit=Min("day"),
            last_visit=Max("day"),
            window_visits=Count("day", distinct=True, filter=Q(day__gte=windows.window_start)),
            **counts,
        )
    )
    sales = sales.order_by("customer_id")
    bounds = _bounds(windows, policy)
    oldest = {
        f"o{i}": Min("day", filter=Q(day__gte=windows.as_of - dt.timedelta(days=days))) for i, days in enumerate(bounds)
    }
    revenue = {
        r["customer_id"]: r
        for r in base.values("customer_id").annotate(
            window_revenue=Coalesce(
                Sum("total", filter=Q(day__gte=windows.window_start)),
                Value(Decimal("0")),
                output_field=DecimalField(max_digits=14, decimal_places=2),
            ),
            **oldest,
        )
    }
    medians = _median_gaps_orm(base)
    out = []
    for r in sales:
        rev = revenue[r["customer_id"]]
        out.append(
            {
                "customer_id": r["customer_id"],
                "visits": r["visits"],
                "tickets": r["tickets"],
                "first_visit": r["first_visit"],
                "last_visit": r["last_visit"],
                "median_gap_days": medians.get(r["customer_id"]),
                "window_visits": r["window_visits"],
                "window_revenue": Decimal(rev["window_revenue"]),
                "month_visits": tuple(r[f"m{i}"] for i in range(len(windows.months))),
                "oldest_inside": tuple(rev[f"o{i}"] for i in range(len(bounds))),
            }
        )
    return out


def _median_gaps_orm(base) -> dict[int, float]:
    """Median gap between consecutive visit days per customer, from the distinct days streamed in order."""
    days = base.filter(is_return=False).values_list("customer_id", "day").distinct().order_by("customer_id", "day")
    medians: dict[int, float] = {}
    for customer_id, rows in itertools.groupby(days.iterator(chunk_size=5000), key=lambda r: r[0]):
        ds = [d for _, d in rows]
        value = rules.median([(b - a).days for a, b in itertools.pairwise(ds)])
        if value is not None:
            medians[customer_id] = value
    return medians


def referred_buyers(*, store_id: int | None, as_of: dt.date, customers: CustomerFilter = ALL) -> dict[int, int]:
    """How many customers each covered customer referred who bought (a sale before as_of, in scope)."""
    bought = _tickets_before(store_id=store_id, as_of=as_of, customers=ALL).filter(
        is_return=False, customer_id=OuterRef("pk")
    )
    rows = (
        Customer.objects.filter(customers.q("referred_by_id"), referred_by__isnull=False)
        .filter(Exists(bought))
        .values("referred_by_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["referred_by_id"]: r["n"] for r in rows}


def customers_with_tickets_between(*, store_id: int | None, purchased_from: dt.date, as_of: dt.date) -> set[int]:
    """Customers with tickets on local days from ``purchased_from`` up to ``as_of`` (the days that newly fall
    before ``as_of``). The index range is ±1 day around the zones; the local day is then checked exactly
    (without it the previous run's last day came along: ~6,600 customers recomputed for nothing a night)."""
    lower = dt.datetime.combine(purchased_from - dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    upper = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    # Naming every store lets PostgreSQL use the (store, purchased_at) index instead of scanning all tickets.
    stores = [store_id] if store_id is not None else list(Store.objects.values_list("pk", flat=True))
    qs = (
        PurchaseTicket.objects.filter(
            store_id__in=stores, customer__isnull=False, purchased_at__gte=lower, purchased_at__lt=upper
        )
        .annotate(day=local_day(store_id))
        .filter(day__gte=purchased_from, day__lt=as_of)
    )
    return set(qs.values_list("customer_id", flat=True).distinct())


def visit_combos(*, store_id: int | None, as_of: dt.date) -> list[dict]:
    """Distinct (visits, first visit, last visit) over the scope's tickets before ``as_of``, with counts.

    The per-customer aggregate is one GROUP BY; the second grouping folds those aggregate rows.
    """
    per_customer = (
        _tickets_before(store_id=store_id, as_of=as_of, customers=ALL)
        .filter(is_return=False)
        .values("customer_id")
        .annotate(visits=Count("day", distinct=True), first_visit=Min("day"), last_visit=Max("day"))
        .values_list("visits", "first_visit", "last_visit")
    )
    counts = Counter(per_customer.iterator(chunk_size=20000))
    return [{"visits": v, "first_visit": f, "last_visit": la, "n": n} for (v, f, la), n in counts.items()]


# --- Writing many rows ----------------------------------------------------------------------------


def rows_update(*, model, rows: Sequence[tuple], fields: Sequence[str], batch: int = 10_000) -> int:
    """Set ``fields`` on many rows given as (pk, *values): one ``UPDATE … FROM unnest(arrays)`` per batch
    on PostgreSQL (Django's ``bulk_update`` builds a CASE per row and costs seconds per 10k rows), and
    ``bulk_update`` elsewhere."""
    if not rows:
        return 0
    if not use_sql():
        objs = [model(pk=r[0], **dict(zip(fields, r[1:], strict=True))) for r in rows]
        model.objects.bulk_update(objs, fields, batch_size=500)
        return len(rows)
    meta = model._meta
    cols = [meta.get_field(f) for f in fields]
    sets = ", ".join(f'"{c.column}" = v."{c.column}"' for c in cols)
    arrays = ", ".join(["%s::bigint[]"] + [f"%s::{c.db_type(connection)}[]" for c in cols])
    names = ", ".join(["id"] + [f'"{c.column}"' for c in cols])
    sql = f'UPDATE "{meta.db_table}" t SET {sets} FROM unnest({arrays}) AS v({names}) WHERE t."{meta.pk.column}" = v.id'
    with connection.cursor() as cur:
        for i in range(0, len(rows), batch):
            part = rows[i : i + batch]
            cur.execute(sql, [list(col) for col in zip(*part, strict=True)])
    return len(rows)


def rows_insert(*, model, rows: Sequence[tuple], fields: Sequence[str], batch: int = 10_000) -> int:
    """Insert many rows given as tuples of ``fields``: ``INSERT … SELECT FROM unnest(arrays)`` on PostgreSQL,
    ``bulk_create`` elsewhere (no per-row Python in Django's SQL compiler)."""
    if not rows:
        return 0
    if not use_sql():
        model.objects.bulk_create([model(**dict(zip(fields, r, strict=True))) for r in rows], batch_size=500)
        return len(rows)
    meta = model._meta
    cols = [meta.get_field(f) for f in fields]
    arrays = ", ".join(f"%s::{c.db_type(connection)}[]" for c in cols)
    names = ", ".join(f'"{c.column}"' for c in cols)
    sql = f'INSERT INTO "{meta.db_table}" ({names}) SELECT * FROM unnest({arrays})'
    with connection.cursor() as cur:
        for i in range(0, len(rows), batch):
            part = rows[i : i + batch]
            cur.execute(sql, [list(col) for col in zip(*part, strict=True)])
    return len(rows)


# --- Ranks over the state table: best (stored), RFM and ABC (counted, not stored) --------------------

# Only the best customers are stored per row (is_best, best_rank: a few dozen rows move a night). RFM
# quintiles and ABC classes are relative to everyone: when 3 % of the customers buy, the quintile and
# ABC boundaries move past tens of thousands of others (measured: ~65,000 of 200,000 rows rewritten a
# night). They are not stored: the finish counts them (the dashboard's grids) and keeps their **cuts**
# on the run (``SegmentRun.rank_cuts``), from which :func:`rank_scores` gives any customer's scores.

GROUP_KEYS = ("status", "ladder", "is_best", "is_at_risk", "abc", "xyz", "rfm_r", "rfm_f")


@dataclass
class Ranks:
    """What the rank pass found: best flips (customer, was, is), the groups for the counts (dicts of
    GROUP_KEYS with ``n`` customers and ``m`` the sum of their M scores) and the cuts."""

    flips: list[tuple[int, bool, bool]]
    groups: list[dict]
    cuts: dict


def ranks_apply(*, scope_key: str, policy: rules.Policy, force_orm: bool = False) -> Ranks:
    """Recompute the best customers (writing only the rows that moved) and the RFM/ABC scores of every
    customer of the scope, grouped for the counts, with their cuts."""
    states = CustomerSegmentState.objects.filter(scope_key=scope_key)
    ranked = states.filter(window_visits__gt=0).count()
    limit = policy.best_limit(ranked)
    if use_sql() and not force_orm:
        return _ranks_apply_sql(scope_key=scope_key, policy=policy, limit=limit)
    return _ranks_apply_orm(states=states, policy=policy, limit=limit)


def rank_scores(state, cuts: dict) -> tuple[int | None, int | None, int | None, str]:
    """(R, F, M, ABC) of one state row from its run's cuts — exactly what the run counted.

    A quintile score is ``1 + ⌊5 (rank − 1) / n⌋`` with rank = 1 + the customers below the value, so it
    grows by one at each of four values: ``cuts["r"][k]`` is the smallest last visit scoring k + 2 (None:
    nobody does). ABC follows the revenue order (descending, then customer id): ``cuts["abc"]["b"]`` is the
    first customer past A, ``["c"]`` the first in C, as (revenue, customer id)."""
    if not cuts or not cuts.get("n"):
        return None, None, None, ""

    def score(value, bounds, parse):
        return 1 + sum(1 for c in bounds if c is not None and value >= parse(c))

    r = score(state.last_visit, cuts["r"], dt.date.fromisoformat)
    f = score(state.window_visits, cuts["f"], int)
    m = score(Decimal(state.window_revenue), cuts["m"], Decimal)
    revenue = Decimal(state.window_revenue)

    def before(cut) -> bool:
        return cut is None or revenue > Decimal(cut[0]) or (revenue == Decimal(cut[0]) and state.customer_id < cut[1])

    if revenue <= 0:
        abc = ""
    elif before(cuts["abc"]["b"]):
        abc = "A"
    else:
        abc = "B" if before(cuts["abc"]["c"]) else "C"
    return r, f, m, abc


def _ranks_apply_sql(*, scope_key: str, policy: rules.Policy, limit: int) -> Ranks:
    """Two statements. The best: a top-``limit`` sort, joined with the current best rows, writing the
    rows that moved. The scores: R and F ranks from per-value histograms (a few hundred distinct last
    visits and visit counts: ``rank()`` is 1 + the customers below the value), M and ABC from one sort
    by revenue, descending — grouped for the counts, with the cuts, nothing written."""
    table = CustomerSegmentState._meta.db_table
    best_sql = f"""
        WITH top AS (
            SELECT id, row_number() OVER (ORDER BY window_visits DESC, last_visit DESC, customer_id) AS brank
            FROM (SELECT id, window_visits, last_visit, customer_id FROM {table}
                  WHERE scope_key = %(scope)s AND window_visits > 0
                  ORDER BY window_visits DESC, last_visit DESC, customer_id LIMIT %(limit)s) t
        ),
        cur AS (SELECT id, best_rank FROM {table} WHERE scope_key = %(scope)s AND is_best),
        n AS (
            SELECT coalesce(top.id, cur.id) AS id, (cur.id IS NOT NULL) AS old_best, cur.best_rank AS old_rank,
                   top.brank
            FROM top FULL JOIN cur ON cur.id = top.id
        )
        UPDATE {table} s SET is_best = (n.brank IS NOT NULL), best_rank = n.brank
        FROM n
        WHERE s.id = n.id AND (n.old_best, n.old_rank) IS DISTINCT FROM (n.brank IS NOT NULL, n.brank)
        RETURNING s.customer_id, n.old_best, (n.brank IS NOT NULL)
    """
    bounds = ", ".join
    sql = f"""
        WITH base AS MATERIALIZED (
            SELECT customer_id, status, ladder, is_best, is_at_risk, xyz, window_visits, window_revenue, last_visit
            FROM {table} WHERE scope_key = %(scope)s
        ),
        tot AS (SELECT count(*) AS n, coalesce(sum(greatest(window_revenue, 0)), 0) AS rev_total FROM base),
        rh AS (
            SELECT last_visit, (1 + coalesce(sum(count(*)) OVER (
                ORDER BY last_visit ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))::bigint AS r_rank
            FROM base GROUP BY last_visit
        ),
        fh AS (
            SELECT window_visits, (1 + coalesce(sum(count(*)) OVER (
                ORDER BY window_visits ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))::bigint AS f_rank
            FROM base GROUP BY window_visits
        ),
        c AS MATERIALIZED (
            SELECT b.*,
                   1 + (5 * (rh.r_rank - 1)) / tot.n AS rfm_r,
                   1 + (5 * (fh.f_rank - 1)) / tot.n AS rfm_f,
                   -- rank() ascending = 1 + n − (customers with at least this revenue, peers included)
                   1 + (5 * (tot.n - count(*) OVER (
                       ORDER BY b.window_revenue DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))) / tot.n
                       AS rfm_m,
                   CASE WHEN b.window_revenue <= 0 OR tot.rev_total <= 0 THEN ''
                        WHEN coalesce(sum(greatest(b.window_revenue, 0)) OVER w_before, 0) * 100
                             < %(a)s * tot.rev_total THEN 'A'
                        WHEN coalesce(sum(greatest(b.window_revenue, 0)) OVER w_before, 0) * 100
                             < %(ab)s * tot.rev_total THEN 'B'
                        ELSE 'C' END AS abc
            FROM base b CROSS JOIN tot
            JOIN rh ON rh.last_visit = b.last_visit
            JOIN fh ON fh.window_visits = b.window_visits
            WINDOW w_before AS (
                ORDER BY b.window_revenue DESC, b.customer_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            )
        ),
        g AS (
            SELECT {", ".join(GROUP_KEYS)}, count(*) AS n, sum(rfm_m) AS m FROM c GROUP BY {", ".join(GROUP_KEYS)}
        ),
        k AS (
            SELECT count(*) AS total,
                   ARRAY[{bounds(f"min(last_visit) FILTER (WHERE rfm_r >= {i})" for i in range(2, 6))}] AS cut_r,
                   ARRAY[{bounds(f"min(window_visits) FILTER (WHERE rfm_f >= {i})" for i in range(2, 6))}] AS cut_f,
                   ARRAY[{bounds(f"min(window_revenue) FILTER (WHERE rfm_m >= {i})" for i in range(2, 6))}] AS cut_m,
                   min(ARRAY[-window_revenue, customer_id]) FILTER (WHERE abc IN ('B', 'C')) AS cut_b,
                   min(ARRAY[-window_revenue, customer_id]) FILTER (WHERE abc = 'C') AS cut_c
            FROM c
        )
        SELECT g.*, k.total, k.cut_r, k.cut_f, k.cut_m, k.cut_b, k.cut_c FROM g CROSS JOIN k
    """
    params = {
        "scope": scope_key,
        "limit": limit,
        "a": policy.abc_a_share,
        "ab": policy.abc_a_share + policy.abc_b_share,
    }
    with transaction.atomic(), connection.cursor() as cur:
        _heavy_statement(cur)
        cur.execute(best_sql, params)
        flips = [(cid, old, new) for cid, old, new in cur.fetchall() if old != new]
        cur.execute(sql, params)
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, rec, strict=True)) for rec in cur.fetchall()]
    groups = [{k: r[k] for k in (*GROUP_KEYS, "n", "m")} for r in rows]
    cuts: dict = {}
    if rows:
        k = rows[0]
        cuts = _cuts(
            n=k["total"],
            r=k["cut_r"],
            f=k["cut_f"],
            m=k["cut_m"],
            cut_b=None if k["cut_b"] is None else (-k["cut_b"][0], int(k["cut_b"][1])),
            cut_c=None if k["cut_c"] is None else (-k["cut_c"][0], int(k["cut_c"][1])),
        )
    return Ranks(flips=flips, groups=groups, cuts=cuts)


def _cuts(*, n: int, r, f, m, cut_b, cut_c) -> dict:
    """The cuts as JSON: dates in ISO form, revenues as decimal strings (2 places)."""

    def money(v) -> str:
        return str(Decimal(v).quantize(Decimal("0.01")))

    return {
        "n": n,
        "r": [None if v is None else v.isoformat() for v in r],
        "f": [None if v is None else int(v) for v in f],
        "m": [None if v is None else money(v) for v in m],
        "abc": {
            "b": None if cut_b is None else [money(cut_b[0]), cut_b[1]],
            "c": None if cut_c is None else [money(cut_c[0]), cut_c[1]],
        },
    }


def _heavy_statement(cur) -> None:
    """Settings for one big set-based statement (inside its transaction): sorts and hashes in memory
    (the default 4 MB spilled every sort to disk at 200,000 customers), and no JIT, whose compile time
    (0.1–0.3 s per statement, measured) buys nothing for statements that run once per chunk; hash joins."""
    cur.execute("SET LOCAL work_mem = '64MB'")
    cur.execute("SET LOCAL jit = off")
    # The planner cannot estimate rows coming out of CTEs and unnest() and picked sort-merge joins over
    # 200,000 rows where a hash join needs no sort.
    cur.execute("SET LOCAL enable_mergejoin = off")


def _ranks_apply_orm(*, states, policy: rules.Policy, limit: int) -> Ranks:
    positive = Case(When(window_revenue__gt=0, then=F("window_revenue")), default=Value(Decimal("0")))
    rows = states.annotate(
        brank=Window(RowNumber(), order_by=[F("window_visits").desc(), F("last_visit").desc(), F("customer_id").asc()]),
        r_rank=Window(Rank(), order_by=F("last_visit").asc()),
        f_rank=Window(Rank(), order_by=F("window_visits").asc()),
        m_rank=Window(Rank(), order_by=F("window_revenue").asc()),
        n=Window(Count("id")),
        rev_before=Window(
            Sum(positive, output_field=DecimalField(max_digits=16, decimal_places=2)),
            order_by=[F("window_revenue").desc(), F("customer_id").asc()],
            frame=RowRange(start=None, end=-1),
        ),
        rev_total=Window(Sum(positive, output_field=DecimalField(max_digits=16, decimal_places=2))),
    ).order_by("id")
    changed, flips = [], []
    groups: Counter = Counter()
    m_sums: Counter = Counter()
    low: dict = {"r": [None] * 4, "f": [None] * 4, "m": [None] * 4}
    cut_b = cut_c = None
    total = 0
    for s in rows.iterator(chunk_size=5000):
        total += 1
        best = s.window_visits > 0 and s.brank <= limit
        rank = s.brank if best else None
        if (s.is_best, s.best_rank) != (best, rank):
            if s.is_best != best:
                flips.append((s.customer_id, s.is_best, best))
            changed.append((s.pk, best, rank))
        r, f, m = rules.quintile(s.r_rank, s.n), rules.quintile(s.f_rank, s.n), rules.quintile(s.m_rank, s.n)
        revenue = Decimal(s.window_revenue)
        abc = rules.abc_for(Decimal(s.rev_before or 0), Decimal(s.rev_total or 0), policy) if revenue > 0 else ""
        key = (s.status, s.ladder, best, s.is_at_risk, abc, s.xyz, r, f)
        groups[key] += 1
        m_sums[key] += m
        for name, score, value in (("r", r, s.last_visit), ("f", f, s.window_visits), ("m", m, revenue)):
            for i in range(score - 1):  # the smallest value scoring at least i + 2
                if low[name][i] is None or value < low[name][i]:
                    low[name][i] = value
        order = (-revenue, s.customer_id)
        if abc in ("B", "C") and (cut_b is None or order < cut_b):
            cut_b = order
        if abc == "C" and (cut_c is None or order < cut_c):
            cut_c = order
    rows_update(model=CustomerSegmentState, rows=changed, fields=("is_best", "best_rank"))
    out = [{**dict(zip(GROUP_KEYS, key, strict=True)), "n": n, "m": m_sums[key]} for key, n in groups.items()]
    cuts = (
        _cuts(
            n=total,
            r=low["r"],
            f=low["f"],
            m=low["m"],
            cut_b=None if cut_b is None else (-cut_b[0], cut_b[1]),
            cut_c=None if cut_c is None else (-cut_c[0], cut_c[1]),
        )
        if total
        else {}
    )
    return Ranks(flips=flips, groups=out, cuts=cuts)


# --- Model inputs and counts ---------------------------------------------------------------------


def model_inputs(*, scope_key: str) -> list[dict]:
    """Distinct (visits, first visit, last visit) combinations of the scope with how many customers share each."""
    return list(
        CustomerSegmentState.objects.filter(scope_key=scope_key)
        .values("visits", "first_visit", "last_visit")
        .annotate(n=Count("id"))
        .order_by()
    )


def segment_counts(groups: Iterable[dict]) -> dict[str, int]:
    """Members per segment name (the names of the commands), the ABC-XYZ matrix and the RFM grid, from
    the rank pass's groups (a few thousand, summed here)."""
    counts: dict = {"best": 0, "at_risk": 0, "customers": 0}
    for name in (rules.LAPSED, rules.LOST, rules.NEW, rules.ONE_TIMER, *rules.LADDER):
        counts[name] = 0
    abc_xyz: Counter = Counter()
    rfm: dict[str, dict[str, int]] = {}
    for r in groups:
        n = r["n"]
        counts["customers"] += n
        counts["best"] += n if r["is_best"] else 0
        counts["at_risk"] += n if r["is_at_risk"] else 0
        for value in (r["status"], r["ladder"]):
            if value in counts and value != "customers":
                counts[value] += n
        if r["abc"] and r["xyz"]:
            abc_xyz[r["abc"] + r["xyz"]] += n
        if r["rfm_r"] and r["rfm_f"]:
            cell = rfm.setdefault(f"{r['rfm_r']}:{r['rfm_f']}", {"n": 0, "m": 0})
            cell["n"] += n
            cell["m"] += int(r["m"] or 0)
    counts["abc_xyz"] = dict(sorted(abc_xyz.items()))
    counts["rfm"] = dict(sorted(rfm.items()))
    return counts


def run_changes_summary(*, run_id: int) -> tuple[int, dict[str, int]]:
    """(changes written by the run, its ladder moves as {"from>to": customers}) in one grouped query."""
    rows = SegmentChange.objects.filter(run_id=run_id).values("kind", "from_value", "to_value").annotate(n=Count("id"))
    total, moves = 0, {}
    for r in rows.order_by():
        total += r["n"]
        if r["kind"] == SegmentChange.Kind.LADDER:
            moves[f"{r['from_value']}>{r['to_value']}"] = r["n"]
    return total, dict(sorted(moves.items()))


def state_table_analyze(*, vacuum: bool = True) -> None:
    """Vacuum and refresh PostgreSQL's statistics of the state table after a run rewrote much of it.

    Without statistics the planner, still counting the rows of the previous run, picks the (scope, ladder)
    index for the next run's "these customers" lookups and filters the whole scope (seen: 0.4 s per
    chunk). The vacuum frees the old row versions, so the next nightly updates (P(alive), ranks: no
    indexed column) stay HOT on their page instead of growing the table (seen: 35 → 308 MB after a few
    full runs with autovacuum behind). VACUUM cannot run inside a transaction (tests): ANALYZE only there.
    """
    if use_sql():
        table = CustomerSegmentState._meta.db_table
        with connection.cursor() as cur:
            plain = connection.in_atomic_block or not vacuum
            cur.execute(f'{"ANALYZE" if plain else "VACUUM ANALYZE"} "{table}"')


def iter_state_chunks(*, scope_key: str, fields: Sequence[str], chunk: int = 20000) -> Iterable[list[tuple]]:
    """Keyset-paginated value tuples (``id`` first) of every state row of the scope."""
    last = 0
    while True:
        rows = list(
            CustomerSegmentState.objects.filter(scope_key=scope_key, id__gt=last)
            .order_by("id")
            .values_list("id", *fields)[:chunk]
        )
        if not rows:
            return
        yield rows
        last = rows[-1][0]


# --- The visit-day table (input of the PostgreSQL path) ---------------------------------------------

# pg_advisory_xact_lock key serialising every writer of outreach_visitday ("VDAY" in ASCII): two
# writers recomputing the same (customer, store, day) from different snapshots would otherwise let
# the older snapshot win.
VISIT_DAY_LOCK = 0x56444159
APPLY_CHUNK = 10_000
# A catch-up larger than this share of all tickets rebuilds the table in one pass instead of key by key.
REBUILD_SHARE = 0.25

_DAY_AGG = """
    SELECT t.customer_id, t.store_id, (t.purchased_at AT TIME ZONE s.time_zone)::date AS day,
           count(*) FILTER (WHERE NOT t.is_return) AS sales, sum(t.total) AS revenue
    FROM customers_purchaseticket t JOIN customers_store s ON s.id = t.store_id
    WHERE t.customer_id IS NOT NULL {where}
    GROUP BY t.customer_id, 3, t.store_id
"""


def _visit_day_lock(cur) -> None:
    cur.execute("SELECT pg_advisory_xact_lock(%s)", [VISIT_DAY_LOCK])


def visit_days_apply(*, ticket_ids: Sequence[int] | None = None, id_range: tuple[int, int] | None = None) -> int:
    """Recompute the visit-days that these tickets fall on (each (customer, store, local day) key) from
    all of that key's tickets, and upsert them. Idempotent: a ticket seen twice changes nothing.

    Chunked (APPLY_CHUNK ids per statement); each key is read back through the (customer, purchased_at)
    index over its local day only. Returns the keys written. PostgreSQL only (the ORM path reads tickets).
    """
    if not use_sql():
        return 0
    table = VisitDay._meta.db_table
    if ticket_ids is not None:
        ids = sorted(set(ticket_ids))
        parts = [("t.id = ANY(%(ids)s)", {"ids": ids[i : i + APPLY_CHUNK]}) for i in range(0, len(ids), APPLY_CHUNK)]
    elif id_range is not None:
        lo, hi = id_range
        parts = [
            ("t.id BETWEEN %(lo)s AND %(hi)s", {"lo": a, "hi": min(a + APPLY_CHUNK * 5 - 1, hi)})
            for a in range(lo, hi + 1, APPLY_CHUNK * 5)
        ]
    else:
        return 0
    written = 0
    for where, params in parts:
        sql = f"""
            WITH k AS (
                SELECT DISTINCT t.customer_id, t.store_id, s.time_zone,
                       (t.purchased_at AT TIME ZONE s.time_zone)::date AS day
                FROM customers_purchaseticket t JOIN customers_store s ON s.id = t.store_id
                WHERE {where} AND t.customer_id IS NOT NULL
            ),
            agg AS (
                SELECT k.customer_id, k.store_id, k.day,
                       count(*) FILTER (WHERE NOT t.is_return) AS sales, sum(t.total) AS revenue
                FROM k JOIN customers_purchaseticket t
                  ON t.customer_id = k.customer_id AND t.store_id = k.store_id
                 -- a range the index can use (a few hours wider than the local day, for DST), then the exact day
                 AND t.purchased_at >= ((k.day::timestamp - interval '3 hours') AT TIME ZONE k.time_zone)
                 AND t.purchased_at < (((k.day + 1)::timestamp + interval '3 hours') AT TIME ZONE k.time_zone)
                 AND (t.purchased_at AT TIME ZONE k.time_zone)::date = k.day
                GROUP BY k.customer_id, k.store_id, k.day
            ),
            up AS (
                INSERT INTO {table} AS v (customer_id, store_id, day, sales, revenue)
                SELECT customer_id, store_id, day, sales, revenue FROM agg
                ON CONFLICT (customer_id, day, store_id)
                DO UPDATE SET sales = EXCLUDED.sales, revenue = EXCLUDED.revenue
                WHERE (v.sales, v.revenue) IS DISTINCT FROM (EXCLUDED.sales, EXCLUDED.revenue)
                RETURNING customer_id, day
            )
            SELECT customer_id, min(day), count(*) FROM up GROUP BY customer_id ORDER BY customer_id
        """
        with transaction.atomic(), connection.cursor() as cur:
            _visit_day_lock(cur)
            cur.execute(sql, params)
            touched = cur.fetchall()
            written += sum(n for _, _, n in touched)
            # The chain's days of the customers whose store days moved, from the earliest moved day on.
            chain_days_refresh(cur, customer_ids=[c for c, _, _ in touched], from_days=[d for _, d, _ in touched])
    return written


def chain_days_refresh(cur, *, customer_ids: Sequence[int] | None, from_days: Sequence[dt.date] | None = None) -> None:
    """Recompute :class:`ChainVisitDay` from the store visit-days: for each customer from their
    ``from_days`` entry on (the gap of the first recomputed visit is seeded from the chain's visit
    before it, which did not move), or every row (``customer_ids`` None). Inside the caller's
    transaction, under the visit-day lock."""
    chain, table = ChainVisitDay._meta.db_table, VisitDay._meta.db_table
    if customer_ids is None:
        # (DELETE, not TRUNCATE: the deferred foreign-key checks of rows written earlier in the same
        # transaction forbid a TRUNCATE. The old row versions wait for (auto)vacuum.)
        cur.execute(f"DELETE FROM {chain}")
        cur.execute(
            f"""INSERT INTO {chain} (customer_id, day, sales, revenue, gap)
                SELECT customer_id, day, sales, revenue,
                       CASE WHEN sales > 0 THEN day - max(day) FILTER (WHERE sales > 0) OVER (
                           PARTITION BY customer_id ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) END
                FROM (SELECT customer_id, day, sum(sales)::int AS sales, sum(revenue) AS revenue
                      FROM {table} GROUP BY customer_id, day) d
                ORDER BY customer_id, day"""
        )
        # Statistics now: a run right after the first fill planned its chunks against an unanalysed table.
        cur.execute(f"ANALYZE {chain}")
        return
    if not customer_ids:
        return
    params = {"ids": list(customer_ids), "froms": list(from_days)}
    keys = "SELECT * FROM unnest(%(ids)s::bigint[], %(froms)s::date[]) AS k(customer_id, from_day)"
    cur.execute(
        f"DELETE FROM {chain} c USING ({keys}) k WHERE c.customer_id = k.customer_id AND c.day >= k.from_day", params
    )
    cur.execute(
        f"""
        WITH k AS ({keys}),
        seed AS (
            SELECT k.customer_id, k.from_day,
                   (SELECT max(c.day) FROM {chain} c
                    WHERE c.customer_id = k.customer_id AND c.day < k.from_day AND c.sales > 0) AS prev
            FROM k
        ),
        d AS (
            SELECT v.customer_id, v.day, sum(v.sales)::int AS sales, sum(v.revenue) AS revenue
            FROM {table} v JOIN k ON v.customer_id = k.customer_id AND v.day >= k.from_day
            GROUP BY v.customer_id, v.day
        )
        INSERT INTO {chain} (customer_id, day, sales, revenue, gap)
        SELECT d.customer_id, d.day, d.sales, d.revenue,
               CASE WHEN d.sales > 0 THEN d.day - coalesce(max(d.day) FILTER (WHERE d.sales > 0) OVER (
                   PARTITION BY d.customer_id ORDER BY d.day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                   seed.prev) END
        FROM d JOIN seed ON seed.customer_id = d.customer_id
        ORDER BY d.customer_id, d.day
        """,
        params,
    )


def visit_days_rebuild(*, customer_ids: Sequence[int] | None = None, store_ids: Sequence[int] | None = None) -> int:
    """Rebuild the visit-days of these customers (merge survivor, erasure), of these stores (a time zone
    changed), or of everyone (both None) from their tickets. Returns the rows written."""
    if not use_sql():
        return 0
    table = VisitDay._meta.db_table
    if customer_ids is not None:
        where, params = " AND t.customer_id = ANY(%(ids)s)", {"ids": list(customer_ids)}
        delete = f"DELETE FROM {table} WHERE customer_id = ANY(%(ids)s)"
    elif store_ids is not None:
        where, params = " AND t.store_id = ANY(%(ids)s)", {"ids": list(store_ids)}
        delete = f"DELETE FROM {table} WHERE store_id = ANY(%(ids)s)"
    else:
        where, params, delete = "", {}, f"DELETE FROM {table}"
    with transaction.atomic(), connection.cursor() as cur:
        _visit_day_lock(cur)
        cur.execute("SET LOCAL work_mem = '128MB'")
        cur.execute(delete, params)
        # Inserted in key order, so each customer's days sit together on disk (a run reads them in that order).
        cur.execute(
            f"INSERT INTO {table} (customer_id, store_id, day, sales, revenue) "
            f"SELECT customer_id, store_id, day, sales, revenue FROM ({_DAY_AGG.format(where=where)}) a "
            "ORDER BY customer_id, day, store_id",
            params,
        )
        written = cur.rowcount
        # The chain's days: these customers' from their first day; a store's time zone: everyone's.
        if customer_ids is not None:
            chain_days_refresh(cur, customer_ids=list(customer_ids), from_days=[dt.date.min] * len(customer_ids))
        else:
            chain_days_refresh(cur, customer_ids=None)
        return written


def visit_days_sync(*, now: dt.datetime | None = None) -> int:
    """Bring the visit-day table up to the newest ticket before a run: fold in every ticket above the
    feed's watermark (demo data, imports whose receiver has not run yet), rebuild the stores whose time
    zone changed, or everything the first time. Returns the tickets (or rows) folded in."""
    if not use_sql():
        return 0
    with transaction.atomic():
        with connection.cursor() as cur:
            _visit_day_lock(cur)
        feed, _ = VisitDayFeed.objects.select_for_update().get_or_create(pk=1)
        zones = {str(pk): tz for pk, tz in Store.objects.values_list("pk", "time_zone")}
        agg = PurchaseTicket.objects.aggregate(hi=Max("id"))
        hi = agg["hi"] or 0
        moved = sorted(int(k) for k, tz in zones.items() if k in feed.zones and feed.zones[k] != tz)
        done = 0
        if feed.ticket_watermark == 0 or (hi - feed.ticket_watermark) > REBUILD_SHARE * hi:
            done = visit_days_rebuild() if hi else 0
        else:
            if moved:
                done += visit_days_rebuild(store_ids=moved)
            if hi > feed.ticket_watermark:
                done += visit_days_apply(id_range=(feed.ticket_watermark + 1, hi))
        feed.ticket_watermark, feed.zones, feed.synced_at = hi, zones, now
        feed.save(update_fields=["ticket_watermark", "zones", "synced_at"])
    return done


def visit_days_forget(*, customer_id: int) -> None:
    """Erasure: the customer's visit-days go now (their tickets are unlinked)."""
    VisitDay.objects.filter(customer_id=customer_id).delete()
    ChainVisitDay.objects.filter(customer_id=customer_id).delete()


# --- One chunk of a run, set-based (PostgreSQL) ------------------------------------------------------

STATE_COLUMNS = (
    "visits",
    "tickets",
    "first_visit",
    "last_visit",
    "median_gap_days",
    "window_visits",
    "window_revenue",
    "window_oldest",
    "quarters_with_visit",
    "monthly_cv",
    "referred_buyers",
    "status",
    "ladder",
    "due_on",
    "xyz",
)


def _rule_params(windows: rules.Windows, policy: rules.Policy) -> dict:
    """The parameters of the window and the status rules, shared by a chunk's figures and the slide."""
    return {
        "as_of": windows.as_of,
        "ws": windows.window_start,
        "oldest_month": windows.months[-1][0],
        "next_month": (windows.as_of.replace(day=28) + dt.timedelta(days=4)).replace(day=1),
        "lost": policy.lost_after_days,
        "new": policy.new_window_days,
        "min_visits": policy.lapse_min_visits,
        "mult": float(policy.lapse_multiplier),
        "floor": float(policy.lapse_floor_days),
        "window": policy.window_days,
    }


def _features_sql(*, store_id: int | None, customers: CustomerFilter, windows: rules.Windows, policy: rules.Policy):
    """CTEs ``a`` (figures per customer from the visit-day table) and ``f`` (``a`` classified exactly as
    :func:`outreach.rules.classify` does, in SQL). Returns (sql, params)."""
    table = VisitDay._meta.db_table
    extra, params = customers.sql("customer_id")
    ref_extra, _ = customers.sql("c.referred_by_id")
    params = {
        **params,
        **_rule_params(windows, policy),
        "b0": windows.as_of - dt.timedelta(days=policy.window_days),
        "adherent": policy.adherent_quarters,
        "x_max": float(policy.xyz_x_max_cv),
        "y_max": float(policy.xyz_y_max_cv),
    }
    # Visits per calendar month of the 12 before as_of's month, packed 5 bits per month into one bigint
    # (a month has at most 31 visit days): one aggregate per row instead of twelve filtered counts.
    n = len(windows.months)
    params["month_bounds"] = [start for start, _ in reversed(windows.months)] + [windows.months[0][1]]
    params["months_from"], params["months_to"] = windows.months[-1][0], windows.months[0][1]
    months = [f"(packed >> {5 * (n - 1 - i)}) & 31 AS m{i}" for i in range(n)]
    msum = " + ".join(f"m{i}" for i in range(n))
    # Population variance exactly as rules.coefficient_of_variation adds it up: newest month first.
    var = " + ".join(f"(m{i} - mean) ^ 2" for i in range(n))
    quarters = " + ".join(f"({' + '.join(f'm{j}' for j in range(q, min(q + 3, n)))} > 0)::int" for q in range(0, n, 3))
    if store_id is None:
        # The chain: its own visit-day rows (a day is a visit if any store sold), each visit's gap stored
        # with it — no regrouping of the stores' rows, no window; the index hands them over in order.
        chain = ChainVisitDay._meta.db_table
        v = f"""SELECT customer_id, day, sales, revenue, gap FROM {chain}
                WHERE day < %(as_of)s {extra}"""
        bought = f"SELECT 1 FROM {chain} b WHERE b.customer_id = c.id AND b.sales > 0 AND b.day < %(as_of)s"
    else:
        params["store"] = store_id
        # The gap to the previous *visit* day in the store (return-only days are skipped by the FILTER).
        v = f"""SELECT customer_id, day, sales, revenue,
                       CASE WHEN sales > 0 THEN day - max(day) FILTER (WHERE sales > 0) OVER (
                           PARTITION BY customer_id ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                       ) END AS gap
                FROM {table} WHERE store_id = %(store)s AND day < %(as_of)s {extra}"""
        bought = (
            f"SELECT 1 FROM {table} b WHERE b.customer_id = c.id AND b.store_id = %(store)s"
            " AND b.sales > 0 AND b.day < %(as_of)s"
        )
    sql = f"""
        v AS ({v}),
        a0 AS (
            SELECT customer_id,
                   count(*) FILTER (WHERE sales > 0) AS visits, sum(sales)::int AS tickets,
                   min(day) FILTER (WHERE sales > 0) AS first_visit, max(day) FILTER (WHERE sales > 0) AS last_visit,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS median_gap_days,
                   count(*) FILTER (WHERE sales > 0 AND day >= %(ws)s) AS window_visits,
                   coalesce(sum(revenue) FILTER (WHERE day >= %(ws)s), 0) AS window_revenue,
                   min(day) FILTER (WHERE day >= %(b0)s) AS o0,
                   coalesce(sum(1::bigint << (5 * (width_bucket(day, %(month_bounds)s::date[]) - 1)))
                       FILTER (WHERE sales > 0 AND day >= %(months_from)s AND day < %(months_to)s), 0)::bigint AS packed
            FROM v
            GROUP BY customer_id
        ),
        a AS (SELECT a0.*, {", ".join(months)} FROM a0),
        rb AS (
            SELECT c.referred_by_id AS customer_id, count(*) AS n
            FROM customers_customer c
            WHERE c.referred_by_id IS NOT NULL {ref_extra} AND EXISTS ({bought})
            GROUP BY c.referred_by_id
        ),
        -- c1 and c2 MATERIALIZED: inlined, every mention of `mean` (12 in the variance, itself a sum of 12
        -- shifted months), of `status` (4) and of `monthly_cv` (3) was evaluated again per row — the
        -- classification cost more than the aggregate (measured: 12,500 customers ~0.45 s → ~0.25 s).
        c1 AS MATERIALIZED (
            SELECT a.*, coalesce(rb.n, 0)::int AS referred_buyers, %(as_of)s - a.last_visit AS since,
                   CASE WHEN a.median_gap_days IS NULL THEN %(floor)s::float8
                        ELSE greatest(%(mult)s::float8 * a.median_gap_days, %(floor)s::float8) END AS threshold,
                   ({msum})::float8 / {n} AS mean,
                   {quarters} AS quarters_with_visit
            FROM a LEFT JOIN rb ON rb.customer_id = a.customer_id
            -- (a WHERE, not a HAVING: the planner estimated 67 customers out of a HAVING, then joined
            -- the state rows to them in a nested loop — 420 s for one chunk of 12,500)
            WHERE a.visits > 0
        ),
        c2 AS MATERIALIZED (
            SELECT c1.*,
                   CASE WHEN since > %(lost)s THEN 'lost'
                        WHEN %(as_of)s - first_visit <= %(new)s THEN 'new'
                        WHEN visits = 1 THEN 'one_timer'
                        WHEN visits >= %(min_visits)s AND since > threshold THEN 'lapsed'
                        ELSE 'active' END AS status,
                   CASE WHEN mean = 0 THEN NULL
                        ELSE round((sqrt(({var}) / {n}) / mean)::numeric, 6)::float8 END AS monthly_cv
            FROM c1
        ),
        f AS (
            SELECT customer_id, visits, tickets, first_visit, last_visit, median_gap_days, window_visits,
                   window_revenue, o0 AS window_oldest, quarters_with_visit, monthly_cv, referred_buyers, status,
                   CASE WHEN visits <= 1 THEN 'buyer'
                        WHEN visits < %(min_visits)s OR status IN ('lapsed', 'lost') THEN 'repeat'
                        WHEN referred_buyers > 0 THEN 'advocate'
                        WHEN quarters_with_visit >= %(adherent)s THEN 'adherent'
                        ELSE 'regular' END AS ladder,
                   -- rules.due_on_for: the next day on which time alone changes something (LEAST skips NULLs).
                   LEAST(
                       CASE WHEN status = 'new' AND first_visit + (%(new)s + 1) > %(as_of)s
                            THEN first_visit + (%(new)s + 1) END,
                       CASE WHEN status <> 'lost' AND last_visit + (%(lost)s + 1) > %(as_of)s
                            THEN last_visit + (%(lost)s + 1) END,
                       CASE WHEN status IN ('new', 'active') AND visits >= %(min_visits)s
                                 AND last_visit + (floor(threshold)::int + 1) > %(as_of)s
                            THEN last_visit + (floor(threshold)::int + 1) END,
                       CASE WHEN o0 + (%(window)s + 1) > %(as_of)s THEN o0 + (%(window)s + 1) END,
                       CASE WHEN last_visit >= %(oldest_month)s AND %(next_month)s > %(as_of)s
                            THEN %(next_month)s::date END
                   ) AS due_on,
                   CASE WHEN monthly_cv IS NULL THEN ''
                        WHEN monthly_cv <= %(x_max)s::float8 THEN 'X'
                        WHEN monthly_cv <= %(y_max)s::float8 THEN 'Y'
                        ELSE 'Z' END AS xyz
            FROM c2
        )
    """
    return sql, params


def segment_chunk_write(
    *,
    run_id: int,
    scope_key: str,
    store_id: int | None,
    as_of: dt.date,
    customers: CustomerFilter,
    windows: rules.Windows,
    policy: rules.Policy,
) -> int:
    """Recompute one chunk's figures from the visit-day table, classify them, and write the state rows
    and history that changed — one statement, no row through Python. Returns the customers covered
    (the chunk's ids, or for an id range the customers with a visit plus those who lost theirs)."""
    features, params = _features_sql(store_id=store_id, customers=customers, windows=windows, policy=policy)
    state = CustomerSegmentState._meta.db_table
    history = SegmentChange._meta.db_table
    extra, _ = customers.sql("customer_id")
    extra_s, _ = customers.sql("s.customer_id")
    cols = ", ".join(STATE_COLUMNS)
    jcols = ", ".join(f"j.{c}" for c in STATE_COLUMNS)
    sets = ", ".join(f"{c} = j.{c}" for c in STATE_COLUMNS)
    params.update({"scope": scope_key, "run": run_id, "run_as_of": as_of})
    # One statement: the chunk's new figures (fm) and its current rows (cur), each materialised once, meet
    # in one FULL JOIN (a hash join: the only plan a full join has here), and every write reads that
    # result. The writes reach the state rows through the chunk's own (scope, customer) range or ids, so
    # a misjudged row count cannot turn into a scan of the whole table per row (the nested loops over
    # CTEs that once cost 100+ s per chunk came from anti-joins between two CTEs, which are gone).
    sql = f"""
        WITH {features},
        fm AS MATERIALIZED (SELECT customer_id, {cols} FROM f),
        cur AS MATERIALIZED (
            SELECT id, customer_id, {cols}, is_best, is_at_risk FROM {state} WHERE scope_key = %(scope)s {extra}
        ),
        j AS MATERIALIZED (
            SELECT cur.id AS sid, coalesce(fm.customer_id, cur.customer_id) AS customer_id,
                   fm.customer_id IS NOT NULL AS visited,
                   {", ".join(f"fm.{c}" for c in STATE_COLUMNS)},
                   coalesce(cur.status, '') AS old_status, coalesce(cur.ladder, '') AS old_ladder,
                   coalesce(cur.is_best, false) AS old_best, coalesce(cur.is_at_risk, false) AS old_risk,
                   ({", ".join(f"cur.{c}" for c in STATE_COLUMNS)})
                       IS DISTINCT FROM ({", ".join(f"fm.{c}" for c in STATE_COLUMNS)}) AS changed
            FROM fm FULL JOIN cur ON cur.customer_id = fm.customer_id
        ),
        upd AS (
            UPDATE {state} s SET {sets}
            FROM j
            WHERE s.id = j.sid AND j.visited AND j.changed AND s.scope_key = %(scope)s {extra_s}
            RETURNING 1
        ),
        ins AS (
            INSERT INTO {state} (scope_key, customer_id, {cols}, is_best, is_at_risk)
            SELECT %(scope)s, j.customer_id, {jcols}, false, false FROM j WHERE j.sid IS NULL
            RETURNING 1
        ),
        gone AS (
            DELETE FROM {state} s USING j
            WHERE s.id = j.sid AND NOT j.visited AND s.scope_key = %(scope)s {extra_s}
            RETURNING 1
        ),
        moves (customer_id, kind, from_value, to_value) AS (
            SELECT customer_id, 'status', old_status, coalesce(status, '') FROM j
            WHERE old_status <> coalesce(status, '')
            UNION ALL
            SELECT customer_id, 'ladder', old_ladder, coalesce(ladder, '') FROM j
            WHERE old_ladder <> coalesce(ladder, '')
            UNION ALL SELECT customer_id, 'best', 'best', '' FROM j WHERE NOT visited AND old_best
            UNION ALL SELECT customer_id, 'at_risk', 'at_risk', '' FROM j WHERE NOT visited AND old_risk
        ),
        hist AS (
            INSERT INTO {history} (run_id, scope_key, customer_id, kind, from_value, to_value, as_of)
            SELECT %(run)s, %(scope)s, customer_id, kind, from_value, to_value, %(run_as_of)s FROM moves
            RETURNING 1
        )
        SELECT count(*) FILTER (WHERE visited), count(*) FILTER (WHERE NOT visited),
               (SELECT count(*) FROM upd), (SELECT count(*) FROM ins), (SELECT count(*) FROM gone),
               (SELECT count(*) FROM hist)
        FROM j
    """
    with transaction.atomic(), connection.cursor() as cur:
        _heavy_statement(cur)
        # Read the visit-days through their (customer, day[, store]) index in order: a store's gap window and
        # the per-customer aggregate then stream without a sort (a bitmap scan + hash aggregate + sort
        # measured 1.57 s against 1.14 s for 200,000 visit-days).
        cur.execute("SET LOCAL enable_bitmapscan = off")
        cur.execute("SET LOCAL enable_hashagg = off")
        # The chunk's state rows (a few % of the table, scattered by earlier updates) through the (scope,
        # customer) index, not a scan of the whole table twice per chunk (measured 2 × 55 ms a chunk):
        # their pages are in memory, which the default random_page_cost (4) does not assume.
        cur.execute("SET LOCAL random_page_cost = 1.1")
        cur.execute(sql, params)
        visited, gone, _updated, _inserted, _deleted, _moves = cur.fetchone()
    return len(customers.ids) if customers.ids is not None else visited + gone


def segment_slide(
    *,
    scope_key: str,
    store_id: int | None,
    customer_ids: Sequence[int],
    windows: rules.Windows,
    policy: rules.Policy,
) -> list[int]:
    """Slide the 365-day window of the customers whose only change by ``windows.as_of`` is that their
    oldest counted day left it: subtract the days that left (``window_oldest`` up to the new window
    start) from the window figures, take the next oldest day from the index, and recompute ``due_on``.

    Only rows due (``due_on`` ≤ as_of) whose status terms (end of "new", lost, lapse threshold) have not
    come are slid; status, ladder and every other figure cannot have moved for them (the caller leaves
    out customers with changed tickets, and runs this only within the month of the previous run, so the
    monthly figures are unchanged). Idempotent: a slid row has ``window_oldest`` ≥ the window start and
    ``due_on`` after as_of, so a second application finds nothing. Returns the customers slid, whom
    the run need not recompute. PostgreSQL only (the ORM path recomputes them).
    """
    if not use_sql() or not customer_ids:
        return []
    state = CustomerSegmentState._meta.db_table
    table = (ChainVisitDay if store_id is None else VisitDay)._meta.db_table
    store = "" if store_id is None else "AND v.store_id = %(store)s"
    params = {"scope": scope_key, "ids": list(customer_ids), "store": store_id, **_rule_params(windows, policy)}
    # The terms of rules.due_on_for that do not depend on the window (their dates are after the previous
    # run's as_of by construction; a row slides only if none has come by this as_of).
    t_new = "CASE WHEN s.status = 'new' THEN s.first_visit + (%(new)s + 1) END"
    t_lost = "CASE WHEN s.status <> 'lost' THEN s.last_visit + (%(lost)s + 1) END"
    t_lapse = """CASE WHEN s.status IN ('new', 'active') AND s.visits >= %(min_visits)s
                      THEN s.last_visit + (floor(CASE WHEN s.median_gap_days IS NULL THEN %(floor)s::float8
                          ELSE greatest(%(mult)s::float8 * s.median_gap_days, %(floor)s::float8) END)::int + 1) END"""
    t_month = """CASE WHEN s.last_visit >= %(oldest_month)s AND %(next_month)s > %(as_of)s
                      THEN %(next_month)s::date END"""
    sql = f"""
        WITH s AS MATERIALIZED (
            SELECT s.id, s.customer_id, s.window_oldest, {t_new} AS t_new, {t_lost} AS t_lost,
                   {t_lapse} AS t_lapse, {t_month} AS t_month
            FROM {state} s
            WHERE s.scope_key = %(scope)s AND s.customer_id = ANY(%(ids)s) AND s.due_on <= %(as_of)s
              AND s.window_oldest < %(ws)s
        ),
        e AS MATERIALIZED (
            SELECT * FROM s
            WHERE coalesce(t_new > %(as_of)s, true) AND coalesce(t_lost > %(as_of)s, true)
              AND coalesce(t_lapse > %(as_of)s, true)
        ),
        n AS (
            SELECT e.id, e.customer_id, e.t_new, e.t_lost, e.t_lapse, e.t_month, gone.visits, gone.revenue, nx.o0
            FROM e CROSS JOIN LATERAL (
                -- the next oldest day inside the window (one index probe)
                SELECT min(v.day) AS o0 FROM {table} v
                WHERE v.customer_id = e.customer_id AND v.day >= %(ws)s AND v.day < %(as_of)s {store}
            ) nx CROSS JOIN LATERAL (
                -- the days that left the window (a chain day is a visit if any store sold)
                SELECT count(*) FILTER (WHERE d.sales > 0) AS visits, coalesce(sum(d.revenue), 0) AS revenue
                FROM (SELECT v.day, sum(v.sales) AS sales, sum(v.revenue) AS revenue FROM {table} v
                      WHERE v.customer_id = e.customer_id AND v.day >= e.window_oldest AND v.day < %(ws)s {store}
                      GROUP BY v.day) d
            ) gone
        )
        UPDATE {state} s
        SET window_visits = s.window_visits - n.visits,
            window_revenue = s.window_revenue - n.revenue,
            window_oldest = n.o0,
            due_on = LEAST(n.t_new, n.t_lost, n.t_lapse, n.o0 + (%(window)s + 1), n.t_month)
        FROM n WHERE s.id = n.id
        RETURNING s.customer_id
    """
    with transaction.atomic(), connection.cursor() as cur:
        _heavy_statement(cur)
        cur.execute(sql, params)
        return sorted(r[0] for r in cur.fetchall())


# --- The visit model over the state table (PostgreSQL) ----------------------------------------------

# The run's BG/NBD fit uses a fixed systematic sample of about this many customers when the scope has
# more: customers whose (id × 2654435761) mod 10007 falls below a cut-off — deterministic (a full and
# an incremental run of the same day pick the same customers) and spread evenly over the id range.
FIT_SAMPLE = 50_000
_SAMPLE_BUCKETS = 10_007


def model_inputs_sampled(*, scope_key: str, sample: int = FIT_SAMPLE) -> list[dict]:
    """Distinct (visits, first visit, last visit) combinations with counts, over the whole scope when it
    has at most ``sample`` customers, else over the fixed sample (see FIT_SAMPLE)."""
    states = CustomerSegmentState.objects.filter(scope_key=scope_key)
    total = states.count()
    if total <= sample or not use_sql():
        return model_inputs(scope_key=scope_key)
    cut = math.ceil(_SAMPLE_BUCKETS * sample / total)
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT visits, first_visit, last_visit, count(*) FROM {CustomerSegmentState._meta.db_table}
                WHERE scope_key = %s AND (customer_id::bigint * 2654435761) %% {_SAMPLE_BUCKETS} < %s
                GROUP BY 1, 2, 3""",
            [scope_key, cut],
        )
        return [{"visits": v, "first_visit": f, "last_visit": la, "n": n} for v, f, la, n in cur.fetchall()]


def model_apply_sql(
    *,
    run_id: int,
    scope_key: str,
    as_of: dt.date,
    params,
    policy: rules.Policy,
    customer_ids: Sequence[int] | None = None,
) -> tuple[int, int]:
    """The at-risk flag and the day it can next turn on (``risk_on``) for the scope's state rows in one
    UPDATE, with the flips written to the history in the same statement. Returns (rows updated, flips).

    P(alive) is the closed form (as :func:`outreach.bgnbd.p_alive`, same operation order, rounded to 2
    places like ``np.round``), evaluated here only for the flag: it is not stored (readers compute it,
    :func:`p_alive_expression`). ``risk_on`` is :func:`outreach.bgnbd.risk_days` after the first visit.

    ``customer_ids`` (an incremental run keeping the previous run's parameters): only those customers'
    rows and the rows not at risk whose ``risk_on`` has come — P(alive) falls only with T for everyone
    else, so nobody else's flag can move, and the result equals the full pass.
    """
    table, history = CustomerSegmentState._meta.db_table, SegmentChange._meta.db_table
    end = as_of - dt.timedelta(days=1)
    q = {"scope": scope_key, "end": end, "run": run_id, "run_as_of": as_of}
    q.update(min=policy.lapse_min_visits, thr=float(policy.at_risk_threshold))
    restrict = ""
    if customer_ids is not None:
        restrict = "AND (customer_id = ANY(%(ids)s) OR (risk_on <= %(run_as_of)s AND NOT is_at_risk))"
        q["ids"] = list(customer_ids)
    if params is None:
        body = """
            n2 AS (SELECT id, customer_id, old_risk, old_on, false AS new_risk, NULL::date AS new_on FROM s0)"""
    else:
        from . import bgnbd

        qmargin = float(policy.at_risk_threshold) + bgnbd.RISK_MARGIN
        q.update(r=params.r, alpha=params.alpha, a=params.a, b=params.b, q=qmargin)
        # bgnbd.risk_days in SQL (q ≥ 1 would make every eligible row due from its first visit).
        days = (
            "0"
            if qmargin >= 1
            else """floor(exp(greatest(least(
                        ln(%(alpha)s::float8 + tx)
                        + ln((1 / %(q)s::float8 - 1) * (%(b)s::float8 + x - 1) / %(a)s::float8) / (%(r)s::float8 + x),
                        11.0), -50.0)) - %(alpha)s::float8)::int"""
        )
        body = f"""
            p0 AS (
                SELECT s0.*, (%(r)s::float8 + x) * (ln(%(alpha)s::float8 + big_t) - ln(%(alpha)s::float8 + tx)) AS ex
                FROM s0
            ),
            p1 AS (
                -- exp() raises on overflow in PostgreSQL where numpy gives inf (P(alive) 0) or 0 (P(alive) 1).
                SELECT p0.*, CASE WHEN x = 0 OR ex < -700 THEN 1.0::float8
                                  WHEN ex > 700 THEN 0.0::float8
                                  ELSE 1.0 / (1.0 + %(a)s::float8 / (%(b)s::float8 + x - 1) * exp(ex)) END AS pa
                FROM p0
            ),
            n2 AS (
                SELECT id, customer_id, old_risk, old_on,
                       (eligible AND round(pa * 100) / 100 < %(thr)s) AS new_risk,
                       CASE WHEN eligible THEN first_visit + {days} END AS new_on
                FROM p1
            )"""
    sql = f"""
        WITH s0 AS (
            SELECT id, customer_id, first_visit, is_at_risk AS old_risk, risk_on AS old_on,
                   visits - 1 AS x, last_visit - first_visit AS tx, %(end)s - first_visit AS big_t,
                   (visits >= %(min)s AND status <> 'lost') AS eligible
            FROM {table} WHERE scope_key = %(scope)s {restrict}
        ),
        {body},
        changed AS MATERIALIZED (
            SELECT * FROM n2 WHERE (old_risk, old_on) IS DISTINCT FROM (new_risk, new_on)
        ),
        u AS (
            UPDATE {table} s SET is_at_risk = c.new_risk, risk_on = c.new_on
            FROM changed c
            WHERE s.id = c.id
            RETURNING c.customer_id, c.old_risk, c.new_risk
        ),
        hist AS (
            INSERT INTO {history} (run_id, scope_key, customer_id, kind, from_value, to_value, as_of)
            SELECT %(run)s, %(scope)s, customer_id, 'at_risk',
                   CASE WHEN old_risk THEN 'at_risk' ELSE '' END, CASE WHEN new_risk THEN 'at_risk' ELSE '' END,
                   %(run_as_of)s
            FROM u WHERE old_risk <> new_risk
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM hist)
    """
    with transaction.atomic(), connection.cursor() as cur:
        _heavy_statement(cur)
        cur.execute(sql, q)
        return cur.fetchone()


# --- The visit model at read time --------------------------------------------------------------------


class PAlive(Func):
    """P(alive) of a state row (``prefix`` reaches it through a relation, e.g. ``"st__"``) at ``as_of``
    under the scope's fitted parameters — the closed form of :func:`outreach.bgnbd.p_alive`, rounded to
    2 places, in SQL (PostgreSQL and SQLite), so lists can show and order by it without storing it.
    NULL when the run has no model."""

    output_field = FloatField()

    def __init__(self, *, model_params: dict | None, as_of: dt.date, prefix: str = ""):
        super().__init__(F(f"{prefix}visits"), F(f"{prefix}first_visit"), F(f"{prefix}last_visit"))
        keys = ("r", "alpha", "a", "b")
        self.model = (
            tuple(float(model_params[k]) for k in keys)
            if model_params and all(model_params.get(k) is not None for k in keys)
            else None
        )
        self.end = as_of - dt.timedelta(days=1)

    def as_sql(self, compiler, connection, **extra_context):
        if self.model is None:
            return "NULL", []
        compiled = [compiler.compile(e) for e in self.get_source_expressions()]
        if any(p for _, p in compiled):  # columns only: each is repeated below
            raise ValueError("PAlive takes columns")
        visits, first, last = (sql for sql, _ in compiled)
        return p_alive_sql_text(
            visits=visits, first=first, last=last, model=self.model, end=self.end, vendor=connection.vendor
        ), []


def p_alive_sql_text(*, visits: str, first: str, last: str, model: tuple, end: dt.date, vendor: str) -> str:
    """The SQL of :class:`PAlive` over the column expressions ``visits``, ``first``, ``last`` (raw SQL users)."""
    r, alpha, a, b = (repr(float(v)) for v in model)
    end_sql = f"'{end.isoformat()}'"
    if vendor == "postgresql":
        tx, big_t = f"({last} - {first})", f"(DATE {end_sql} - {first})"
    else:
        tx, big_t = f"(julianday({last}) - julianday({first}))", f"(julianday({end_sql}) - julianday({first}))"
    x = f"({visits} - 1)"
    ex = f"(({r} + {x}) * (ln({alpha} + {big_t}) - ln({alpha} + {tx})))"
    pa = (
        f"(CASE WHEN {visits} <= 1 OR {ex} < -700 THEN 1.0 WHEN {ex} > 700 THEN 0.0 "
        f"ELSE 1.0 / (1.0 + {a} / ({b} + {x} - 1) * exp({ex})) END)"
    )
    return f"(round({pa} * 100) / 100)"


def scope_model(scope_key: str) -> tuple[dict | None, dt.date | None]:
    """(model parameters, as_of) of the scope's newest finished run: what P(alive) is read against."""
    from .models import SegmentRun

    row = (
        SegmentRun.objects.filter(scope_key=scope_key, status=SegmentRun.Status.DONE)
        .order_by("-started_at", "-id")
        .values_list("model_params", "as_of")
        .first()
    )
    return (row[0] or None, row[1]) if row else (None, None)


def p_alive_expression(*, scope_key: str, prefix: str = ""):
    """P(alive) of the scope's state rows as of its newest finished run (NULL without a model)."""
    params, as_of = scope_model(scope_key)
    if params is None or as_of is None:
        return Value(None, output_field=FloatField())
    return PAlive(model_params=params, as_of=as_of, prefix=prefix)


def p_alive_sql(*, scope_key: str, alias: str) -> str:
    """PostgreSQL SQL of P(alive) for the state rows aliased ``alias`` (as :func:`p_alive_expression`)."""
    params, as_of = scope_model(scope_key)
    if not params or as_of is None or any(params.get(k) is None for k in ("r", "alpha", "a", "b")):
        return "NULL::float"
    model = tuple(float(params[k]) for k in ("r", "alpha", "a", "b"))
    return p_alive_sql_text(
        visits=f"{alias}.visits",
        first=f"{alias}.first_visit",
        last=f"{alias}.last_visit",
        model=model,
        end=as_of - dt.timedelta(days=1),
        vendor="postgresql",
    )


def visit_model_figures(
    *,
    visits: int,
    first_visit: dt.date,
    last_visit: dt.date,
    model_params: dict | None,
    as_of: dt.date,
    expected_days: int | None = None,
) -> tuple[float | None, float | None]:
    """(P(alive), expected visits over the next ``expected_days`` — None unless asked) of one customer at
    ``as_of`` under ``model_params`` (a run's), rounded as shown: the Python twin of :class:`PAlive`."""
    from . import bgnbd

    if not model_params or any(model_params.get(k) is None for k in ("r", "alpha", "a", "b")):
        return None, None
    params = bgnbd.BGNBDParams(*(float(model_params[k]) for k in ("r", "alpha", "a", "b")))
    end = as_of - dt.timedelta(days=1)
    x, t_x, big_t = [visits - 1], [(last_visit - first_visit).days], [(end - first_visit).days]
    p = float(np.round(bgnbd.p_alive(params, x, t_x, big_t)[0], 2))
    if expected_days is None:
        return p, None
    return p, float(np.round(bgnbd.expected_visits(params, expected_days, x, t_x, big_t)[0], 1))
