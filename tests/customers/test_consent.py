"""Consent per channel with provenance; "do not contact" overrides everything; every change audited."""

import pytest
from django.urls import reverse

from customers import services
from customers.models import AuditEntry, ConsentEvent, Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _grant(customer, channel, *, as_of, by=None, granted=True, source="store"):
    return services.consent_record(
        customer=customer,
        channel=channel,
        granted=granted,
        source=source,
        at=as_of,
        by=by,
        store=customer.home_store,
        wording=f"wording for {channel}",
    )


def test_a_consent_change_is_an_event_with_provenance_and_an_audit_entry(best_regular, staff, as_of):
    event = _grant(best_regular, "email", as_of=as_of, by=staff)
    assert (event.channel, event.granted, event.source, event.by, event.store) == (
        "email",
        True,
        "store",
        staff,
        best_regular.home_store,
    )
    assert event.at == as_of and event.wording == "wording for email"
    best_regular.refresh_from_db()
    assert best_regular.consent_email and not best_regular.consent_sms
    audit = AuditEntry.objects.get(action=AuditEntry.Action.CONSENT)
    assert (audit.target_id, audit.actor, audit.details["event_id"]) == (best_regular.pk, staff, event.pk)


def test_withdrawing_appends_and_never_rewrites_history(best_regular, staff, as_of):
    first = _grant(best_regular, "sms", as_of=as_of, by=staff)
    second = _grant(best_regular, "sms", as_of=as_of, by=staff, granted=False, source="unsubscribe")
    assert ConsentEvent.objects.filter(customer=best_regular).count() == 2
    first.refresh_from_db()
    assert first.granted is True and second.granted is False
    best_regular.refresh_from_db()
    assert not best_regular.consent_sms


def test_saying_the_same_thing_twice_records_nothing_new(best_regular, staff, as_of):
    assert _grant(best_regular, "post", as_of=as_of, by=staff) is not None
    assert _grant(best_regular, "post", as_of=as_of, by=staff) is None
    assert ConsentEvent.objects.count() == 1
    assert AuditEntry.objects.filter(action=AuditEntry.Action.CONSENT).count() == 1


def test_contactable_by_needs_consent_and_an_address(store, as_of):
    emailable = CustomerFactory(home_store=store)
    no_consent = CustomerFactory(home_store=store)
    no_address = CustomerFactory(home_store=store, email="")
    for c in (emailable, no_address):
        _grant(c, "email", as_of=as_of)
    assert set(Customer.objects.contactable_by("email")) == {emailable}
    assert not Customer.objects.contactable_by("sms").exists()
    assert emailable.may_contact("email") and not no_consent.may_contact("email")


def test_do_not_contact_overrides_every_channel_until_lifted(best_regular, staff, as_of):
    for channel in ("email", "post", "sms"):
        _grant(best_regular, channel, as_of=as_of, by=staff)
    assert Customer.objects.contactable_by("post").filter(pk=best_regular.pk).exists()
    _grant(best_regular, ConsentEvent.ALL, as_of=as_of, by=staff, granted=False)
    for channel in ("email", "post", "sms"):
        assert not Customer.objects.contactable_by(channel).filter(pk=best_regular.pk).exists()
    _grant(best_regular, ConsentEvent.ALL, as_of=as_of, by=staff, granted=True)
    assert Customer.objects.contactable_by("email").filter(pk=best_regular.pk).exists()
    assert AuditEntry.objects.filter(action=AuditEntry.Action.CONSENT).count() == 5


def test_contactable_by_is_one_query(store, as_of, django_assert_num_queries):
    for _ in range(3):
        _grant(CustomerFactory(home_store=store), "email", as_of=as_of)
    with django_assert_num_queries(1):
        assert len(list(Customer.objects.contactable_by("email"))) == 3


def test_staff_record_consent_on_the_customer_page_with_the_wording_they_saw(login, staff, best_regular):
    response = login(staff).post(reverse("customers:consent", args=[best_regular.pk]), {"email": "on", "sms": "on"})
    assert response.status_code == 302
    events = {e.channel: e for e in ConsentEvent.objects.filter(customer=best_regular)}
    assert set(events) == {"email", "sms"}
    assert events["email"].source == "store" and events["email"].by == staff
    assert "agrees to receive emails" in events["email"].wording
    page = login(staff).get(best_regular.get_absolute_url()).content.decode()
    assert "Email: agreed" in page, "consent changes show in the timeline"
