"""Recompute the dashboard's daily and monthly tables (what beat runs every night)."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Min
from django.utils import timezone

from customers.models import PurchaseTicket, Store
from outreach.tasks_dashboard import NIGHTLY_DAYS, dashboard_aggregates_refresh_task


class Command(BaseCommand):
    help = "Refresh the dashboard aggregates from the tickets, month by month (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="First local day (YYYY-MM-DD); 'all' for the whole history.")
        parser.add_argument("--until", help="Last local day (YYYY-MM-DD); default today.")
        parser.add_argument("--store", action="append", help="Store code (repeatable); default every store.")

    def handle(self, *args, since=None, until=None, store=None, **options):
        today = timezone.now().date()
        try:
            end = dt.date.fromisoformat(until) if until else today
            if since == "all":
                first = PurchaseTicket.objects.aggregate(first=Min("purchased_at"))["first"]
                start = first.date() - dt.timedelta(days=1) if first else end
            else:
                start = dt.date.fromisoformat(since) if since else end - dt.timedelta(days=NIGHTLY_DAYS - 1)
        except ValueError as exc:
            raise CommandError(f"Dates are YYYY-MM-DD: {exc}") from exc
        store_ids = None
        if store:
            found = dict(Store.objects.filter(code__in=store).values_list("code", "pk"))
            unknown = sorted(set(store) - set(found))
            if unknown:
                raise CommandError(f"Unknown store code(s): {', '.join(unknown)}")
            store_ids = sorted(found.values())
        # Run in this process (the command is the embedded default's scheduler, and staff's manual lever).
        totals = dashboard_aggregates_refresh_task.apply(args=(start.isoformat(), end.isoformat(), store_ids)).get()
        self.stdout.write(
            f"Refreshed {start}…{end}: {totals['store_days']} store-days, "
            f"{totals['customer_months']} customer-months, {totals['cohort_months']} cohort cells."
        )
