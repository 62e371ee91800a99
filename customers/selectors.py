"""Fetches for screens, each scoped to what the user may see (404 outside it)."""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.postgres.search import TrigramSimilarity, TrigramWordSimilarity
from django.db import connection
from django.db.models import Avg, Case, Count, FloatField, Max, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Greatest, Lower, TruncDate
from django.shortcuts import get_object_or_404

from .access import stores_for
from .models import Customer, Feedback, PurchaseTicket

PAGE_SIZE = 25


def _visible_customers(*, user, stores=None) -> QuerySet[Customer]:
    visible = stores_for(user)
    if stores is not None:
        visible = visible.filter(pk__in=[s.pk for s in stores])
    return Customer.objects.for_stores(visible)


def customer_list(*, user, stores=None, query: str = "") -> QuerySet[Customer]:
    """Customers of the stores ``user`` may see (narrowed to ``stores``), best match first for ``query``.

    On PostgreSQL a name matches through pg_trgm (typos and partial words forgiven, word
    order free), an email, phone or card number by substring; every condition is served
    by a GIN trigram index, and results are ranked by similarity. On SQLite every word
    of the query must appear somewhere (plain LIKE). Erased customers never show.
    """
    qs = _visible_customers(user=user, stores=stores).active().select_related("home_store")
    query = " ".join((query or "").split())
    if not query:
        return qs
    if connection.vendor == "postgresql":
        return _search_postgresql(qs, query)
    return _search_plain(qs, query)


def _digits(query: str) -> str:
    """ "+998 90 123-45-67" → "998901234567": what a phone or card number query is made of."""
    return re.sub(r"\D", "", query) if re.fullmatch(r"[\d\s+().-]+", query) else ""


# pg_trgm's word_similarity threshold for the %> operator (default 0.6 misses one-letter
# typos in short names: "tosmatov" vs "jasur toshmatov" is 0.58).
WORD_SIMILARITY = 0.5


def _search_postgresql(qs: QuerySet[Customer], query: str) -> QuerySet[Customer]:
    # Session-wide on this connection; only this search uses the %> operator.
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)", [str(WORD_SIMILARITY)])
    q = query.lower()
    digits = _digits(query)
    if digits:
        # A number is a card or a phone, typed whole or in part (local form without the country code too).
        cond = Q(card_number__contains=digits) | Q(phone__contains=digits.lstrip("0") or digits)
        rank = Case(
            When(card_number=digits, then=Value(2.0)),
            When(phone__endswith=digits.lstrip("0") or digits, then=Value(1.5)),
            default=Value(1.0),
            output_field=FloatField(),
        )
        return qs.filter(cond).annotate(rank=rank).order_by("-rank", "last_name", "first_name", "id")
    # word_similarity forgives typos ("tosmatov") and word order ("toshmatov jasur": the whole
    # name is an extent holding every trigram); plain similarity (%) would only add weak
    # candidates for the index recheck to throw away.
    cond = Q(search_name__trigram_word_similar=q) | Q(search_name__contains=q)  # "jas" (partial)
    rank = TrigramWordSimilarity(Value(q), "search_name")
    if "@" in q or "." in q or len(q) >= 3:
        qs = qs.alias(email_lower=Lower("email"))
        cond |= Q(email_lower__contains=q)
        rank = Greatest(rank, Case(When(email_lower=q, then=Value(1.0)), default=Value(0.0)))
    return qs.filter(cond).annotate(rank=rank).order_by("-rank", "last_name", "first_name", "id")


def _search_plain(qs: QuerySet[Customer], query: str) -> QuerySet[Customer]:
    digits = _digits(query)
    if digits:
        return qs.filter(Q(card_number__contains=digits) | Q(phone__contains=digits.lstrip("0") or digits))
    terms = Q()
    for word in query.split():
        terms &= (
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(email__icontains=word)
            | Q(card_number__contains=word)
        )
    return qs.filter(terms)


@dataclass(frozen=True)
class Page:
    """One page of results without counting them all (fetches one row more to know if there is a next)."""

    object_list: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


def page_of(queryset: QuerySet, *, page: str | int | None, size: int = PAGE_SIZE) -> Page:
    """Page ``page`` (1-based; junk reads as 1) of ``queryset``: one LIMIT/OFFSET query, no COUNT(*)."""
    try:
        number = max(1, min(int(page or 1), 10_000))
    except (TypeError, ValueError):
        number = 1
    start = (number - 1) * size
    rows = list(queryset[start : start + size + 1])
    return Page(object_list=rows[:size], number=number, has_next=len(rows) > size)


def customer_get(*, user, pk: int) -> Customer:
    """One customer of a store the user may see, or 404 (never 403: we do not confirm existence)."""
    return get_object_or_404(
        Customer.objects.for_stores(stores_for(user)).select_related("home_store", "referred_by"), pk=pk
    )


def customer_by_card(*, user, card_number: str) -> Customer | None:
    """The customer holding ``card_number`` in the user's stores, if any."""
    return Customer.objects.for_stores(stores_for(user)).active().filter(card_number=card_number.strip()).first()


def customer_tickets(*, customer: Customer, limit: int = 50) -> QuerySet[PurchaseTicket]:
    """The customer's latest tickets, newest first."""
    return customer.tickets.select_related("store", "original").order_by("-purchased_at", "-id")[:limit]


def customer_visit_summary(*, customer: Customer) -> dict:
    """The customer page's header figures in one query.

    ``visits`` counts calendar days with a sale in the home store's time zone (two
    tickets on one day are one visit); ``average_ticket`` is the mean sale, returns
    excluded; ``open_complaints`` counts unanswered complaints.
    """
    sales = Q(is_return=False)
    summary = customer.tickets.aggregate(
        tickets=Count("id"),
        sales=Count("id", filter=sales),
        visits=Count(TruncDate("purchased_at", tzinfo=customer.home_store.tz), filter=sales, distinct=True),
        last_purchase=Max("purchased_at", filter=sales),
        average_ticket=Avg("total", filter=sales),
    )
    if summary["average_ticket"] is not None:
        summary["average_ticket"] = Decimal(summary["average_ticket"]).quantize(Decimal("0.01"))
    summary["open_complaints"] = customer.feedback.open_complaints().count()
    return summary


def customer_open_complaints(*, customer: Customer) -> QuerySet[Feedback]:
    return customer.feedback.open_complaints().order_by("created_at")


def feedback_get(*, user, pk: int) -> Feedback:
    """One feedback record about a customer of the user's stores, or 404."""
    return get_object_or_404(
        Feedback.objects.filter(customer__home_store__in=stores_for(user)).select_related(
            "customer", "customer__home_store", "ticket", "responded_by", "created_by"
        ),
        pk=pk,
    )


# --- Duplicates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicatePair:
    """Two records that are probably one person. ``keep`` is the older record (the default survivor)."""

    keep: Customer
    duplicate: Customer
    reasons: tuple[str, ...]


NAME_SIMILARITY = 0.5  # pg_trgm similarity of "first last" for records in the same city


def duplicate_pairs(*, user, stores=None, limit: int = 100) -> list[DuplicatePair]:
    """Likely duplicates among the customers the user may see, set-based (one query + one fetch).

    A record is flagged against the oldest other record with the same email (case
    ignored), the same normalised phone, or, on PostgreSQL, a similar name (pg_trgm
    similarity ≥ ``NAME_SIMILARITY``, GIN-indexed) in the same city.
    """
    base = _visible_customers(user=user, stores=stores).active()

    def oldest(qs: QuerySet[Customer]) -> Subquery:
        return Subquery(qs.filter(pk__lt=OuterRef("pk")).order_by("pk").values("pk")[:1])

    annotations = {
        "same_email": oldest(base.alias(e=Lower("email")).filter(e=Lower(OuterRef("email"))).exclude(email="")),
        "same_phone": oldest(base.filter(phone=OuterRef("phone")).exclude(phone="")),
    }
    if connection.vendor == "postgresql":
        annotations["same_name"] = oldest(
            base.alias(c=Lower("city"), sim=TrigramSimilarity("search_name", OuterRef("search_name")))
            .filter(c=Lower(OuterRef("city")), search_name__trigram_similar=OuterRef("search_name"))
            .filter(sim__gte=NAME_SIMILARITY)
            .exclude(city="")
        )
    flagged = Q()
    for name in annotations:
        flagged |= Q(**{f"{name}__isnull": False})
    rows = list(base.annotate(**annotations).filter(flagged).order_by("-pk").values("pk", *annotations)[:limit])
    pairs: dict[tuple[int, int], list[str]] = {}
    for row in rows:
        for key, reason in (("same_email", "email"), ("same_phone", "phone"), ("same_name", "name_city")):
            if row.get(key):
                pairs.setdefault((row[key], row["pk"]), []).append(reason)
    people = Customer.objects.select_related("home_store").in_bulk({pk for pair in pairs for pk in pair})
    return [
        DuplicatePair(keep=people[a], duplicate=people[b], reasons=tuple(reasons))
        for (a, b), reasons in pairs.items()
        if a in people and b in people
    ]


def duplicate_pair_get(*, user, keep_pk: int, duplicate_pk: int) -> tuple[Customer, Customer]:
    """The two customers of a proposed merge, both in the user's stores (404 otherwise)."""
    visible = Customer.objects.for_stores(stores_for(user)).active().select_related("home_store")
    return get_object_or_404(visible, pk=keep_pk), get_object_or_404(visible, pk=duplicate_pk)
