"""python manage.py show_segment NAME [--as-of DATE] [--store CODE] [--format csv]."""

import csv

from django.core.management.base import BaseCommand
from django.utils import timezone

from outreach import rules, selectors
from outreach.services import segments_refresh

from ._segment_args import add_scope_arguments, parse_scope

COLUMNS = ["card", "name", "visits", "tickets", "last_visit", "median_gap_days", "p_alive"]


class Command(BaseCommand):
    help = "List the members of a segment: card, visits, tickets, last visit, median gap, P(alive)."

    def add_arguments(self, parser):
        parser.add_argument("name", choices=rules.SEGMENT_NAMES)
        add_scope_arguments(parser)
        parser.add_argument("--format", choices=["table", "csv"], default="table")

    def handle(self, *args, **options):
        as_of, store = parse_scope(options)
        latest = selectors.latest_run(store=store)
        if latest is None or (options.get("as_of") and latest.as_of != as_of):
            self.stderr.write(f"Refreshing segments as of {as_of} first.")
            segments_refresh(store=store, as_of=as_of, now=timezone.now(), clock=timezone.now)
        rows = selectors.segment_members(store=store, name=options["name"])
        if options["format"] == "csv":
            writer = csv.writer(self.stdout)
            writer.writerow(COLUMNS)
            for s in rows:
                writer.writerow(
                    [
                        s.customer.card_number,
                        s.customer.full_name,
                        s.visits,
                        s.tickets,
                        s.last_visit.isoformat(),
                        "" if s.median_gap_days is None else f"{s.median_gap_days:g}",
                        "" if s.p_alive is None else f"{s.p_alive:.2f}",
                    ]
                )
            return
        self.stdout.write(
            f"{'card':<14} {'visits':>6} {'tickets':>7} {'last visit':<10} {'gap':>5} {'P(alive)':>8}  name"
        )
        for s in rows:
            gap = "" if s.median_gap_days is None else f"{s.median_gap_days:g}"
            p = "" if s.p_alive is None else f"{s.p_alive:.2f}"
            self.stdout.write(
                f"{s.customer.card_number:<14} {s.visits:>6} {s.tickets:>7} {s.last_visit.isoformat():<10} "
                f"{gap:>5} {p:>8}  {s.customer.full_name}"
            )
        self.stdout.write(f"{len(rows)} customers")
