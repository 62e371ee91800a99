"""Import opening balances (card, points, as-of date) from another system. Safe to rerun."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from loyalty.importers import opening_balances_import


class Command(BaseCommand):
    help = "Import opening point balances from a CSV file: card, points, as_of (YYYY-MM-DD). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to the CSV file.")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        text = path.read_text(encoding="utf-8-sig")
        result = opening_balances_import(text=text, file_name=path.name)
        for error in result.errors:
            self.stderr.write(error)
        self.stdout.write(
            f"inserted: {result.inserted}, already imported: {result.already}, errors: {len(result.errors)}"
        )
