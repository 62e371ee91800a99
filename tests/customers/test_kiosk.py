"""The sign-up kiosk: opened by staff with their PIN, anonymous while customers use it, left with the PIN."""

import pytest
from django.urls import reverse

from customers.kiosk import KIOSK_KEY, MAX_PIN_FAILURES
from customers.models import AuditEntry, ConsentEvent, Customer, Membership, card_number_is_valid
from customers.signals import customer_created

pytestmark = pytest.mark.django_db

PIN = "4817"


@pytest.fixture
def kiosk(client, staff, store):
    """A tablet in kiosk mode for ``store``, opened by ``staff`` (who chose PIN on the way)."""
    client.force_login(staff)
    response = client.post(reverse("customers:kiosk_start"), {"store": store.pk, "pin": PIN, "pin_again": PIN})
    assert response.status_code == 302 and response["Location"] == reverse("customers:kiosk_signup")
    return client


SIGNUP = {
    "name": "Gulnora Saidova",
    "city": "Toshkent",
    "contact": "90 765 43 21",
    "consent_email": "",
    "consent_post": "on",
    "consent_sms": "on",
    "birthday": "",
}


def test_opening_the_kiosk_logs_the_staff_account_out_of_the_tablet(kiosk, staff):
    assert "_auth_user_id" not in kiosk.session
    assert kiosk.session[KIOSK_KEY]["membership_id"] == Membership.objects.get(user=staff).pk
    response = kiosk.get(reverse("customers:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_pin_is_stored_hashed(kiosk, staff):
    stored = Membership.objects.get(user=staff).kiosk_pin
    assert stored and PIN not in stored


def test_the_kiosk_form_has_no_navigation_and_five_questions(kiosk):
    html = kiosk.get(reverse("customers:kiosk_signup")).content.decode()
    assert 'data-testid="nav"' not in html
    for name in ("name", "city", "contact", "birthday", "consent_email", "consent_post", "consent_sms"):
        assert f'name="{name}"' in html
    assert "form-control-lg" in html


def test_signing_up_creates_the_customer_consents_and_card_and_tells_loyalty(
    kiosk, store, staff, captured_signal, django_capture_on_commit_callbacks
):
    calls = captured_signal(customer_created)
    with django_capture_on_commit_callbacks(execute=True):
        response = kiosk.post(reverse("customers:kiosk_signup"), SIGNUP)
    assert response.status_code == 302 and response["Location"] == reverse("customers:kiosk_done")
    customer = Customer.objects.get()
    assert (customer.first_name, customer.last_name, customer.city) == ("Gulnora", "Saidova", "Toshkent")
    assert customer.phone == "+998907654321" and customer.home_store == store
    assert card_number_is_valid(customer.card_number)
    assert not customer.details_missing
    assert calls == [{"customer_id": customer.pk, "source": "signup"}]
    events = {e.channel: e for e in ConsentEvent.objects.filter(customer=customer)}
    assert set(events) == {"post", "sms"}, "only switches turned on are recorded"
    assert events["sms"].source == "signup" and events["sms"].store == store and events["sms"].by == staff
    assert events["sms"].wording == "Yes, send me text messages (SMS)."
    assert customer.consent_sms and customer.consent_post and not customer.consent_email
    assert AuditEntry.objects.filter(action="consent", target_id=customer.pk).count() == 2

    done = kiosk.get(reverse("customers:kiosk_done")).content.decode()
    assert customer.card_number in done
    assert 'class="card-barcode"' in done and 'class="card-qr"' in done
    assert "js-kiosk-reset" in done, "the finish screen resets itself"


def test_the_next_form_forgets_the_previous_customers_card(kiosk):
    kiosk.post(reverse("customers:kiosk_signup"), SIGNUP)
    kiosk.get(reverse("customers:kiosk_signup"))
    response = kiosk.get(reverse("customers:kiosk_done"))
    assert response.status_code == 302 and response["Location"] == reverse("customers:kiosk_signup")


def test_an_email_works_as_the_way_to_reach_them(kiosk):
    kiosk.post(reverse("customers:kiosk_signup"), {**SIGNUP, "contact": "Gul@Example.test", "consent_email": "on"})
    customer = Customer.objects.get()
    assert customer.email == "gul@example.test" and customer.phone == ""
    assert customer.consent_email


def test_a_wrong_contact_is_explained_and_nothing_is_created(kiosk):
    response = kiosk.post(reverse("customers:kiosk_signup"), {**SIGNUP, "contact": "12"})
    assert response.status_code == 200
    assert "contact" in response.context["form"].errors
    assert not Customer.objects.exists()


def test_staff_leave_with_their_pin_and_are_logged_back_in(kiosk, staff):
    response = kiosk.post(reverse("customers:kiosk_exit"), {"pin": PIN})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert int(kiosk.session["_auth_user_id"]) == staff.pk
    assert KIOSK_KEY not in kiosk.session
    assert kiosk.get(reverse("customers:list")).status_code == 200


def test_too_many_wrong_pins_close_the_kiosk(kiosk):
    for _ in range(MAX_PIN_FAILURES - 1):
        response = kiosk.post(reverse("customers:kiosk_exit"), {"pin": "0000"})
        assert response.status_code == 200
    response = kiosk.post(reverse("customers:kiosk_exit"), {"pin": "0000"})
    assert response["Location"] == reverse("login")
    assert KIOSK_KEY not in kiosk.session and "_auth_user_id" not in kiosk.session
    # Even the right PIN no longer helps: the full login is needed.
    response = kiosk.post(reverse("customers:kiosk_exit"), {"pin": PIN})
    assert response["Location"].startswith(reverse("login"))


def test_a_second_start_asks_for_the_existing_pin(client, staff, store):
    client.force_login(staff)
    client.post(reverse("customers:kiosk_start"), {"store": store.pk, "pin": PIN, "pin_again": PIN})
    client.force_login(staff)
    wrong = client.post(reverse("customers:kiosk_start"), {"store": store.pk, "pin": "9999"})
    assert wrong.status_code == 200 and "pin" in wrong.context["form"].errors
    right = client.post(reverse("customers:kiosk_start"), {"store": store.pk, "pin": PIN})
    assert right["Location"] == reverse("customers:kiosk_signup")


def test_a_trivial_pin_is_refused(client, staff, store):
    client.force_login(staff)
    response = client.post(reverse("customers:kiosk_start"), {"store": store.pk, "pin": "1234", "pin_again": "1234"})
    assert response.status_code == 200 and "pin" in response.context["form"].errors


def test_staff_cannot_open_the_kiosk_for_a_store_they_do_not_work_in(client, staff, other_store):
    client.force_login(staff)
    response = client.post(reverse("customers:kiosk_start"), {"store": other_store.pk, "pin": PIN, "pin_again": PIN})
    assert response.status_code == 200 and "store" in response.context["form"].errors
    assert KIOSK_KEY not in client.session


def test_changing_the_pin_needs_the_account_password(client, staff, password):
    client.force_login(staff)
    bad = client.post(reverse("customers:kiosk_pin"), {"password": "nope", "pin": "5829", "pin_again": "5829"})
    assert "password" in bad.context["form"].errors
    good = client.post(reverse("customers:kiosk_pin"), {"password": password, "pin": "5829", "pin_again": "5829"})
    assert good.status_code == 302
