"""Grant birthday bonuses (last week's birthdays, once a year each)."""

import datetime as dt

from django.core.management.base import BaseCommand
from django.utils import timezone

from loyalty.services import points_birthday_grant


class Command(BaseCommand):
    help = "Grant birthday bonuses (last week's birthdays, once a year each)."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO date-time to run as (default: now).")

    def handle(self, *args, **options):
        as_of = dt.datetime.fromisoformat(options["as_of"]) if options["as_of"] else timezone.now()
        if timezone.is_naive(as_of):
            as_of = timezone.make_aware(as_of, dt.UTC)
        result = points_birthday_grant(as_of=as_of)
        self.stdout.write(f"bonuses granted: {result}")
