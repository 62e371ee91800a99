"""The customer record: phones in E.164, interests, service notes, referrer, card, "details missing"."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.urls import reverse

from customers import services
from customers.models import Customer, Tag, card_number_is_valid
from customers.signals import customer_created
from tests.factories import CustomerFactory, StoreFactory

pytestmark = pytest.mark.django_db


def test_phone_is_stored_in_e164_using_the_home_stores_country(store, staff):
    customer = services.customer_create(
        store=store, by=staff, first_name="Aziza", city="Toshkent", phone="90 123 45 67"
    )
    assert customer.phone == "+998901234567"
    us_store = StoreFactory(code="NYC", country="US")
    other = services.customer_create(store=us_store, by=staff, first_name="Ann", city="NY", phone="(212) 555-0100")
    assert other.phone == "+12125550100"


def test_an_invalid_phone_is_refused_with_the_field_named(store, staff):
    with pytest.raises(ValidationError) as exc:
        services.customer_create(store=store, by=staff, first_name="Aziza", phone="12")
    assert "phone" in exc.value.message_dict
    assert not Customer.objects.exists()


def test_email_is_lower_cased(store, staff):
    customer = services.customer_create(store=store, by=staff, first_name="A", email=" Anna@Example.TEST ")
    assert customer.email == "anna@example.test"


def test_a_new_customer_gets_a_valid_unique_ean13_card_and_the_created_signal(
    store, staff, captured_signal, django_capture_on_commit_callbacks
):
    calls = captured_signal(customer_created)
    with django_capture_on_commit_callbacks(execute=True):
        a = services.customer_create(store=store, by=staff, first_name="A", city="X", phone="901234567")
        b = services.customer_create(store=store, by=staff, first_name="B", city="X", phone="901234568")
    assert card_number_is_valid(a.card_number) and card_number_is_valid(b.card_number)
    assert a.card_number != b.card_number
    assert calls == [{"customer_id": a.pk, "source": "staff"}, {"customer_id": b.pk, "source": "staff"}]


def test_the_database_refuses_a_second_customer_with_the_same_card(store):
    a = CustomerFactory(home_store=store)
    with pytest.raises(IntegrityError):
        CustomerFactory(home_store=store, card_number=a.card_number)


def test_details_missing_is_set_for_a_thin_record_and_cleared_once_completed(store, staff):
    thin = services.customer_create(store=store, by=staff, first_name="", email="only@example.test")
    assert thin.details_missing
    services.customer_update(customer=thin, by=staff, first_name="Lola", city="Samarqand")
    thin.refresh_from_db()
    assert not thin.details_missing


def test_interests_are_tags_shared_case_insensitively(store, staff):
    a = services.customer_create(store=store, by=staff, first_name="A", tags=["Kosher", "size M"])
    b = services.customer_create(store=store, by=staff, first_name="B", tags=["kosher", "jazz"])
    assert Tag.objects.count() == 3
    assert set(b.tags.values_list("name", flat=True)) == {"Kosher", "jazz"}
    services.customer_update(customer=a, by=staff, tags=services.tags_from_text("jazz, , JAZZ"))
    assert list(a.tags.values_list("name", flat=True)) == ["jazz"]
    with pytest.raises(IntegrityError):
        Tag.objects.create(name="KOSHER")


def test_a_service_note_keeps_its_author_and_date(best_regular, staff):
    note = services.service_note_add(customer=best_regular, text="Prefers morning visits", by=staff)
    note.refresh_from_db()
    assert note.author == staff and note.created_at is not None
    with pytest.raises(ValidationError):
        services.service_note_add(customer=best_regular, text="   ", by=staff)


def test_a_customer_cannot_refer_themselves(best_regular, staff):
    with pytest.raises(ValidationError):
        services.customer_update(customer=best_regular, by=staff, referred_by=best_regular)


def test_staff_create_a_customer_with_the_form_and_a_referrer_by_card(login, staff, best_regular, store):
    client = login(staff)
    response = client.post(
        reverse("customers:create"),
        {
            "first_name": "Nodira",
            "last_name": "Karimova",
            "email": "",
            "phone": "93 555 12 34",
            "city": "Toshkent",
            "postal_address": "",
            "birthday": "1990-04-02",
            "preferred_language": "uz",
            "preferred_channel": "sms",
            "home_store": store.pk,
            "tags_text": "size M, jazz",
            "referrer_card": best_regular.card_number,
        },
    )
    customer = Customer.objects.get(first_name="Nodira")
    assert response.status_code == 302 and response["Location"] == customer.get_absolute_url()
    assert customer.phone == "+998935551234"
    assert customer.referred_by == best_regular
    assert not customer.details_missing
    assert set(customer.tags.values_list("name", flat=True)) == {"size M", "jazz"}


def test_the_form_names_the_phone_field_when_the_number_is_wrong(login, staff, store):
    response = login(staff).post(
        reverse("customers:create"),
        {"first_name": "X", "phone": "12", "home_store": store.pk, "preferred_channel": "sms"},
    )
    assert response.status_code == 200
    assert "phone" in response.context["form"].errors


def test_the_customer_page_calls_for_completing_a_thin_record(login, staff, store):
    thin = CustomerFactory(home_store=store, first_name="", last_name="", city="", details_missing=True)
    html = login(staff).get(thin.get_absolute_url()).content.decode()
    assert 'data-testid="details-missing"' in html
    assert reverse("customers:edit", args=[thin.pk]) in html


def test_staff_cannot_edit_a_customer_of_another_store(login, staff_of_other_store, best_regular):
    response = login(staff_of_other_store).post(reverse("customers:edit", args=[best_regular.pk]), {"first_name": "X"})
    assert response.status_code == 404
    best_regular.refresh_from_db()
    assert best_regular.first_name == "Jasur"
