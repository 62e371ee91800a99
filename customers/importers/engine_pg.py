"""The PostgreSQL path: COPY the raw values into a temporary table, then set-based SQL.

Python only reads the CSV (streaming, constant memory) and COPYs each row's
values as text with its line number. One statement checks and converts every
row (same rules and messages as rows.RowParser, which the ORM engine uses);
Python decides, once per distinct value, what SQL cannot do well (phone
numbers, rare shapes). The checks across rows, the customer matching and the
insert are a handful of statements over the staging table, inside the
caller's transaction. Nothing here loops over rows in Python except the COPY
stream and the rows with a reason to report.
"""

import datetime as dt
import io
import uuid
from collections.abc import Callable, Iterable, Iterator

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import NOT_PROVIDED

from ..models import Customer, PurchaseTicket
from .idruns import ids_chunked
from .initial_load import INITIAL_LOAD_MIN_ROWS, InitialLoad, table_smaller_than
from .rows import (
    COLUMNS,
    MAX_KEPT_ISSUES,
    OLDEST,
    RowIssue,
    RowParser,
    _phone,
    amount_normalise,
    conflict_issue,
    email_value,
    foreign_return_code_issue,
    iso_datetime,
    issue,
    items_value,
    return_code_value,
    unknown_original_issue,
    unknown_return_code_issue,
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
_ERROR_COLUMNS = (
    "e_store",
    "e_ticket",
    "e_at",
    "e_total",
    "e_items",
    "e_card",
    "e_email",
    "e_phone",
    "e_return",
    "e_code",
)
_RAW_COLUMNS = "store, ticket, at, total, items, card, email, phone, staff, return_of, return_code"
"""The raw staging table's value columns, in rows.COLUMNS order."""
_CODE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _raw_lines(rows: Iterable[tuple[int, list[str]]], seen: Callable[[int], None]) -> Iterator[str]:
    """COPY text lines: the line number, then the canonical columns (rows.COLUMNS) as read (stripped) from the file."""
    count = 0
    tabs = len(COLUMNS) - 1
    for line, v in rows:
        text = "\t".join(v)
        if "\\" in text or "\n" in text or "\r" in text or "\x00" in text or text.count("\t") != tabs:
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
        self.codes = f"{self.t}_codes"  # presented return code → the note's code and customer
        # New ticket and customer ids, kept in the database (not in Python: memory stays flat) for the
        # after-commit signals. A session temp table, so it outlives the commit; dropped by discard().
        self.out = f"{self.t}_out"
        self.inserted = 0
        self.customers_created = 0
        self.staged = 0
        self._out_made = False
        self._repeats_made = False
        self._keys_made = False
        self._unknown_staff: list[str] = []
        self.initial_load = InitialLoad()

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
                    email text, phone text, staff text, return_of text, return_code text) ON COMMIT DROP"""
            )
            _copy_in(
                cur,
                f"COPY {raw} (line, {_RAW_COLUMNS}) FROM STDIN",
                _raw_lines(rows, progress),
            )
            self._lookups(cur, parser)
            self._typed(cur, parser)

    def _lookups(self, cur, parser: RowParser) -> None:
        """Small tables for what Python decides, each value once: stores, staff, phones.

        The distinct phone numbers (tens of thousands in a big file) are read from a server-side
        cursor and written back chunk by chunk, so memory does not grow with the file.
        """
        t, raw = self.t, self.raw
        # The few stores and staff names.
        cur.execute(f"SELECT store, staff FROM {raw} GROUP BY 1, 2")
        stores: dict[str, tuple] = {}
        staff_ids = parser.staff_ids()
        staff: dict[str, int] = {}
        unknown_staff: set[str] = set()
        while batch := cur.fetchmany(10_000):
            for store_raw, staff_raw in batch:
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
                elif staff_raw:
                    unknown_staff.add(staff_raw)
        self._unknown_staff = sorted(unknown_staff)
        cur.execute(
            f"""CREATE TEMP TABLE {t}_st (raw text PRIMARY KEY, store_id bigint, tz text, country text, err text)
                ON COMMIT DROP"""
        )
        _copy_rows(cur, f"{t}_st", "raw, store_id, tz, country, err", stores.values())
        cur.execute(f"CREATE TEMP TABLE {t}_sf (raw text PRIMARY KEY, id integer) ON COMMIT DROP")
        _copy_rows(cur, f"{t}_sf", "raw, id", staff.items())
        cur.execute(
            f"""CREATE TEMP TABLE {t}_ph (raw text, country text, e164 text, PRIMARY KEY (raw, country))
                ON COMMIT DROP"""
        )
        cur.execute(f"ANALYZE {t}_st")
        # Each distinct (phone, store's country) once, normalised by rows.py's rule (phonenumbers).
        with connection.chunked_cursor() as phones:
            phones.execute(
                f"""SELECT DISTINCT r.phone, s.country FROM {raw} r JOIN {t}_st s ON s.raw = r.store
                    WHERE r.phone <> '' AND s.store_id IS NOT NULL"""
            )
            while batch := phones.fetchmany(10_000):
                _copy_rows(cur, f"{t}_ph", "raw, country, e164", ((p, c, _phone(p, c)) for p, c in batch))
        # Values the SQL leaves to Python (filled by _typed when it meets some).
        cur.execute(
            f"""CREATE TEMP TABLE {t}_odd (kind char(1), raw text, txt text, tstz timestamptz, n integer,
                PRIMARY KEY (kind, raw)) ON COMMIT DROP"""
        )
        cur.execute(f"ANALYZE {t}_st, {t}_sf, {t}_ph")

    def _typed_select(self, where: str) -> str:
        """The typed row and the reasons (codes of rows.MESSAGES) of each raw row (``where``: which rows).

        Each level reads the one below it; OFFSET 0 keeps a level from being merged into the next,
        so every expression is computed once per row. No regular expressions on the hot path:
        PostgreSQL's cost ~3-6 µs a row each; translate() and substr() a fraction of that.
        """
        t, raw = self.t, self.raw
        digits = "0123456789"
        return f"""
            SELECT line, store_id, number, purchased_at, total, items, card, email, phone, served_by_id, return_of,
                   (total < 0 OR return_of <> '') AS is_return, COALESCE(return_code, '') AS return_code, mark,
                   staff_unknown, py,
                   e_store, e_ticket, e_at, e_total, e_items, e_card, e_email, e_phone, e_return, e_code,
                   num_nulls(e_store, e_ticket, e_at, e_total, e_items, e_card, e_email, e_phone, e_return, e_code)
                       < 10 AS bad
            FROM (
              SELECT v.*,
                s_err AS e_store,
                CASE WHEN number = '' THEN 'ticket_missing'
                     WHEN length(number) > 64 OR number ~ %(ctrl)s THEN 'ticket_bad' END AS e_ticket,
                CASE WHEN at = '' THEN 'at_missing' WHEN local_ts IS NULL AND aware IS NULL THEN 'at_bad'
                     WHEN purchased_at > %(latest)s THEN 'at_future'
                     WHEN purchased_at < %(oldest)s THEN 'at_old' END AS e_at,
                CASE WHEN total_raw = '' THEN 'total_missing' WHEN total IS NULL THEN 'total_bad' END AS e_total,
                CASE WHEN items IS NULL THEN 'items_bad' END AS e_items,
                CASE WHEN card <> '' AND NOT (length(card) <= 20 AND translate(card, %(alnum)s, '') = '')
                     THEN 'card_bad' END AS e_card,
                CASE WHEN email_raw <> '' AND email IS NULL THEN 'email_bad' END AS e_email,
                CASE WHEN phone_raw <> '' AND store_id IS NOT NULL AND phone IS NULL THEN 'phone_bad' END AS e_phone,
                CASE WHEN return_of = '' THEN NULL
                     WHEN length(return_of) > 64 OR return_of ~ %(ctrl)s THEN 'return_bad'
                     WHEN return_of = number THEN 'return_self'
                     WHEN total > 0 THEN 'return_positive' END AS e_return,
                CASE WHEN code_raw <> '' AND return_code IS NULL THEN 'code_bad' END AS e_code
              FROM (
                SELECT w.*,
                       CASE WHEN w.phone_raw = '' OR w.store_id IS NULL THEN w.phone_raw
                            ELSE (SELECT p.e164 FROM {t}_ph p WHERE p.raw = w.phone_raw AND p.country = w.country)
                       END AS phone,
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
                    SELECT line, store, number, staff, return_of, at, total_raw, email_raw, phone_raw, card, mark,
                           code_raw,
                           CASE WHEN code_raw = '' THEN '' WHEN NOT c_ascii THEN (oc).txt
                                WHEN length(cn) BETWEEN 4 AND 16 AND translate(cn, %(code_chars)s, '') = ''
                                    THEN cn END AS return_code,
                           CASE WHEN at_fast IS NULL THEN (oa).txt::timestamp
                                WHEN NOT at_aware THEN at_fast::timestamp END AS local_ts,
                           CASE WHEN at_fast IS NULL THEN (oa).tstz
                                WHEN at_aware THEN at_fast::timestamptz END AS aware,
                           CASE WHEN NOT t_ascii THEN (ot).txt::numeric(12, 2)
                                WHEN translate(b, '{digits}', '') = '' AND length(b) BETWEEN 1 AND 10
                                    THEN b_signed::numeric(12, 2)
                                WHEN translate(b, '{digits}', '') = '.' AND strpos(b, '.') BETWEEN 2 AND 11
                                     AND length(b) - strpos(b, '.') BETWEEN 1 AND 2 THEN b_signed::numeric(12, 2)
                           END AS total,
                           CASE WHEN items_raw = '' THEN 1 WHEN NOT i_ascii THEN (oi).n
                                WHEN length(items_raw) <= 6 AND translate(items_raw, '{digits}', '') = ''
                                    THEN items_raw::integer END AS items,
                           CASE WHEN email_raw = '' THEN '' WHEN NOT e_ascii THEN (oe).txt
                                WHEN length(el) <= 254 AND ep BETWEEN 2 AND 65 AND strpos(substr(el, ep + 1), '@') = 0
                                     AND length(translate(el, %(not_email)s, '')) = length(el)
                                     AND er >= 3 AND length(el) - er + 1 - ep >= 2 THEN el END AS email,
                           (at <> '' AND at_fast IS NULL AND oa IS NULL) OR (NOT t_ascii AND ot IS NULL)
                               OR (NOT i_ascii AND oi IS NULL) OR (NOT e_ascii AND oe IS NULL)
                               OR (NOT c_ascii AND oc IS NULL) AS py
                    FROM (
                      SELECT l2.*,
                             CASE WHEN left(na, 1) IN ('+', '-') THEN substr(na, 2) ELSE na END AS b, na AS b_signed,
                             CASE WHEN at_fast IS NULL AND at <> ''
                                  THEN (SELECT o FROM {t}_odd o WHERE o.kind = 'a' AND o.raw = at) END AS oa,
                             CASE WHEN NOT t_ascii
                                  THEN (SELECT o FROM {t}_odd o WHERE o.kind = 't' AND o.raw = total_raw) END AS ot,
                             CASE WHEN NOT i_ascii
                                  THEN (SELECT o FROM {t}_odd o WHERE o.kind = 'i' AND o.raw = items_raw) END AS oi,
                             CASE WHEN NOT e_ascii
                                  THEN (SELECT o FROM {t}_odd o WHERE o.kind = 'e' AND o.raw = email_raw) END AS oe,
                             CASE WHEN NOT c_ascii
                                  THEN (SELECT o FROM {t}_odd o WHERE o.kind = 'c' AND o.raw = code_raw) END AS oc
                      FROM (
                        SELECT l1.*,
                               CASE WHEN total_raw = '' THEN NULL WHEN pc = 0 THEN a
                                    WHEN pp = 0 OR pc < pp THEN replace(replace(a, '.', ''), ',', '.')
                                    ELSE replace(a, ',', '') END AS na,
                               CASE WHEN total_raw = '' THEN 0 WHEN pc > 0 AND (pp = 0 OR pc < pp) THEN 1
                                    WHEN pc > 0 OR pp > 0 THEN 2 ELSE 0 END AS mark,
                               CASE WHEN s_at <> ALL (%(at_shapes)s) THEN NULL
                                    WHEN left(at, 1) = '0' OR substr(at, 6, 2)::integer NOT BETWEEN 1 AND 12
                                         OR substr(at, 9, 2)::integer NOT BETWEEN 1 AND 31
                                         OR substr(at, 12, 2)::integer > 23 OR substr(at, 15, 2)::integer > 59
                                         OR (substr(at, 17, 1) = ':' AND substr(at, 18, 2)::integer > 59)
                                         OR (substr(s_at, length(s_at) - 5, 1) IN ('+', '-')
                                             AND (substr(at, length(at) - 4, 2)::integer > 23
                                                  OR right(at, 2)::integer > 59)) THEN NULL
                                    WHEN substr(at, 9, 2)::integer <= 28 THEN at
                                    WHEN extract(month FROM make_date(substr(at, 1, 4)::integer,
                                                                     substr(at, 6, 2)::integer, 1)
                                                            + (substr(at, 9, 2)::integer - 1))
                                         = substr(at, 6, 2)::integer THEN at END AS at_fast,
                               right(s_at, 1) = 'Z' OR substr(s_at, length(s_at) - 5, 1) IN ('+', '-') AS at_aware,
                               strpos(el, '@') AS ep, strpos(reverse(el), '.') AS er
                        FROM (
                          SELECT line, store, ticket AS number, staff, return_of, at, total AS total_raw,
                                 items AS items_raw, email AS email_raw, phone AS phone_raw, return_code AS code_raw,
                                 upper(replace(replace(return_code, ' ', ''), '-', '') COLLATE "C") AS cn,
                                 octet_length(return_code) = length(return_code) AS c_ascii,
                                 replace(card, ' ', '') AS card, a,
                                 strpos(reverse(a), ',') AS pc, strpos(reverse(a), '.') AS pp,
                                 translate(at, '{digits} ', '9999999999T') AS s_at,
                                 octet_length(a) = length(a) AS t_ascii,
                                 octet_length(items) = length(items) AS i_ascii,
                                 octet_length(email) = length(email) AS e_ascii,
                                 lower(email COLLATE "C") AS el
                          FROM (SELECT r.*, replace(replace(r.total, ' ', ''), %(nbsp)s, '') AS a
                                FROM {raw} r {where} OFFSET 0) r0
                          OFFSET 0
                        ) l1
                        OFFSET 0
                      ) l2
                      OFFSET 0
                    ) l3
                    OFFSET 0
                  ) u
                  LEFT JOIN {t}_st s ON s.raw = u.store
                  LEFT JOIN {t}_sf f ON f.raw = u.staff
                  OFFSET 0
                ) w
                OFFSET 0
              ) v
            ) x"""

    def _typed_params(self, parser: RowParser) -> dict:
        base = ["9999-99-99T99:99", "9999-99-99T99:99:99"] + [f"9999-99-99T99:99:99.{'9' * n}" for n in range(1, 7)]
        return {
            "ctrl": _CTRL,
            "latest": parser.latest,
            "oldest": OLDEST,
            "alnum": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            "not_email": _NOT_EMAIL.replace("@", ""),
            "nbsp": "\u00a0",
            "code_chars": _CODE_CHARS,
            "at_shapes": [b + z for b in base for z in ("", "Z", "+99:99", "-99:99")],
        }

    def _typed(self, cur, parser: RowParser) -> None:
        """Build the typed staging table: in SQL for the usual values, in Python for the rare others."""
        t, raw = self.t, self.raw
        params = self._typed_params(parser)
        cur.execute(f"CREATE TEMP TABLE {t} ON COMMIT DROP AS {self._typed_select('')}", params)
        cur.execute(
            f"""SELECT r.at, r.total, r.items, r.email, r.return_code FROM {raw} r JOIN {t} x ON x.line = r.line
                WHERE x.py"""
        )
        odd: dict[tuple[str, str], tuple] = {}
        nbsp = "\u00a0"
        while batch := cur.fetchmany(10_000):
            for at_raw, total_raw, items_raw, email_raw, code_raw in batch:
                if at_raw and ("a", at_raw) not in odd:
                    at = iso_datetime(at_raw)
                    naive = at is not None and at.tzinfo is None
                    odd[("a", at_raw)] = (at.isoformat() if naive else None, at if not naive else None, None)
                if not total_raw.replace(" ", "").replace(nbsp, "").isascii():
                    odd[("t", total_raw)] = (amount_normalise(total_raw)[0], None, None)
                if not items_raw.isascii():
                    odd[("i", items_raw)] = (None, None, items_value(items_raw))
                if not email_raw.isascii():
                    odd[("e", email_raw)] = (email_value(email_raw), None, None)
                if not code_raw.isascii():
                    odd[("c", code_raw)] = (return_code_value(code_raw), None, None)
        if odd:
            _copy_rows(cur, f"{t}_odd", "kind, raw, txt, tstz, n", (k + v for k, v in odd.items()))
            cur.execute(f"ANALYZE {t}_odd")
            cur.execute(f"CREATE TEMP TABLE {t}_redo ON COMMIT DROP AS SELECT line FROM {t} WHERE py")
            cur.execute(f"DELETE FROM {t} WHERE py")
            where = f"WHERE r.line IN (SELECT line FROM {t}_redo)"
            cur.execute(f"INSERT INTO {t} {self._typed_select(where)}", params)
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
        if self._unknown_staff:  # no active user of that name: a warning at its first valid row
            cur.execute(
                f"""SELECT staff_unknown, min(line) FROM {t} WHERE NOT bad AND staff_unknown IS NOT NULL
                    GROUP BY 1 ORDER BY 2 LIMIT %s""",
                [MAX_KEPT_ISSUES],
            )
            parser.warnings.extend(unknown_staff_warning(line, name) for name, line in cur.fetchall())
        cur.execute(
            f"""SELECT s.store_id FROM {t}_st s WHERE s.store_id IS NOT NULL
                AND EXISTS (SELECT 1 FROM {t} x WHERE x.store_id = s.store_id AND NOT x.bad)"""
        )
        parser.store_ids.update(r[0] for r in cur.fetchall())
        if parser.rows_refused:
            cur.execute(f"DELETE FROM {t} WHERE bad")
        self.staged = parser.rows_read - parser.rows_refused

    # -- checks across rows ---------------------------------------------------------------
    def _repeats(self, cur) -> str:
        """The ticket numbers the file has more than once, with their first line (one pass, kept for
        drop_duplicates: dropping refused lines never removes the first of a group and keeps its twins)."""
        if not self._repeats_made:
            cur.execute(
                f"""CREATE TEMP TABLE {self.t}_dup ON COMMIT DROP AS
                    SELECT store_id, number, min(line) AS first_line FROM {self.t}
                    GROUP BY store_id, number HAVING count(*) > 1"""
            )
            self._repeats_made = True
        return f"{self.t}_dup"

    def conflicts(self) -> list[RowIssue]:
        """Later rows that repeat a ticket number of the same store with different content."""
        t = self.t
        with connection.cursor() as cur:
            dup = self._repeats(cur)
            cur.execute(
                f"""SELECT s.line, d.first_line, s.number FROM {t} s
                    JOIN {dup} d ON d.store_id = s.store_id AND d.number = s.number
                    JOIN {t} f ON f.line = d.first_line
                    WHERE s.line <> d.first_line
                      AND (s.purchased_at, s.total, s.items, s.card, s.email, s.phone, s.served_by_id, s.return_of,
                           s.return_code)
                          IS DISTINCT FROM
                          (f.purchased_at, f.total, f.items, f.card, f.email, f.phone, f.served_by_id, f.return_of,
                           f.return_code)
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

    def return_codes(self) -> set[str]:
        """The distinct return codes the staged rows present (normalised)."""
        with connection.cursor() as cur:
            cur.execute(f"SELECT DISTINCT return_code FROM {self.t} WHERE return_code <> ''")
            return {code for (code,) in cur.fetchall()}

    def unknown_return_codes(self, codes: dict) -> list[RowIssue]:
        """Rows whose return code no note has; ``codes`` (the known ones) is kept in a temp table for the insert."""
        t = self.t
        with connection.cursor() as cur:
            cur.execute(
                f"""CREATE TEMP TABLE {self.codes} (presented text PRIMARY KEY, code text NOT NULL, customer_id bigint)
                    ON COMMIT DROP"""
            )
            if codes:
                _copy_rows(
                    cur,
                    self.codes,
                    "presented, code, customer_id",
                    ((presented, rc.code, rc.customer_id) for presented, rc in codes.items()),
                )
            cur.execute(
                f"""SELECT s.line, s.return_code FROM {t} s
                    WHERE s.return_code <> ''
                      AND NOT EXISTS (SELECT 1 FROM {self.codes} k WHERE k.presented = s.return_code)
                    ORDER BY s.line"""
            )
            return [unknown_return_code_issue(line, code) for line, code in cur.fetchall()]

    def foreign_return_codes(self) -> list[RowIssue]:
        """After customers_resolve: rows of a known customer carrying the code of another customer's note."""
        with connection.cursor() as cur:
            cur.execute(
                f"""SELECT s.line, s.return_code FROM {self.t} s
                    JOIN {self.codes} k ON k.presented = s.return_code
                    LEFT JOIN {self.card} mc ON mc.key = s.card
                    LEFT JOIN {self.email} me ON me.key = s.email
                    LEFT JOIN {self.phone} mp ON mp.key = s.phone
                    WHERE COALESCE(mc.cid, me.cid, mp.cid) IS DISTINCT FROM k.customer_id
                      AND COALESCE(mc.cid, me.cid, mp.cid) IS NOT NULL
                    ORDER BY s.line"""
            )
            return [foreign_return_code_issue(line, code) for line, code in cur.fetchall()]

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
            dup = self._repeats(cur)
            cur.execute(
                f"""DELETE FROM {t} s USING {dup} d
                    WHERE s.store_id = d.store_id AND s.number = d.number AND s.line <> d.first_line"""
            )
            cur.execute(
                f"""DELETE FROM {t} s USING customers_purchaseticket p
                    WHERE p.store_id = s.store_id AND p.number = s.number"""
            )

    # -- initial-load mode (initial_load.py) --------------------------------------------------
    def initial_load_begin(self) -> list[str]:
        """A large file into a small tickets table: drop its FKs and secondary indexes until restore.

        The customers table joins when it holds fewer customers than the file has distinct customer
        keys (card, email, phone combinations). Returns the tables stripped (none: the ordinary path).
        Runs before anything is written to either table in this transaction.
        """
        if self.staged < INITIAL_LOAD_MIN_ROWS:
            return []
        with connection.cursor() as cur:
            if not table_smaller_than(cur, "customers_purchaseticket", self.staged):
                return []
            tables = ["customers_purchaseticket"]
            combinations = self._keys(cur)
            if combinations and table_smaller_than(cur, "customers_customer", combinations):
                tables.insert(0, "customers_customer")  # lock order: customers, then tickets (as the API writes)
            return self.initial_load.strip(cur, tables)

    def initial_load_end(self) -> None:
        """Re-create the indexes and foreign keys initial_load_begin dropped (before commit)."""
        if self.initial_load.active:
            with connection.cursor() as cur:
                self.initial_load.restore(cur)

    def _keys(self, cur) -> int:
        """The rows' distinct (card, email, phone) combinations, with the first line that has each and that
        line's store (line * 2^31 + store_id: both in one hashable minimum). Made once; returns how many."""
        if not self._keys_made:
            cur.execute(
                f"""CREATE TEMP TABLE {self.keys} ON COMMIT DROP AS
                    SELECT card, email, phone, min(line::bigint * 2147483648 + store_id) AS first
                    FROM {self.t} WHERE card <> '' OR email <> '' OR phone <> '' GROUP BY card, email, phone"""
            )
            self._keys_count = cur.rowcount
            cur.execute(f"ANALYZE {self.keys}")
            self._keys_made = True
        return self._keys_count

    # -- customers --------------------------------------------------------------------------
    def customers_resolve(self) -> None:
        """Match each row's customer by card, then email, then phone; create the missing ones.

        The rows' distinct (card, email, phone) combinations are gathered once, with the first
        line that has each (and that line's store): at a million rows they are a fifth as many,
        and every pass below runs over them, not over the rows. Three key maps (card, email,
        phone → customer id) are filled from existing customers, then from new ones: first for
        cards nobody matched, then for emails, then for phones. A combination's customer is the
        first map that knows one of its keys, so every row with the same card ends up with the
        same person.
        """
        keys = self.keys
        with connection.cursor() as cur:
            self._keys(cur)
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
        cur.execute(f"INSERT INTO {self.out} (kind, lo, hi) {_runs_sql('c', self.new)}")
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
    def tickets_insert(self, *, link_anonymous: bool) -> None:
        """Insert sales and plain returns, then returns linked to their original; keep the new ids.

        A row's return code is stored as its note's own code; with ``link_anonymous`` a row without any
        customer key takes the note's customer (customers.attribution)."""
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
            "return_code",
        }
        extra_cols, extra_vals = _defaults(PurchaseTicket, provided)
        extra_sql = "".join(f", {c}" for c in extra_cols)
        extra_params = "".join(", %s" for _ in extra_vals)
        cols = (
            "store_id, number, purchased_at, total, items, served_by_id, customer_id, is_return, return_code, "
            "original_id" + extra_sql
        )
        keys = f"""LEFT JOIN {self.card} mc ON mc.key = s.card
                   LEFT JOIN {self.email} me ON me.key = s.email
                   LEFT JOIN {self.phone} mp ON mp.key = s.phone
                   LEFT JOIN {self.codes} k ON k.presented = s.return_code"""
        anonymous = (
            ", CASE WHEN s.card = '' AND s.email = '' AND s.phone = '' THEN k.customer_id END" if link_anonymous else ""
        )
        select = (
            "s.store_id, s.number, s.purchased_at, s.total, s.items, s.served_by_id, "
            f"COALESCE(mc.cid, me.cid, mp.cid{anonymous}), s.is_return, COALESCE(k.code, '')"
        )
        with connection.cursor() as cur:
            self._out_table(cur)
            self._insert(
                cur,
                f"""WITH ins AS (
                        INSERT INTO customers_purchaseticket ({cols})
                        SELECT {select}, NULL{extra_params} FROM {t} s {keys}
                        WHERE s.return_of = ''
                        {{conflict}} RETURNING id)
                    INSERT INTO {self.out} (kind, lo, hi) {_runs_sql("t", "ins")}""",
                extra_vals,
            )
            self._insert(
                cur,
                f"""WITH ins AS (
                        INSERT INTO customers_purchaseticket ({cols})
                        SELECT {select}, o.id{extra_params} FROM {t} s {keys}
                        JOIN customers_purchaseticket o
                          ON o.store_id = s.store_id AND o.number = s.return_of AND NOT o.is_return
                        WHERE s.return_of <> ''
                        {{conflict}} RETURNING id)
                    INSERT INTO {self.out} (kind, lo, hi) {_runs_sql("t", "ins")}""",
                extra_vals,
            )
            cur.execute(f"SELECT COALESCE(sum(hi - lo + 1), 0) FROM {self.out} WHERE kind = 't'")
            self.inserted = int(cur.fetchone()[0])

    @staticmethod
    def _insert(cur, sql: str, params: list) -> None:
        """Run a ticket INSERT: plain first, ON CONFLICT DO NOTHING if another import got there first.

        drop_duplicates() removed every ticket the database had; only a ticket committed since (an
        API batch, an import running alongside) can still collide. A plain INSERT skips the
        speculative insertion ON CONFLICT costs every row (an extra index probe and WAL record);
        if it does collide, the savepoint undoes it and the careful form runs instead.
        """
        try:
            with transaction.atomic():
                cur.execute(sql.format(conflict=""), params)
        except IntegrityError:
            cur.execute(sql.format(conflict="ON CONFLICT (store_id, number) DO NOTHING"), params)

    # -- new ids, for the signals ------------------------------------------------------------------
    def _out_table(self, cur) -> None:
        if not self._out_made:
            # Created inside the import's transaction: a rollback removes it too. One row per run of
            # consecutive new ids (lo..hi), not per id: a first load's million tickets are one or two runs.
            cur.execute(f"CREATE TEMP TABLE {self.out} (kind char(1) NOT NULL, lo bigint NOT NULL, hi bigint NOT NULL)")
            self._out_made = True

    def id_ranges(self, kind: str) -> Iterator[tuple[int, int]]:
        """The new ticket (``"t"``) or customer (``"c"``) ids as ascending, disjoint runs ``(lo, hi)``, both ends
        included: exactly the ids this import created (a run holds consecutive ids, every one of them new)."""
        if not self._out_made or not (self.inserted if kind == "t" else self.customers_created):
            return
        with connection.cursor() as cur:
            cur.execute(f"SELECT to_regclass('pg_temp.{self.out}') IS NOT NULL")
            if not cur.fetchone()[0]:  # rolled back (dry run, refused file)
                return
        # Runs from separate statements (customers by key kind, sales then returns) may touch: merged here.
        with connection.chunked_cursor() as cur:
            cur.execute(f"SELECT lo, hi FROM {self.out} WHERE kind = %s ORDER BY lo", [kind])
            run = None
            while batch := cur.fetchmany(10_000):
                for lo, hi in batch:
                    if run and lo == run[1] + 1:
                        run = (run[0], hi)
                        continue
                    if run:
                        yield run
                    run = (lo, hi)
            if run:
                yield run

    def id_chunks(self, kind: str, size: int) -> Iterator[list[int]]:
        """The new ticket (``"t"``) or customer (``"c"``) ids in ascending chunks of ``size`` (from the runs:
        Python never holds more than a chunk)."""
        yield from ids_chunked(self.id_ranges(kind), size)

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


def _runs_sql(kind: str, source: str) -> str:
    """SELECT the runs of consecutive ids (gaps and islands) of ``source``'s ``id`` column, tagged ``kind``.

    Ids from one sequence come out of an INSERT in ascending order, so the sort is over presorted input.
    No ``%`` in the SQL (it runs with parameters)."""
    return f"""SELECT '{kind}', min(id), max(id)
               FROM (SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM {source}) x GROUP BY run"""
