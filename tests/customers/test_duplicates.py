"""Likely duplicates are flagged set-based; a merge moves everything to the survivor atomically, audited."""

import pytest
from django.urls import reverse

from customers import selectors, services
from customers.models import AuditEntry, ConsentEvent, Customer, Feedback, PurchaseTicket, ServiceNote
from customers.signals import customers_merged
from tests.factories import CustomerFactory, TicketFactory

pytestmark = pytest.mark.django_db


def _pairs(user):
    return {(p.keep.pk, p.duplicate.pk): set(p.reasons) for p in selectors.duplicate_pairs(user=user)}


def test_same_email_same_phone_and_similar_name_in_the_same_city_are_flagged(manager, store):
    # Names and cities pinned: Faker's random ones can pair up as "similar name, same city" by chance.
    a = CustomerFactory(
        home_store=store, email="Dilya@Example.test", phone="+998901000001", first_name="Dilya", city="Termiz"
    )
    b = CustomerFactory(
        home_store=store, email="dilya@example.test", phone="+998901000002", first_name="Lola", city="Qarshi"
    )
    c = CustomerFactory(home_store=store, phone="+998901000003", first_name="Akmal", last_name="Tursunov", city="Nukus")
    d = CustomerFactory(
        home_store=store, phone="+998901000003", first_name="Gulnora", last_name="Yusupova", city="Jizzax"
    )
    e = CustomerFactory(home_store=store, first_name="Shahnoza", last_name="Rustamova", city="Buxoro")
    f = CustomerFactory(home_store=store, first_name="Shaxnoza", last_name="Rustamova", city="buxoro")
    CustomerFactory(home_store=store, first_name="Shahnoza", last_name="Rustamova", city="Xiva")
    CustomerFactory(home_store=store, first_name="Bobur", last_name="Nazarov", city="Buxoro")
    assert _pairs(manager) == {
        (a.pk, b.pk): {"email"},
        (c.pk, d.pk): {"phone"},
        (e.pk, f.pk): {"name_city"},
    }


def test_duplicates_are_looked_for_only_in_the_managers_stores(manager, store, other_store):
    CustomerFactory(home_store=other_store, email="x@example.test")
    CustomerFactory(home_store=other_store, email="x@example.test")
    assert _pairs(manager) == {}


def test_the_selector_is_set_based(manager, store, django_assert_max_num_queries):
    for i in range(10):
        # A city per pair: Faker's random names in one city could otherwise pair people across twins.
        CustomerFactory(home_store=store, email=f"twin{i}@example.test", city=f"Town {i}")
        CustomerFactory(home_store=store, email=f"twin{i}@example.test", city=f"Town {i}")
    with django_assert_max_num_queries(4):
        assert len(selectors.duplicate_pairs(user=manager)) == 10


@pytest.fixture
def twins(store, staff, as_of):
    survivor = CustomerFactory(home_store=store, first_name="Kamola", last_name="Aminova", postal_address="")
    duplicate = CustomerFactory(home_store=store, first_name="Kamola", last_name="Aminova", postal_address="Navoiy 5")
    TicketFactory.create_batch(3, customer=duplicate, store=store)
    TicketFactory(customer=survivor, store=store)
    services.service_note_add(customer=duplicate, text="Likes green tea", by=staff)
    services.feedback_record(customer=duplicate, kind="complaint", reason="price", at=as_of, by=staff)
    services.consent_record(customer=duplicate, channel="post", granted=True, source="store", at=as_of, by=staff)
    services.customer_tags_set(customer=duplicate, names=["tea"])
    friend = CustomerFactory(home_store=store, referred_by=duplicate)
    return survivor, duplicate, friend


def test_a_merge_moves_everything_to_the_survivor_and_deletes_the_duplicate(twins, manager, captured_signal):
    survivor, duplicate, friend = twins
    calls = captured_signal(customers_merged)
    services.customers_merge(survivor=survivor, duplicate=duplicate, by=manager)

    assert not Customer.objects.filter(pk=duplicate.pk).exists()
    assert PurchaseTicket.objects.filter(customer=survivor).count() == 4
    assert ServiceNote.objects.get().customer == survivor
    assert Feedback.objects.get().customer == survivor
    assert ConsentEvent.objects.get().customer == survivor
    survivor.refresh_from_db()
    assert list(survivor.tags.values_list("name", flat=True)) == ["tea"]
    assert survivor.postal_address == "Navoiy 5", "blank fields are filled from the duplicate"
    assert survivor.consent_post, "consent moves with its events"
    friend.refresh_from_db()
    assert friend.referred_by == survivor
    assert calls == [{"survivor_id": survivor.pk, "duplicate_id": duplicate.pk}]
    audit = AuditEntry.objects.get(action=AuditEntry.Action.MERGE)
    assert audit.actor == manager and audit.target_id == survivor.pk
    assert audit.details["duplicate_id"] == duplicate.pk and audit.details["moved"]["tickets"] == 3
    assert "Kamola" not in str(audit.details) and "Navoiy" not in str(audit.details), "ids only"


def test_do_not_contact_on_either_record_survives_a_merge(twins, manager, staff, as_of):
    survivor, duplicate, _ = twins
    services.consent_record(customer=duplicate, channel="all", granted=False, source="store", at=as_of, by=staff)
    services.customers_merge(survivor=survivor, duplicate=duplicate, by=manager)
    survivor.refresh_from_db()
    assert survivor.do_not_contact
    assert not Customer.objects.contactable_by("post").filter(pk=survivor.pk).exists()


def test_a_failing_receiver_rolls_the_whole_merge_back(twins, manager):
    survivor, duplicate, _ = twins

    def broken(sender, **kwargs):
        raise RuntimeError("loyalty could not move the points")

    customers_merged.connect(broken, weak=False)
    try:
        with pytest.raises(RuntimeError):
            services.customers_merge(survivor=survivor, duplicate=duplicate, by=manager)
    finally:
        customers_merged.disconnect(broken)
    assert Customer.objects.filter(pk=duplicate.pk).exists()
    assert PurchaseTicket.objects.filter(customer=duplicate).count() == 3
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.MERGE).exists()


def test_a_customer_cannot_be_merged_with_themselves(best_regular, manager):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.customers_merge(survivor=best_regular, duplicate=best_regular, by=manager)


def test_a_manager_reviews_and_merges_from_the_duplicates_screen(login, manager, twins):
    survivor, duplicate, _ = twins
    client = login(manager)
    html = client.get(reverse("customers:duplicates")).content.decode()
    url = reverse("customers:merge", args=[survivor.pk, duplicate.pk])
    assert url in html
    assert client.get(url).status_code == 200
    response = client.post(url)
    assert response["Location"] == survivor.get_absolute_url()
    assert not Customer.objects.filter(pk=duplicate.pk).exists()


def test_staff_cannot_merge(login, staff, twins):
    survivor, duplicate, _ = twins
    response = login(staff).post(reverse("customers:merge", args=[survivor.pk, duplicate.pk]))
    assert response.status_code == 403
    assert Customer.objects.filter(pk=duplicate.pk).exists()
