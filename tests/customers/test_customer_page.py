"""The customer page: header figures, one timeline (pluggable), feedback, printable card and PDF sheet."""

import datetime as dt
import subprocess
from decimal import Decimal

import pytest
from django.urls import reverse

from customers import selectors, services
from customers.models import Customer, Feedback
from customers.timeline import TimelineEntry, register_timeline_source, timeline_for, unregister_timeline_source
from tests.conftest import ARTIFACTS
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


def test_header_counts_visits_by_day_last_visit_and_average_ticket(store, as_of):
    from tests.factories import CustomerFactory

    customer = CustomerFactory(home_store=store)
    day = dt.datetime(2026, 10, 1, 10, 0, tzinfo=store.tz)
    TicketFactory(customer=customer, store=store, purchased_at=day, total=Decimal("10.00"))
    TicketFactory(customer=customer, store=store, purchased_at=day + dt.timedelta(hours=3), total=Decimal("30.00"))
    TicketFactory(customer=customer, store=store, purchased_at=day + dt.timedelta(days=5), total=Decimal("20.00"))
    TicketFactory(customer=customer, store=store, purchased_at=day + dt.timedelta(days=6), total=Decimal("-20.00"))
    summary = selectors.customer_visit_summary(customer=customer)
    assert summary["visits"] == 2, "two tickets on one day are one visit; a return is no visit"
    assert summary["average_ticket"] == Decimal("20.00")
    assert summary["last_purchase"] == day + dt.timedelta(days=5)


def test_the_timeline_merges_tickets_returns_notes_feedback_and_consent_newest_first(best_regular, staff, as_of):
    sale = best_regular.tickets.order_by("-purchased_at").first()
    TicketFactory(
        customer=best_regular,
        store=sale.store,
        total=Decimal("-25.00"),
        original=sale,
        purchased_at=as_of - dt.timedelta(days=1),
    )
    services.service_note_add(customer=best_regular, text="Likes jazz", by=staff)
    services.feedback_record(customer=best_regular, kind="complaint", reason="pushy", at=as_of, by=staff)
    services.consent_record(customer=best_regular, channel="email", granted=True, source="store", at=as_of, by=staff)
    kinds = {e.kind for e in timeline_for(best_regular)}
    assert kinds == {"ticket", "return", "note", "feedback", "consent"}
    dates = [e.sort_key for e in timeline_for(best_regular)]
    assert dates == sorted(dates, reverse=True)


def test_other_apps_plug_into_the_timeline_without_customers_importing_them(best_regular, as_of):
    def points(customer):
        return [{"date": as_of, "kind": "points", "title": f"+50 points for #{customer.pk}"}]

    register_timeline_source(points)
    register_timeline_source(points)  # registering twice is harmless
    try:
        entries = [e for e in timeline_for(best_regular) if e.kind == "points"]
        assert entries == [TimelineEntry(as_of, "points", f"+50 points for #{best_regular.pk}")]
    finally:
        unregister_timeline_source(points)
    assert not [e for e in timeline_for(best_regular) if e.kind == "points"]


def test_the_timeline_costs_a_query_per_source_not_per_entry(best_regular, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        entries = timeline_for(best_regular)
    assert len(entries) == 50


def test_the_customer_page_shows_header_timeline_and_actions(login, staff, best_regular):
    html = login(staff).get(best_regular.get_absolute_url()).content.decode()
    for marker in ("header-figures", "timeline", "note-form", "card-barcode", best_regular.card_number):
        assert marker in html
    for name in ("customers:feedback_add", "customers:consent", "customers:edit", "customers:card", "customers:sheet"):
        assert reverse(name, args=[best_regular.pk]) in html
    assert reverse("customers:erase", args=[best_regular.pk]) not in html, "erasing is for managers"


def test_staff_add_a_service_note_from_the_customer_page(login, staff, best_regular):
    client = login(staff)
    client.post(reverse("customers:note_add", args=[best_regular.pk]), {"text": "Size M, likes blue"})
    note = best_regular.service_notes.get()
    assert note.author == staff
    assert "Size M, likes blue" in client.get(best_regular.get_absolute_url()).content.decode()


def test_an_open_complaint_shows_on_the_page_until_answered(login, staff, best_regular):
    client = login(staff)
    response = client.post(
        reverse("customers:feedback_add", args=[best_regular.pk]),
        {"kind": "complaint", "reason": "pushy", "text": "The seller would not leave me alone", "ticket": ""},
    )
    assert response.status_code == 302
    complaint = Feedback.objects.get()
    assert complaint.status == "open" and complaint.created_by == staff
    assert 'data-testid="open-complaints"' in client.get(best_regular.get_absolute_url()).content.decode()
    assert list(Customer.objects.with_open_complaint()) == [best_regular]

    missing = client.post(reverse("customers:feedback", args=[complaint.pk]), {"response": "", "status": "answered"})
    assert "response" in missing.context["form"].errors
    client.post(
        reverse("customers:feedback", args=[complaint.pk]),
        {"response": "Apologised and spoke with the seller", "status": "answered"},
    )
    complaint.refresh_from_db()
    assert complaint.status == "answered" and complaint.responded_by == staff and complaint.responded_at
    assert 'data-testid="open-complaints"' not in client.get(best_regular.get_absolute_url()).content.decode()
    assert not Customer.objects.with_open_complaint().exists()
    assert best_regular in Customer.objects.without_open_complaint()


def test_returns_and_refusals_are_recorded_closed_and_do_not_hold_back_notes(best_regular, staff, as_of):
    ticket = best_regular.tickets.first()
    services.feedback_record(customer=best_regular, kind="return", reason="not_fit", ticket=ticket, at=as_of, by=staff)
    services.feedback_record(customer=best_regular, kind="refusal", reason="price", at=as_of, by=staff)
    assert set(Feedback.objects.values_list("status", flat=True)) == {"closed"}
    assert not Customer.objects.with_open_complaint().exists()


def test_feedback_cannot_point_at_someone_elses_ticket(best_regular, one_timer, staff, as_of):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.feedback_record(
            customer=best_regular, kind="return", reason="price", ticket=one_timer.tickets.first(), at=as_of, by=staff
        )


def test_the_database_refuses_an_answered_complaint_with_no_answer_date(best_regular, as_of):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Feedback.objects.create(
            customer=best_regular, kind="complaint", reason="staff", status="answered", created_at=as_of
        )


def test_the_printable_card_has_the_barcode_and_qr(login, staff, best_regular):
    html = login(staff).get(reverse("customers:card", args=[best_regular.pk])).content.decode()
    assert 'class="card-barcode"' in html and 'class="card-qr"' in html
    assert "js-print" in html


def test_the_customer_sheet_is_a_pdf_with_the_record_and_timeline(login, staff, best_regular):
    services.service_note_add(customer=best_regular, text="Prefers handwritten cards", by=staff)
    response = login(staff).get(reverse("customers:sheet", args=[best_regular.pk]))
    assert response["Content-Type"] == "application/pdf"
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "customer-sheet.pdf"  # for a person to look at (pdftoppm -png)
    pdf.write_bytes(response.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("Jasur Toshmatov", best_regular.card_number, "Visits", "Prefers handwritten cards", "Timeline"):
        assert expected in text, expected
    assert "bootstrap" not in response.content.decode("latin-1").lower()
