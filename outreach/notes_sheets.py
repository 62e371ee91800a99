"""Notes → printed task sheets: map Note rows onto the renderer's SheetDocument (``outreach.sheets``).

Printing only reads: it never changes a note's status or writer (staff tick notes on screen).
"""

import datetime as dt
from collections import defaultdict

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from customers.locales import store_date
from customers.models import Store

from .notes_models import CampaignKind, Note
from .sheets import Layout, SheetDocument, SheetNote, SheetSection, sheet_render_pdf
from .split import writers_for_stores


def _person(user) -> str:
    if user is None:
        return _("Not assigned yet")
    return user.get_full_name() or user.get_username()


def sheet_note(note: Note) -> SheetNote:
    customer = note.customer
    address = ", ".join(p for p in [customer.postal_address.strip(), customer.city.strip()] if p)
    if customer.city and customer.city.strip() and customer.city.strip() in customer.postal_address:
        address = customer.postal_address.strip()
    incentive = ""
    if note.voucher_id:
        incentive = _("%(label)s, valid until %(date)s") % {
            "label": note.voucher.label,
            "date": store_date(note.voucher.expires_at, note.store, fmt="j M Y"),
        }
    return SheetNote(
        kind=note.kind,
        kind_label=str(CampaignKind(note.kind).label),
        recipient=customer.full_name,
        address=address,
        why=note.why,
        context=note.context,
        wording=note.wording,
        wording_language=note.language or "en",
        incentive=incentive,
        voucher_code=note.voucher.code if note.voucher_id else "",
        return_code=note.return_code if note.voucher_id else "",
        note_id=note.pk,
    )


def notes_sheet_document(*, notes, store: Store, printed_on: dt.date, language: str = "en") -> SheetDocument:
    """One section per writer (in name order), every active writer of the store as a signer."""
    notes = list(notes.select_related("customer", "voucher", "assigned_to", "campaign", "store"))
    writer_ids = writers_for_stores([store.pk]).get(store.pk, [])
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=writer_ids)}
    signers = sorted((_person(u) for u in users.values()), key=str.casefold)
    by_writer: dict[int | None, list[Note]] = defaultdict(list)
    for n in notes:
        by_writer[n.assigned_to_id].append(n)
    sections = []
    store_label = f"{store.name} ({store.code})"
    for _writer, items in sorted(by_writer.items(), key=lambda kv: _person(kv[1][0].assigned_to).casefold()):
        kinds: dict[str, int] = defaultdict(int)
        for n in items:
            kinds[str(CampaignKind(n.kind).label)] += 1
        breakdown = ", ".join(f"{count} {label.lower()}" for label, count in sorted(kinds.items()))
        sections.append(
            SheetSection(
                title=_("Notes to write — %(name)s") % {"name": _person(items[0].assigned_to)},
                subtitle=" · ".join(
                    [
                        store_label,
                        ngettext("%(n)s note (%(kinds)s)", "%(n)s notes (%(kinds)s)", len(items))
                        % {"n": len(items), "kinds": breakdown},
                        _("everyone signs every note"),
                    ]
                ),
                notes=[sheet_note(n) for n in items],
            )
        )
    return SheetDocument(
        store_label=store_label,
        printed_on=printed_on,
        signers=signers,
        sections=sections,
        language=language,
        calendar=store.calendar,
    )


def notes_sheet_pdf(
    *, notes, store: Store, printed_on: dt.date, layout: Layout = "sheet", language: str = "en"
) -> bytes:
    document = notes_sheet_document(notes=notes, store=store, printed_on=printed_on, language=language)
    return sheet_render_pdf(document=document, layout=layout)
