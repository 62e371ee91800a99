"""Shared --as-of / --store handling for the segmentation commands."""

import datetime as dt

from django.core.management.base import CommandError
from django.utils import timezone

from customers.models import Store


def add_scope_arguments(parser) -> None:
    parser.add_argument("--as-of", help="Count visits on days before this date (YYYY-MM-DD; default: today).")
    parser.add_argument("--store", help="A store code: segment within that store (default: the whole chain).")


def parse_scope(options) -> tuple[dt.date, Store | None]:
    try:
        as_of = dt.date.fromisoformat(options["as_of"]) if options.get("as_of") else timezone.localdate()
    except ValueError as exc:
        raise CommandError(f"--as-of must be YYYY-MM-DD: {exc}") from exc
    store = None
    if options.get("store"):
        store = Store.objects.filter(code=options["store"]).first()
        if store is None:
            raise CommandError(f"No store with code {options['store']!r}.")
    return as_of, store
