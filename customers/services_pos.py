"""Writes for the POS integration: per-store API tokens (managers create and revoke them), and return codes
recorded at the counter on a sale the till already sent."""

import datetime as dt
import logging

from django.db import transaction
from django.utils.translation import gettext as _

from .attribution import (
    ReturnCode,
    anonymous_tickets_join_customer,
    return_code_is_well_formed,
    return_code_normalise,
    return_codes_resolve,
)
from .models import ApiToken, AuditEntry, PurchaseTicket, Store
from .services import audit_record
from .signals import send_tickets_created

logger = logging.getLogger(__name__)


def api_token_create(*, store: Store, name: str, by) -> tuple[ApiToken, str]:
    """Issue a token for ``store``; return it with the raw key, which is shown once and never stored."""
    token, raw = ApiToken.issue(store=store, name=name.strip(), by=by)
    audit_record(actor=by, action=AuditEntry.Action.OTHER, target=token, store=store, details={"api_token": "created"})
    return token, raw


def api_token_revoke(*, token: ApiToken, by, now: dt.datetime) -> ApiToken:
    """Revoke ``token`` from ``now`` on (idempotent: a revoked token stays revoked at its first time)."""
    if token.revoked_at is None:
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=by, action=AuditEntry.Action.OTHER, target=token, store=token.store, details={"api_token": "revoked"}
        )
    return token


class ReturnCodeRefused(Exception):
    """A return code the counter cannot record, with the reason in words for the person at the till."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def return_code_find(*, code: str) -> ReturnCode:
    """The note behind a return (or voucher) code as typed or scanned, or ReturnCodeRefused."""
    presented = return_code_normalise(code)
    found = return_codes_resolve(codes=[presented]).get(presented) if return_code_is_well_formed(presented) else None
    if found is None:
        raise ReturnCodeRefused(_("No note has the return code %(code)s.") % {"code": presented[:16]})
    return found


def ticket_return_code_record(*, stores, number: str, code: str, by) -> PurchaseTicket:
    """Credit the sale ``number`` (the newest with that number in ``stores``) to the note with ``code``.

    The till's rules (customers/attribution.py): the note must be the ticket customer's; an anonymous
    ticket joins the note's customer if the chain allows it. A changed ticket is announced again with
    ``tickets_created``, whose receivers are idempotent, so points and segments see a joined visit and
    the campaign results count the attributed return. Recording the same code twice changes nothing;
    a ticket keeps the first note it was credited to.
    """
    found = return_code_find(code=code)
    number = number.strip()
    with transaction.atomic():
        ticket = (
            PurchaseTicket.objects.select_for_update()
            .filter(store__in=stores, number=number, is_return=False)
            .order_by("-purchased_at", "-pk")
            .first()
        )
        if ticket is None:
            raise ReturnCodeRefused(_("No sale numbered %(number)s in your stores.") % {"number": number[:64]})
        if ticket.customer_id is not None and ticket.customer_id != found.customer_id:
            raise ReturnCodeRefused(
                _("Return code %(code)s belongs to a note to another customer.") % {"code": found.code}
            )
        if ticket.return_code and ticket.return_code != found.code:
            raise ReturnCodeRefused(
                _("Ticket %(number)s already carries return code %(code)s.")
                % {"number": ticket.number, "code": ticket.return_code}
            )
        fields = []
        if not ticket.return_code:
            ticket.return_code = found.code
            fields.append("return_code")
        if ticket.customer_id is None and found.customer_id is not None and anonymous_tickets_join_customer():
            ticket.customer_id = found.customer_id
            fields.append("customer")
        if fields:
            ticket.save(update_fields=fields)
            send_tickets_created([ticket.pk])
    logger.info("return code recorded ticket=%s by=%s fields=%s", ticket.pk, getattr(by, "pk", None), fields)
    return ticket
