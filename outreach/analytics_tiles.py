"""Raw SQL of the dashboard's tiles (STYLE.md keeps raw SQL in ``analytics*.py`` modules).

``version_annotations``: per store, the version of each table a cached tile reads (see
``dashboard_tiles``); ``points_liability_annotations``: per store, its points held and their value
(``kpis.points_liability_of``). Table and column names come from the models; the only value is a parameter.
"""

from __future__ import annotations

import functools
import time


def version_annotations() -> dict:
    """Annotations for a Store queryset: the versions of the tables its tiles read (subqueries).

    Written as SQL once (``_version_sql``): the ORM built and compiled these five subqueries
    on every request, 2.5 ms of the page's CPU; the SQL is the same on PostgreSQL and SQLite.
    """
    from django.db.models import CharField, DateTimeField, IntegerField
    from django.db.models.expressions import RawSQL

    from .models import SegmentRun

    sql, done = _version_sql(), SegmentRun.Status.DONE.value
    return {
        "days_version": RawSQL(sql["days"], (), output_field=DateTimeField()),
        # The campaign results' last refresh and row count (a deleted campaign takes its rows along).
        "results_version": RawSQL(sql["results"], (), output_field=CharField()),
        # A renamed campaign shows its new name at once.
        "campaigns_version": RawSQL(sql["campaigns"], (), output_field=DateTimeField()),
        "run_version": RawSQL(sql["run"], (done,), output_field=IntegerField()),
        # The notes pipeline and the complaints (``outreach.live_versions``): a primary-key read.
        "live_version": RawSQL(sql["live"], (), output_field=CharField()),
        "chain_run_version": RawSQL(sql["chain_run"], (done,), output_field=IntegerField()),
    }


@functools.cache
def _version_sql() -> dict[str, str]:
    from customers.models import Store

    from .models import Campaign, CampaignResult, LiveVersion, SegmentRun, StoreDay

    store = f"{Store._meta.db_table}.{Store._meta.pk.column}"
    runs = SegmentRun._meta.db_table
    last_run = (
        f"SELECT id FROM {runs} WHERE status = %s AND scope_key = {{scope}} ORDER BY started_at DESC, id DESC LIMIT 1"
    )
    return {
        "days": f"SELECT max(refreshed_at) FROM {StoreDay._meta.db_table} WHERE store_id = {store}",
        "results": (
            "SELECT CAST(max(refreshed_at) AS TEXT) || '/' || CAST(count(*) AS TEXT)"
            f" FROM {CampaignResult._meta.db_table} WHERE store_id = {store}"
        ),
        "campaigns": f"SELECT max(updated_at) FROM {Campaign._meta.db_table}",
        "live": (
            "SELECT CAST(version AS TEXT) || '/' || CAST(changed_at AS TEXT)"
            f" FROM {LiveVersion._meta.db_table} WHERE store_id = {store}"
        ),
        "run": last_run.format(scope=f"'store:' || CAST({store} AS TEXT)"),
        "chain_run": last_run.format(scope="'chain'"),
    }


def points_liability_annotations() -> dict:
    """Annotations for a Store queryset: its positive points balance and point value (``points_liability_of``).

    Written as SQL once (the ORM built and compiled these subqueries on every dashboard request);
    the same SQL on PostgreSQL and SQLite. ``test_kpis`` checks it against ``points_liability``.
    """
    from django.db.models import DecimalField, IntegerField
    from django.db.models.expressions import RawSQL

    sql = _points_sql()
    return {
        "points_held": RawSQL(sql["held"], (), output_field=IntegerField()),
        "points_shown": RawSQL(sql["display_points"], (), output_field=IntegerField()),
        "points_value": RawSQL(sql["display_value"], (), output_field=DecimalField()),
    }


@functools.cache
def _points_sql() -> dict[str, str]:
    from customers.models import Store
    from loyalty.models import Account, ProgramRules

    store = f"{Store._meta.db_table}.{Store._meta.pk.column}"
    rules = ProgramRules._meta.db_table

    def rule(field: str) -> str:  # the store's own rules, else the chain's
        return (
            f"SELECT COALESCE((SELECT {field} FROM {rules} WHERE store_id = {store} LIMIT 1),"
            f" (SELECT {field} FROM {rules} WHERE store_id IS NULL LIMIT 1))"
        )

    return {
        "held": f"SELECT sum(balance) FROM {Account._meta.db_table} WHERE store_id = {store} AND balance > 0",
        "display_points": rule("display_points"),
        "display_value": rule("display_value"),
    }


# The dashboard's store query, compiled once per process: building and compiling the ORM query with its
# nine annotations cost ~0.9 ms of CPU per request, more than PostgreSQL takes to run it (0.7 ms).
_STORE_FIELDS = ("pk", "code", "name", "currency", "margin", "locale", "country", "calendar", "time_zone")
_SENTINEL = -7_000_000_000  # stand-in store ids, replaced by the real ones in the compiled parameters


# Points held (the sum of the stores' positive balances) is a scan of their accounts: ~45 ms for a store
# of 200,000 accounts and ~160 ms for a chain of a million, measured. Every dashboard request needs it (the
# liability card, and the tiles' cache key), so the dashboard reads it at most once a minute per set of
# stores: a stock figure up to a minute old, like the pipeline's "overdue", which the page's key also
# renews each minute. ``kpis.points_liability`` (the loyalty pages) reads it live.
POINTS_HELD_SECONDS = 60
POINTS_HELD_KEPT_SECONDS = 3 * 60  # served past their minute only while one request sums them again


def points_held_cache_key(ids: list[int] | None) -> str:
    return "dashboard:points-held:v2:" + ("all" if ids is None else ",".join(map(str, ids)))


def dashboard_stores(*, store_ids: frozenset[int] | None) -> list:
    """The stores a dashboard shows (all of them for ``None``), by code, with their points liability and
    the versions of their tiles' tables: one query, the same rows as the ORM query it is compiled from.

    Points held come from the cache when a request of the last ``POINTS_HELD_SECONDS`` read them for the
    same stores; otherwise the query sums them too and leaves them in the cache. Past their minute, the
    first request to mark them sums them again and the others keep the last figures meanwhile.

    On PostgreSQL the compiled SQL runs through ``Store.objects.raw`` (psycopg2 returns the annotations'
    types, dates and decimals, as the ORM would); elsewhere the ORM query itself (SQLite returns them as
    text, which only the ORM's converters turn back).
    """
    from django.core.cache import cache
    from django.db import connection

    from customers.models import Store

    ids = None if store_ids is None else sorted(store_ids)
    if ids == []:
        return []
    key = points_held_cache_key(ids)
    entry = cache.get(key)  # {"held": {store id: points}, "until": when to sum again (epoch seconds)}
    # After its minute one request sums again (the first to mark it); the others keep the last figures until
    # then, instead of all summing together (~45–160 ms each at this bench's size, a herd every minute).
    now = time.time()  # cache freshness, shared by the processes: wall clock
    with_held = entry is None or (entry["until"] <= now and cache.add(key + ":summing", 1, POINTS_HELD_SECONDS))
    if connection.vendor != "postgresql":
        qs = Store.objects.all() if ids is None else Store.objects.filter(pk__in=ids)
        stores = list(_dashboard_stores_qs(qs, with_held=with_held))
    else:
        sql, params = _dashboard_stores_sql(None if ids is None else len(ids), with_held)
        if ids is not None:
            real = dict(zip(range(_SENTINEL, _SENTINEL - len(ids), -1), ids, strict=True))
            params = tuple(real.get(p, p) if isinstance(p, int) else p for p in params)
        stores = list(Store.objects.raw(sql, params))
    if with_held:
        held = {s.pk: s.points_held for s in stores}
        cache.set(key, {"held": held, "until": now + POINTS_HELD_SECONDS}, POINTS_HELD_KEPT_SECONDS)
        cache.delete(key + ":summing")
    else:
        for s in stores:
            s.points_held = entry["held"].get(s.pk)  # a store opened within the minute holds nothing yet
    return stores


@functools.lru_cache(maxsize=64)
def _dashboard_stores_sql(n_ids: int | None, with_held: bool) -> tuple[str, tuple]:
    from customers.models import Store

    sentinels = list(range(_SENTINEL, _SENTINEL - (n_ids or 0), -1))
    qs = Store.objects.all() if n_ids is None else Store.objects.filter(pk__in=sentinels)
    sql, params = _dashboard_stores_qs(qs, with_held=with_held).query.sql_with_params()
    return sql, tuple(params)


def _dashboard_stores_qs(qs, *, with_held: bool = True):
    points = points_liability_annotations()
    if not with_held:
        del points["points_held"]
    return qs.only(*_STORE_FIELDS).annotate(**points, **version_annotations()).order_by("code")
