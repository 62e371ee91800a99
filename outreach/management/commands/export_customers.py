"""Export a customer list (best customers, or any list) to CSV, XLSX or PDF from the shell."""

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customers.models import Store
from outreach import exports


class Command(BaseCommand):
    help = (
        "Export a customer list, e.g. --segment best --top 50 --format xlsx -o best.xlsx (audited). "
        "Segments come from the latest segmentation run of the store (--store CODE) or of the chain."
    )
    # No system checks: they import every URLconf and with it WeasyPrint, the QR stack and NumPy (~50 MB)
    # that a CSV/XLSX export never uses (the PDF format imports WeasyPrint itself). `manage.py check` runs them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--segment", default="best", choices=[c for c, _label in exports.SEGMENT_CHOICES])
        parser.add_argument("--top", type=int, help="Keep the first N customers of the list.")
        parser.add_argument("--as-of", dest="as_of", help="YYYY-MM-DD; default today.")
        parser.add_argument("--store", action="append", help="Store code (repeatable); default every store.")
        parser.add_argument("--format", dest="fmt", default="csv", choices=["csv", "xlsx", "pdf"])
        parser.add_argument("-o", "--output", required=True, help="File to write ('-' for CSV to stdout).")

    def handle(self, *args, segment, top, as_of, store, fmt, output, **options):
        if top is not None and top < 1:
            raise CommandError("--top must be at least 1.")
        try:
            day = dt.date.fromisoformat(as_of) if as_of else timezone.localdate()
        except ValueError as exc:
            raise CommandError(f"--as-of is YYYY-MM-DD: {exc}") from exc
        if segment in exports.STATE_SEGMENTS and store and len(set(store)) > 1:
            raise CommandError("A segment list is for one store (--store CODE) or the whole chain (no --store).")
        stores = Store.objects.all()
        if store:
            stores = stores.filter(code__in=store)
            unknown = sorted(set(store) - set(stores.values_list("code", flat=True)))
            if unknown:
                raise CommandError(f"Unknown store code(s): {', '.join(unknown)}")
        request = exports.ExportRequest(
            segment=segment,
            top=top,
            store_ids=tuple(stores.values_list("pk", flat=True)),
            store_codes=tuple(sorted(store or ())),
            as_of=day,
        )
        if fmt == "csv":
            if output == "-":
                rows = exports.csv_write(request=request, target=self.stdout)
            else:
                with Path(output).open("w", encoding="utf-8", newline="") as target:
                    rows = exports.csv_write(request=request, target=target)
        elif fmt == "xlsx":
            rows = exports.xlsx_write(request=request, path=Path(output))
        else:
            pdf, rows = exports.pdf_render(request=request)
            Path(output).write_bytes(pdf)
        # The shell has no user: the audit entry records the export with no actor.
        exports.export_audit(actor=None, request=request, fmt=fmt, rows=rows)
        if output != "-":
            self.stdout.write(f"Wrote {rows} customers to {output}.")
