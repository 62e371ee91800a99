"""Return codes at the till: the POS API, the CSV import (both engines) and the counter screen credit a sale
to the outreach note it came from, and campaign results count those attributed returns."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from customers.models import ApiToken, PurchaseTicket
from loyalty.gifts import voucher_gift_issue
from outreach.notes_models import CampaignKind, Note, NoteChannel, NoteStatus
from outreach.results import campaign_results
from tests.conftest import AS_OF
from tests.customers.conftest import csv_bytes, sale
from tests.factories import CustomerFactory, TicketFactory
from tests.outreach.notes_helpers import campaign

pytestmark = pytest.mark.django_db

URL = "/api/v1/tickets/"


def _note(customer, winback, *, posted_days_ago: int = 20) -> Note:
    """A posted win-back note with its gift voucher, as the queue and a writer would leave it."""
    posted = AS_OF - dt.timedelta(days=posted_days_ago)
    note = Note.objects.create(
        customer=customer,
        campaign=winback,
        store=customer.home_store,
        kind=winback.kind,
        period=f"p{customer.pk}",
        channel=NoteChannel.POST,
        status=NoteStatus.POSTED,
        why="usually every 2 weeks",
        wording="We missed you",
        language="en",
        queued_at=posted - dt.timedelta(days=2),
        posted_at=posted,
    )
    note.voucher = voucher_gift_issue(
        customer=customer,
        key=f"note:{note.pk}",
        issued_at=posted,
        expires_at=posted + dt.timedelta(days=60),
        percent=15,
    )
    note.save(update_fields=["voucher"])
    return note


@pytest.fixture
def winback():
    return campaign(CampaignKind.WIN_BACK, name="We miss you")


@pytest.fixture
def elena(store):
    return CustomerFactory(home_store=store, card_number="2000000000015")


@pytest.fixture
def note(elena, winback) -> Note:
    return _note(elena, winback)


@pytest.fixture
def pos(store) -> APIClient:
    _, raw = ApiToken.issue(store=store, name="Till 1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


def post(client, body):
    return client.post(URL, json.dumps(body), content_type="application/json")


def ticket(number: str, **extra) -> dict:
    return {"store": "CHZ", "ticket": number, "purchased_at": "2026-10-30T10:00:00", "total": "40.00", **extra}


# --- the POS API ---------------------------------------------------------------------------------


def test_a_sale_with_the_notes_return_code_is_credited_to_the_note_and_counted_as_attributed(pos, elena, note):
    typed = f"{note.return_code[:3].lower()}-{note.return_code[3:]}"  # as a person might type it
    response = post(pos, ticket("A1", customer_card=elena.card_number, return_code=typed))
    assert response.status_code == 201, response.json()
    sale_ = PurchaseTicket.objects.get(number="A1")
    assert sale_.return_code == note.return_code and sale_.customer == elena
    results = campaign_results(note.campaign)
    assert results.attributed_returned == 1 and results.attributed_revenue == Decimal("40.00")


def test_the_notes_voucher_code_attributes_too_and_the_ticket_keeps_the_notes_own_code(pos, elena, note):
    response = post(pos, ticket("A2", customer_card=elena.card_number, return_code=note.voucher.code))
    assert response.status_code == 201, response.json()
    assert PurchaseTicket.objects.get(number="A2").return_code == note.return_code


def test_an_unknown_return_code_is_refused_by_field_and_nothing_is_saved(pos, elena, note):
    response = post(
        pos, {"tickets": [ticket("A3"), ticket("A4", customer_card=elena.card_number, return_code="ZZZZZZ")]}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["tickets"][0] == {} and "ZZZZZZ" in body["tickets"][1]["return_code"][0]
    assert not PurchaseTicket.objects.exists()


def test_a_code_from_another_customers_note_is_refused(pos, store, note):
    someone_else = CustomerFactory(home_store=store, card_number="2000000000022")
    response = post(pos, ticket("A5", customer_card=someone_else.card_number, return_code=note.return_code))
    assert response.status_code == 400
    assert "another customer" in response.json()["return_code"][0]
    assert not PurchaseTicket.objects.exists()


def test_an_anonymous_sale_with_a_code_joins_the_notes_customer_by_default(pos, elena, note):
    assert post(pos, ticket("A6", return_code=note.return_code)).status_code == 201
    sale_ = PurchaseTicket.objects.get(number="A6")
    assert sale_.customer == elena and sale_.return_code == note.return_code


def test_a_chain_can_keep_anonymous_sales_anonymous_and_still_credit_the_note(pos, note, settings):
    settings.RETURN_CODES_IDENTIFY_CUSTOMER = False
    assert post(pos, ticket("A7", return_code=note.return_code)).status_code == 201
    sale_ = PurchaseTicket.objects.get(number="A7")
    assert sale_.customer is None and sale_.return_code == note.return_code
    assert campaign_results(note.campaign).attributed_returned == 1


def test_a_malformed_code_is_refused_before_any_lookup(pos):
    response = post(pos, ticket("A8", return_code="R4F9K!"))
    assert response.status_code == 400 and "return_code" in response.json()


# --- the CSV import ------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["postgresql", "orm"])
def test_the_csv_import_credits_good_codes_and_reports_bad_ones_by_line(run_import, store, elena, note, engine):
    stranger = CustomerFactory(home_store=store, card_number="2000000000039")
    rows = [
        sale("C1", customer_card=elena.card_number, return_code=note.return_code),  # line 2
        sale("C2", customer_card=elena.card_number, return_code="NOSUCH"),  # line 3: unknown
        sale("C3", customer_card=stranger.card_number, return_code=note.return_code),  # line 4: not theirs
        sale("C4", return_code=note.voucher.code),  # line 5: anonymous → Elena
        sale("C5", customer_card=stranger.card_number),  # line 6: no code
    ]
    _, refused = run_import(csv_bytes(rows), engine=engine)
    assert not refused.committed and not PurchaseTicket.objects.exists()
    assert [(i.line, i.column) for i in refused.errors] == [(3, "return_code"), (4, "return_code")]

    _, outcome = run_import(csv_bytes(rows), engine=engine, skip_invalid=True)
    assert outcome.committed and outcome.inserted == 3 and outcome.refused == 2
    coded = dict(PurchaseTicket.objects.values_list("number", "return_code"))
    assert coded == {"C1": note.return_code, "C4": note.return_code, "C5": ""}
    assert PurchaseTicket.objects.get(number="C4").customer == elena
    assert campaign_results(note.campaign).attributed_revenue == Decimal("50.00")


def test_a_ticket_repeated_with_another_code_is_a_conflict(run_import, elena, note):
    rows = [
        sale("D1", customer_card=elena.card_number),
        sale("D1", customer_card=elena.card_number, return_code=note.return_code),
    ]
    _, outcome = run_import(csv_bytes(rows))
    assert [(i.line, i.column) for i in outcome.errors] == [(3, "ticket")]


# --- results ---------------------------------------------------------------------------------------


def test_an_attributed_return_counts_even_outside_the_60_day_window(elena, winback):
    note = _note(elena, winback, posted_days_ago=100)
    TicketFactory(
        customer=elena, purchased_at=AS_OF - dt.timedelta(days=5), total=Decimal("30.00"), return_code=note.return_code
    )
    TicketFactory(
        customer=elena,
        purchased_at=AS_OF - dt.timedelta(days=4),
        total=Decimal("-30.00"),
        is_return=True,
        return_code=note.return_code,
    )
    results = campaign_results(winback)
    assert results.contacted_returned == 0, "the visit came 95 days after the note"
    assert results.attributed_returned == 1 and results.attributed_revenue == Decimal("30.00"), "sales only"


# --- the counter screen ------------------------------------------------------------------------------


def test_staff_scan_a_return_code_into_the_counter_search_and_land_on_the_customer(client, staff, elena, note):
    client.force_login(staff)
    response = client.get("/loyalty/redeem/", {"q": note.return_code.lower()})
    assert response.status_code == 302 and response.url == f"/loyalty/redeem/{elena.pk}/"


def test_staff_record_a_return_code_on_a_sale_the_till_sent_without_it(client, staff, store, elena, note):
    anonymous = TicketFactory(customer=None, store=store, number="E1")
    client.force_login(staff)
    response = client.post("/loyalty/return-code/", {"code": note.return_code, "ticket_number": "E1"})
    assert response.status_code == 302 and response.url == f"/loyalty/redeem/{elena.pk}/"
    anonymous.refresh_from_db()
    assert anonymous.return_code == note.return_code and anonymous.customer == elena
    assert campaign_results(note.campaign).attributed_returned == 1


def test_the_counter_refuses_unknown_codes_and_other_customers_sales(client, staff, store, note):
    theirs = TicketFactory(customer=CustomerFactory(home_store=store), store=store, number="E2")
    client.force_login(staff)
    for code, number, reason in [
        ("NOSUCH", "E2", "No note has"),
        (note.return_code, "E2", "another customer"),
        (note.return_code, "E9", "No sale numbered"),
    ]:
        response = client.post("/loyalty/return-code/", {"code": code, "ticket_number": number}, follow=True)
        assert reason in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.return_code == ""


def test_staff_of_another_store_cannot_reach_the_customer_through_a_code(client, staff_of_other_store, note):
    client.force_login(staff_of_other_store)
    response = client.get("/loyalty/redeem/", {"q": note.return_code})
    assert response.status_code == 200, "no redirect to a customer the user may not see"


def test_the_openapi_description_documents_the_return_code(client):
    schema = client.get("/api/schema/").content.decode()
    assert "return_code" in schema and "RETURN_CODES_IDENTIFY_CUSTOMER" in schema
