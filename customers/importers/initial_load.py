"""Initial-load mode: a large import into a small table loads without its foreign keys and secondary indexes.

PostgreSQL's manual ("Populating a Database", 14.4) recommends, for an initial
load, to remove indexes and foreign-key constraints, load, then re-create them:
one sort per index instead of millions of index insertions, and one set-based
check per foreign key (``VALIDATE CONSTRAINT``: a single anti-join) instead of
one RI trigger run per row and key — 2.4 M of them for a million tickets.

The import uses it for a table that holds fewer rows than the file brings
(a shop's first history load), and only for files of at least
``INITIAL_LOAD_MIN_ROWS`` rows. Everything happens inside the import's single
transaction:

1. ``LOCK TABLE … IN ACCESS EXCLUSIVE MODE``: nobody reads or writes the
   table until the import commits or rolls back (an API ticket POST waits,
   then succeeds);
2. the table's validated foreign keys and its non-unique indexes (not those of
   the primary key or of a unique constraint: the import's duplicate checks and
   ``ON CONFLICT`` need them) are read with ``pg_get_constraintdef`` /
   ``pg_get_indexdef`` and dropped;
3. after the insert, the indexes are re-created from those definitions, and
   each foreign key is added back ``NOT VALID`` and validated — identical
   definitions, names, deferrability, and ``convalidated`` true again.

A failure anywhere rolls the DDL back with the rows: the schema is never left
without its constraints. Check constraints, unique constraints, NOT NULL and
triggers stay in place throughout, so every row is still checked as it goes in.
Smaller imports, and imports into tables that already hold more rows than the
file, keep the ordinary path (row locks only).
"""

from dataclasses import dataclass, field

from django.db import OperationalError, transaction

INITIAL_LOAD_MIN_ROWS = 50_000
"""Below this many rows an import never takes the tables' exclusive lock (per-row costs are small anyway)."""

PENDING_TRIGGER_EVENTS = "55006"  # object_in_use: "cannot ALTER TABLE … because it has pending trigger events"

MAINTENANCE_WORK_MEM = "256MB"
"""For this transaction's index builds (the server default, 64 MB, spills a million-row sort to disk)."""


@dataclass
class _Stripped:
    table: str
    indexes: list[str] = field(default_factory=list)  # CREATE INDEX statements, as pg_get_indexdef gives them
    foreign_keys: list[tuple[str, str]] = field(default_factory=list)  # (name, definition)


def table_smaller_than(cur, table: str, rows: int) -> bool:
    """Whether ``table`` holds fewer than ``rows`` rows (a bounded count: reads at most ``rows`` rows)."""
    cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT %s) x", [rows])
    return cur.fetchone()[0] < rows


class InitialLoad:
    """The foreign keys and secondary indexes dropped for this import, to be re-created before commit."""

    def __init__(self) -> None:
        self.stripped: list[_Stripped] = []

    @property
    def active(self) -> bool:
        return bool(self.stripped)

    def tables(self) -> list[str]:
        return [s.table for s in self.stripped]

    def strip(self, cur, tables: list[str]) -> list[str]:
        """Lock ``tables`` (in this order) and drop their validated foreign keys and non-unique indexes.

        Returns the tables stripped: none when the surrounding transaction already wrote to one of
        them (PostgreSQL refuses to alter a table with pending deferred trigger events); the
        import then takes the ordinary path.
        """
        if not tables:
            return []
        try:
            with transaction.atomic():
                self._strip(cur, tables)
        except OperationalError as exc:
            if getattr(exc.__cause__, "pgcode", None) != PENDING_TRIGGER_EVENTS:
                raise
            self.stripped = []
        return self.tables()

    def _strip(self, cur, tables: list[str]) -> None:
        cur.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
        cur.execute("SET LOCAL maintenance_work_mem = %s", [MAINTENANCE_WORK_MEM])
        for table in tables:
            stripped = _Stripped(table)
            cur.execute(
                """SELECT quote_ident(c.relname), pg_get_indexdef(i.indexrelid)
                   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary AND i.indisvalid
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                                     WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
                   ORDER BY c.relname""",
                [table],
            )
            indexes = cur.fetchall()
            cur.execute(
                """SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint
                   WHERE conrelid = %s::regclass AND contype = 'f' AND convalidated ORDER BY conname""",
                [table],
            )
            stripped.foreign_keys = cur.fetchall()
            for name, _definition in stripped.foreign_keys:
                cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            for name, definition in indexes:
                cur.execute(f"DROP INDEX {name}")
                stripped.indexes.append(definition)
            self.stripped.append(stripped)

    def restore(self, cur) -> None:
        """Re-create what strip() dropped: indexes first (they also give the planner the new row counts),
        then each foreign key, added NOT VALID and validated by one set-based check."""
        for stripped in self.stripped:
            for definition in stripped.indexes:
                cur.execute(definition)
        for stripped in self.stripped:
            for name, definition in stripped.foreign_keys:
                cur.execute(f"ALTER TABLE {stripped.table} ADD CONSTRAINT {name} {definition} NOT VALID")
                cur.execute(f"ALTER TABLE {stripped.table} VALIDATE CONSTRAINT {name}")
        self.stripped = []
