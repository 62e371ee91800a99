"""``manage.py load_demo_data``: a reproducible demo chain (see customers/demo.py)."""

import datetime as dt
import os

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customers.demo import demo_load
from customers.models import Customer


def _as_of(value: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--as-of must be a date like 2026-11-01, not {value!r}") from exc
    return dt.datetime.combine(day, dt.time(18, 0), tzinfo=dt.UTC)


class Command(BaseCommand):
    help = (
        "Load a demo chain: stores, owner/managers/staff (password from DEMO_PASSWORD, default "
        "'regulars-demo'), customers with two years of visits. Same --seed and --as-of, same data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=2000, help="how many customers (default 2000)")
        parser.add_argument("--stores", type=int, default=3, help="how many stores (default 3)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--as-of", type=_as_of, default=None, help="the 'today' of the history (default: now)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when customers already exist")
        parser.add_argument("--chunk-size", type=int, default=None, help="customers per COPY/bulk chunk")

    def handle(self, *args, customers, stores, seed, as_of, if_empty, chunk_size, verbosity, **options):
        if customers < 0:
            raise CommandError("--customers must be 0 or more")
        if stores < 1:
            raise CommandError("--stores must be at least 1")
        if if_empty and Customer.objects.exists():
            self.stdout.write("Customers already exist: demo data not loaded (--if-empty).")
            return
        password = os.environ.get("DEMO_PASSWORD", "regulars-demo")
        as_of = as_of or timezone.now()

        def progress(result):
            if verbosity > 1:
                self.stdout.write(f"  {result.customers:,} customers, {result.tickets:,} tickets…")

        result = demo_load(
            customers=customers,
            stores=stores,
            seed=seed,
            as_of=as_of,
            password=password,
            chunk_size=chunk_size,
            progress=progress,
        )
        rate = result.tickets / result.seconds if result.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {result.stores} stores, {result.users} users, {result.customers:,} customers, "
                f"{result.tickets:,} tickets ({result.returns:,} returns, {result.anonymous:,} anonymous sales) "
                f"in {result.seconds:.1f} s via {result.method} ({rate:,.0f} tickets/s), as of {as_of:%Y-%m-%d}."
            )
        )
        if verbosity:
            by_role: dict[str, list[str]] = {}
            for username, role, code in result.logins:
                by_role.setdefault(f"{role}{' ' + code if code else ''}", []).append(username)
            self.stdout.write("Demo logins (password: $DEMO_PASSWORD, default 'regulars-demo'):")
            for who, names in by_role.items():
                self.stdout.write(f"  {who:<12} {', '.join(names)}")
