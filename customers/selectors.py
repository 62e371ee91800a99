"""Fetches for screens, each scoped to what the user may see (404 outside it)."""

from django.db.models import Count, Max, Q, QuerySet
from django.shortcuts import get_object_or_404

from .access import access_for, stores_for
from .models import Customer, PurchaseTicket


def customer_list(*, user, stores=None, query: str = "") -> QuerySet[Customer]:
    """Customers of the stores ``user`` may see (narrowed to ``stores``), optionally filtered by ``query``.

    The plain search matches the start of names, email, phone; the customer-file
    issue replaces it with trigram search on PostgreSQL.
    """
    visible = stores_for(user)
    if stores is not None:
        visible = visible.filter(pk__in=[s.pk for s in stores])
    qs = Customer.objects.for_stores(visible).select_related("home_store")
    query = query.strip()
    if query:
        terms = Q()
        for word in query.split():
            terms &= (
                Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | Q(email__icontains=word)
                | Q(phone__contains=word)
                | Q(city__icontains=word)
            )
        qs = qs.filter(terms)
    return qs


def customer_get(*, user, pk: int) -> Customer:
    """One customer of a store the user may see, or 404 (never 403: we do not confirm existence)."""
    return get_object_or_404(Customer.objects.for_stores(stores_for(user)).select_related("home_store"), pk=pk)


def customer_tickets(*, customer: Customer, limit: int = 50) -> QuerySet[PurchaseTicket]:
    """The customer's latest tickets, newest first."""
    return customer.tickets.select_related("store", "original").order_by("-purchased_at", "-id")[:limit]


def customer_visit_summary(*, customer: Customer) -> dict:
    """Ticket count, sales count and last purchase of one customer (one query)."""
    return customer.tickets.aggregate(
        tickets=Count("id"),
        sales=Count("id", filter=Q(is_return=False)),
        last_purchase=Max("purchased_at", filter=Q(is_return=False)),
    )


# --- POS API and imports (owner: the "pos" helper) ---------------------------------------------


def customer_by_card(*, stores, card: str) -> Customer:
    """The customer with loyalty card ``card`` among ``stores``' customers, or 404."""
    return get_object_or_404(Customer.objects.for_stores(stores).select_related("home_store"), card_number=card)


def tickets_by_number(*, pairs: list[tuple[int, str]]) -> dict[tuple[int, str], "PurchaseTicket"]:
    """(store_id, number) → ticket for the given pairs (a POS batch: at most a thousand)."""
    by_store: dict[int, list[str]] = {}
    for store_id, number in pairs:
        by_store.setdefault(store_id, []).append(number)
    q = Q(pk__in=[])
    for store_id, numbers in by_store.items():
        q |= Q(store_id=store_id, number__in=numbers)
    return {(t.store_id, t.number): t for t in PurchaseTicket.objects.filter(q).select_related("store")}


def import_batches(*, user) -> QuerySet:
    """Import history the user may see: their own uploads and imports into the stores they work in."""
    from .models import ImportBatch

    access = access_for(user)
    qs = ImportBatch.objects.select_related("created_by")
    if access.chain_wide:
        return qs
    return qs.filter(Q(created_by=user) | Q(stores__in=access.store_ids)).distinct()


def import_batch_get(*, user, pk: int):
    """One import of the user's history, or 404."""
    return get_object_or_404(import_batches(user=user), pk=pk)


def api_tokens(*, user) -> QuerySet:
    """POS API tokens of the stores the user manages (owners: every store)."""
    from .models import ApiToken, Membership, Role

    access = access_for(user)
    qs = ApiToken.objects.select_related("store", "created_by")
    if access.chain_wide:
        return qs
    managed = Membership.objects.filter(user=user, is_active=True, role=Role.MANAGER).values("store_id")
    return qs.filter(store_id__in=managed)


def api_token_get(*, user, pk: int):
    return get_object_or_404(api_tokens(user=user), pk=pk)


def stores_managed(*, user) -> QuerySet:
    """Stores where the user may manage settings such as API tokens."""
    from .models import Membership, Role, Store

    if access_for(user).chain_wide:
        return Store.objects.all()
    managed = Membership.objects.filter(user=user, is_active=True, role=Role.MANAGER).values("store_id")
    return Store.objects.filter(pk__in=managed)
