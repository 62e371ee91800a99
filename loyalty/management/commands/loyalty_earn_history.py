"""Earn points for tickets that have not earned yet (history loaded before loyalty, demo data). Idempotent."""

from django.core.management.base import BaseCommand, CommandError

from customers.models import PurchaseTicket, Store
from loyalty.services import points_earn_for_tickets

CHUNK = 2000


class Command(BaseCommand):
    help = (
        "Earn points (and reverse returns, pay referral bonuses) for identified tickets that arrived without "
        "the tickets_created signal, e.g. history loaded by COPY. Each ticket earns once, however often this runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Only tickets purchased on or after this ISO date.")
        parser.add_argument("--store", help="Only this store code.")

    def handle(self, *args, since=None, store=None, **options):
        tickets = PurchaseTicket.objects.filter(customer__isnull=False).order_by("purchased_at", "pk")
        if since:
            tickets = tickets.filter(purchased_at__date__gte=since)
        if store:
            found = Store.objects.filter(code=store.upper()).first()
            if found is None:
                raise CommandError(f"Unknown store code {store!r}.")
            tickets = tickets.filter(store=found)
        ids = list(tickets.values_list("pk", flat=True))
        entries = 0
        for start in range(0, len(ids), CHUNK):
            entries += len(points_earn_for_tickets(ticket_ids=ids[start : start + CHUNK]))
        self.stdout.write(f"tickets looked at: {len(ids)}; ledger entries added: {entries}")
