"""Import batches: a CSV file checked, previewed, imported, with its history and progress.

The web flow is upload → check (a dry run) → preview → confirm → import; the
CLI runs check or import in one go. Both go through :func:`import_batch_process`,
which reads the batch's status to know what to do, so the Celery task stays a
one-liner that only takes the batch id.

Progress (rows read, phase) goes to the cache while the import's transaction
is open (the row would not be visible to the polling page until commit); the
final figures go to the batch row.
"""

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import BinaryIO

from django.core.cache import cache
from django.db import OperationalError, transaction
from django.utils.translation import gettext as _

from ..access import stores_for
from ..models import AuditEntry, ImportBatch, ImportRowError
from ..services import audit_record
from .csvfile import CsvSource, ImportFileError, csv_open
from .rows import RowIssue
from .service import ImportOutcome, Progress, tickets_import

logger = logging.getLogger(__name__)

PROGRESS_TTL = 6 * 60 * 60
PHASES = {"reading": 0, "checking": 70, "customers": 75, "inserting": 85, "indexing": 95, "done": 100}


def tickets_import_csv(
    *,
    file: BinaryIO,
    now: dt.datetime,
    allowed_store_ids: set[int] | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
    engine: str | None = None,
    progress: Progress | None = None,
) -> tuple[CsvSource, ImportOutcome]:
    """Import a canonical ticket CSV (binary file object). Raises ImportFileError if the file is unreadable."""
    source = csv_open(file)
    outcome = tickets_import(
        rows=source.rows(),
        now=now,
        allowed_store_ids=allowed_store_ids,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
        source="import",
        engine=engine,
        progress=progress,
    )
    return source, outcome


# --- progress ---------------------------------------------------------------------------------------


def _progress_key(batch_id: int) -> str:
    return f"regulars:import-progress:{batch_id}"


def import_progress(*, batch: ImportBatch) -> dict:
    """What the progress bar shows: status, phase, rows done / total, a percentage."""
    live = cache.get(_progress_key(batch.pk)) if not batch.is_finished else None
    done = live["done"] if live else batch.rows_done
    total = batch.rows_total
    phase = live["phase"] if live else ("done" if batch.is_finished or batch.status == batch.Status.PREVIEWED else "")
    percent = min(69, int(70 * done / total)) if phase == "reading" and total else PHASES.get(phase, 0)
    if batch.status == batch.Status.PREVIEWED or batch.is_finished:
        percent = 100
    return {
        "id": batch.pk,
        "status": batch.status,
        "status_label": str(batch.get_status_display()),
        "phase": phase,
        "rows_done": done,
        "rows_total": total,
        "percent": percent,
        "finished": batch.is_finished or batch.status == batch.Status.PREVIEWED,
        "url": batch.get_absolute_url(),
    }


def _progress_writer(batch_id: int) -> Progress:
    def write(phase: str, done: int) -> None:
        cache.set(_progress_key(batch_id), {"phase": phase, "done": done}, PROGRESS_TTL)

    return write


# --- batches -------------------------------------------------------------------------------------------


def _allowed_store_ids(batch: ImportBatch) -> set[int] | None:
    """A person imports for the stores they work in; a CLI run without --by for any store."""
    if batch.created_by_id is None:
        return None
    return set(stores_for(batch.created_by).values_list("pk", flat=True))


def _record_issues(batch: ImportBatch, issues: Iterable[RowIssue]) -> None:
    batch.row_errors.all().delete()
    chunk: list[ImportRowError] = []
    for issue in issues:
        chunk.append(
            ImportRowError(
                batch=batch, line=issue.line, column=issue.column, message=issue.message[:255], level=issue.level
            )
        )
        if len(chunk) >= 5000:
            ImportRowError.objects.bulk_create(chunk)
            chunk = []
    if chunk:
        ImportRowError.objects.bulk_create(chunk)


def import_batch_process(*, batch_id: int, now: dt.datetime, file: BinaryIO | None = None) -> ImportBatch:
    """Check (status VALIDATING) or import (status QUEUED) the batch's file; record the outcome on the batch.

    ``file`` is the CSV opened in binary mode; by default the batch's stored upload.
    Idempotent: a batch already past these states is returned untouched.
    """
    batch = ImportBatch.objects.select_related("created_by").get(pk=batch_id)
    if batch.status not in {ImportBatch.Status.VALIDATING, ImportBatch.Status.QUEUED}:
        return batch
    checking = batch.status == ImportBatch.Status.VALIDATING or batch.dry_run
    if not checking:
        batch.status = ImportBatch.Status.RUNNING
        batch.started_at = now
        batch.save(update_fields=["status", "started_at"])
    opened = file or batch.file.open("rb")
    try:
        # The tickets and the batch's outcome commit together: a crash (worker killed, database
        # restarted) at any point leaves the file all in with the batch "done", or all out.
        with transaction.atomic():
            source, outcome = tickets_import_csv(
                file=opened,
                now=now,
                allowed_store_ids=_allowed_store_ids(batch),
                skip_invalid=batch.skip_invalid,
                dry_run=checking,
                progress=_progress_writer(batch.pk),
            )
            _record_outcome(batch, source, outcome, checking=checking, now=now)
    except ImportFileError as exc:
        batch.file_error = str(exc)[:255]
        batch.status = ImportBatch.Status.REFUSED
        batch.finished_at = now
        batch.save(update_fields=["file_error", "status", "finished_at"])
        _discard_file(batch)
        return batch
    except OperationalError:
        # The database went away mid-import: everything rolled back; put the batch back in the queue for
        # the task's retry (once the database answers again), so it does not say "importing" forever.
        if not checking:
            _after_lost_connection(batch_id=batch.pk, status=ImportBatch.Status.QUEUED)
        raise
    except Exception:
        logger.exception("import batch=%s failed", batch.pk)
        ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.FAILED, finished_at=now)
        raise
    finally:
        if file is None:
            opened.close()
    cache.delete(_progress_key(batch.pk))
    if batch.is_finished:
        _discard_file(batch)
    return batch


def _record_outcome(batch: ImportBatch, source, outcome: ImportOutcome, *, checking: bool, now: dt.datetime) -> None:
    """The figures, status, stores, row issues and audit entry of a processed batch (inside its transaction)."""
    batch.delimiter = source.delimiter
    batch.decimal_mark = outcome.decimal_mark
    batch.rows_total = outcome.rows
    batch.rows_done = outcome.rows
    batch.inserted = outcome.inserted
    batch.duplicates = outcome.duplicates
    batch.customers_created = outcome.customers_created
    batch.error_count = outcome.error_count
    batch.warning_count = len(outcome.warnings)
    if checking:
        batch.preview = {"header": source.header, "rows": source.preview, "refused_rows": outcome.refused}
        batch.status = ImportBatch.Status.PREVIEWED if not batch.dry_run else ImportBatch.Status.DONE
    else:
        batch.preview = {"header": [], "rows": [], "refused_rows": outcome.refused}
        batch.status = ImportBatch.Status.DONE if outcome.committed else ImportBatch.Status.REFUSED
    if not checking or batch.dry_run:
        batch.finished_at = now
    batch.save()
    batch.stores.set(outcome.store_ids)
    _record_issues(batch, [*outcome.errors, *outcome.warnings])
    if outcome.committed:
        audit_record(
            actor=batch.created_by,
            action=AuditEntry.Action.IMPORT,
            target=batch,
            details={
                "rows": outcome.rows,
                "inserted": outcome.inserted,
                "duplicates": outcome.duplicates,
                "errors": outcome.error_count,
                "customers_created": outcome.customers_created,
            },
        )


def _after_lost_connection(
    *, batch_id: int, status: str, finished_at: dt.datetime | None = None, attempts: int = 20, pause: float = 0.5
) -> bool:
    """Set a running or queued batch's status on a new connection once the database answers again (a
    restart takes a few seconds); False if it did not within ``attempts``: the batch keeps its status."""
    from django.db import DatabaseError, connection

    for _attempt in range(attempts):
        try:
            connection.close()
            ImportBatch.objects.filter(
                pk=batch_id, status__in=[ImportBatch.Status.RUNNING, ImportBatch.Status.QUEUED]
            ).update(status=status, finished_at=finished_at)
            return True
        except DatabaseError:
            time.sleep(pause)
    logger.warning("import batch=%s: database unreachable, status left as is", batch_id)
    return False


def import_batch_interrupted(*, batch_id: int, now: dt.datetime) -> bool:
    """A one-shot import (the CLI) lost its database mid-way: nothing was imported, and nobody will retry
    this batch, so it is marked failed (running the command again imports the file)."""
    return _after_lost_connection(batch_id=batch_id, status=ImportBatch.Status.FAILED, finished_at=now)


def import_batch_confirm(*, batch: ImportBatch, skip_invalid: bool) -> ImportBatch:
    """The person looked at the preview and wants the import (of the good rows only, if ``skip_invalid``)."""
    updated = ImportBatch.objects.filter(pk=batch.pk, status=ImportBatch.Status.PREVIEWED).update(
        status=ImportBatch.Status.QUEUED, skip_invalid=skip_invalid
    )
    if not updated:
        raise ValueError(_("This import is not waiting for confirmation."))
    batch.refresh_from_db()
    return batch


def import_batch_cancel(*, batch: ImportBatch, now: dt.datetime) -> ImportBatch:
    """Drop a previewed import: nothing is imported and the uploaded file is deleted."""
    ImportBatch.objects.filter(pk=batch.pk, status=ImportBatch.Status.PREVIEWED).update(
        status=ImportBatch.Status.CANCELLED, finished_at=now
    )
    batch.refresh_from_db()
    if batch.status == ImportBatch.Status.CANCELLED:
        _discard_file(batch)
    return batch


def _discard_file(batch: ImportBatch) -> None:
    """The uploaded file holds emails and phone numbers: keep it no longer than the import needs it."""
    if batch.file:
        batch.file.delete(save=False)
        ImportBatch.objects.filter(pk=batch.pk).update(
            file="",
            preview={"refused_rows": batch.preview.get("refused_rows", 0)} if isinstance(batch.preview, dict) else {},
        )
