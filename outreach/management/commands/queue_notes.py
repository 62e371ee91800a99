"""Queue notes for every active campaign (what the Celery task does after each segmentation run)."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customers.models import Store
from outreach.campaigns import SKIP_REASONS
from outreach.notes import notes_queue
from outreach.notes_models import Campaign


class Command(BaseCommand):
    help = "Queue one note per eligible customer for every active campaign. Rerunning queues nothing twice."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO date or date-time to queue as (default: now).")
        parser.add_argument("--store", help="Store code: that store's campaigns and its customers only.")

    def handle(self, *args, **options):
        as_of = timezone.now()
        if options["as_of"]:
            try:
                as_of = dt.datetime.fromisoformat(options["as_of"])
            except ValueError as exc:
                raise CommandError(f"--as-of: not an ISO date: {options['as_of']}") from exc
            if timezone.is_naive(as_of):
                as_of = timezone.make_aware(as_of)
        store = None
        if options["store"]:
            store = Store.objects.filter(code=options["store"]).first()
            if store is None:
                raise CommandError(f"No store with code {options['store']!r}.")
        run = notes_queue(as_of=as_of, store=store, now=timezone.now())
        names = dict(Campaign.objects.filter(pk__in=[int(k) for k in run.counts]).values_list("pk", "name"))
        for key, c in run.counts.items():
            skipped = ", ".join(f"{n} {SKIP_REASONS[r]}" for r, n in c["skipped"].items()) or "none"
            self.stdout.write(
                f"{names.get(int(key), key)}: queued {c['created']}, held out {c['held_out']}, "
                f"already queued {c['already']}, skipped: {skipped}"
            )
        self.stdout.write(f"run {run.pk}: {run.created} notes queued, {run.held_out} held out, {run.skipped} skipped")
