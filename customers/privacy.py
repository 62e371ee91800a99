"""Services that move or remove a person's data: merge duplicates, erase, export.

Each runs in one transaction, tells the other apps through a signal sent inside
it (so their part commits or rolls back with ours) and leaves an audit entry
that holds ids and counts only. Re-exported by ``customers.services``.

There is deliberately no service that hands customer lists to partners.
"""

import datetime as dt
import logging

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from .models import (
    AuditEntry,
    ConsentEvent,
    Customer,
    Feedback,
    PurchaseTicket,
    ServiceNote,
    Tag,
    new_card_number,
)
from .services import audit_record, consent_state_rebuild
from .signals import customer_erased, customers_merged

logger = logging.getLogger(__name__)

# Filled on the survivor from the duplicate when the survivor has nothing there.
MERGE_FILL_FIELDS = ("email", "phone", "city", "postal_address", "birthday", "preferred_language", "last_name")


@transaction.atomic
def customers_merge(*, survivor: Customer, duplicate: Customer, by) -> Customer:
    """Fold ``duplicate`` into ``survivor`` and delete it, all or nothing.

    Moves tickets, service notes, feedback, consent events, interests and referrals;
    fills the survivor's blank fields from the duplicate; recomputes consent (latest
    statement per channel wins, "do not contact" from either record sticks); then
    ``customers_merged`` lets loyalty and outreach move their rows before the
    duplicate row goes. Both rows are locked first (in id order: no deadlock with a
    concurrent merge of the same pair).
    """
    if survivor.pk == duplicate.pk:
        raise ValidationError(_("A customer cannot be merged with themselves."))
    locked = {
        c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[survivor.pk, duplicate.pk]).order_by("pk")
    }
    if len(locked) != 2:
        raise ValidationError(_("One of these customers no longer exists (already merged?)."))
    survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
    if survivor.is_erased or duplicate.is_erased:
        raise ValidationError(_("An erased customer cannot be merged."))

    moved = {
        "tickets": PurchaseTicket.objects.filter(customer=duplicate).update(customer=survivor),
        "service_notes": ServiceNote.objects.filter(customer=duplicate).update(customer=survivor),
        "feedback": Feedback.objects.filter(customer=duplicate).update(customer=survivor),
        "consent_events": ConsentEvent.objects.filter(customer=duplicate).update(customer=survivor),
    }
    duplicate_tags = list(duplicate.tags.all())
    survivor.tags.add(*duplicate_tags)
    moved["tags"] = len(duplicate_tags)
    moved["referrals"] = (
        Customer.objects.filter(referred_by=duplicate).exclude(pk=survivor.pk).update(referred_by=survivor)
    )

    fields = []
    for name in MERGE_FILL_FIELDS:
        if not getattr(survivor, name) and getattr(duplicate, name):
            setattr(survivor, name, getattr(duplicate, name))
            fields.append(name)
    if survivor.referred_by_id == duplicate.pk:
        survivor.referred_by = None
        fields.append("referred_by")
    elif survivor.referred_by_id is None and duplicate.referred_by_id not in (None, survivor.pk):
        survivor.referred_by_id = duplicate.referred_by_id
        fields.append("referred_by")
    survivor.do_not_contact = survivor.do_not_contact or duplicate.do_not_contact
    survivor.details_missing = not survivor.record_is_complete()
    survivor.save(update_fields=[*fields, "do_not_contact", "details_missing"])
    consent_state_rebuild(customer=survivor)

    customers_merged.send(sender=Customer, survivor_id=survivor.pk, duplicate_id=duplicate.pk)
    duplicate_id = duplicate.pk
    duplicate.delete()
    audit_record(
        actor=by,
        action=AuditEntry.Action.MERGE,
        target=survivor,
        store=survivor.home_store,
        details={"survivor_id": survivor.pk, "duplicate_id": duplicate_id, "moved": moved},
    )
    logger.info("customer %s merged into %s by user %s", duplicate_id, survivor.pk, getattr(by, "pk", None))
    return survivor


@transaction.atomic
def customer_erase(*, customer: Customer, by, at: dt.datetime) -> Customer:
    """Remove a person's personal data for good, keeping the shop's figures.

    The customer row stays as an empty shell (so tickets, points and statistics
    that counted them still add up) but tickets are unlinked (``customer=NULL``),
    names, contacts, address, birthday, interests, consent history and service notes
    go, feedback keeps only its kind, reason and status, and the card gets a new
    random number (the old card no longer finds anyone). ``customer_erased`` lets
    the other apps do their part in the same transaction.
    """
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.is_erased:
        return customer
    counts = {
        "tickets_unlinked": PurchaseTicket.objects.filter(customer=customer).update(customer=None),
        "service_notes": ServiceNote.objects.filter(customer=customer).delete()[0],
        "consent_events": ConsentEvent.objects.filter(customer=customer).delete()[0],
        "feedback": Feedback.objects.filter(customer=customer).update(text="", response="", ticket=None),
    }
    # An interest nobody else shares may itself say who this was.
    tag_ids = list(customer.tags.values_list("pk", flat=True))
    customer.tags.clear()
    Tag.objects.filter(pk__in=tag_ids).annotate(n=Count("customers")).filter(n=0).delete()
    # Django admin's change history repeats names in object_repr.
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Customer), object_id=str(customer.pk)
    ).delete()

    blanked = ("first_name", "last_name", "email", "phone", "city", "postal_address", "preferred_language")
    for name in blanked:
        setattr(customer, name, "")
    customer.birthday = None
    customer.referred_by = None
    customer.card_number = new_card_number()
    customer.consent_email = customer.consent_post = customer.consent_sms = False
    customer.do_not_contact = True
    customer.details_missing = False
    customer.erased_at = at
    customer.save(
        update_fields=[
            *blanked,
            "birthday",
            "referred_by",
            "card_number",
            "consent_email",
            "consent_post",
            "consent_sms",
            "do_not_contact",
            "details_missing",
            "erased_at",
        ]
    )

    customer_erased.send(sender=Customer, customer_id=customer.pk)
    audit_record(actor=by, action=AuditEntry.Action.ERASE, target=customer, store=customer.home_store, details=counts)
    logger.info("customer %s erased by user %s", customer.pk, getattr(by, "pk", None))
    return customer


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def customer_data_export(*, customer: Customer, by, at: dt.datetime) -> dict:
    """Everything the customer file holds about one person, as JSON-ready data (audited)."""
    if customer.is_erased:
        raise ValidationError(_("This customer's data was erased; there is nothing to export."))
    data = {
        "format": "regulars.customer-export/1",
        "exported_at": at.isoformat(),
        "customer": {
            "id": customer.pk,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "email": customer.email,
            "phone": customer.phone,
            "city": customer.city,
            "postal_address": customer.postal_address,
            "birthday": _iso(customer.birthday),
            "preferred_language": customer.preferred_language,
            "preferred_channel": customer.preferred_channel,
            "home_store": customer.home_store.code,
            "card_number": customer.card_number,
            "referred_by_customer_id": customer.referred_by_id,
            "created_at": _iso(customer.created_at),
            "consent": customer.consents(),
            "do_not_contact": customer.do_not_contact,
        },
        "interests": list(customer.tags.values_list("name", flat=True)),
        "consent_history": [
            {
                "channel": e.channel,
                "granted": e.granted,
                "at": _iso(e.at),
                "source": e.source,
                "store": e.store.code if e.store_id else None,
                "wording": e.wording,
            }
            for e in customer.consent_events.select_related("store").order_by("at", "id")
        ],
        "service_notes": [
            {"written_at": _iso(n.created_at), "text": n.text}
            for n in customer.service_notes.order_by("created_at", "id")
        ],
        "feedback": [
            {
                "kind": f.kind,
                "reason": f.reason,
                "text": f.text,
                "status": f.status,
                "response": f.response,
                "recorded_at": _iso(f.created_at),
                "answered_at": _iso(f.responded_at),
                "ticket": f.ticket.number if f.ticket_id else None,
            }
            for f in customer.feedback.select_related("ticket").order_by("created_at", "id")
        ],
        "tickets": [
            {
                "store": t.store.code,
                "number": t.number,
                "purchased_at": _iso(t.purchased_at),
                "total": str(t.total),
                "currency": t.store.currency,
                "items": t.items,
                "is_return": t.is_return,
            }
            for t in customer.tickets.select_related("store").order_by("purchased_at", "id")
        ],
    }
    audit_record(
        actor=by,
        action=AuditEntry.Action.DATA_EXPORT,
        target=customer,
        store=customer.home_store,
        details={"tickets": len(data["tickets"]), "notes": len(data["service_notes"])},
    )
    return data
