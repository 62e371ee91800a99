"""Emailing a note: render (HTML + text from the same wording), send once, unsubscribe in one click.

Delivery guarantee — the Note row is the truth, Redis only carries wake-ups:

* ``note_email_send`` takes the note's row lock (``SELECT … FOR UPDATE``), checks that the email leg
  is still ``sending``, sends through Django's email backend **while holding the lock**, and sets
  ``email_state="sent"``, ``sent_at`` (and ``status="emailed"`` for email-only notes) in the **same
  transaction**. A duplicated or retried task waits on the lock, then finds ``sent`` and does nothing;
  a task for a note that lost email consent in the meantime sends nothing.
* A worker killed *before* the SMTP server accepted the message rolls the transaction back: the row
  stays ``sending``, the message is redelivered (``acks_late`` + ``reject_on_worker_lost``) or the
  sweeper re-queues it after ``SENDING_LEASE`` — nothing is lost.
* The one window left is a crash *after* the server said "250 accepted" and *before* COMMIT (a few
  milliseconds: the QUIT round trip and the commit). There the row rolls back to ``sending`` and the
  message is sent again: we chose **at-least-once** for that window, because a lost note is invisible
  while a rare duplicate carries the same ``Message-ID`` (derived from the note id), which mail
  clients and MTAs use to fold duplicates. The alternative (mark "sent" first, send after commit)
  would turn every crash during the SMTP conversation — a far wider window — into a silent loss.
"""

import datetime as dt
import logging

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from customers.models import Customer

from .notes_models import EmailState, Note, NoteChannel, NoteStatus

log = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "outreach.unsubscribe"
SENDING_LEASE = dt.timedelta(minutes=15)


def unsubscribe_token(*, customer_id: int, note_id: int | None = None) -> str:
    """A signed, URL-safe token naming the customer (and the note it came with); no expiry on purpose."""
    return signing.dumps({"c": customer_id, "n": note_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_token_read(token: str) -> dict:
    """``{"c": customer id, "n": note id}`` or ``signing.BadSignature``."""
    return signing.loads(token, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("notes:unsubscribe", args=[token])


def unsubscribe_mailto(token: str) -> str:
    address = getattr(settings, "REGULARS_UNSUBSCRIBE_MAILTO", "") or f"unsubscribe@{_from_domain()}"
    return f"mailto:{address}?subject=unsubscribe%20{token}"


def _from_domain() -> str:
    sender = settings.DEFAULT_FROM_EMAIL
    address = sender.split("<")[-1].rstrip(">").strip()
    return address.split("@")[-1] or "localhost"


def message_id(note: Note) -> str:
    return f"<regulars-note-{note.pk}@{_from_domain()}>"


def note_email_message(*, note: Note, connection=None) -> EmailMultiAlternatives:
    """The email for ``note``: text and HTML from the note's wording, with RFC 8058 unsubscribe headers."""
    token = unsubscribe_token(customer_id=note.customer_id, note_id=note.pk)
    context = {
        "note": note,
        "customer": note.customer,
        "store": note.store,
        "voucher": note.voucher,
        "unsubscribe_url": unsubscribe_url(token),
        "rtl": note.language in ("fa", "ar", "he", "ur"),
    }
    with translation.override(note.language or "en"):
        text = render_to_string("outreach/emails/note.txt", context)
        html = render_to_string("outreach/emails/note.html", context)
        subject = note.subject or _("A note from %(store)s") % {"store": note.store.name}
    msg = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[note.customer.email],
        connection=connection,
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url(token)}>, <{unsubscribe_mailto(token)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Message-ID": message_id(note),
            "Auto-Submitted": "auto-generated",
        },
    )
    msg.attach_alternative(html, "text/html")
    return msg


class SendOutcome:
    SENT = "sent"
    NOTHING_TO_DO = "nothing"
    NO_CONSENT = "no_consent"


def note_email_send(*, note_id: int, now: dt.datetime) -> str:
    """Send ``note_id``'s email at most once per successful commit (see the module docstring).

    Raises the backend's exception on a transient failure (the task retries); the transaction rolls
    back, so the row stays ``sending``.
    """
    with transaction.atomic():
        note = (
            Note.objects.select_for_update(of=("self",))
            .select_related("customer", "store", "voucher")
            .filter(pk=note_id)
            .first()
        )
        if note is None or note.email_state != EmailState.SENDING:
            return SendOutcome.NOTHING_TO_DO
        customer: Customer = note.customer
        if not customer.may_contact("email"):
            # Consent withdrawn (or do-not-contact) after queueing: never an email without consent.
            note.email_state = EmailState.FAILED
            note.email_error = "no email consent at send time"
            fields = ["email_state", "email_error"]
            if note.channel == NoteChannel.EMAIL:
                note.status = NoteStatus.CANCELLED
                fields.append("status")
            note.save(update_fields=fields)
            log.info("note %s email not sent: no consent", note.pk)
            return SendOutcome.NO_CONSENT
        note.email_attempts += 1
        connection = get_connection(fail_silently=False)
        note_email_message(note=note, connection=connection).send()
        note.email_state = EmailState.SENT
        note.sent_at = now
        note.email_error = ""
        fields = ["email_state", "sent_at", "email_attempts", "email_error"]
        if note.channel == NoteChannel.EMAIL:
            note.status = NoteStatus.EMAILED
            fields.append("status")
        note.save(update_fields=fields)
        if not note.posted_at:  # the first contact starts the campaign's "did they come back" clock
            from .tasks_dashboard import campaign_results_refresh_later

            campaign_results_refresh_later([note.campaign_id])
    log.info("note %s emailed", note_id)
    return SendOutcome.SENT


def note_email_give_up(*, note_id: int, error: str) -> None:
    """After the last retry: the note shows "could not send" to the manager (the error names no person)."""
    with transaction.atomic():
        note = Note.objects.select_for_update().filter(pk=note_id, email_state=EmailState.SENDING).first()
        if note is None:
            return
        note.email_state = EmailState.FAILED
        note.email_error = error[:300]
        fields = ["email_state", "email_error", "email_attempts"]
        note.email_attempts += 1
        if note.channel == NoteChannel.EMAIL:
            note.status = NoteStatus.FAILED
            fields.append("status")
        note.save(update_fields=fields)


def notes_stuck_sending(*, now: dt.datetime, lease: dt.timedelta = SENDING_LEASE) -> list[int]:
    """Notes whose email has been "sending" for longer than ``lease`` (their wake-up was lost)."""
    return list(
        Note.objects.filter(email_state=EmailState.SENDING, email_queued_at__lt=now - lease)
        .order_by("pk")
        .values_list("pk", flat=True)[:5000]
    )


def notes_sweep(*, now: dt.datetime, lease: dt.timedelta = SENDING_LEASE) -> list[int]:
    """Re-queue stuck notes: bump ``email_queued_at`` (one sweep per lease) and hand back their ids."""
    ids = notes_stuck_sending(now=now, lease=lease)
    if ids:
        Note.objects.filter(pk__in=ids, email_state=EmailState.SENDING).update(email_queued_at=now)
        log.info("notes sweep re-queued %s notes", len(ids))
    return ids


def customer_unsubscribe(*, token: str, at: dt.datetime) -> Customer | None:
    """Withdraw email consent for the token's customer (RFC 8058 one-click or the page's button).

    Recorded through the customer file's consent ledger with source "unsubscribe link" and the
    note it came from, so the withdrawal has provenance. Repeating it changes nothing.
    """
    from customers.models import ConsentSource
    from customers.services import consent_record

    data = unsubscribe_token_read(token)
    customer = Customer.objects.filter(pk=data["c"]).first()
    if customer is None:  # merged away or deleted: nothing left to email
        return None
    note = Note.objects.filter(pk=data.get("n"), customer=customer).select_related("store").first()
    consent_record(
        customer=customer,
        channel="email",
        granted=False,
        source=ConsentSource.UNSUBSCRIBE,
        at=at,
        store=note.store if note else None,
        wording=f"unsubscribe link in note #{note.pk}" if note else "unsubscribe link",
    )
    # Emails still waiting for this customer are not sent (the send re-checks consent, too).
    Note.objects.filter(customer=customer, email_state=EmailState.SENDING).update(
        email_state=EmailState.FAILED, email_error="unsubscribed"
    )
    Note.objects.filter(customer=customer, channel=NoteChannel.EMAIL, status=NoteStatus.SENDING).update(
        status=NoteStatus.CANCELLED
    )
    log.info("customer %s unsubscribed from email", customer.pk)
    return customer
