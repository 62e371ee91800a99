"""``python manage.py import_tickets FILE [--dry-run] [--skip-invalid] [--by USERNAME]``.

Exit status 0 when every row was accepted, 1 when any row was refused (even
with --skip-invalid, which imports the good rows), 2 when the file itself
cannot be read, 3 when the database connection was lost mid-way (nothing was
imported: run the same command again).
"""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError
from django.utils import timezone

from customers.importers import import_batch_interrupted, import_batch_process
from customers.models import ImportBatch


class Command(BaseCommand):
    help = "Import POS purchase tickets from a canonical CSV file (all or nothing unless --skip-invalid)."
    # No system checks: they import every URLconf and with it WeasyPrint and the PDF/QR stack
    # (~55 MB and seconds of start-up) that an import never uses. `manage.py check` runs them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV with the columns store, ticket, purchased_at, total, …")
        parser.add_argument("--dry-run", action="store_true", help="Check the file and report; change nothing.")
        parser.add_argument("--skip-invalid", action="store_true", help="Import the good rows, refuse the bad ones.")
        parser.add_argument("--by", metavar="USERNAME", help="Import as this user (only their stores).")
        parser.add_argument("--max-errors", type=int, default=200, help="How many errors to print (default 200).")

    def handle(self, *args, **options):
        path = options["file"]
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}", returncode=2)
        by = None
        if options["by"]:
            by = get_user_model()._default_manager.filter(username=options["by"]).first()
            if by is None:
                raise CommandError(f"No user called {options['by']}", returncode=2)
        now = timezone.now()
        batch = ImportBatch.objects.create(
            source=ImportBatch.Source.CLI,
            status=ImportBatch.Status.QUEUED,
            file_name=os.path.basename(path)[:255],
            file_size=os.path.getsize(path),
            skip_invalid=options["skip_invalid"],
            dry_run=options["dry_run"],
            created_by=by,
        )
        try:
            with open(path, "rb") as f:
                batch = import_batch_process(batch_id=batch.pk, now=now, file=f)
        except OperationalError as exc:
            import_batch_interrupted(batch_id=batch.pk, now=timezone.now())
            raise CommandError(
                f"import #{batch.pk}: the database connection was lost; nothing was imported. Run the command again.",
                returncode=3,
            ) from exc
        if batch.file_error:
            raise CommandError(batch.file_error, returncode=2)
        self._print(batch, options["max_errors"])
        if batch.error_count:
            raise CommandError(f"{batch.preview.get('refused_rows', batch.error_count)} row(s) refused.", returncode=1)

    def _print(self, batch: ImportBatch, max_errors: int) -> None:
        out = self.stdout
        verb = "would insert" if batch.dry_run else "inserted"
        committed = batch.status == ImportBatch.Status.DONE and not batch.dry_run
        out.write(
            f"import #{batch.pk}: {batch.rows_total} rows, {verb} {batch.inserted}, duplicates skipped "
            f"{batch.duplicates}, customers created {batch.customers_created}, errors {batch.error_count}, "
            f"warnings {batch.warning_count} (delimiter {batch.delimiter!r}, decimal mark {batch.decimal_mark!r})"
        )
        if batch.error_count and not batch.skip_invalid and not batch.dry_run:
            out.write("Nothing was imported: fix the rows below, or run again with --skip-invalid.")
        elif committed:
            out.write(self.style.SUCCESS("Committed."))
        for issue in batch.row_errors.all()[:max_errors]:
            out.write(f"line {issue.line}: {issue.column}: {issue.message} [{issue.level}]")
        shown = min(max_errors, batch.row_errors.count())
        if batch.error_count + batch.warning_count > shown:
            out.write(f"… and {batch.error_count + batch.warning_count - shown} more (see the import's error report).")
