"""The owner export's rows on PostgreSQL: one query, read through a server-side cursor.

``export_rows`` (outreach.exports) enriches each chunk of 2,000 customers with a handful of ORM
queries; that is the portable path (the embedded SQLite default) and the reference a test compares
this one with. Here one statement builds every column of every row from precomputed tables:

- the list and its window figures from CustomerMonth (or the segmentation's CustomerSegmentState
  for the order and the last visit, plus CustomerMonth for the window figures);
- "served most by" from CustomerMonthStaff (per month, so any window of whole months is exact):
  most sales in the window at the scope's stores, then the most recent sale, then the lower user id —
  or, for a list of every store over the window the dashboard refresh keeps (the 12 months up to the
  current month), one row per customer from CustomerServedMost, which that refresh computes with
  the same rule (a test compares the two);
- points and tier (loyalty), interests (tags, in code-point order), the home store's code;
- the contact details the customer consented to (nothing for "do not contact" or an erased person).

With ``text=True`` every cell comes back as text, formatted as the CSV writes it (ISO dates, plain
decimals, empty for none) and neutralised against formula injection in SQL (the same prefixes as
``customers.spreadsheets``), so the CSV writer only joins strings. Without it numbers and dates keep
their types (XLSX) and only text cells are neutralised.

"Served most by" sums CustomerMonthStaff per (customer, staff) straight from a covering index in
that order (a group aggregate that never touches the heap; hash aggregation is switched off for the
statement because two million (customer, staff) groups spill to disk). A whole "everyone" list reads
the window's rows without the semi-join on the list (every row of the window belongs to a listed
customer: a sale is a visit); a top N or a segment looks its customers up in the index.

The cursor runs inside a transaction (a server-side cursor ``WITH HOLD`` would copy the whole result
before the first row) with ``work_mem`` raised for it alone (and hash tables allowed 4 × that, so the
million customers' hash join runs in one batch).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from django.db import connection, transaction
from django.utils.translation import gettext

from customers.spreadsheets import DANGEROUS_PREFIXES

FETCH = 5000
WHOLE_MIN, WHOLE_SHARE = 50_000, 0.25  # a top N of at least this many and this share: no semi-join on the list
WORK_MEM = "64MB"


def _neutral(expr: str) -> str:
    """SQL for ``customers.spreadsheets.neutralise`` of a text expression.

    ``ascii()`` of the first character against integer code points (every prefix is one ASCII
    character): no one-character text is built and compared per cell, ten cells a row.
    """
    return f"(CASE WHEN ascii({expr}) = ANY(%(danger)s) THEN '''' || {expr} ELSE {expr} END)"


def _list_cte(request, limit: int | None) -> tuple[str, dict]:
    """``list(customer_id, ord, visits, tickets, spend, last_visit)``: the list's customers in order."""
    from .exports import STATE_SEGMENTS
    from .rules import LADDER

    first, last = request.window
    params = {"stores": list(request.store_ids), "first": first, "last": last, "limit": limit}
    if request.segment == "all":
        return (
            """
            list AS (
                -- ORDER BY … LIMIT first (a top-N heap sort, like the baseline COPY), numbered after.
                SELECT top.*, row_number() OVER (ORDER BY visits DESC, tickets DESC, spend DESC, customer_id) AS ord
                FROM (
                    SELECT customer_id, sum(visits) AS visits, sum(tickets) AS tickets, sum(revenue) AS spend,
                           max(last_day) AS last_visit
                    FROM outreach_customermonth
                    WHERE store_id = ANY(%(stores)s) AND month >= %(first)s AND month <= %(last)s AND visits > 0
                    GROUP BY customer_id
                    ORDER BY sum(visits) DESC, sum(tickets) DESC, sum(revenue) DESC, customer_id
                    LIMIT %(limit)s
                ) top
            )""",
            params,
        )
    if request.segment not in STATE_SEGMENTS:
        raise ValueError(f"unknown list {request.segment!r}")
    name = request.segment
    if name == "best":
        where, order = "s.is_best", "{t}.best_rank, {t}.customer_id"
    elif name == "at_risk":
        # P(alive) is read against the scope's newest run, not stored (as the Segments page orders it)
        from . import analytics  # here, not at the top: it brings NumPy, which a CSV export never needs

        where = "s.is_at_risk"
        order = analytics.p_alive_sql(scope_key=request.scope_key, alias="{t}") + ", {t}.customer_id"
    elif name in LADDER:
        where, order = "s.ladder = %(name)s", "{t}.visits DESC, {t}.last_visit DESC, {t}.customer_id"
    else:
        where, order = "s.status = %(name)s", "{t}.visits DESC, {t}.last_visit DESC, {t}.customer_id"
    params.update({"scope": request.scope_key, "name": name})
    return (
        f"""
        members AS (
            SELECT top.customer_id, top.last_visit, row_number() OVER (ORDER BY {order.format(t="top")}) AS ord
            FROM (
                SELECT s.* FROM outreach_customersegmentstate s
                WHERE s.scope_key = %(scope)s AND {where}
                ORDER BY {order.format(t="s")}
                LIMIT %(limit)s
            ) top
        ),
        figures AS (
            SELECT customer_id, sum(visits) AS visits, sum(tickets) AS tickets, sum(revenue) AS spend
            FROM outreach_customermonth
            WHERE store_id = ANY(%(stores)s) AND month >= %(first)s AND month <= %(last)s
              AND customer_id IN (SELECT customer_id FROM members)
            GROUP BY customer_id
        ),
        list AS (
            SELECT m.customer_id, m.ord, coalesce(f.visits, 0) AS visits, coalesce(f.tickets, 0) AS tickets,
                   coalesce(f.spend, 0) AS spend, m.last_visit
            FROM members m LEFT JOIN figures f ON f.customer_id = m.customer_id
        )""",
        params,
    )


def export_sql(
    request, *, limit: int | None = None, text: bool = False, neutral: bool = True, copy: bool = False
) -> tuple[str, dict]:
    """The statement and its parameters; columns in ``exports.COLUMNS`` order.

    ``neutral``: text cells neutralised for a spreadsheet (CSV, XLSX); off for the PDF and the dict rows.
    ``copy``: for ``COPY … TO STDOUT WITH (FORMAT csv)`` (implies ``text``): an empty text cell comes
    back as NULL, which COPY writes as nothing — as the csv module writes ``""`` — where it would
    quote an empty string (``""``).
    """
    text = text or copy
    list_cte, params = _list_cte(request, limit)
    params["danger"] = [ord(prefix) for prefix in DANGEROUS_PREFIXES]
    params["erased"] = gettext("Erased customer #%(id)s")
    blocked = "(c.do_not_contact OR c.erased_at IS NOT NULL)"
    name = (
        "(CASE WHEN c.erased_at IS NOT NULL THEN replace(%(erased)s, '%%(id)s', c.id::text)"
        " ELSE btrim(c.first_name || ' ' || c.last_name, ' ') END)"
    )
    average = "round(l.spend / nullif(l.tickets, 0), 2)"

    def cell(expr: str) -> str:
        """A text cell of a small table, neutralised (for COPY: NULL when empty, see above)."""
        expr = _neutral(expr) if neutral else expr
        return f"nullif({expr}, '')" if copy else expr

    # The cells that come from small tables (store code, tier, staff name) and the interests are
    # built and neutralised once per store, tier, staff member or tagged customer, in their own
    # subqueries (MATERIALIZED: a flattened one would be computed again for every exported row).
    staff_name = "coalesce(nullif(btrim(u.first_name || ' ' || u.last_name, ' '), ''), u.username)"
    texts = {
        "home_store": "st.code",
        "tier": "t.name",
        "served_most_by": "u.name",
        "interests": "tg.names",
    }
    if copy:
        # COPY writes numbers and (with DateStyle ISO) dates as the csv module writes their ``str``.
        typed = {
            "visits": "l.visits",
            "tickets": "l.tickets",
            "last_visit": "l.last_visit",
            "average_ticket": average,
            "total_spend": "l.spend",
            "points": "a.balance",
        }
    elif text:
        typed = {
            "visits": "l.visits::text",
            "tickets": "l.tickets::text",
            "last_visit": "coalesce(to_char(l.last_visit, 'YYYY-MM-DD'), '')",
            "average_ticket": f"coalesce({average}::text, '')",
            "total_spend": "l.spend::text",
            "points": "coalesce(a.balance::text, '')",
        }
    else:
        typed = {
            "visits": "l.visits::int",
            "tickets": "l.tickets::int",
            "last_visit": "l.last_visit",
            "average_ticket": average,
            "total_spend": "l.spend",
            "points": "a.balance",
        }
    if not copy:  # a customer with no account, staff or interests: '' (COPY writes NULL as nothing)
        texts = {key: f"coalesce({expr}, '')" for key, expr in texts.items()}
    from .exports import COLUMNS

    # The raw cells come out of a subquery that PostgreSQL may not flatten (OFFSET 0): each is computed
    # once per row there, and the neutralisation above it reads plain columns. (Written inline, the name
    # was built two or three times per row: the test, then the result.)
    raw = {**typed, **texts, "card": "c.card_number", "name": name}
    for key, column, consent in [
        ("email", "c.email", "c.consent_email"),
        ("phone", "c.phone", "c.consent_sms"),
        ("postal_address", "c.postal_address", "c.consent_post"),
    ]:
        raw[key] = f"(CASE WHEN {consent} AND NOT {blocked} THEN {column} ELSE '' END)"
    outer = {}
    for key, _label in COLUMNS:
        if key in typed or key in texts:
            outer[key] = f"x.{key}"
        else:
            expr = _neutral(f"x.{key}") if neutral else f"x.{key}"
            # The numbers are never empty; last visit, average and points are NULL when there is none.
            outer[key] = f"nullif({expr}, '')" if copy else expr
    inner = ",\n                   ".join(f"{raw[key]} AS {key}" for key, _label in COLUMNS)
    select = ",\n               ".join(outer[key] for key, _label in COLUMNS)
    interests = """string_agg(tag.name, ', ' ORDER BY tag.name COLLATE "C")"""
    whole = is_whole(request, limit)
    in_list = "" if whole else "AND customer_id IN (SELECT customer_id FROM list)"
    if served_most_held(request):
        served = f"""
        served AS (SELECT customer_id, staff_id FROM outreach_customerservedmost WHERE true {in_list}),"""
    else:
        served = f"""
        totals AS (
            SELECT customer_id, staff_id, sum(tickets) AS n, max(last_day) AS last_day
            FROM outreach_customermonthstaff
            WHERE store_id = ANY(%(stores)s) AND month >= %(first)s AND month <= %(last)s
              {in_list}
            GROUP BY customer_id, staff_id
        ),
        served AS (
            SELECT DISTINCT ON (customer_id) customer_id, staff_id FROM totals
            ORDER BY customer_id, n DESC, last_day DESC, staff_id
        ),"""
    sql = f"""
        WITH {list_cte},{served}
        tags AS (
            SELECT ct.customer_id, {cell(interests)} AS names
            FROM customers_customer_tags ct JOIN customers_tag tag ON tag.id = ct.tag_id
            WHERE true {in_list.replace("customer_id", "ct.customer_id", 1)}
            GROUP BY ct.customer_id
        ),
        stores AS MATERIALIZED (SELECT st.id, {cell("st.code")} AS code FROM customers_store st),
        tiers AS MATERIALIZED (SELECT t.id, {cell("t.name")} AS name FROM loyalty_tier t),
        staff AS MATERIALIZED (SELECT u.id, {cell(staff_name)} AS name FROM auth_user u)
        SELECT {select}
        FROM (
            SELECT l.ord,
                   {inner}
            FROM list l
            JOIN customers_customer c ON c.id = l.customer_id
            JOIN stores st ON st.id = c.home_store_id
            LEFT JOIN loyalty_account a ON a.customer_id = c.id
            LEFT JOIN tiers t ON t.id = a.tier_id
            LEFT JOIN served sv ON sv.customer_id = c.id
            LEFT JOIN staff u ON u.id = sv.staff_id
            LEFT JOIN tags tg ON tg.customer_id = c.id
            OFFSET 0
        ) x
        ORDER BY x.ord
    """
    return sql, params


def served_most_held(request) -> bool:
    """Whether CustomerServedMost holds this list's "served most by": a list of every store (the chain)
    over the window the dashboard refresh keeps it for. Else it is computed from CustomerMonthStaff."""
    from customers.models import Store

    from .models import ServedMostWindow

    if not ServedMostWindow.objects.filter(month=request.window[1]).exists():
        return False
    return set(request.store_ids) == set(Store.objects.values_list("pk", flat=True))


def is_whole(request, limit: int | None) -> bool:
    """The "everyone" list, or a top N that is most of it: no semi-joins on the list (see ``_covers_most``)."""
    return request.segment == "all" and (limit is None or _covers_most(limit))


def _covers_most(limit: int) -> bool:
    """Whether a top ``limit`` is a large share of the customers (the planner's estimate of the table).

    Then the window's "served most by" and interests are aggregated for everyone in index order and the
    joins drop the rest, instead of a semi-join on the list: at a top 1,000,000 of 1M customers the
    semi-join probed the covering index a million times and sorted the 4M pairs it found on disk
    (26.8 s for the statement against ~17 s). A small top N keeps the semi-join (N index probes).
    """
    if limit < WHOLE_MIN:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'customers_customer'::regclass")
        (estimate,) = cursor.fetchone()
    return estimate > 0 and limit >= estimate * WHOLE_SHARE


def export_tuples_sql(
    request, *, limit: int | None = None, text: bool = False, neutral: bool = True, hold: bool = False
) -> Iterator[list[tuple]]:
    """Batches of row tuples (``FETCH`` rows each) from one server-side cursor, in list order.

    ``hold``: the caller commits on this connection while it reads (the XLSX job's progress
    updates must be visible to the page that polls them). Outside a transaction Django opens the
    cursor ``WITH HOLD``, which PostgreSQL fills completely on the first fetch (a temporary file
    on the server, not Python memory) — cheap next to writing a workbook.
    """
    sql, params = export_sql(request, limit=limit, text=text, neutral=neutral)
    if hold:
        with connection.cursor() as cursor:
            cursor.execute(f"SET work_mem = '{WORK_MEM}'")
            cursor.execute("SET jit = off")
            cursor.execute("SET enable_hashagg = off")
            cursor.execute("SET hash_mem_multiplier = 4")
            if is_whole(request, limit):
                cursor.execute("SET enable_nestloop = off")
        try:
            with connection.chunked_cursor() as cursor:
                cursor.execute(sql, params)
                while batch := cursor.fetchmany(FETCH):
                    yield batch
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET work_mem")
                cursor.execute("RESET jit")
                cursor.execute("RESET enable_hashagg")
                cursor.execute("RESET hash_mem_multiplier")
                cursor.execute("RESET enable_nestloop")
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            _set_local(cursor, whole=is_whole(request, limit))
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(FETCH):
                yield batch


def _set_local(cursor, *, whole: bool) -> None:
    """The export statement's settings, for the current transaction only.

    ``whole``: no nested loops. Every join is then over (nearly) all customers, and the planner
    estimates the grouped CTEs ("served most by", interests) at 200 rows, so it may otherwise probe or
    rescan per customer (a nested loop over a Materialize of the interests ran for 10 minutes).
    """
    if whole:
        cursor.execute("SET LOCAL enable_nestloop = off")
    cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    # COPY writes dates with their output function: YYYY-MM-DD, as the csv module writes a date.
    cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
    # JIT compiles this query's expressions for seconds and saves less than that.
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL enable_hashagg = off")
    # Hash tables up to 4 × work_mem: the million customers' hash (~82 MB) in one batch, not two.
    cursor.execute("SET LOCAL hash_mem_multiplier = 4")


# --- CSV written by PostgreSQL (COPY … TO STDOUT) ---------------------------------------------------

COPY_BATCH = 2000  # rows handed on at a time (~250 kB)
COPY_QUEUE = 8  # batches the reader thread may be ahead of the response (~2 MB at most)


class _CopyRows:
    """The file object ``copy_expert`` writes to: one call per row, handed on ``COPY_BATCH`` rows at a time.

    PostgreSQL sends each row of ``COPY … TO STDOUT`` as one CopyData message ending in ``\n``, and
    psycopg2 calls ``write`` once per message; the csv module ends a row with ``\r\n``, so the last
    byte of each message is replaced (a newline inside a cell is quoted and stays as it is — the csv
    module writes it the same way).
    """

    def __init__(self, emit) -> None:
        self.emit = emit
        self.rows = 0
        self._batch: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._batch.append(data[:-1])
        if len(self._batch) >= COPY_BATCH:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            self.rows += len(self._batch)
            self._batch.append(b"")
            self.emit(b"\r\n".join(self._batch))
            self._batch = []


def _copy_statement(cursor, request, limit: int | None) -> str:
    sql, params = export_sql(request, limit=limit, copy=True)
    return cursor.mogrify(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params).decode()


def copy_csv(request, *, limit: int | None, emit) -> int:
    """The list's CSV rows (no header) written by PostgreSQL, ``emit``-ted in batches of bytes; the row count.

    The same bytes as ``csv.writer`` gives for ``export_tuples_sql(text=True)`` (a test compares them on
    awkward values). PostgreSQL formats while the client copies: no fetch round trips.
    """
    sink = _CopyRows(emit)
    with transaction.atomic():
        with connection.cursor() as cursor:
            _set_local(cursor, whole=is_whole(request, limit))
            cursor.cursor.copy_expert(_copy_statement(cursor.cursor, request, limit), sink)
        sink.flush()
    return sink.rows


def copy_csv_stream(request, *, limit: int | None) -> Iterator[bytes]:
    """``copy_csv`` as a generator of byte batches, for a streaming response.

    ``copy_expert`` writes to a file object until the COPY ends, so it runs in a reader thread on
    this thread's connection (psycopg2 releases the GIL while it waits for the server; Django's
    connection is only touched here) and hands its batches over a bounded queue: memory stays
    ``COPY_QUEUE`` batches. If the response is closed early (the client went away), the statement
    is cancelled on the server and the transaction rolled back.
    """
    done = object()
    batches: queue.Queue = queue.Queue(maxsize=COPY_QUEUE)
    stop = threading.Event()
    failure: list[BaseException] = []

    def emit(batch: bytes) -> None:
        if not stop.is_set():
            batches.put(batch)

    with transaction.atomic():
        with connection.cursor() as cursor:
            _set_local(cursor, whole=is_whole(request, limit))
            statement = _copy_statement(cursor.cursor, request, limit)
        pg = connection.connection  # the psycopg2 connection of this thread's Django connection

        def read() -> None:
            try:
                sink = _CopyRows(emit)
                with pg.cursor() as cursor:
                    cursor.copy_expert(statement, sink)
                sink.flush()
            except BaseException as exc:  # handed to the consumer
                failure.append(exc)
            finally:
                batches.put(done)

        reader = threading.Thread(target=read, name="csv-copy", daemon=True)
        reader.start()
        finished = False
        try:
            while (batch := batches.get()) is not done:
                yield batch
            finished = True
        finally:
            if not finished:  # closed early: stop the statement, let the reader run out
                stop.set()
                pg.cancel()
                while batches.get() is not done:
                    pass
            reader.join()
        if failure:
            raise failure[0]
