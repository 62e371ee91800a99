"""Writes of the customer file (multi-model, side effects). Keyword-only, typed, ``<noun>_<verb>``.

Records (create, sign-up, notes, tags, feedback) and consent live here; merges,
erasure and data export in ``privacy.py`` (re-exported below).
"""

import datetime as dt
import logging
from collections.abc import Iterable, Mapping

from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from .models import (
    AuditEntry,
    ConsentChannel,
    ConsentEvent,
    ConsentSource,
    Customer,
    Feedback,
    Membership,
    PurchaseTicket,
    ServiceNote,
    Store,
    Tag,
    new_card_number,
)
from .phones import phone_normalise
from .signals import send_customer_created

logger = logging.getLogger(__name__)


def audit_record(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    store: Store | None = None,
    details: dict | None = None,
) -> AuditEntry:
    """Append one audit entry. ``details`` must hold ids and counts only, never personal data."""
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        store=store,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=target.pk if target is not None else None,
        details=details or {},
    )


# --- Customer records --------------------------------------------------------------------

# Fields staff may set on a record (the card number, consent and erasure have their own services).
RECORD_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "city",
    "postal_address",
    "birthday",
    "preferred_language",
    "preferred_channel",
    "home_store",
    "referred_by",
)


def _clean_contact(fields: dict, *, region: str) -> dict:
    """Emails lower-cased, phones in E.164 for ``region`` (the home store's country)."""
    if "email" in fields:
        fields["email"] = (fields["email"] or "").strip().lower()
    if "phone" in fields:
        raw = (fields["phone"] or "").strip()
        if raw:
            normalised = phone_normalise(raw, region=region)
            if normalised is None:
                raise ValidationError(
                    {"phone": _("This is not a valid phone number for %(country)s.") % {"country": region}}
                )
            fields["phone"] = normalised
        else:
            fields["phone"] = ""
    for name in ("first_name", "last_name", "city"):
        if name in fields:
            fields[name] = " ".join((fields[name] or "").split())
    return fields


def _save_with_fresh_card(customer: Customer) -> None:
    """Insert ``customer``; on the (1 in 10^11) card-number collision draw another number."""
    for _attempt in range(5):
        try:
            with transaction.atomic():
                customer.save()
            return
        except IntegrityError:
            if not Customer.objects.filter(card_number=customer.card_number).exists():
                raise
            customer.card_number = new_card_number()
    raise IntegrityError("could not draw a free card number")


def tags_from_text(text: str) -> list[str]:
    """ "kosher, size M ,jazz" → ["kosher", "size M", "jazz"] (comma separated, blanks dropped, deduplicated)."""
    seen: dict[str, str] = {}
    for part in (text or "").split(","):
        name = " ".join(part.split())[:40]
        if name and name.lower() not in seen:
            seen[name.lower()] = name
    return list(seen.values())


def customer_tags_set(*, customer: Customer, names: Iterable[str]) -> list[Tag]:
    """Make ``names`` the customer's interests, reusing existing tags case-insensitively."""
    wanted = {n.lower(): n for n in names if n.strip()}
    existing = {t.name.lower(): t for t in Tag.objects.annotate(lname=Lower("name")).filter(lname__in=list(wanted))}
    tags = []
    for key, name in wanted.items():
        tag = existing.get(key)
        if tag is None:
            try:
                with transaction.atomic():
                    tag = Tag.objects.create(name=name)
            except IntegrityError:  # created by someone else meanwhile
                tag = Tag.objects.annotate(lname=Lower("name")).get(lname=key)
        tags.append(tag)
    customer.tags.set(tags)
    return tags


@transaction.atomic
def customer_create(*, store: Store, by, source: str = "staff", tags: Iterable[str] = (), **fields) -> Customer:
    """Create a customer of ``store`` from staff input; issues the card and sends ``customer_created``."""
    unknown = set(fields) - set(RECORD_FIELDS)
    if unknown:
        raise TypeError(f"unknown customer fields: {sorted(unknown)}")
    fields.setdefault("home_store", store)
    fields = _clean_contact(fields, region=fields["home_store"].country)
    customer = Customer(**fields)
    customer.details_missing = not customer.record_is_complete()
    _save_with_fresh_card(customer)
    if tags:
        customer_tags_set(customer=customer, names=tags)
    send_customer_created(customer.pk, source)
    logger.info("customer %s created by user %s (%s)", customer.pk, getattr(by, "pk", None), source)
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, by, tags: Iterable[str] | None = None, **fields) -> Customer:
    """Change the fields named in ``fields``; "details missing" clears once the record is complete."""
    unknown = set(fields) - set(RECORD_FIELDS)
    if unknown:
        raise TypeError(f"unknown customer fields: {sorted(unknown)}")
    if customer.is_erased:
        raise ValidationError(_("This customer's data was erased; the record cannot be edited."))
    store = fields.get("home_store") or customer.home_store
    fields = _clean_contact(fields, region=store.country)
    if fields.get("referred_by") is not None and fields["referred_by"].pk == customer.pk:
        raise ValidationError({"referred_by": _("A customer cannot refer themselves.")})
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.details_missing = not customer.record_is_complete()
    customer.save(update_fields=[*fields, "details_missing"])
    if tags is not None:
        customer_tags_set(customer=customer, names=tags)
    return customer


@transaction.atomic
def customer_signup(
    *,
    store: Store,
    name: str,
    city: str,
    contact: str,
    consents: Mapping[str, bool],
    wording: Mapping[str, str],
    at: dt.datetime,
    by=None,
    birthday: dt.date | None = None,
    language: str = "",
) -> Customer:
    """A customer signs up on the shop's tablet: create them, record consent as shown, issue the card.

    ``contact`` is an email or a phone number (whichever they typed). ``consents`` maps
    each channel to the switch's position and ``wording`` to the sentence next to it;
    only switches turned on are recorded (there is nothing to withdraw yet).
    Sends ``customer_created(source="signup")`` after commit (loyalty's welcome bonus).
    """
    parts = " ".join((name or "").split()).split(" ", 1)
    contact = (contact or "").strip()
    fields = {
        "first_name": parts[0],
        "last_name": parts[1] if len(parts) > 1 else "",
        "city": city,
        "email": contact if "@" in contact else "",
        "phone": "" if "@" in contact else contact,
        "birthday": birthday,
        "preferred_language": language,
        "home_store": store,
    }
    if not fields["first_name"]:
        raise ValidationError({"name": _("Please tell us your name.")})
    if not contact:
        raise ValidationError({"contact": _("Please give an email address or a phone number.")})
    try:
        fields = _clean_contact(fields, region=store.country)
    except ValidationError as exc:
        raise ValidationError({"contact": exc.message_dict["phone"]}) from exc
    # Reach them the way they gave us (the shop may switch to post later).
    fields["preferred_channel"] = ConsentChannel.EMAIL if fields["email"] else ConsentChannel.SMS
    customer = Customer(**fields)
    customer.details_missing = not customer.record_is_complete()
    _save_with_fresh_card(customer)
    for channel in ConsentChannel:
        if consents.get(channel.value):
            consent_record(
                customer=customer,
                channel=channel.value,
                granted=True,
                source=ConsentSource.SIGNUP,
                by=by,
                store=store,
                wording=wording.get(channel.value, ""),
                at=at,
            )
    send_customer_created(customer.pk, "signup")
    logger.info("customer %s signed up at store %s", customer.pk, store.pk)
    return customer


# --- Consent -----------------------------------------------------------------------------


@transaction.atomic
def consent_record(
    *,
    customer: Customer,
    channel: str,
    granted: bool,
    source: str,
    at: dt.datetime,
    by=None,
    store: Store | None = None,
    wording: str = "",
) -> ConsentEvent | None:
    """Record that consent on ``channel`` was given or withdrawn, with where, who and the wording shown.

    ``channel="all"`` is "do not contact" (``granted=False`` switches it on). Appends a
    ConsentEvent, updates the state cached on the customer and writes an audit entry,
    all in one transaction. A statement that changes nothing records nothing (None).
    """
    if source not in ConsentSource.values:
        raise ValueError(f"unknown consent source {source!r}")
    if channel == ConsentEvent.ALL:
        field, new_value = "do_not_contact", not granted
    else:
        field, new_value = f"consent_{ConsentChannel(channel).value}", bool(granted)
    locked = Customer.objects.select_for_update().only("pk", field).get(pk=customer.pk)
    if getattr(locked, field) == new_value:
        return None
    event = ConsentEvent.objects.create(
        customer=customer, channel=channel, granted=granted, at=at, source=source, by=by, store=store, wording=wording
    )
    setattr(customer, field, new_value)
    Customer.objects.filter(pk=customer.pk).update(**{field: new_value})
    audit_record(
        actor=by,
        action=AuditEntry.Action.CONSENT,
        target=customer,
        store=store,
        details={"event_id": event.pk, "channel": channel, "granted": bool(granted), "source": source},
    )
    return event


def consent_state_rebuild(*, customer: Customer) -> dict[str, bool]:
    """Recompute the cached consent of ``customer`` from its events (latest per channel wins).

    ``do_not_contact`` is only ever switched on here, never lifted: after a merge, one
    record's "do not contact" must survive whatever the other said.
    """
    state = {f"consent_{c.value}": False for c in ConsentChannel}
    dnc = customer.do_not_contact
    seen: set[str] = set()
    for channel, granted in customer.consent_events.order_by("-at", "-id").values_list("channel", "granted"):
        if channel in seen:
            continue
        seen.add(channel)
        if channel == ConsentEvent.ALL:
            dnc = dnc or not granted
        else:
            state[f"consent_{channel}"] = granted
    state["do_not_contact"] = dnc
    Customer.objects.filter(pk=customer.pk).update(**state)
    for name, value in state.items():
        setattr(customer, name, value)
    return state


# --- Notes and feedback ------------------------------------------------------------------


def service_note_add(*, customer: Customer, text: str, by, store: Store | None = None) -> ServiceNote:
    """Keep what staff learned serving this customer (author and date recorded)."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write the note first.")})
    return ServiceNote.objects.create(customer=customer, text=text, author=by, store=store or customer.home_store)


def feedback_record(
    *,
    customer: Customer,
    kind: str,
    reason: str,
    at: dt.datetime,
    by,
    text: str = "",
    ticket: PurchaseTicket | None = None,
    store: Store | None = None,
) -> Feedback:
    """Log a complaint, return or refusal to buy. Complaints start open (they hold back thank-you notes)."""
    if ticket is not None and ticket.customer_id != customer.pk:
        raise ValidationError({"ticket": _("That ticket belongs to someone else.")})
    status = Feedback.Status.OPEN if kind == Feedback.Kind.COMPLAINT else Feedback.Status.CLOSED
    return Feedback.objects.create(
        customer=customer,
        kind=kind,
        reason=reason,
        text=(text or "").strip(),
        ticket=ticket,
        store=store or customer.home_store,
        status=status,
        created_by=by,
        created_at=at,
    )


def feedback_respond(*, feedback: Feedback, response: str, status: str, by, at: dt.datetime) -> Feedback:
    """Record the shop's answer (who and when) and the new status."""
    response = (response or "").strip()
    if status == Feedback.Status.ANSWERED and not response:
        raise ValidationError({"response": _("Write the answer you gave before marking it answered.")})
    feedback.response = response
    feedback.status = status
    fields = ["response", "status"]
    if response:
        feedback.responded_by = by
        feedback.responded_at = at
        fields += ["responded_by", "responded_at"]
    feedback.save(update_fields=fields)
    return feedback


# --- Kiosk PIN ---------------------------------------------------------------------------


def kiosk_pin_set(*, membership: Membership, pin: str) -> None:
    """Store the member's kiosk PIN, hashed like a password."""
    membership.kiosk_pin = make_password(pin)
    membership.save(update_fields=["kiosk_pin"])


def kiosk_pin_matches(*, membership: Membership, pin: str) -> bool:
    return bool(membership.kiosk_pin) and check_password(pin, membership.kiosk_pin)


from .privacy import customer_data_export, customer_erase, customers_merge  # noqa: E402

__all__ = [
    "RECORD_FIELDS",
    "audit_record",
    "consent_record",
    "consent_state_rebuild",
    "customer_create",
    "customer_data_export",
    "customer_erase",
    "customer_signup",
    "customer_tags_set",
    "customer_update",
    "customers_merge",
    "feedback_record",
    "feedback_respond",
    "kiosk_pin_matches",
    "kiosk_pin_set",
    "service_note_add",
    "tags_from_text",
]
