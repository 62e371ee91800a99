"""Print a store's open notes (or one staff member's) as a PDF task sheet, note cards or labels."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customers.models import Store
from outreach.notes_models import Note, NoteChannel, NoteStatus
from outreach.notes_sheets import notes_sheet_pdf
from outreach.sheets import LAYOUTS


class Command(BaseCommand):
    help = "Render the task sheet of a store's notes still to write or post. Printing changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="Store code.")
        parser.add_argument("--staff", help="Username: only the notes this person writes.")
        parser.add_argument("--layout", choices=LAYOUTS, default="sheet")
        parser.add_argument("--language", default="en", help="Language of the sheet's labels.")
        parser.add_argument("-o", "--output", required=True, help="PDF file to write.")

    def handle(self, *args, **options):
        store = Store.objects.filter(code=options["store"]).first()
        if store is None:
            raise CommandError(f"No store with code {options['store']!r}.")
        notes = Note.objects.filter(
            store=store,
            status__in=[NoteStatus.QUEUED, NoteStatus.WRITTEN],
            channel__in=[NoteChannel.POST, NoteChannel.BOTH],
        )
        if options["staff"]:
            user = get_user_model().objects.filter(username=options["staff"]).first()
            if user is None:
                raise CommandError(f"No user {options['staff']!r}.")
            notes = notes.filter(assigned_to=user)
        count = notes.count()
        pdf = notes_sheet_pdf(
            notes=notes,
            store=store,
            printed_on=timezone.localdate(),
            layout=options["layout"],
            language=options["language"],
        )
        Path(options["output"]).write_bytes(pdf)
        self.stdout.write(f"{count} notes → {options['output']} ({len(pdf)} bytes)")
