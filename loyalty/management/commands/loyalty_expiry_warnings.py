"""Queue notices for points about to expire."""

import datetime as dt

from django.core.management.base import BaseCommand
from django.utils import timezone

from loyalty.services import expiry_warnings_queue


class Command(BaseCommand):
    help = "Queue notices for points about to expire."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO date-time to run as (default: now).")

    def handle(self, *args, **options):
        as_of = dt.datetime.fromisoformat(options["as_of"]) if options["as_of"] else timezone.now()
        if timezone.is_naive(as_of):
            as_of = timezone.make_aware(as_of, dt.UTC)
        result = expiry_warnings_queue(as_of=as_of)
        self.stdout.write(f"notices queued: {result}")
