"""Fetches for screens, each scoped to what the user may see (404 outside it)."""

from django.db.models import Count, Max, Q, QuerySet
from django.shortcuts import get_object_or_404

from .access import stores_for
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
