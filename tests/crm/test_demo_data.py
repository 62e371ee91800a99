"""load_demo_data: a reproducible chain with every role and the visit rhythms the playbook talks about."""

import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, F, Max, Min, Q

from customers.demo import IteratorFile, demo_card_number, demo_load
from customers.demo.writers import _copy_rows
from customers.models import Customer, Membership, PurchaseTicket, Role, Store, card_number_is_valid
from tests.conftest import AS_OF

pytestmark = pytest.mark.django_db

PASSWORD = "demo-test-password"


@pytest.fixture
def chain(db):
    return demo_load(customers=600, stores=3, seed=7, as_of=AS_OF, password=PASSWORD)


def _visit_stats():
    """Per customer: sales, first and last sale, and days since the last one."""
    rows = Customer.objects.annotate(
        sales=Count("tickets", filter=Q(tickets__is_return=False)),
        last=Max("tickets__purchased_at", filter=Q(tickets__is_return=False)),
        first=Min("tickets__purchased_at", filter=Q(tickets__is_return=False)),
    ).values("id", "sales", "last", "first", "created_at")
    return list(rows)


def test_chain_has_the_documented_stores_and_a_login_for_every_role(chain):
    stores = list(Store.objects.order_by("id"))
    assert [s.code for s in stores] == ["CHZ", "YUN", "THR"]
    chz = stores[0]
    assert (chz.name, chz.time_zone, chz.currency, chz.country) == ("Chilonzor", "Asia/Tashkent", "UZS", "UZ")
    assert stores[2].currency == "IRR" and stores[2].country == "IR", "one store in another country and currency"

    owner = Membership.objects.get(role=Role.OWNER)
    assert owner.store is None and owner.user.username == "olga"
    for store in stores:
        assert Membership.objects.filter(store=store, role=Role.MANAGER).count() == 1
        assert 4 <= Membership.objects.filter(store=store, role=Role.STAFF).count() <= 5
    for username in ("olga", "dilnoza", "anna", "bekzod", "rustam", "maryam"):
        assert get_user_model().objects.get(username=username).check_password(PASSWORD), username
    assert chain.users == Membership.objects.count() == 17


def test_customers_show_every_visit_rhythm(chain):
    stats = _visit_stats()
    as_of = AS_OF

    def days_since(row):
        return (as_of - row["last"]).days

    weekly = [r for r in stats if r["sales"] >= 40 and days_since(r) <= 14]
    lapsed = [r for r in stats if r["sales"] >= 8 and days_since(r) >= 60]
    two = [r for r in stats if r["sales"] == 2]
    one = [r for r in stats if r["sales"] == 1]
    new = [r for r in stats if r["sales"] and (as_of - r["created_at"]).days <= 45]
    monthly = [r for r in stats if 8 <= r["sales"] <= 30 and days_since(r) <= 45]
    seasonal = [
        r["id"]
        for r in stats
        if r["sales"] >= 3
        and not PurchaseTicket.objects.filter(customer_id=r["id"])
        .exclude(purchased_at__month__in=[3, 12])
        .exclude(purchased_at__month=1, purchased_at__day=1)
        .exists()
    ]
    for name, group, at_least in [
        ("weekly regulars", weekly, 15),
        ("lapsed regulars", lapsed, 15),
        ("two-visit customers", two, 30),
        ("one-visit customers", one, 80),
        ("new customers", new, 20),
        ("monthly regulars", monthly, 30),
        ("seasonal shoppers", seasonal, 15),
    ]:
        assert len(group) >= at_least, f"{name}: {len(group)}"
    # Two years of history, nothing after as_of.
    span = PurchaseTicket.objects.aggregate(first=Min("purchased_at"), last=Max("purchased_at"))
    assert span["last"] < as_of
    assert (as_of - span["first"]).days >= 700
    assert all(r["created_at"] <= r["first"] for r in stats if r["first"]), "signed up at the first visit"


def test_returns_point_at_a_sale_of_the_same_customer_and_store_and_never_exceed_it(chain):
    returns = PurchaseTicket.objects.filter(is_return=True).select_related("original")
    assert returns.count() == chain.returns > 10
    for ret in returns:
        sale = ret.original
        assert sale is not None and not sale.is_return
        assert ret.total < 0 and -ret.total <= sale.total
        assert (ret.store_id, ret.customer_id) == (sale.store_id, sale.customer_id)
        assert ret.purchased_at > sale.purchased_at


def test_tickets_include_anonymous_sales_served_by_staff_of_their_store(chain):
    assert PurchaseTicket.objects.filter(customer__isnull=True, is_return=False).count() == chain.anonymous > 100
    served_elsewhere = PurchaseTicket.objects.exclude(
        served_by__memberships__store=F("store"), served_by__memberships__role__in=[Role.STAFF, Role.MANAGER]
    )
    assert not served_elsewhere.exists()
    # Customers buy in their home store.
    assert not PurchaseTicket.objects.filter(customer__isnull=False).exclude(store=F("customer__home_store")).exists()


def test_customers_look_like_the_region_and_cards_are_valid_unique_ean13(chain):
    assert Customer.objects.count() == 600
    cards = list(Customer.objects.values_list("card_number", flat=True))
    assert len(set(cards)) == len(cards) and all(card_number_is_valid(c) for c in cards)
    tehran = Customer.objects.filter(home_store__code="THR")
    assert tehran.exists() and not tehran.exclude(preferred_language="fa").exists()
    assert all("\u0600" <= c.first_name[0] <= "\u06ff" for c in tehran), "Persian names in Persian script"
    tashkent = Customer.objects.filter(home_store__code="CHZ")
    assert set(tashkent.values_list("preferred_language", flat=True)) == {"uz", "ru"}
    assert Customer.objects.filter(birthday__isnull=False).count() > 200
    assert Customer.objects.filter(referred_by__isnull=False).count() > 10
    assert not Customer.objects.filter(referred_by__created_at__gt=F("created_at")).exists()
    phones = [p for p in Customer.objects.values_list("phone", flat=True) if p]
    assert len(set(phones)) == len(phones) and all(p.startswith("+") for p in phones)
    assert not Customer.objects.exclude(email="").exclude(email__regex=r"@example\.(com|net|org)$").exists()


def test_same_seed_gives_the_same_chain_and_another_seed_does_not(db):
    def snapshot():
        people = list(
            Customer.objects.order_by("id").values_list(
                "first_name", "last_name", "city", "birthday", "home_store__code"
            )
        )
        tickets = list(PurchaseTicket.objects.order_by("id").values_list("store__code", "purchased_at", "total"))
        return people, tickets

    demo_load(customers=120, stores=2, seed=3, as_of=AS_OF, password=PASSWORD)
    first = snapshot()
    PurchaseTicket.objects.filter(is_return=True).delete()
    PurchaseTicket.objects.all().delete()
    Customer.objects.all().delete()
    demo_load(customers=120, stores=2, seed=3, as_of=AS_OF, password=PASSWORD)
    assert snapshot() == first
    PurchaseTicket.objects.filter(is_return=True).delete()
    PurchaseTicket.objects.all().delete()
    Customer.objects.all().delete()
    demo_load(customers=120, stores=2, seed=4, as_of=AS_OF, password=PASSWORD)
    assert snapshot() != first


def test_sequences_are_reset_so_new_rows_get_fresh_ids(chain):
    last = Customer.objects.order_by("-id").first()
    store = Store.objects.get(code="CHZ")
    created = Customer.objects.create(first_name="Zulfiya", home_store=store)
    assert created.pk == last.pk + 1
    assert last.card_number == demo_card_number(last.pk)


def test_if_empty_loads_nothing_when_customers_exist(chain):
    out = io.StringIO()
    call_command("load_demo_data", "--customers", "50", "--if-empty", stdout=out)
    assert Customer.objects.count() == 600
    assert "not loaded" in out.getvalue()


def test_command_prints_counts_and_timing(db):
    out = io.StringIO()
    call_command("load_demo_data", "--customers", "40", "--stores", "4", "--as-of", "2026-11-01", stdout=out)
    text = out.getvalue()
    assert "40 customers" in text and "tickets" in text and " s via PostgreSQL COPY" in text
    assert Store.objects.filter(code="SOF", currency="EUR").exists()
    assert "anna" in text and "olga" in text


def test_copy_escapes_tabs_newlines_and_backslashes(db):
    store = Store.objects.create(code="ESC", name="Escapes")
    tricky = "Flat 3\tBlock B\nLine two \\ end"
    row = (
        990001, "A\tB", "", "", "", "", tricky, None, "en", "post", store.pk, demo_card_number(990001), False, None,
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), False, True, False, False,
    )  # fmt: skip
    from customers.demo.rhythms import CUSTOMER_FIELDS

    with connection.cursor() as cursor:
        _copy_rows(cursor.cursor, Customer, CUSTOMER_FIELDS, [row])
    customer = Customer.objects.get(pk=990001)
    assert (customer.first_name, customer.postal_address) == ("A\tB", tricky)


@pytest.mark.parametrize("size", [1, 7, 100, 10_000])
def test_iterator_file_returns_exactly_the_lines_in_blocks_of_any_size(size):
    lines = [f"row {i}\n" for i in range(1000)]
    source = IteratorFile(iter(lines))
    blocks = []
    while block := source.read(size):
        assert len(block) <= size
        blocks.append(block)
    assert "".join(blocks) == "".join(lines)


def test_demo_customers_have_consent_only_for_channels_they_gave_details_for(chain):
    customers = Customer.objects.all()
    assert customers.filter(consent_email=True).count() > customers.count() // 3
    assert customers.filter(consent_post=True).exists() and customers.filter(consent_sms=True).exists()
    assert not customers.filter(consent_email=True, email="").exists()
    assert not customers.filter(consent_post=True, postal_address="").exists()
    assert not customers.filter(consent_sms=True, phone="").exists()
