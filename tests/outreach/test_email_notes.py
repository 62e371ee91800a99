"""Note emails through a real local SMTP server (aiosmtpd): once, with RFC 8058 headers, never without consent."""

import threading
from decimal import Decimal
from urllib.parse import urlparse

import pytest
from celery.exceptions import Retry
from django.db import connection
from django.test import Client, override_settings

from customers.models import ConsentEvent, ConsentSource, Customer
from customers.services import consent_record
from outreach.emails import note_email_send
from outreach.notes import notes_queue
from outreach.notes_models import CampaignKind, ChannelPolicy, EmailState, IncentiveKind, Note, NoteStatus
from outreach.tasks_notes import EMAIL_MAX_RETRIES, note_email_send_task
from tests.conftest import AS_OF

from .notes_helpers import best, campaign, consenting, lapsed
from .smtp_server import smtp_settings

SITE = "https://crm.example.test"


def _email_note(store, **kw) -> Note:
    customer = consenting(store, consent_post=False, first_name="Elena", last_name="Petrova", **kw)
    lapsed(customer)
    campaign(
        CampaignKind.WIN_BACK,
        channel_policy=ChannelPolicy.EMAIL,
        incentive_kind=IncentiveKind.AMOUNT,
        incentive_amount=Decimal("50000"),
    )
    notes_queue(as_of=AS_OF)
    return Note.objects.select_related("customer", "voucher").get()


@pytest.mark.django_db
def test_email_arrives_once_with_unsubscribe_headers_even_when_the_task_runs_twice(store, staff, smtp_server):
    mailbox, port = smtp_server
    note = _email_note(store, preferred_language="ru")
    assert note.email_state == EmailState.SENDING

    with override_settings(SITE_URL=SITE, **smtp_settings(port)):
        note_email_send_task.apply(args=[note.pk])
        note_email_send_task.apply(args=[note.pk])

    assert len(mailbox.messages) == 1
    msg = mailbox.messages[0]
    assert msg["To"] == note.customer.email
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = [part.strip(" <>") for part in " ".join(msg["List-Unsubscribe"].split()).split(",")]
    assert https.startswith(f"{SITE}/notes/unsubscribe/") and mailto.startswith("mailto:")
    assert msg["Message-ID"] == f"<regulars-note-{note.pk}@localhost>"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in msg.walk() if not p.is_multipart()}
    assert "Elena" in parts["text/plain"] and "Elena" in parts["text/html"]
    assert note.voucher.code in parts["text/plain"] and note.voucher.code in parts["text/html"]
    note.refresh_from_db()
    assert (note.status, note.email_state, note.email_attempts) == (NoteStatus.EMAILED, EmailState.SENT, 1)
    assert note.sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sends_of_one_note_deliver_one_email(store, staff, smtp_server):
    mailbox, port = smtp_server
    note = _email_note(store)
    barrier = threading.Barrier(4)
    outcomes = []

    def send():
        try:
            barrier.wait()
            outcomes.append(note_email_send(note_id=note.pk, now=AS_OF))
        finally:
            connection.close()

    with override_settings(SITE_URL=SITE, **smtp_settings(port)):
        threads = [threading.Thread(target=send) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert sorted(outcomes) == ["nothing", "nothing", "nothing", "sent"]
    assert len(mailbox.messages) == 1


@pytest.mark.django_db
def test_no_email_after_consent_was_withdrawn_between_queue_and_send(store, staff, smtp_server):
    mailbox, port = smtp_server
    note = _email_note(store)
    consent_record(customer=note.customer, channel="email", granted=False, source=ConsentSource.STORE, at=AS_OF)

    with override_settings(**smtp_settings(port)):
        assert note_email_send(note_id=note.pk, now=AS_OF) == "no_consent"

    assert mailbox.messages == []
    note.refresh_from_db()
    assert (note.status, note.email_state) == (NoteStatus.CANCELLED, EmailState.FAILED)


@pytest.mark.django_db
def test_a_server_that_keeps_refusing_gets_bounded_retries_then_the_note_shows_failed(store, staff, smtp_server):
    mailbox, port = smtp_server
    calls = []
    mailbox.on_data = lambda box: calls.append(1) or "451 4.3.0 Try again later"
    note = _email_note(store)

    retried = 0
    with override_settings(**smtp_settings(port)):
        # What the worker does: delivery n carries retries=n; each failure asks for one more, up to the bound.
        for attempt in range(EMAIL_MAX_RETRIES + 1):
            try:
                outcome = note_email_send_task.apply(args=[note.pk], retries=attempt).get()
            except Retry:
                retried += 1
                note.refresh_from_db()
                assert note.email_state == EmailState.SENDING  # still waiting: the row rolled back

    assert retried == EMAIL_MAX_RETRIES and outcome == "failed"
    assert len(calls) == EMAIL_MAX_RETRIES + 1
    assert mailbox.messages == []
    note.refresh_from_db()
    assert (note.status, note.email_state) == (NoteStatus.FAILED, EmailState.FAILED)
    assert "SMTP" in note.email_error


@pytest.mark.django_db
def test_unsubscribe_page_confirms_on_get_and_withdraws_consent_on_post(store, staff, smtp_server):
    mailbox, port = smtp_server
    note = _email_note(store)
    with override_settings(SITE_URL=SITE, **smtp_settings(port)):
        note_email_send(note_id=note.pk, now=AS_OF)
    url = urlparse(" ".join(mailbox.messages[0]["List-Unsubscribe"].split()).split(",")[0].strip(" <>")).path
    browser = Client(enforce_csrf_checks=True)

    page = browser.get(url)
    assert page.status_code == 200 and b"unsubscribe-confirm" in page.content
    assert Customer.objects.get(pk=note.customer_id).consent_email is True  # a GET (link scanner) changes nothing

    done = browser.post(url, {"List-Unsubscribe": "One-Click"})  # RFC 8058 one-click, no CSRF cookie
    assert done.status_code == 200 and b"unsubscribed" in done.content
    customer = Customer.objects.get(pk=note.customer_id)
    assert customer.consent_email is False
    event = ConsentEvent.objects.get(customer=customer, channel="email", granted=False)
    assert event.source == ConsentSource.UNSUBSCRIBE and f"note #{note.pk}" in event.wording
    assert browser.post(url).status_code == 200  # again: nothing more recorded
    assert ConsentEvent.objects.filter(customer=customer, channel="email").count() == 1


@pytest.mark.django_db
def test_a_tampered_unsubscribe_token_is_refused(client):
    response = client.get("/notes/unsubscribe/not-a-real-token/")
    assert response.status_code == 400


@pytest.mark.django_db
def test_thank_you_by_email_has_no_voucher_and_is_in_the_customers_language(store, staff, smtp_server):
    mailbox, port = smtp_server
    customer = consenting(store, consent_post=False, first_name="Mariam", preferred_language="fa")
    best(customer)
    campaign(CampaignKind.THANK_YOU, channel_policy=ChannelPolicy.EMAIL)
    notes_queue(as_of=AS_OF)
    note = Note.objects.get()
    with override_settings(**smtp_settings(port)):
        note_email_send(note_id=note.pk, now=AS_OF)
    html = next(p for p in mailbox.messages[0].walk() if p.get_content_type() == "text/html")
    body = html.get_payload(decode=True).decode()
    assert 'dir="rtl"' in body and "Mariam" in body and "عزیز" in body
    assert note.voucher is None
