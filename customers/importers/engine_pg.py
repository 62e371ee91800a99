"""The PostgreSQL path: COPY into a temporary staging table, then set-based SQL.

Python only parses (streaming, constant memory); every check across rows,
the customer matching and the insert are a handful of statements over the
staging table, inside the caller's transaction. Nothing here loops over rows
in Python except the COPY stream itself and the ids handed back for signals.
"""

import io
import uuid
from collections.abc import Iterable, Iterator

from django.db import DatabaseError, connection, transaction
from django.db.models import NOT_PROVIDED

from ..models import Customer, PurchaseTicket
from .rows import (
    R_AT,
    R_CARD,
    R_EMAIL,
    R_IS_RETURN,
    R_ITEMS,
    R_LINE,
    R_NUMBER,
    R_PHONE,
    R_RETURN_CODE,
    R_RETURN_OF,
    R_STAFF,
    R_STORE,
    R_TOTAL,
    Row,
    RowIssue,
    conflict_issue,
    foreign_return_code_issue,
    unknown_original_issue,
    unknown_return_code_issue,
)

CHUNK = 50_000


def _esc(value: str) -> str:
    # COPY text format: backslash, tab, newline and CR need escaping; the parser refuses control characters
    # in ticket numbers and emails, so only the backslash can occur (in a ticket number).
    return value.replace("\\", "\\\\") if "\\" in value else value


def _copy_lines(rows: Iterable[Row]) -> Iterator[str]:
    null = "\\N"
    for r in rows:
        staff = r[R_STAFF]
        yield (
            f"{r[R_LINE]}\t{r[R_STORE]}\t{_esc(r[R_NUMBER])}\t{r[R_AT].isoformat()}\t{r[R_TOTAL]}\t{r[R_ITEMS]}\t"
            f"{r[R_CARD]}\t{_esc(r[R_EMAIL])}\t{r[R_PHONE]}\t{null if staff is None else staff}\t"
            f"{_esc(r[R_RETURN_OF])}\t{'t' if r[R_IS_RETURN] else 'f'}\t{r[R_RETURN_CODE]}\n"
        )


class _Stream(io.TextIOBase):
    """A read()-able file over an iterator of lines, so COPY pulls rows as they are parsed."""

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

    def stage(self, rows: Iterable[Row]) -> None:
        t = self.t
        with connection.cursor() as cur:
            self._session_memory(cur)
            cur.execute(
                f"""CREATE TEMP TABLE {t} (
                    line integer NOT NULL, store_id bigint NOT NULL, number text NOT NULL,
                    purchased_at timestamptz NOT NULL, total numeric(12, 2) NOT NULL, items integer NOT NULL,
                    card text NOT NULL, email text NOT NULL, phone text NOT NULL, served_by_id integer,
                    return_of text NOT NULL, is_return boolean NOT NULL, return_code text NOT NULL
                ) ON COMMIT DROP"""
            )
            sql = (
                f"COPY {t} (line, store_id, number, purchased_at, total, items, card, email, phone, "
                "served_by_id, return_of, is_return, return_code) FROM STDIN"
            )
            raw = cur.cursor
            stream = _Stream(_copy_lines(rows))
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
            cur.execute(f"ANALYZE {t}")
            cur.execute(f"SELECT count(*) FROM {t}")
            self.staged = cur.fetchone()[0]

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
                cur.executemany(
                    f"INSERT INTO {self.codes} VALUES (%s, %s, %s)",
                    [(presented, rc.code, rc.customer_id) for presented, rc in codes.items()],
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

        Three key maps (card, email, phone → customer id) are filled from existing
        customers, then from new ones: first for cards nobody matched, then for
        emails, then for phones. A row's customer is the first map that knows one
        of its keys, so every row with the same card ends up with the same person.
        """
        t = self.t
        with connection.cursor() as cur:
            for table, column in ((self.card, "card"), (self.email, "email"), (self.phone, "phone")):
                cur.execute(
                    f"""CREATE TEMP TABLE {table} ON COMMIT DROP AS
                        SELECT DISTINCT {column} AS key, NULL::bigint AS cid FROM {t} WHERE {column} <> ''"""
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
        t = self.t
        return f"""{t} s
            LEFT JOIN {self.card} mc ON mc.key = s.card
            LEFT JOIN {self.email} me ON me.key = s.email
            LEFT JOIN {self.phone} mp ON mp.key = s.phone
            WHERE COALESCE(mc.cid, me.cid, mp.cid) IS NULL"""

    def _create_for(self, cur, kind: str) -> int:
        """Create customers for unmatched rows whose strongest key is ``kind``; return how many."""
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
        cur.execute(
            f"""WITH g AS (
                    SELECT {key} AS key,
                           (array_agg(s.email ORDER BY s.line) FILTER (WHERE s.email <> ''))[1] AS email,
                           (array_agg(s.phone ORDER BY s.line) FILTER (WHERE s.phone <> ''))[1] AS phone,
                           (array_agg(s.store_id ORDER BY s.line))[1] AS store_id
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
