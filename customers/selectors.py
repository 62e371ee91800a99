"""Fetches for screens, each scoped to what the user may see (404 outside it)."""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection
from django.db.models import (
    Avg,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Lower, Reverse, TruncDate
from django.shortcuts import get_object_or_404

from .access import access_for, stores_for
from .attribution import return_code_in_query, return_codes_resolve
from .models import Customer, Feedback, PurchaseTicket

PAGE_SIZE = 25


def _visible_stores(*, user, stores=None):
    visible = stores_for(user)
    if stores is not None:
        visible = visible.filter(pk__in=[s.pk for s in stores])
    return visible


def _visible_customers(*, user, stores=None) -> QuerySet[Customer]:
    return Customer.objects.for_stores(_visible_stores(user=user, stores=stores))


def _return_code_match(*, user, stores, query: str) -> QuerySet[Customer] | None:
    """The customer of the note whose return (or voucher) code ``query`` is, within the search scope.

    None when ``query`` is not shaped like a code or no note has it (one indexed look-up, answered by
    outreach through ``return_codes_lookup``). Otherwise a queryset of at most that customer: empty
    unless both the customer and the store whose staff wrote the note are in the user's (switcher-
    narrowed) stores — a code of another store's note finds nobody. Plain ORM, so alike on SQLite.
    """
    code = return_code_in_query(query)
    found = return_codes_resolve(codes=[code]).get(code) if code else None
    if found is None or found.customer_id is None:
        return None
    visible = _visible_stores(user=user, stores=stores)
    note_store = visible.filter(pk=found.store_id) if found.store_id is not None else visible
    return Customer.objects.for_stores(visible).active().filter(pk=found.customer_id).filter(Exists(note_store))


def customer_by_return_code(*, user, stores=None, query: str) -> Customer | None:
    """The customer a note with the return code ``query`` was written to, if the user may find them here."""
    match = _return_code_match(user=user, stores=stores, query=query)
    return None if match is None else match.select_related("home_store").first()


def customer_list(*, user, stores=None, query: str = "", by_code: bool = True) -> QuerySet[Customer]:
    """Customers of the stores ``user`` may see (narrowed to ``stores``), best match first for ``query``.

    A note's return code (or its voucher's code, dashes and spaces ignored) finds the note's
    customer alone — the card a customer brings back names them as surely as their loyalty card —
    if the note's store is in scope too (``_return_code_match``; ``by_code=False``: a caller that
    already looked the code up); any other query is a search.
    On PostgreSQL a name matches through pg_trgm (typos and partial words forgiven, word
    order free), an email, phone or card number by substring; every condition is served
    by a GIN trigram index, and results are ranked by similarity. On SQLite every word
    of the query must appear somewhere (plain LIKE). Erased customers never show.
    """
    qs = _visible_customers(user=user, stores=stores).active().select_related("home_store")
    query = " ".join((query or "").split())
    if not query:
        return qs
    match = _return_code_match(user=user, stores=stores, query=query) if by_code else None
    if match is not None and match.exists():
        return match.select_related("home_store")
    if connection.vendor == "postgresql":
        return _search_postgresql(qs, query)
    return _search_plain(qs, query)


def _digits(query: str) -> str:
    """ "+998 90 123-45-67" → "998901234567": what a phone or card number query is made of."""
    return re.sub(r"\D", "", query) if re.fullmatch(r"[\d\s+().-]+", query) else ""


# pg_trgm's word_similarity threshold for the %> operator (default 0.6 misses one-letter
# typos in short names: "tosmatov" vs "jasur toshmatov" is 0.58).
WORD_SIMILARITY = 0.5


class _WordDistance(Func):
    """``search_name <->> q``: 1 - word_similarity(q, search_name), the KNN operator of gist_trgm_ops."""

    arg_joiner = " <->> "
    template = "(%(expressions)s)"
    output_field = FloatField()


def _search_postgresql(qs: QuerySet[Customer], query: str) -> QuerySet[Customer]:
    """Each kind of match is one index-served branch; the branches are concatenated best-first.

    The result is ``branch1 UNION ALL branch2 …`` with each branch ordered on its own: a
    page (LIMIT/OFFSET) reads the branches in order and stops as soon as it is full, so a
    name with 20,000 similar candidates costs the 26 nearest of them (GiST KNN), not a
    similarity computed and sorted for all 20,000. The branches are disjoint.
    """
    digits = _digits(query)
    if digits:
        return _search_number(qs, digits)
    return _search_text(qs, query.lower())


def _search_number(qs: QuerySet[Customer], digits: str) -> QuerySet[Customer]:
    """A card or phone number, whole or its last digits; any other part of one only if nothing ends so."""
    # A local phone number may start with the trunk prefix 0 ("0 90 111 22 33"): it is not in E.164.
    local = digits[1:] if digits.startswith("0") and len(digits) > 1 else digits
    qs = qs.alias(card_rev=Reverse("card_number"), phone_rev=Reverse("phone"))
    # B-tree look-ups: the unique card index, reverse(card)/reverse(phone) text_pattern_ops for endings
    # (from 4 digits on: a shorter ending matches a good share of the file).
    exact_or_end = Q(card_number=digits)
    if len(local) >= 4:
        exact_or_end |= Q(card_rev__startswith=digits[::-1]) | Q(phone_rev__startswith=local[::-1])
    rank = Case(
        When(card_number=digits, then=Value(2.0)),
        When(phone_rev__startswith=local[::-1], then=Value(1.5)),
        default=Value(1.0),
        output_field=FloatField(),
    )
    hits = qs.filter(exact_or_end)
    if not hits.exists():
        # Digits from the middle of a number: the GIN trigram indexes (slower, rarely needed).
        hits = qs.filter(Q(card_number__contains=digits) | Q(phone__contains=digits.lstrip("0") or digits))
    return hits.annotate(rank=rank).order_by("-rank", "last_name", "first_name", "id")


NEAREST_NAMES = 30
"""How many of the nearest distinct names are read by B-tree (every name has a bearer: a first page is full)."""


def _nearest_names(q: str, limit: int) -> list[tuple[str, float]]:
    """The distinct customer names word-similar to ``q``, nearest first (from customers_searchname)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT name, name <->> %s AS d FROM customers_searchname
               WHERE name %%> %s ORDER BY d, name LIMIT %s""",
            [q, q, limit],
        )
        return cursor.fetchall()


def _search_text(qs: QuerySet[Customer], q: str) -> QuerySet[Customer]:
    """Emails by prefix (B-tree), then names nearest first, then anything containing the text.

    Names: the customer file holds far fewer distinct names than customers (a million
    customers, tens of thousands of names), so the nearest names are ranked in the small
    ``customers_searchname`` table (GIN trigram) and their bearers read by the B-tree on
    search_name. Only a page beyond the bearers of the first NEAREST_NAMES names reaches the
    branch that ranks every remaining similar customer.
    """
    # Session-wide on this connection; only this search uses the %> operator.
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)", [str(WORD_SIMILARITY)])
    qs = qs.alias(email_lower=Lower("email"))
    distance = _WordDistance(F("search_name"), Value(q))
    email_like = len(q) >= 3 and ("@" in q or "." in q)
    by_email = Q(email_lower__startswith=q) if email_like else Q(pk__in=[])
    similar = Q(search_name__trigram_word_similar=q)  # typos and word order forgiven
    contains = Q(search_name__contains=q)  # "jas" (partial)
    if len(q) >= 3:
        contains |= Q(email_lower__contains=q)
    order = ("distance", "last_name", "first_name", "id")
    branches = []
    if email_like:
        branches.append(
            qs.filter(by_email)
            .annotate(tier=Value(0), distance=Case(When(email_lower=q, then=Value(0.0)), default=Value(0.5)))
            .order_by(*order)
        )
    names = _nearest_names(q, NEAREST_NAMES + 1)
    nearest = [n for n, _ in names[:NEAREST_NAMES]]
    if nearest:  # the bearers of the nearest names: a B-tree look-up per name, a small sort
        branches.append(
            qs.filter(search_name__in=nearest)
            .exclude(by_email)
            .annotate(tier=Value(1), distance=distance)
            .order_by(*order)
        )
    if len(names) > NEAREST_NAMES:  # more similar names than that: the rest, ranked one by one (deep pages)
        branches.append(
            qs.filter(similar)
            .exclude(search_name__in=nearest)
            .exclude(by_email)
            .annotate(tier=Value(1), distance=distance)
            .order_by(*order)
        )
    branches.append(
        qs.filter(contains)
        .exclude(similar)
        .exclude(by_email)
        .annotate(tier=Value(2), distance=distance)
        .order_by(*order)
    )
    first, *rest = branches
    return first.union(*rest, all=True) if rest else first


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


# --- POS API and imports (owner: the "pos" helper) ---------------------------------------------


def customer_get_by_card(*, stores, card: str) -> Customer:
    """The customer with loyalty card ``card`` among ``stores``' customers, or 404 (the POS API)."""
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
