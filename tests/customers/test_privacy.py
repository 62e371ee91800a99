"""A customer's data export (audited) and erasure: no trace of their personal strings anywhere."""

import json

import pytest
from django.db import connection
from django.urls import reverse

from customers import services
from customers.models import AuditEntry, Customer, Feedback, PurchaseTicket
from customers.signals import customer_erased

pytestmark = pytest.mark.django_db

PERSONAL = {
    "first_name": "Zuhraxon",
    "last_name": "Qodirovaxon",
    "email": "zuhra.private@example.test",
    "phone": "+998977771122",
    "city": "Marg'ilon-Unique",
    "postal_address": "Ipakchi ko'chasi 77, Marg'ilon",
}
NOTE = "Allergic to wool, ask about her daughter Madina"
COMPLAINT = "Staff ignored Zuhraxon at the fitting room"
ANSWER = "Called Zuhraxon back and apologised"


@pytest.fixture
def zuhra(store, staff, manager, as_of, login):
    customer = services.customer_create(store=store, by=staff, tags=["wool allergy Zuhraxon"], **PERSONAL)
    from tests.factories import TicketFactory

    TicketFactory.create_batch(2, customer=customer, store=store)
    services.service_note_add(customer=customer, text=NOTE, by=staff)
    feedback = services.feedback_record(
        customer=customer, kind="complaint", reason="staff", text=COMPLAINT, at=as_of, by=staff
    )
    services.feedback_respond(feedback=feedback, response=ANSWER, status="answered", by=manager, at=as_of)
    services.consent_record(customer=customer, channel="email", granted=True, source="store", at=as_of, by=staff)
    # Staff looked at the page and downloaded an export: nothing of that may keep a copy either.
    login(manager).get(customer.get_absolute_url())
    return customer


def _text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public'
              AND data_type IN ('character varying', 'text', 'jsonb', 'json', 'character')
            """
        )
        return cursor.fetchall()


def _tables_containing(needle: str) -> list[str]:
    found = []
    with connection.cursor() as cursor:
        for table, column in _text_columns():
            cursor.execute(
                f'SELECT 1 FROM "{table}" WHERE "{column}"::text ILIKE %s LIMIT 1',  # noqa: S608 - names from the catalogue
                [f"%{needle}%"],
            )
            if cursor.fetchone():
                found.append(f"{table}.{column}")
    return found


def test_the_scan_finds_personal_strings_before_erasure(zuhra):
    """The scan itself works: before erasure it sees the data (a scan that cannot fail proves nothing)."""
    assert "customers_customer.email" in _tables_containing(PERSONAL["email"])
    assert "customers_servicenote.text" in _tables_containing("daughter Madina")


def test_after_erasure_no_table_contains_the_customers_personal_strings(zuhra, manager, as_of, captured_signal):
    calls = captured_signal(customer_erased)
    card = zuhra.card_number
    services.customer_erase(customer=zuhra, by=manager, at=as_of)

    needles = [*PERSONAL.values(), card, "daughter Madina", "fitting room", "Called Zuhraxon", "wool allergy"]
    leftovers = {needle: _tables_containing(needle) for needle in needles}
    assert leftovers == {needle: [] for needle in needles}
    assert calls == [{"customer_id": zuhra.pk}]


def test_erasure_keeps_tickets_for_the_store_but_unlinks_them(zuhra, manager, as_of):
    services.customer_erase(customer=zuhra, by=manager, at=as_of)
    assert PurchaseTicket.objects.filter(store=zuhra.home_store, customer__isnull=True).count() == 2
    feedback = Feedback.objects.get()
    assert (feedback.kind, feedback.reason, feedback.text, feedback.response) == ("complaint", "staff", "", "")
    zuhra.refresh_from_db()
    assert zuhra.is_erased and zuhra.do_not_contact
    assert not Customer.objects.contactable_by("email").exists()
    assert not Customer.objects.active().filter(pk=zuhra.pk).exists()
    audit = AuditEntry.objects.get(action=AuditEntry.Action.ERASE)
    assert audit.actor == manager and audit.target_id == zuhra.pk and audit.details["tickets_unlinked"] == 2


def test_an_erased_customer_is_not_found_by_search(zuhra, manager, as_of, staff):
    from customers.selectors import customer_list

    assert list(customer_list(user=staff, query="Zuhraxon")) == [zuhra]
    services.customer_erase(customer=zuhra, by=manager, at=as_of)
    assert list(customer_list(user=staff, query="Zuhraxon")) == []


def test_a_manager_erases_through_the_confirmation_screen(login, manager, zuhra):
    client = login(manager)
    url = reverse("customers:erase", args=[zuhra.pk])
    client.post(url, {"confirm": "erase"})
    zuhra.refresh_from_db()
    assert not zuhra.is_erased, "the confirmation word must be typed exactly"
    client.post(url, {"confirm": "ERASE"})
    zuhra.refresh_from_db()
    assert zuhra.is_erased


def test_the_data_export_holds_the_persons_data_and_is_audited(login, manager, zuhra):
    response = login(manager).get(reverse("customers:data_export", args=[zuhra.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="customer-{zuhra.pk}.json"'
    data = json.loads(response.content)
    assert data["customer"]["email"] == PERSONAL["email"]
    assert data["customer"]["phone"] == PERSONAL["phone"]
    assert data["service_notes"][0]["text"] == NOTE
    assert data["feedback"][0]["text"] == COMPLAINT and data["feedback"][0]["response"] == ANSWER
    assert data["consent_history"][0]["channel"] == "email"
    assert len(data["tickets"]) == 2 and data["interests"] == ["wool allergy Zuhraxon"]
    audit = AuditEntry.objects.get(action=AuditEntry.Action.DATA_EXPORT)
    assert audit.actor == manager and audit.target_id == zuhra.pk
    assert PERSONAL["email"] not in json.dumps(audit.details)


def test_staff_cannot_export_or_erase(login, staff, zuhra):
    client = login(staff)
    assert client.get(reverse("customers:data_export", args=[zuhra.pk])).status_code == 403
    assert client.post(reverse("customers:erase", args=[zuhra.pk]), {"confirm": "ERASE"}).status_code == 403
    assert not AuditEntry.objects.filter(action__in=["data_export", "erase"]).exists()


def test_there_is_no_url_that_hands_customer_lists_to_partners():
    from django.urls import get_resolver

    names = " ".join(str(p.pattern) for p in get_resolver().url_patterns)
    assert "partner" not in names.lower()
