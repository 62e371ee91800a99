"""The PostgreSQL path: COPY into a temporary staging table, then set-based SQL.

Python only parses (streaming, constant memory); every check across rows,
the customer matching and the insert are a handful of statements over the
staging table, inside the caller's transaction. Nothing here loops over rows
in Python except the COPY stream itself and the ids handed back for signals.
"""

import datetime as dt
import io
import uuid
from collections.abc import Callable, Iterable, Iterator

from django.db import DatabaseError, connection, transaction
from django.db.models import NOT_PROVIDED

from ..models import Customer, PurchaseTicket
from .rows import (
    MAX_KEPT_ISSUES,
    OLDEST,
    RowIssue,
    RowParser,
    _phone,
    amount_normalise,
    conflict_issue,
    email_value,
    iso_datetime,
    issue,
    items_value,
    unknown_original_issue,
    unknown_staff_warning,
)

CHUNK = 50_000

# --- the per-row checks in SQL ------------------------------------------------------------------------
# The values a POS writes (ASCII, ISO 8601 in its usual shape) are checked and converted by one SQL
# statement over the raw staging table. Anything else (other scripts' digits, unusual ISO 8601 forms,
# non-ASCII emails) and every phone number go to rows.py's Python helpers, once per distinct value, and
# the statement reads their verdict from small lookup tables: both paths give the same answer and the
# same message (rows.MESSAGES) as RowParser, which the ORM engine uses. tests/customers/test_import.py
# runs both engines over a file of odd values and compares every message.
_CTRL = "[" + "".join(chr(c) for c in range(1, 32)) + chr(127) + "]"
"""A control character (NUL cannot reach PostgreSQL: the COPY stream writes it as \x01, also refused)."""
_FAST_AT = (
    "^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]"
    "(:[0-5][0-9]([.][0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$"
)
"""ISO 8601 shapes the SQL reads itself (a subset of what datetime.fromisoformat reads, same meaning)."""
_AMOUNT_SQL = "^[+-]?[0-9]{1,10}([.][0-9]{1,2})?$"
_ITEMS_SQL = "^[0-9]{1,6}$"
_CARD_SQL = "^[0-9A-Za-z]{1,20}$"
_NOT_EMAIL = "@" + "".join(chr(c) for c in range(1, 33)) + chr(127) + ',;<>"\\'
_EMAIL_SQL = f"^[^{_NOT_EMAIL}]{{1,64}}@[^{_NOT_EMAIL}]+[.][^{_NOT_EMAIL}.]{{2,}}$"
"""rows._EMAIL for ASCII text (Python's \\s there also matches \\x1c-\\x1f)."""
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": "\x01"})
_ERROR_COLUMNS = ("e_store", "e_ticket", "e_at", "e_total", "e_items", "e_card", "e_email", "e_phone", "e_return")


def _raw_lines(rows: Iterable[tuple[int, list[str]]], seen: Callable[[int], None]) -> Iterator[str]:
    """COPY text lines: the line number, then the ten canonical columns as read (stripped) from the file."""
    count = 0
    for line, v in rows:
        text = "\t".join(v)
        if "\\" in text or "\n" in text or "\r" in text or "\x00" in text or text.count("\t") != 9:
            text = "\t".join(x.translate(_ESCAPES) for x in v)
        count += 1
        if not count % 10_000:
            seen(count)
        yield f"{line}\t{text}\n"
    seen(count)


class _Stream(io.TextIOBase):
    """A read()-able file over an iterator of lines, so COPY pulls rows as they are read."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self.error: Exception | None = None  # what the row source raised (COPY reports it as its own error)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> str:
        parts: list[str] = []
        total = 0
        try:
            for line in self._lines:
                parts.append(line)
                total += len(line)
                if 0 < size <= total:
                    break
        except Exception as exc:
            self.error = exc
            raise
        return "".join(parts)


def _copy_in(cur, sql: str, lines: Iterator[str]) -> None:
    raw = cur.cursor
    stream = _Stream(lines)
    try:
        # The driver's own cursor bypasses Django's error translation: without this wrapper a
        # connection lost mid-COPY raised psycopg2's OperationalError, which neither the batch's
        # "back in the queue" handler nor the task's autoretry (django.db.OperationalError) caught.
        with connection.wrap_database_errors:
            if hasattr(raw, "copy_expert"):  # psycopg2
                raw.copy_expert(sql, stream, size=1 << 16)
            else:  # psycopg 3
                with raw.copy(sql) as copy:
                    while chunk := stream.read(1 << 16):
                        copy.write(chunk)
    except Exception:
        # The driver wraps what the file raised mid-stream (ImportFileError: not UTF-8, malformed CSV)
        # in a QueryCanceled; the caller needs the original, which says what is wrong with the file.
        if stream.error is not None:
            raise stream.error from None
        raise


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _copy_rows(cur, table: str, columns: str, rows: Iterable[tuple]) -> None:
    lines = ("\t".join(_copy_value(v) for v in row) + "\n" for row in rows)
    _copy_in(cur, f"COPY {table} ({columns}) FROM STDIN", lines)


def _defaults(model, provided: set[str]) -> tuple[list[str], list]:
    """Columns of ``model`` the import does not set, with their Python defaults (fields other apps add later)."""
    columns, values = [], []
    for f in model._meta.concrete_fields:
        if f.primary_key or f.attname in provided or f.name in provided:
            continue
        if f.db_default is not NOT_PROVIDED or getattr(f, "generated", False):
            continue  # the database fills it
        if f.has_default() or (f.empty_strings_allowed and not f.null):  # CharField/TextField: ""
            columns.append(connection.ops.quote_name(f.column))
            values.append(f.get_db_prep_save(f.get_default(), connection))
        elif f.null:
            continue
        else:
            raise RuntimeError(f"{model.__name__}.{f.name} has no default: teach the importer what to put there")
    return columns, values


class PostgresEngine:
    name = "postgresql"

    def __init__(self):
        tag = uuid.uuid4().hex[:12]
        self.t = f"import_stage_{tag}"
        self.raw = f"{self.t}_raw"
        self.keys = f"{self.t}_keys"
        self.card, self.email, self.phone = f"{self.t}_card", f"{self.t}_email", f"{self.t}_phone"
        self.new = f"{self.t}_new"
        # New ticket and customer ids, kept in the database (not in Python: memory stays flat) for the
        # after-commit signals. A session temp table, so it outlives the commit; dropped by discard().
        self.out = f"{self.t}_out"
        self.inserted = 0
        self.customers_created = 0
        self.staged = 0
        self._out_made = False

    # -- staging ------------------------------------------------------------------------
    def _session_memory(self, cur) -> None:
        """Room for the staging tables and the set-based statements over them.

        temp_buffers (default 8 MB) holds temporary tables: a million staged rows are
        ~150 MB, and every statement over them would otherwise go through the kernel's
        page cache block by block. It can only be raised before the session's first use
        of a temporary table (a Celery worker's connection keeps the value it got), so a
        refusal is ignored. work_mem (per sort / hash) is raised for this transaction only.
        """
        try:
            with transaction.atomic():
                cur.execute("SET temp_buffers = '256MB'")
        except DatabaseError:
            pass  # this session used temporary tables already: keep its setting
        cur.execute("SET LOCAL work_mem = '64MB'")

    def stage(self, rows: Iterable[tuple[int, list[str]]], parser: RowParser, progress: Callable[[int], None]) -> None:
        """COPY the raw values of ``rows`` into staging, check and convert them in SQL (see above).

        The verdicts land on ``parser`` exactly as if it had parsed every row itself: errors
        (row-numbered, same words), warnings, counts, decimal mark, stores seen. Valid rows stay
        in the typed staging table ``self.t`` for the checks across rows and the insert.
        """
        raw = self.raw
        with connection.cursor() as cur:
            self._session_memory(cur)
            cur.execute(
                f"""CREATE TEMP TABLE {raw} (
                    line integer NOT NULL, store text, ticket text, at text, total text, items text, card text,
                    email text, phone text, staff text, return_of text) ON COMMIT DROP"""
            )
            _copy_in(
                cur,
                f"COPY {raw} (line, store, ticket, at, total, items, card, email, phone, staff, return_of) FROM STDIN",
                _raw_lines(rows, progress),
            )
            self._lookups(cur, parser)
            self._typed(cur, parser)

    def _lookups(self, cur, parser: RowParser) -> None:
        """Small tables for what Python decides, each value once: stores, staff, phones, unusual values."""
        t, raw = self.t, self.raw
        # Stores and staff: a handful of distinct values.
        cur.execute(f"SELECT store, staff FROM {raw} GROUP BY 1, 2")
        pairs = cur.fetchall()
        stores: dict[str, tuple] = {}
        staff_ids = parser.staff_ids()
        staff: dict[str, int] = {}
        for store_raw, staff_raw in pairs:
            if store_raw not in stores:
                code = store_raw.upper()
                info = parser.stores.get(code) if code else None
                error = "store_missing" if not code else "store_unknown" if info is None else None
                if info is not None and parser.allowed is not None and info.id not in parser.allowed:
                    info, error = None, "store_forbidden"
                stores[store_raw] = (
                    store_raw,
                    info.id if info else None,
                    str(info.tz) if info else None,
                    info.country if info else None,
                    error,
                )
            if staff_raw and staff_raw in staff_ids:
                staff[staff_raw] = staff_ids[staff_raw]
        cur.execute(
            f"""CREATE TEMP TABLE {t}_st (raw text PRIMARY KEY, store_id bigint, tz text, country text, err text)
                ON COMMIT DROP"""
        )
        _copy_rows(cur, f"{t}_st", "raw, store_id, tz, country, err", stores.values())
        cur.execute(f"CREATE TEMP TABLE {t}_sf (raw text PRIMARY KEY, id integer) ON COMMIT DROP")
        _copy_rows(cur, f"{t}_sf", "raw, id", staff.items())
        # Phones: every distinct (number, country), through the phonenumbers library.
        cur.execute(
            f"""SELECT DISTINCT r.phone, s.country FROM {raw} r JOIN {t}_st s ON s.raw = r.store
                WHERE r.phone <> '' AND s.store_id IS NOT NULL"""
        )
        phones = [(p, c, _phone(p, c)) for p, c in cur.fetchall()]
        cur.execute(
            f"""CREATE TEMP TABLE {t}_ph (raw text, country text, e164 text, PRIMARY KEY (raw, country))
                ON COMMIT DROP"""
        )
        _copy_rows(cur, f"{t}_ph", "raw, country, e164", phones)
        # Values outside the SQL's fast paths (rare): read by rows.py's helpers.
        nbsp = "\u00a0"
        cur.execute(
            f"""SELECT DISTINCT v.kind, v.value FROM {raw} r CROSS JOIN LATERAL (VALUES
                    ('a', CASE WHEN r.at <> '' AND r.at !~ %s THEN r.at END),
                    ('t', CASE WHEN octet_length(r.total) <> length(r.total)
                                AND octet_length(replace(replace(r.total, ' ', ''), %s, ''))
                                    <> length(replace(replace(r.total, ' ', ''), %s, '')) THEN r.total END),
                    ('i', CASE WHEN octet_length(r.items) <> length(r.items) THEN r.items END),
                    ('e', CASE WHEN octet_length(r.email) <> length(r.email) THEN r.email END)) v (kind, value)
                WHERE v.value IS NOT NULL""",
            [_FAST_AT, nbsp, nbsp],
        )
        odd = []
        for kind, value in cur.fetchall():
            if kind == "a":
                at = iso_datetime(value)
                naive = at if at is not None and at.tzinfo is None else None
                aware = at if at is not None and at.tzinfo is not None else None
                odd.append((kind, value, None if naive is None else naive.isoformat(), aware, None))
            elif kind == "t":
                odd.append((kind, value, amount_normalise(value)[0], None, None))
            elif kind == "i":
                odd.append((kind, value, None, None, items_value(value)))
            else:
                odd.append((kind, value, email_value(value), None, None))
        cur.execute(
            f"""CREATE TEMP TABLE {t}_odd (kind char(1), raw text, txt text, tstz timestamptz, n integer,
                PRIMARY KEY (kind, raw)) ON COMMIT DROP"""
        )
        _copy_rows(cur, f"{t}_odd", "kind, raw, txt, tstz, n", odd)
        cur.execute(f"ANALYZE {t}_st, {t}_sf, {t}_ph, {t}_odd")

    def _typed(self, cur, parser: RowParser) -> None:
        """One statement: the typed row and the reasons (codes of rows.MESSAGES) for every raw row."""
        t, raw = self.t, self.raw
        nbsp = "\u00a0"
        # Level 1 (no joins): each value in its own terms. Level 2: with the store (time zone, phone
        # country) and the lookups. Level 3: the reasons. OFFSET 0 keeps each level computed once per row.
        cur.execute(
            f"""CREATE TEMP TABLE {t} ON COMMIT DROP AS
            SELECT line, store_id, number, purchased_at, total, items, card, email, phone, served_by_id, return_of,
                   (total < 0 OR return_of <> '') AS is_return, mark, staff_unknown,
                   e_store, e_ticket, e_at, e_total, e_items, e_card, e_email, e_phone, e_return,
                   num_nulls(e_store, e_ticket, e_at, e_total, e_items, e_card, e_email, e_phone, e_return) < 9
                       AS bad
            FROM (
              SELECT v.*,
                s_err AS e_store,
                CASE WHEN number = '' THEN 'ticket_missing'
                     WHEN length(number) > 64 OR number ~ %(ctrl)s THEN 'ticket_bad' END AS e_ticket,
                CASE WHEN at = '' THEN 'at_missing' WHEN NOT at_ok THEN 'at_bad'
                     WHEN purchased_at > %(latest)s THEN 'at_future'
                     WHEN purchased_at < %(oldest)s THEN 'at_old' END AS e_at,
                CASE WHEN total_raw = '' THEN 'total_missing' WHEN total IS NULL THEN 'total_bad' END AS e_total,
                CASE WHEN items IS NULL THEN 'items_bad' END AS e_items,
                CASE WHEN card <> '' AND card !~ %(card)s THEN 'card_bad' END AS e_card,
                CASE WHEN email_raw <> '' AND email IS NULL THEN 'email_bad' END AS e_email,
                CASE WHEN phone_raw <> '' AND store_id IS NOT NULL AND phone IS NULL THEN 'phone_bad' END AS e_phone,
                CASE WHEN return_of = '' THEN NULL
                     WHEN length(return_of) > 64 OR return_of ~ %(ctrl)s THEN 'return_bad'
                     WHEN return_of = number THEN 'return_self'
                     WHEN total > 0 THEN 'return_positive' END AS e_return
              FROM (
                SELECT w.line, w.store_id, w.number, w.total_raw, w.total, w.items, w.card, w.email_raw, w.email,
                       w.phone_raw, w.return_of, w.mark, w.staff_unknown, w.s_err, w.at, w.at_ok,
                       CASE WHEN w.phone_raw = '' OR w.store_id IS NULL THEN w.phone_raw
                            ELSE (SELECT p.e164 FROM {t}_ph p WHERE p.raw = w.phone_raw AND p.country = w.country)
                       END AS phone,
                       w.served_by_id,
                       CASE WHEN w.aware IS NOT NULL THEN w.aware
                            WHEN w.local_ts IS NULL OR w.tz IS NULL THEN NULL
                            -- PostgreSQL reads an ambiguous local time (the hour repeated when clocks go
                            -- back) as the later instant; Python (fold=0), hence RowParser, as the earlier.
                            -- Same offset three hours before: not ambiguous, PostgreSQL's answer stands.
                            WHEN ((w.pg_at - interval '3 hours') AT TIME ZONE w.tz) = w.local_ts - interval '3 hours'
                                THEN w.pg_at
                            WHEN ((((w.local_ts - interval '3 hours') AT TIME ZONE w.tz) + interval '3 hours')
                                  AT TIME ZONE w.tz) = w.local_ts
                                 AND ((w.local_ts - interval '3 hours') AT TIME ZONE w.tz) + interval '3 hours'
                                     < w.pg_at
                                THEN ((w.local_ts - interval '3 hours') AT TIME ZONE w.tz) + interval '3 hours'
                            ELSE w.pg_at
                       END AS purchased_at
                FROM (
                  SELECT u.*, s.store_id, s.tz, s.country, s.err AS s_err, f.id AS served_by_id,
                         CASE WHEN u.staff <> '' AND f.id IS NULL THEN u.staff END AS staff_unknown,
                         u.local_ts AT TIME ZONE s.tz AS pg_at
                  FROM (
                    SELECT r.line, r.store, r.ticket AS number, r.staff, r.return_of, r.at,
                           r.total AS total_raw, r.email AS email_raw, r.phone AS phone_raw,
                           replace(r.card, ' ', '') AS card,
                           CASE WHEN r.at = '' THEN false WHEN fast_at IS NOT NULL THEN true
                                ELSE EXISTS (SELECT 1 FROM {t}_odd o WHERE o.kind = 'a' AND o.raw = r.at
                                             AND (o.txt IS NOT NULL OR o.tstz IS NOT NULL)) END AS at_ok,
                           CASE WHEN fast_at IS NULL
                                    THEN (SELECT o.txt FROM {t}_odd o WHERE o.kind = 'a' AND o.raw = r.at)::timestamp
                                WHEN NOT fast_aware THEN fast_at::timestamp END AS local_ts,
                           CASE WHEN fast_at IS NULL
                                    THEN (SELECT o.tstz FROM {t}_odd o WHERE o.kind = 'a' AND o.raw = r.at)
                                WHEN fast_aware THEN fast_at::timestamptz END AS aware,
                           CASE WHEN r.total = '' THEN NULL
                                WHEN octet_length(a) <> length(a)
                                    THEN (SELECT o.txt FROM {t}_odd o WHERE o.kind = 't' AND o.raw = r.total)
                                         ::numeric(12, 2)
                                WHEN na ~ %(amount)s THEN na::numeric(12, 2) END AS total,
                           CASE WHEN r.total = '' THEN 0 WHEN pc > 0 AND (pp = 0 OR pc < pp) THEN 1
                                WHEN pc > 0 OR pp > 0 THEN 2 ELSE 0 END AS mark,
                           CASE WHEN r.items = '' THEN 1
                                WHEN octet_length(r.items) <> length(r.items)
                                    THEN (SELECT o.n FROM {t}_odd o WHERE o.kind = 'i' AND o.raw = r.items)
                                WHEN r.items ~ %(items)s THEN r.items::integer END AS items,
                           CASE WHEN r.email = '' THEN ''
                                WHEN octet_length(r.email) <> length(r.email)
                                    THEN (SELECT o.txt FROM {t}_odd o WHERE o.kind = 'e' AND o.raw = r.email)
                                WHEN length(r.email) <= 254 AND r.email ~ %(email)s THEN lower(r.email COLLATE "C")
                           END AS email
                    FROM (
                      SELECT r.*, a, pc, pp,
                             CASE WHEN pc = 0 THEN a WHEN pp = 0 OR pc < pp THEN replace(replace(a, '.', ''), ',', '.')
                                  ELSE replace(a, ',', '') END AS na,
                             CASE WHEN r.at !~ %(fast_at)s THEN NULL
                                  WHEN substr(r.at, 9, 2) <= '28' THEN r.at
                                  WHEN extract(month FROM make_date(substr(r.at, 1, 4)::integer,
                                                                   substr(r.at, 6, 2)::integer, 1)
                                                          + (substr(r.at, 9, 2)::integer - 1))
                                       = substr(r.at, 6, 2)::integer THEN r.at END AS fast_at,
                             right(r.at, 1) = 'Z' OR substr(r.at, length(r.at) - 5, 1) IN ('+', '-') AS fast_aware
                      FROM {raw} r,
                           LATERAL (SELECT replace(replace(r.total, ' ', ''), %(nbsp)s, '') AS a) a0,
                           LATERAL (SELECT strpos(reverse(a), ',') AS pc, strpos(reverse(a), '.') AS pp) p0
                      OFFSET 0
                    ) r
                    OFFSET 0
                  ) u
                  LEFT JOIN {t}_st s ON s.raw = u.store
                  LEFT JOIN {t}_sf f ON f.raw = u.staff
                  OFFSET 0
                ) w
                OFFSET 0
              ) v
            ) x""",
            {
                "ctrl": _CTRL,
                "latest": parser.latest,
                "oldest": OLDEST,
                "card": _CARD_SQL,
                "amount": _AMOUNT_SQL,
                "items": _ITEMS_SQL,
                "email": _EMAIL_SQL,
                "fast_at": _FAST_AT,
                "nbsp": nbsp,
            },
        )
        cur.execute(f"ANALYZE {t}")
        self._verdicts(cur, parser)

    def _verdicts(self, cur, parser: RowParser) -> None:
        """Hand the reasons, warnings and counts to ``parser``; keep only the valid rows staged."""
        t, raw = self.t, self.raw
        cur.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE bad), count(*) FILTER (WHERE mark = 1),
                       count(*) FILTER (WHERE mark = 2) FROM {t}"""
        )
        parser.rows_read, parser.rows_refused, parser.comma_decimals, parser.point_decimals = cur.fetchone()
        if parser.rows_refused:
            cols = ", ".join(f"x.{c}" for c in _ERROR_COLUMNS)
            cur.execute(
                f"""SELECT x.line, {cols}, r.store, r.at, r.total, r.items, s.country
                    FROM {t} x JOIN {raw} r ON r.line = x.line LEFT JOIN {t}_st s ON s.raw = r.store
                    WHERE x.bad ORDER BY x.line"""
            )
            n = len(_ERROR_COLUMNS)
            quoted = {"e_store": n + 1, "e_at": n + 2, "e_total": n + 3, "e_items": n + 4}  # the value a reason shows
            while batch := cur.fetchmany(10_000):
                parser.add_errors(
                    issue(code, row[0], row[quoted[column]] if column in quoted else "", row[-1] or "")
                    for row in batch
                    for column, code in zip(_ERROR_COLUMNS, row[1 : n + 1], strict=True)
                    if code is not None
                )
        cur.execute(
            f"""SELECT staff_unknown, min(line) FROM {t} WHERE NOT bad AND staff_unknown IS NOT NULL
                GROUP BY 1 ORDER BY 2 LIMIT %s""",
            [MAX_KEPT_ISSUES],
        )
        parser.warnings.extend(unknown_staff_warning(line, name) for name, line in cur.fetchall())
        cur.execute(f"SELECT DISTINCT store_id FROM {t} WHERE NOT bad")
        parser.store_ids.update(r[0] for r in cur.fetchall())
        if parser.rows_refused:
            cur.execute(f"DELETE FROM {t} WHERE bad")
        self.staged = parser.rows_read - parser.rows_refused

    # -- checks across rows ---------------------------------------------------------------
    def conflicts(self) -> list[RowIssue]:
        """Later rows that repeat a ticket number of the same store with different content."""
        t = self.t
        with connection.cursor() as cur:
            cur.execute(
                f"""WITH dup AS (
                        SELECT store_id, number, min(line) AS first_line FROM {t}
                        GROUP BY store_id, number HAVING count(*) > 1)
                    SELECT s.line, d.first_line, s.number FROM {t} s
                    JOIN dup d ON d.store_id = s.store_id AND d.number = s.number
                    JOIN {t} f ON f.line = d.first_line
                    WHERE s.line <> d.first_line
                      AND (s.purchased_at, s.total, s.items, s.card, s.email, s.phone, s.served_by_id, s.return_of)
                          IS DISTINCT FROM
                          (f.purchased_at, f.total, f.items, f.card, f.email, f.phone, f.served_by_id, f.return_of)
                    ORDER BY s.line"""
            )
            return [conflict_issue(line, first, number) for line, first, number in cur.fetchall()]

    def unknown_originals(self) -> list[RowIssue]:
        """Returns whose ``return_of`` names no sale of the same store, in the file or already imported."""
        t = self.t
        with connection.cursor() as cur:
            cur.execute(
                f"""SELECT s.line, s.return_of FROM {t} s
                    WHERE s.return_of <> ''
                      AND NOT EXISTS (SELECT 1 FROM {t} o
                                      WHERE o.store_id = s.store_id AND o.number = s.return_of AND NOT o.is_return)
                      AND NOT EXISTS (SELECT 1 FROM customers_purchaseticket p
                                      WHERE p.store_id = s.store_id AND p.number = s.return_of AND NOT p.is_return)
                    ORDER BY s.line"""
            )
            return [unknown_original_issue(line, number) for line, number in cur.fetchall()]

    def drop_lines(self, lines: list[int]) -> None:
        if not lines:
            return
        with connection.cursor() as cur:
            for i in range(0, len(lines), CHUNK):
                cur.execute(f"DELETE FROM {self.t} WHERE line = ANY(%s)", [lines[i : i + CHUNK]])

    def drop_duplicates(self) -> None:
        """Remove repeats within the file (keeping the first) and tickets the database already has."""
        t = self.t
        with connection.cursor() as cur:
            cur.execute(
                f"""DELETE FROM {t} s USING (
                        SELECT store_id, number, min(line) AS first_line FROM {t}
                        GROUP BY store_id, number HAVING count(*) > 1) d
                    WHERE s.store_id = d.store_id AND s.number = d.number AND s.line <> d.first_line"""
            )
            cur.execute(
                f"""DELETE FROM {t} s USING customers_purchaseticket p
                    WHERE p.store_id = s.store_id AND p.number = s.number"""
            )

    # -- customers --------------------------------------------------------------------------
    def customers_resolve(self) -> None:
        """Match each row's customer by card, then email, then phone; create the missing ones.

        The rows' distinct (card, email, phone) combinations are gathered once, with the first
        line that has each (and that line's store): at a million rows they are a fifth as many,
        and every pass below runs over them, not over the rows. Three key maps (card, email,
        phone → customer id) are filled from existing customers, then from new ones: first for
        cards nobody matched, then for emails, then for phones. A combination's customer is the
        first map that knows one of its keys, so every row with the same card ends up with the
        same person; the rows get their customer from their combination at insert.
        """
        t, keys = self.t, self.keys
        with connection.cursor() as cur:
            # line * 2^31 + store_id: the first line and its store in one hashable minimum.
            cur.execute(
                f"""CREATE TEMP TABLE {keys} ON COMMIT DROP AS
                    SELECT card, email, phone, min(line::bigint * 2147483648 + store_id) AS first
                    FROM {t} WHERE card <> '' OR email <> '' OR phone <> '' GROUP BY card, email, phone"""
            )
            cur.execute(f"ANALYZE {keys}")
            for table, column in ((self.card, "card"), (self.email, "email"), (self.phone, "phone")):
                cur.execute(
                    f"""CREATE TEMP TABLE {table} ON COMMIT DROP AS
                        SELECT DISTINCT {column} AS key, NULL::bigint AS cid FROM {keys} WHERE {column} <> ''"""
                )
                cur.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (key)")
            cur.execute(f"UPDATE {self.card} m SET cid = c.id FROM customers_customer c WHERE c.card_number = m.key")
            cur.execute(
                f"""UPDATE {self.email} m SET cid = c.id FROM (
                        SELECT lower(email) AS key, min(id) AS id FROM customers_customer
                        WHERE email <> '' AND lower(email) IN (SELECT key FROM {self.email})
                        GROUP BY lower(email)) c
                    WHERE c.key = m.key"""
            )
            cur.execute(
                f"""UPDATE {self.phone} m SET cid = c.id FROM (
                        SELECT phone AS key, min(id) AS id FROM customers_customer
                        WHERE phone IN (SELECT key FROM {self.phone}) GROUP BY phone) c
                    WHERE c.key = m.key"""
            )
            cur.execute(f"CREATE TEMP TABLE {self.new} (id bigint, card text, email text, phone text) ON COMMIT DROP")
            for kind in ("card", "email", "phone"):
                for _attempt in range(5):  # a generated card number may collide; retry the few that did
                    if not self._create_for(cur, kind):
                        break
            # Each combination's customer, for the insert.
            cur.execute(
                f"""CREATE TEMP TABLE {keys}_cid ON COMMIT DROP AS
                    SELECT k.card, k.email, k.phone, COALESCE(mc.cid, me.cid, mp.cid) AS cid
                    FROM {keys} k
                    LEFT JOIN {self.card} mc ON mc.key = k.card
                    LEFT JOIN {self.email} me ON me.key = k.email
                    LEFT JOIN {self.phone} mp ON mp.key = k.phone"""
            )
            cur.execute(f"ANALYZE {keys}_cid")

    def _unresolved(self) -> str:
        return f"""{self.keys} s
            LEFT JOIN {self.card} mc ON mc.key = s.card
            LEFT JOIN {self.email} me ON me.key = s.email
            LEFT JOIN {self.phone} mp ON mp.key = s.phone
            WHERE COALESCE(mc.cid, me.cid, mp.cid) IS NULL"""

    def _create_for(self, cur, kind: str) -> int:
        """Create customers for unmatched combinations whose strongest key is ``kind``; return how many."""
        condition = {
            "card": "s.card <> ''",
            "email": "s.card = '' AND s.email <> ''",
            "phone": "s.card = '' AND s.email = '' AND s.phone <> ''",
        }[kind]
        key = {"card": "s.card", "email": "s.email", "phone": "s.phone"}[kind]
        provided = {"first_name", "last_name", "email", "phone", "card_number", "home_store", "details_missing"}
        extra_cols, extra_vals = _defaults(Customer, provided)
        extra_sql = "".join(f", {c}" for c in extra_cols)
        extra_params = "".join(", %s" for _ in extra_vals)
        card_expr = "g.key" if kind == "card" else _random_card_sql()
        cur.execute(f"TRUNCATE {self.new}")
        # Per key: the first non-empty email and phone (by line) and the first line's store.
        cur.execute(
            f"""WITH g AS (
                    SELECT {key} AS key,
                           (array_agg(s.email ORDER BY s.first) FILTER (WHERE s.email <> ''))[1] AS email,
                           (array_agg(s.phone ORDER BY s.first) FILTER (WHERE s.phone <> ''))[1] AS phone,
                           min(s.first) - (min(s.first) / 2147483648) * 2147483648 AS store_id
                    FROM {self._unresolved()} AND {condition}
                    GROUP BY {key}),
                ins AS (
                    INSERT INTO customers_customer
                        (first_name, last_name, email, phone, card_number, home_store_id, details_missing{extra_sql})
                    SELECT '', '', COALESCE(g.email, ''), COALESCE(g.phone, ''), {card_expr}, g.store_id, true
                           {extra_params}
                    FROM g
                    ON CONFLICT (card_number) DO NOTHING
                    RETURNING id, card_number, email, phone)
                INSERT INTO {self.new} SELECT id, card_number, email, phone FROM ins""",
            extra_vals,
        )
        created = cur.rowcount
        if not created:
            return 0
        self.customers_created += created
        self._out_table(cur)
        cur.execute(f"INSERT INTO {self.out} (kind, id) SELECT 'c', id FROM {self.new}")
        # New customers are known by all their keys from now on (lowest id wins on a shared key).
        cur.execute(f"""UPDATE {self.card} m SET cid = n.id FROM {self.new} n WHERE m.cid IS NULL AND m.key = n.card""")
        for table, column in ((self.email, "email"), (self.phone, "phone")):
            cur.execute(
                f"""UPDATE {table} m SET cid = n.id FROM (
                        SELECT {column} AS key, min(id) AS id FROM {self.new} WHERE {column} <> '' GROUP BY {column}) n
                    WHERE m.cid IS NULL AND m.key = n.key"""
            )
        return created

    # -- tickets --------------------------------------------------------------------------
    def tickets_insert(self) -> None:
        """Insert sales and plain returns, then returns linked to their original; keep the new ids."""
        t = self.t
        provided = {
            "store",
            "number",
            "purchased_at",
            "total",
            "items",
            "served_by",
            "customer",
            "is_return",
            "original",
        }
        extra_cols, extra_vals = _defaults(PurchaseTicket, provided)
        extra_sql = "".join(f", {c}" for c in extra_cols)
        extra_params = "".join(", %s" for _ in extra_vals)
        cols = (
            "store_id, number, purchased_at, total, items, served_by_id, customer_id, is_return, original_id"
            + extra_sql
        )
        keys = f"LEFT JOIN {self.keys}_cid k ON k.card = s.card AND k.email = s.email AND k.phone = s.phone"
        select = "s.store_id, s.number, s.purchased_at, s.total, s.items, s.served_by_id, k.cid, s.is_return"
        with connection.cursor() as cur:
            self._out_table(cur)
            cur.execute(
                f"""WITH ins AS (
                        INSERT INTO customers_purchaseticket ({cols})
                        SELECT {select}, NULL{extra_params} FROM {t} s {keys}
                        WHERE s.return_of = ''
                        ON CONFLICT (store_id, number) DO NOTHING RETURNING id)
                    INSERT INTO {self.out} (kind, id) SELECT 't', id FROM ins""",
                extra_vals,
            )
            cur.execute(
                f"""WITH ins AS (
                        INSERT INTO customers_purchaseticket ({cols})
                        SELECT {select}, o.id{extra_params} FROM {t} s {keys}
                        JOIN customers_purchaseticket o
                          ON o.store_id = s.store_id AND o.number = s.return_of AND NOT o.is_return
                        WHERE s.return_of <> ''
                        ON CONFLICT (store_id, number) DO NOTHING RETURNING id)
                    INSERT INTO {self.out} (kind, id) SELECT 't', id FROM ins""",
                extra_vals,
            )
            cur.execute(f"SELECT count(*) FROM {self.out} WHERE kind = 't'")
            self.inserted = cur.fetchone()[0]

    # -- new ids, for the signals ------------------------------------------------------------------
    def _out_table(self, cur) -> None:
        if not self._out_made:
            # Created inside the import's transaction: a rollback removes it too.
            cur.execute(f"CREATE TEMP TABLE {self.out} (kind char(1) NOT NULL, id bigint NOT NULL)")
            self._out_made = True

    def id_chunks(self, kind: str, size: int) -> Iterator[list[int]]:
        """The new ticket (``"t"``) or customer (``"c"``) ids in ascending chunks of ``size``, read from the
        database chunk by chunk (keyset: each chunk is one index range scan), so Python never holds them all."""
        if not self._out_made or not (self.inserted if kind == "t" else self.customers_created):
            return
        with connection.cursor() as cur:
            cur.execute(f"SELECT to_regclass('pg_temp.{self.out}') IS NOT NULL")
            if not cur.fetchone()[0]:  # rolled back (dry run, refused file)
                return
            cur.execute(f"CREATE INDEX IF NOT EXISTS {self.out}_idx ON {self.out} (kind, id)")
            last = 0
            while True:
                cur.execute(
                    f"SELECT id FROM {self.out} WHERE kind = %s AND id > %s ORDER BY id LIMIT %s", [kind, last, size]
                )
                ids = [r[0] for r in cur.fetchall()]
                if not ids:
                    return
                yield ids
                last = ids[-1]

    def discard(self) -> None:
        """Drop the table of new ids (after the signals went out, or after a rollback)."""
        if self._out_made:
            with connection.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {self.out}")
            self._out_made = False

    def close(self) -> None:
        """Nothing to do: the staging tables go with the transaction (ON COMMIT DROP)."""


def _random_card_sql() -> str:
    """A random EAN-13 in the in-store "2" range, computed in SQL (same rule as models.new_card_number).

    No ``%`` in the SQL: it runs with parameters, where psycopg reads ``%`` as a placeholder.
    """
    body = "('2' || lpad((floor(random() * 1e11))::bigint::text, 11, '0'))"
    return (
        f"(SELECT b || mod(10 - mod((SELECT sum(substr(b, i + 1, 1)::int * CASE WHEN mod(i, 2) = 1 THEN 3 ELSE 1 END) "
        f"FROM generate_series(0, 11) i)::int, 10), 10)::text FROM (SELECT {body} AS b) x "
        "WHERE g.key IS NOT NULL)"
    )
