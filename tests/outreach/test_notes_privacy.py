"""Notes follow the customer file: merges move them, erasure blanks what names the person; the sweeper."""

import datetime as dt

import pytest

from customers.services import customer_erase, customers_merge
from outreach.emails import SENDING_LEASE, notes_sweep
from outreach.notes import notes_queue
from outreach.notes_models import CampaignKind, ChannelPolicy, EmailState, Note
from tests.conftest import AS_OF

from .notes_helpers import best, campaign, consenting

pytestmark = pytest.mark.django_db


def test_merging_two_records_keeps_one_note_per_campaign_and_period(store, staff, manager):
    survivor, duplicate = consenting(store), consenting(store)
    best(survivor, rank=1)
    best(duplicate, rank=2)
    campaign(CampaignKind.THANK_YOU)
    notes_queue(as_of=AS_OF)
    assert Note.objects.count() == 2

    customers_merge(survivor=survivor, duplicate=duplicate, by=manager)

    assert list(Note.objects.values_list("customer_id", flat=True)) == [survivor.pk]


def test_erasing_a_customer_blanks_the_wording_and_context_of_their_notes(store, staff, manager):
    customer = consenting(store, first_name="Jasur")
    best(customer)
    campaign(CampaignKind.THANK_YOU)
    notes_queue(as_of=AS_OF)

    customer_erase(customer=customer, by=manager, at=AS_OF)

    note = Note.objects.get()
    assert (note.wording, note.context, note.why, note.subject) == ("", "", "", "")


def test_sweeper_requeues_only_emails_sending_longer_than_the_lease(store, staff):
    for rank in (1, 2):
        best(consenting(store, consent_post=False), rank=rank)
    campaign(CampaignKind.THANK_YOU, channel_policy=ChannelPolicy.EMAIL)
    notes_queue(as_of=AS_OF)
    stuck, fresh = Note.objects.order_by("pk")
    Note.objects.filter(pk=fresh.pk).update(email_queued_at=AS_OF + SENDING_LEASE)
    Note.objects.filter(pk=stuck.pk).update(email_queued_at=AS_OF - dt.timedelta(minutes=1))

    swept = notes_sweep(now=AS_OF + SENDING_LEASE)

    assert swept == [stuck.pk]
    assert notes_sweep(now=AS_OF + SENDING_LEASE) == []  # its lease was renewed
    Note.objects.filter(pk=stuck.pk).update(email_state=EmailState.SENT, sent_at=AS_OF)
    assert notes_sweep(now=AS_OF + 3 * SENDING_LEASE) == [fresh.pk]
