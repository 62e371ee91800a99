"""The ticket import service: rows in, tickets (and details-missing customers) out, all or nothing.

One function, :func:`tickets_import`, serves the CSV importer (web upload and
CLI) and the REST API, so a row means the same everywhere:

1. every row is parsed and validated on its own: by rows.RowParser (ORM
   engine), or on PostgreSQL by SQL over the raw values COPYed into a
   temporary table (engine_pg; same rules, same messages);
2. checks across rows run set-based: a ticket number repeated with different
   content, a return of a ticket that does not exist, a return code no note has
   (or, once customers are matched, another customer's: customers/attribution.py);
3. any refused row and no ``skip_invalid`` → the transaction rolls back:
   nothing is committed, every reason is reported;
4. otherwise duplicates (within the file, or already imported) are dropped,
   customers are matched by card, then email, then phone (unknown ones are
   created with ``details_missing``), and the tickets are inserted in one
   statement per kind (sales, then returns linked to their original);
5. after commit, ``customer_created`` and ``tickets_created`` are sent.
"""

import datetime as dt
import logging
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction

from ..attribution import anonymous_tickets_join_customer, return_codes_resolve
from ..importers_tasks import tickets_announce_plan_task
from ..signals import send_customer_created, send_tickets_created
from .engine_orm import OrmEngine
from .engine_pg import PostgresEngine
from .rows import RowIssue, RowParser, stores_index

logger = logging.getLogger(__name__)

SIGNAL_CHUNK = 10_000
ANNOUNCE_INLINE_MAX = 10_000
"""An import with more new tickets + customers than this sends its signals from Celery tasks (one per chunk)."""
ANNOUNCE_RUNS_MAX = 10_000
"""Runs of consecutive new ids per planning message (see _announce): one message for any ordinary first load."""
KEEP_TICKET_IDS = 10_000
"""Up to this many new ticket ids are also handed back in ``ImportOutcome.ticket_ids`` (the API's batches)."""
Progress = Callable[[str, int], None]


@dataclass
class ImportOutcome:
    """What an import did (or, for a dry run or a refused file, would do for the good rows)."""

    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    customers_created: int = 0
    error_count: int = 0
    errors: list[RowIssue] = field(default_factory=list)
    warnings: list[RowIssue] = field(default_factory=list)
    committed: bool = False
    decimal_mark: str = "."
    store_ids: set[int] = field(default_factory=set)
    ticket_ids: array = field(default_factory=lambda: array("q"))
    engine: str = ""
    refused: int = 0  # rows refused (a row with two bad columns counts once)
    initial_load: list[str] = field(default_factory=list)  # tables loaded in initial-load mode (initial_load.py)


class _Rollback(Exception):
    pass


def _record(outcome: ImportOutcome, parser: RowParser, refused_across_rows: int) -> None:
    outcome.errors = sorted(parser.errors, key=lambda i: (i.line, i.column))
    outcome.warnings = parser.warnings
    outcome.error_count = parser.error_count
    outcome.decimal_mark = parser.decimal_mark
    outcome.store_ids = parser.store_ids
    outcome.refused = parser.rows_refused + refused_across_rows


def engine_for(name: str | None = None):
    """The staging engine: PostgreSQL's COPY path, or the ORM path (SQLite, or forced with ``name="orm"``)."""
    if name == "orm" or (name is None and connection.vendor != "postgresql"):
        return OrmEngine()
    return PostgresEngine()


def tickets_import(
    *,
    rows: Iterable[tuple[int, list[str]]],
    now: dt.datetime,
    allowed_store_ids: set[int] | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
    source: str = "import",
    engine: str | None = None,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Import ``rows`` ((line, values aligned with rows.COLUMNS) pairs) as purchase tickets.

    ``allowed_store_ids`` limits the stores rows may name (None: any store).
    With ``dry_run`` everything runs and is rolled back, so the outcome predicts
    what importing the good rows would do. ``source`` is passed to
    ``customer_created`` ("import" or "api").
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def report(phase: str, done: int) -> None:
        if phase not in timings:
            timings[phase] = round(time.perf_counter() - started, 2)
        if progress is not None:
            progress(phase, done)

    parser = RowParser(stores=stores_index(), allowed_store_ids=allowed_store_ids, now=now)
    eng = engine_for(engine)
    outcome = ImportOutcome(engine=eng.name)
    try:
        with transaction.atomic():
            eng.stage(rows, parser, lambda n: report("reading", n))
            outcome.rows = parser.rows_read
            report("checking", parser.rows_read)
            conflicts = eng.conflicts()
            eng.drop_lines([i.line for i in conflicts])
            orphans = eng.unknown_originals()
            eng.drop_lines([i.line for i in orphans])
            presented = eng.return_codes()
            bad_codes = eng.unknown_return_codes(return_codes_resolve(codes=presented))
            eng.drop_lines([i.line for i in bad_codes])
            parser.add_errors(conflicts)
            parser.add_errors(orphans)
            parser.add_errors(bad_codes)
            refused = len(conflicts) + len(orphans) + len(bad_codes)
            _record(outcome, parser, refused)
            refusing = parser.error_count and not (skip_invalid or dry_run)
            if refusing and not presented:
                raise _Rollback
            report("customers", parser.rows_read)
            eng.drop_duplicates()
            # A first history load (more rows than the tickets table holds): without foreign keys and
            # secondary indexes until restored below (initial_load.py); the ordinary path otherwise.
            outcome.initial_load = eng.initial_load_begin()
            eng.customers_resolve()
            # A return code must be the ticket's own customer's (customers.attribution): known only once
            # customers are matched, so a refused file with codes goes this far to report every reason.
            foreign = eng.foreign_return_codes() if presented else []
            if foreign:
                eng.drop_lines([i.line for i in foreign])
                parser.add_errors(foreign)
                refused += len(foreign)
                _record(outcome, parser, refused)
            if parser.error_count and not (skip_invalid or dry_run):
                raise _Rollback
            valid = eng.staged - refused
            report("inserting", parser.rows_read)
            eng.tickets_insert(link_anonymous=anonymous_tickets_join_customer())
            outcome.inserted = eng.inserted
            outcome.duplicates = valid - outcome.inserted
            outcome.customers_created = eng.customers_created
            if outcome.inserted <= KEEP_TICKET_IDS:  # the API answers with them (batches of ≤ 1,000)
                for chunk in eng.id_chunks("t", SIGNAL_CHUNK):
                    outcome.ticket_ids.extend(chunk)
            report("inserted", parser.rows_read)
            if dry_run or (parser.error_count and not skip_invalid):
                raise _Rollback  # the rollback restores whatever initial_load_begin dropped, too
            if outcome.initial_load:
                report("indexing", parser.rows_read)
                eng.initial_load_end()
            transaction.on_commit(lambda: _announce(eng, source))
            outcome.committed = True
    except _Rollback:
        outcome.committed = False
    finally:
        eng.close()
        if not outcome.committed:
            eng.discard()
    logger.info(
        "tickets import engine=%s rows=%s inserted=%s duplicates=%s errors=%s customers_created=%s committed=%s "
        "initial_load=%s phases=%s total=%.2fs",
        outcome.engine,
        outcome.rows,
        outcome.inserted,
        outcome.duplicates,
        outcome.error_count,
        outcome.customers_created,
        outcome.committed,
        ",".join(outcome.initial_load) or "-",
        timings,
        time.perf_counter() - started,
    )
    return outcome


def _announce(eng, source: str) -> None:
    """After commit: tell loyalty and segmentation (ids only, in chunks read back from the database).

    A small import (the API's batches, a day's file) sends the signals here. A big one publishes
    one task with the new ids as runs ``(lo, hi)`` of consecutive ids (a first load's million
    tickets are one or two runs): that task cuts them into chunks of SIGNAL_CHUNK ids and queues
    one task per chunk, so the receivers (loyalty earns points ticket by ticket) run in the
    workers, in parallel, and the importing process is done once its rows are committed.
    With eager Celery (no broker) the tasks run right here, in order, as before.
    """
    started = time.perf_counter()
    queued = eng.inserted + eng.customers_created > ANNOUNCE_INLINE_MAX
    try:
        if queued:
            customers = [list(r) for r in eng.id_ranges("c")]
            tickets = [list(r) for r in eng.id_ranges("t")]
            # One message, however many runs: a pathological interleaving (every other id another
            # session's) is cut into messages of ANNOUNCE_RUNS_MAX runs, so none grows without bound.
            for i in range(0, max(len(customers), len(tickets)), ANNOUNCE_RUNS_MAX):
                tickets_announce_plan_task.delay(
                    customer_ranges=customers[i : i + ANNOUNCE_RUNS_MAX],
                    ticket_ranges=tickets[i : i + ANNOUNCE_RUNS_MAX],
                    source=source,
                    chunk=SIGNAL_CHUNK,
                )
        else:
            for chunk in eng.id_chunks("c", SIGNAL_CHUNK):
                for customer_id in chunk:
                    send_customer_created(customer_id, source)
            for chunk in eng.id_chunks("t", SIGNAL_CHUNK):
                send_tickets_created(chunk)
    finally:
        eng.discard()
    logger.info("tickets import signals %s in %.2fs", "queued" if queued else "sent", time.perf_counter() - started)
