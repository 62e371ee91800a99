"""demo_load: stores and staff through the ORM, then customers and tickets through the writers."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connection, models, transaction

from ..models import Customer, Membership, PurchaseTicket, Role, Store
from .chain import OWNER, REGIONS, _store_spec
from .rhythms import CUSTOMER_FIELDS, TICKET_FIELDS, DemoResult, _Generator, _StoreCtx
from .writers import _bulk_rows, _copy_rows

# --- The loader --------------------------------------------------------------------------


def _stores_and_staff(*, count: int, password_hash: str) -> tuple[list[_StoreCtx], list[tuple[str, str, str]]]:
    """Create or update the stores, the owner, managers and staff (a few dozen rows, ORM is fine)."""
    user_model = get_user_model()
    logins: list[tuple[str, str, str]] = []

    def person(username: str, first: str, last: str):
        user, _ = user_model.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@regulars.example",
                "password": password_hash,
                "is_active": True,
            },
        )
        return user

    owner = person(*OWNER)
    Membership.objects.update_or_create(user=owner, store=None, defaults={"role": Role.OWNER, "is_active": True})
    logins.append((owner.username, Role.OWNER, ""))
    contexts = []
    for index in range(count):
        spec = _store_spec(index)
        store, _ = Store.objects.update_or_create(
            code=spec.code,
            defaults={
                "name": spec.name,
                "address": spec.address,
                "time_zone": spec.time_zone,
                "currency": spec.currency,
                "country": spec.country,
                "locale": spec.locale,
            },
        )
        staff_ids = []
        for (username, first, last), role in [(spec.manager, Role.MANAGER)] + [(s, Role.STAFF) for s in spec.staff]:
            user = person(username, first, last)
            Membership.objects.update_or_create(user=user, store=store, defaults={"role": role, "is_active": True})
            staff_ids.append(user.pk)
            logins.append((username, role, spec.code))
        contexts.append(
            _StoreCtx(store, spec, REGIONS[spec.region], zoneinfo.ZoneInfo(spec.time_zone), staff_ids=staff_ids)
        )
    return contexts, logins


def _next_id(model: type[models.Model]) -> int:
    return (model.objects.aggregate(m=models.Max("pk"))["m"] or 0) + 1


def demo_load(
    *,
    customers: int = 2000,
    stores: int = 3,
    seed: int = 1,
    as_of: dt.datetime,
    password: str,
    chunk_size: int | None = None,
    progress: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    """Load a demo chain of ``stores`` stores and ``customers`` customers with two years of tickets.

    Reproducible: the same ``seed`` and ``as_of`` give the same rows. Adds to what is
    there (stores and users are updated in place by code/username; customers and
    tickets get fresh ids). Sends no signals.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    if customers < 0 or stores < 1:
        raise ValueError("need at least one store and a non-negative number of customers")
    started = time.perf_counter()
    postgres = connection.vendor == "postgresql"
    chunk_size = chunk_size or 2_000  # ~40,000 tickets in memory at a time, whatever the total
    with transaction.atomic():
        contexts, logins = _stores_and_staff(count=stores, password_hash=make_password(password))
        gen = _Generator(
            seed=seed,
            as_of=as_of,
            stores=contexts,
            first_customer_id=_next_id(Customer),
            first_ticket_id=_next_id(PurchaseTicket),
        )
        left = customers
        with connection.cursor() as cursor:
            raw = cursor.cursor if postgres else None  # psycopg2's own cursor, for copy_expert
            if postgres:
                # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: in one long transaction
                # PostgreSQL would queue every row's check until COMMIT (millions of events).
                # Checking at the end of each COPY keeps that queue one chunk long; every
                # reference points at an earlier row, so the checks pass.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            while left > 0:
                people, tickets = gen.chunk(min(chunk_size, left))
                left -= len(people)
                if postgres:
                    _copy_rows(raw, Customer, CUSTOMER_FIELDS, people)
                    _copy_rows(raw, PurchaseTicket, TICKET_FIELDS, tickets)
                else:
                    _bulk_rows(Customer, CUSTOMER_FIELDS, people, batch=500)
                    _bulk_rows(PurchaseTicket, TICKET_FIELDS, tickets, batch=500)
                if progress:
                    progress(gen.result)
            # Explicit ids bypassed the sequences: move them past the rows just written.
            for sql in connection.ops.sequence_reset_sql(no_style(), [Customer, PurchaseTicket]):
                cursor.execute(sql)
    result = gen.result
    result.stores = len(contexts)
    result.users = len(logins)
    result.logins = logins
    result.method = "PostgreSQL COPY" if postgres else "SQLite bulk_create"
    result.seconds = time.perf_counter() - started
    return result
