"""Notes reacting to the customer file: timeline entries, merges, erasures and return codes at the till.

Connected once from ``outreach.notes_models`` (imported when the app registry loads), so the
customer file never imports outreach.
"""

from django.db.models import Q
from django.utils.translation import gettext as _


def notes_timeline_source(customer) -> list:
    """Notes posted or emailed to ``customer``, newest first (one query)."""
    from customers.timeline import SOURCE_LIMIT, TimelineEntry

    from .notes_models import Note

    notes = (
        Note.objects.filter(customer=customer)
        .filter(Q(posted_at__isnull=False) | Q(sent_at__isnull=False))
        .select_related("campaign", "assigned_to", "voucher")
        .order_by("-queued_at", "-id")[:SOURCE_LIMIT]
    )
    out = []
    for n in notes:
        kind = n.get_kind_display()
        if n.posted_at:
            who = n.assigned_to.get_full_name() or n.assigned_to.get_username() if n.assigned_to else ""
            title = _("%(kind)s note posted") % {"kind": kind} + (f" · {who}" if who else "")
            out.append(TimelineEntry(n.posted_at, "outreach", title, _note_detail(n)))
        if n.sent_at:
            title = _("%(kind)s email sent") % {"kind": kind}
            out.append(TimelineEntry(n.sent_at, "outreach", title, _note_detail(n)))
    return out


def _note_detail(note) -> str:
    detail = f"{note.campaign.name} · {note.why}"
    if note.voucher_id:
        detail += " · " + _("voucher %(code)s") % {"code": note.voucher.code}
    return detail


def notes_follow_merge(sender, survivor_id: int, duplicate_id: int, **kwargs) -> None:
    """Inside the merge transaction: the duplicate's notes and holdouts move to the survivor.

    Where both had one for the same campaign and period, the survivor's stays (the unique index).
    """
    from .notes_models import HoldoutMember, Note

    for model in (Note, HoldoutMember):
        taken = set(model.objects.filter(customer_id=survivor_id).values_list("campaign_id", "period"))
        dup = model.objects.filter(customer_id=duplicate_id)
        clash = [pk for pk, c, p in dup.values_list("pk", "campaign_id", "period") if (c, p) in taken]
        model.objects.filter(pk__in=clash).delete()
        model.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)


def notes_forget_customer(sender, customer_id: int, **kwargs) -> None:
    """Inside the erasure: the wording and context name the person; blank them (counts stay)."""
    from .notes_models import Note

    Note.objects.filter(customer_id=customer_id).update(why="", context="", wording="", subject="")


def notes_answer_return_codes(sender, codes: frozenset[str], **kwargs) -> dict:
    """``return_codes_lookup``: codes of our notes (or of their gift vouchers) → the note's code and customer."""
    from customers.attribution import ReturnCode

    from .notes_models import Note

    found = {}
    rows = Note.objects.filter(Q(return_code__in=codes) | Q(voucher__code__in=codes)).values_list(
        "return_code", "customer_id", "store_id", "voucher__code"
    )
    for return_code, customer_id, store_id, voucher_code in rows:
        answer = ReturnCode(code=return_code, customer_id=customer_id, store_id=store_id)
        for presented in (return_code, voucher_code):
            if presented in codes:
                found[presented] = answer
    return found


def notes_results_on_anonymous_coded_tickets(sender, ticket_ids: list[int], **kwargs) -> None:
    """``tickets_created``: sales that carry a return code but no customer (a chain that keeps them
    anonymous) refresh their notes' campaign results (after commit, in a worker). One query.

    A ticket with a customer needs nothing here: the dashboard refresh of its customer's campaigns
    (``tasks_dashboard``) counts it, since a code is only accepted on its own customer's ticket.
    """
    from customers.models import PurchaseTicket

    from .notes_models import Note
    from .tasks_dashboard import campaign_results_refresh_later

    coded = PurchaseTicket.objects.filter(pk__in=list(ticket_ids), customer__isnull=True).exclude(return_code="")
    campaign_results_refresh_later(
        Note.objects.filter(return_code__in=coded.values("return_code"))
        .order_by()
        .values_list("campaign_id", flat=True)
        .distinct()
    )


def connect() -> None:
    from customers.signals import customer_erased, customers_merged, return_codes_lookup, tickets_created
    from customers.timeline import register_timeline_source

    register_timeline_source(notes_timeline_source)
    return_codes_lookup.connect(notes_answer_return_codes, dispatch_uid="outreach.notes_answer_return_codes")
    customers_merged.connect(notes_follow_merge, dispatch_uid="outreach.notes_follow_merge")
    customer_erased.connect(notes_forget_customer, dispatch_uid="outreach.notes_forget_customer")
    tickets_created.connect(
        notes_results_on_anonymous_coded_tickets, dispatch_uid="outreach.notes_results_on_anonymous_coded_tickets"
    )
