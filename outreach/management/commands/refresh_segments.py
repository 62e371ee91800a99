"""python manage.py refresh_segments [--as-of DATE] [--store CODE] [--full] — the nightly job, by hand."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from outreach import rules
from outreach.services import SegmentRunBusy, segments_refresh

from ._segment_args import add_scope_arguments, parse_scope


class Command(BaseCommand):
    help = "Recompute the segments of the chain (or one store) and print the count per segment."

    def add_arguments(self, parser):
        add_scope_arguments(parser)
        parser.add_argument("--full", action="store_true", help="Recompute every customer, not only the changed.")

    def handle(self, *args, **options):
        as_of, store = parse_scope(options)
        try:
            run = segments_refresh(
                store=store, as_of=as_of, now=timezone.now(), full=options["full"], clock=timezone.now
            )
        except SegmentRunBusy as busy:
            raise CommandError(
                f"Another refresh of this scope is running (run {busy.run.pk if busy.run else '?'})."
            ) from None
        self.stdout.write(
            f"run {run.pk} · {run.scope_key} · as of {run.as_of} · {run.mode} · "
            f"{run.customers_recomputed} recomputed · {run.changes} changes · {run.duration.total_seconds():.2f} s"
        )
        for name in rules.SEGMENT_NAMES:
            self.stdout.write(f"{name:<10} {run.counts.get(name, 0)}")
        self.stdout.write(f"{'customers':<10} {run.counts.get('customers', 0)}")
