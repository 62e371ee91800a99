"""Recompute every account's tier from trailing-12-month spend and visits."""

import datetime as dt

from django.core.management.base import BaseCommand
from django.utils import timezone

from loyalty.services import tiers_recompute


class Command(BaseCommand):
    help = "Recompute every account's tier from trailing-12-month spend and visits."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO date-time to run as (default: now).")

    def handle(self, *args, **options):
        as_of = dt.datetime.fromisoformat(options["as_of"]) if options["as_of"] else timezone.now()
        if timezone.is_naive(as_of):
            as_of = timezone.make_aware(as_of, dt.UTC)
        result = tiers_recompute(as_of=as_of)
        self.stdout.write(f"changes: {result}")
