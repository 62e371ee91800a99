"""One timeline per customer, assembled from sources other apps can plug in.

A source is ``fn(customer) -> list[TimelineEntry]`` registered once with
``register_timeline_source(fn)``, typically from the app's ``AppConfig.ready``:
loyalty adds points, outreach the notes sent, without the customer file
importing either of them (the import direction stays outreach → loyalty → customers).

Each source returns at most ``SOURCE_LIMIT`` of its newest entries (a query per
source, never one per entry); ``timeline_for`` merges them newest first.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _

SOURCE_LIMIT = 50


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the timeline. ``date`` is an aware datetime (a date is read as midnight UTC)."""

    date: dt.datetime
    kind: str  # "ticket", "return", "note", "feedback", "consent", "points", "outreach", …
    title: str
    detail: str = ""
    url: str = ""

    @property
    def sort_key(self) -> dt.datetime:
        if isinstance(self.date, dt.datetime):
            return self.date
        return dt.datetime.combine(self.date, dt.time.min, tzinfo=dt.UTC)


TimelineSource = Callable[[object], Iterable[TimelineEntry | Mapping]]
_sources: list[TimelineSource] = []


def register_timeline_source(fn: TimelineSource) -> TimelineSource:
    """Add ``fn`` to every customer's timeline (idempotent; usable as a decorator)."""
    if fn not in _sources:
        _sources.append(fn)
    return fn


def unregister_timeline_source(fn: TimelineSource) -> None:
    """Remove ``fn`` (tests that register a source clean up with this)."""
    if fn in _sources:
        _sources.remove(fn)


def _entry(item: TimelineEntry | Mapping) -> TimelineEntry:
    return item if isinstance(item, TimelineEntry) else TimelineEntry(**item)


def timeline_for(customer, *, limit: int = 100) -> list[TimelineEntry]:
    """Every registered source's entries for ``customer``, newest first, at most ``limit``."""
    entries: list[TimelineEntry] = []
    for source in _sources:
        entries.extend(_entry(item) for item in source(customer) or [])
    entries.sort(key=lambda e: e.sort_key, reverse=True)
    return entries[:limit]


# --- The customer file's own sources ---------------------------------------------------


def tickets_source(customer) -> list[TimelineEntry]:
    from django.contrib.humanize.templatetags.humanize import intcomma

    tickets = customer.tickets.select_related("store", "original").order_by("-purchased_at", "-id")[:SOURCE_LIMIT]
    out = []
    for t in tickets:
        amount = f"{intcomma(t.total)} {t.store.currency}"
        if t.is_return:
            title = _("Return of %(amount)s") % {"amount": amount}
            detail = (
                _("Ticket %(number)s at %(store)s, returning %(original)s")
                % {"number": t.number, "store": t.store.name, "original": t.original.number}
                if t.original_id
                else _("Ticket %(number)s at %(store)s") % {"number": t.number, "store": t.store.name}
            )
        else:
            title = _("Bought %(items)s items for %(amount)s") % {"items": t.items, "amount": amount}
            detail = _("Ticket %(number)s at %(store)s") % {"number": t.number, "store": t.store.name}
        out.append(TimelineEntry(t.purchased_at, "return" if t.is_return else "ticket", title, detail))
    return out


def service_notes_source(customer) -> list[TimelineEntry]:
    notes = customer.service_notes.select_related("author").order_by("-created_at", "-id")[:SOURCE_LIMIT]
    return [
        TimelineEntry(
            n.created_at,
            "note",
            _("Note by %(author)s") % {"author": _author(n.author)},
            n.text,
        )
        for n in notes
    ]


def feedback_source(customer) -> list[TimelineEntry]:
    from django.urls import reverse

    items = customer.feedback.select_related("ticket").order_by("-created_at", "-id")[:SOURCE_LIMIT]
    out = []
    for f in items:
        title = f"{f.get_kind_display()} · {f.get_reason_display()} · {f.get_status_display()}"
        detail = f.text
        if f.response:
            detail = f"{detail}\n{_('Our answer')}: {f.response}".strip()
        out.append(TimelineEntry(f.created_at, "feedback", title, detail, reverse("customers:feedback", args=[f.pk])))
    return out


def consent_source(customer) -> list[TimelineEntry]:
    events = customer.consent_events.select_related("by").order_by("-at", "-id")[:SOURCE_LIMIT]
    return [
        TimelineEntry(
            e.at,
            "consent",
            e.summary,
            f"{e.get_source_display()}"
            + (f" · {_author(e.by)}" if e.by_id else "")
            + (f" · “{e.wording}”" if e.wording else ""),
        )
        for e in events
    ]


def _author(user) -> str:
    if user is None:
        return _("someone who left")
    return user.get_full_name() or user.get_username()


BUILTIN_SOURCES = (tickets_source, service_notes_source, feedback_source, consent_source)


def register_builtin_sources() -> None:
    for fn in BUILTIN_SOURCES:
        register_timeline_source(fn)
