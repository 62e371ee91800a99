"""Notes: queue them (one per eligible customer), split them among staff, tick them, print them.

``notes_queue`` is the one writer behind the Celery task, the command and the campaign screen's
"Queue now". It is safe to rerun: the unique (customer, campaign, period) index and the "already"
outcome of the evaluation mean a second run for the same day creates nothing; concurrent runs of
one campaign are serialised by a row lock on the campaign.
"""

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import CharField, Count, Max, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat, Replace
from django.utils import formats, translation
from django.utils.translation import gettext as _

from customers.locales import GREGORIAN, SOLAR_HIJRI, solar_hijri
from customers.models import Customer, PurchaseTicket, ServiceNote, Store

from . import campaigns as cmp
from .campaigns_wording import default_wording, wording_render
from .notes_models import (
    Campaign,
    CampaignKind,
    EmailState,
    HoldoutMember,
    IncentiveKind,
    Note,
    NoteChannel,
    NoteRun,
    NoteStatus,
)
from .split import split_plan, writers_for_stores

log = logging.getLogger(__name__)
DETAIL_CHUNK = 5000
STAFF_PENDING = "\u2063staff\u2063"  # stands for {staff} until the note has a writer


# --- What a note says ------------------------------------------------------------------------------


@dataclass
class NoteDetails:
    store_id: int
    why: str
    context: str
    language: str
    subject: str
    wording: str
    served_by: dict[int, int]


def _gap_words(days: float) -> str:
    if days < 14:
        return _("%(n)s days") % {"n": max(1, round(days))}
    return _("%(n)s weeks") % {"n": round(days / 7)}


def _short_date(day: dt.date, calendar: str = GREGORIAN) -> str:
    return _short_date_in(day, translation.get_language() or "", calendar)


@lru_cache(maxsize=4096)
def _short_date_in(day: dt.date, language: str, calendar: str = GREGORIAN) -> str:
    # Thousands of notes share a few hundred dates: format each once per language and calendar.
    if calendar == SOLAR_HIJRI:
        return solar_hijri(day, language=language)
    return formats.date_format(day, "j M Y")


def _date_in(day: dt.date, language: str, calendar: str) -> str:
    """``day`` in ``language`` (the note's wording), in the store's calendar."""
    with translation.override(language):
        return _short_date(day, calendar)


def _why(
    c: cmp.Candidate, kind: str, campaign: Campaign, local_today: dt.date, currency: str, calendar: str = GREGORIAN
) -> str:
    if kind == CampaignKind.THANK_YOU:
        text = _("%(visits)s visits in the last 12 months") % {"visits": c.window_visits or c.visits or 0}
        if c.best_rank:
            text += " — " + _("no. %(rank)s of our most frequent customers") % {"rank": c.best_rank}
        return text
    if kind == CampaignKind.WIN_BACK:
        parts = [_("%(visits)s visits") % {"visits": c.visits or 0}]
        if c.median_gap_days:
            parts.append(_("usually every %(gap)s") % {"gap": _gap_words(c.median_gap_days)})
        text = ", ".join(parts)
        if c.last_visit:
            ago = (local_today - c.last_visit).days
            text += " — " + _("last visit %(ago)s ago (%(date)s)") % {
                "ago": _gap_words(ago),
                "date": _short_date(c.last_visit, calendar),
            }
        if c.is_at_risk and c.p_alive is not None:
            text += ". " + _("%(p)s%% likely still active") % {"p": round(c.p_alive * 100)}
        return text
    if kind == CampaignKind.BIRTHDAY and c.birthday:
        return _("birthday on %(date)s") % {"date": formats.date_format(c.birthday, "j F")}
    if kind == CampaignKind.BIG_PURCHASE and c.big_total is not None:
        return _("bought for %(amount)s %(currency)s on %(date)s") % {
            "amount": formats.number_format(c.big_total, 0, force_grouping=True),
            "currency": currency,
            "date": _short_date(c.big_at.date(), calendar) if c.big_at else "",
        }
    if kind == CampaignKind.NEW_ARRIVALS:
        return _("likes %(tag)s · %(visits)s visits") % {"tag": campaign.interest_tag, "visits": c.visits or 0}
    return _("%(visits)s visits") % {"visits": c.visits or 0}


def _details(*, campaign: Campaign, decisions: list[cmp.Decision], as_of: dt.datetime) -> dict[int, NoteDetails]:
    """Why, personal context and wording for each contacted customer: a handful of set-based queries."""
    stores = {s.pk: s for s in Store.objects.all()}
    templates = {t.language: (t.subject, t.body) for t in campaign.templates.all()}
    local_today = as_of.astimezone(cmp.campaign_tz(campaign)).date()
    out: dict[int, NoteDetails] = {}
    for start in range(0, len(decisions), DETAIL_CHUNK):
        chunk = decisions[start : start + DETAIL_CHUNK]
        ids = [d.candidate.customer_id for d in chunk]
        store_visits: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        served: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for row in (
            PurchaseTicket.objects.filter(customer_id__in=ids, is_return=False)
            .values("customer_id", "store_id", "served_by_id")
            .annotate(n=Count("id"), last=Max("purchased_at"))
        ):
            store_visits[row["customer_id"]][row["store_id"]] += row["n"]
            if row["served_by_id"]:
                served[row["customer_id"]][row["served_by_id"]] += row["n"]
        last_ticket = PurchaseTicket.objects.filter(customer=OuterRef("pk"), is_return=False).order_by(
            "-purchased_at", "-id"
        )
        last = {
            r["pk"]: r
            for r in Customer.objects.filter(pk__in=ids)
            .annotate(
                last_at=Subquery(last_ticket.values("purchased_at")[:1]),
                last_items=Subquery(last_ticket.values("items")[:1]),
                last_total=Subquery(last_ticket.values("total")[:1]),
                last_store=Subquery(last_ticket.values("store_id")[:1]),
            )
            .values("pk", "last_at", "last_items", "last_total", "last_store")
        }
        tags: dict[int, list[str]] = defaultdict(list)
        for cid, name in Customer.tags.through.objects.filter(customer_id__in=ids).values_list(
            "customer_id", "tag__name"
        ):
            tags[cid].append(name)
        service: dict[int, str] = {}
        for cid, text in (
            ServiceNote.objects.filter(customer_id__in=ids)
            .order_by("customer_id", "-created_at")
            .values_list("customer_id", "text")
        ):
            service.setdefault(cid, text)
        server_ids = {s for d in served.values() for s in d}
        from django.contrib.auth import get_user_model

        names = {
            u.pk: (u.first_name or u.get_username())
            for u in get_user_model().objects.filter(pk__in=server_ids).only("pk", "first_name", "username")
        }
        for d in chunk:
            c = d.candidate
            store = stores[campaign.store_id or c.home_store_id]
            # Why and context are read by the store's staff: written in the store's language.
            with translation.override(store.locale or None):
                fav_id = max(store_visits[c.customer_id].items(), key=lambda kv: (kv[1], -kv[0]), default=(None, 0))[0]
                favourite = stores[fav_id].name if fav_id else stores[c.home_store_id].name
                top_server = max(served[c.customer_id].items(), key=lambda kv: (kv[1], -kv[0]), default=(None, 0))[0]
                lt = last.get(c.customer_id) or {}
                last_at = lt.get("last_at")
                last_local = last_at.astimezone(store.tz).date() if last_at else None
                context_parts = []
                if tags[c.customer_id]:
                    context_parts.append(_("Interests: %(tags)s.") % {"tags": ", ".join(sorted(tags[c.customer_id]))})
                if last_local:
                    context_parts.append(
                        _("Last purchase %(date)s: %(items)s items, %(amount)s %(currency)s.")
                        % {
                            "date": _short_date(last_local, store.calendar),
                            "items": lt.get("last_items") or 0,
                            "amount": formats.number_format(lt.get("last_total") or 0, 0, force_grouping=True),
                            "currency": stores[lt["last_store"]].currency if lt.get("last_store") in stores else "",
                        }
                    )
                if top_server:
                    context_parts.append(_("Usually served by %(name)s.") % {"name": names.get(top_server, "")})
                if service.get(c.customer_id):
                    context_parts.append(_("Note: %(text)s") % {"text": service[c.customer_id][:200]})
                language = cmp.language_for(c, set(templates), store.locale)
                subject, body = (
                    templates.get(language)
                    or default_wording(campaign.kind, language)
                    or (templates.get("en") or default_wording(campaign.kind, "en"))
                )
                months = round((local_today - c.last_visit).days / 30.44) if c.last_visit else ""
                values = {
                    "first_name": c.first_name,
                    "visits": c.window_visits or c.visits or "",
                    "months_since": months,
                    "favourite_store": favourite,
                    "last_purchase": _date_in(last_local, language, store.calendar) if last_local else "",
                    # Nobody served them yet: the writer signs with their own name once the split is known
                    # (an email, written by nobody, is signed by the store).
                    "staff": names.get(top_server)
                    if top_server
                    else (store.name if d.channel != NoteChannel.POST else STAFF_PENDING),
                    "store": store.name,
                }
                out[c.customer_id] = NoteDetails(
                    store_id=store.pk,
                    why=_why(c, campaign.kind, campaign, local_today, store.currency, store.calendar)[:300],
                    context=" ".join(context_parts),
                    language=language,
                    subject=wording_render(subject, values)[:200],
                    wording=wording_render(body, values),
                    served_by=dict(served[c.customer_id]),
                )
    return out


# --- Queue ---------------------------------------------------------------------------------------


def _issue_vouchers(*, campaign: Campaign, notes: list[Note], as_of: dt.datetime) -> int:
    """A single-use gift voucher per note of a campaign with an incentive (idempotent per note)."""
    if campaign.incentive_kind == IncentiveKind.NONE or not notes:
        return 0
    from loyalty.gifts import vouchers_gift_issue_many
    from loyalty.models import Voucher

    customers = Customer.objects.only("pk", "home_store_id").in_bulk([n.customer_id for n in notes])
    by_language: dict[str, list[Note]] = defaultdict(list)
    for n in notes:
        by_language[n.language or "en"].append(n)
    vouchers = {}
    # The voucher's label ("10% off voucher") is printed beside the note: in the note's language.
    for language, group in sorted(by_language.items()):
        with translation.override(language):
            vouchers |= vouchers_gift_issue_many(
                gifts=[(customers[n.customer_id], f"note:{n.pk}") for n in group],
                issued_at=as_of,
                expires_at=as_of + dt.timedelta(days=campaign.incentive_valid_days),
                reward=campaign.incentive_reward if campaign.incentive_kind == IncentiveKind.REWARD else None,
                amount=campaign.incentive_amount if campaign.incentive_kind == IncentiveKind.AMOUNT else None,
                percent=campaign.incentive_percent if campaign.incentive_kind == IncentiveKind.PERCENT else None,
            )
    by_key = {n.pk: vouchers[f"note:{n.pk}"] for n in notes}
    for note in notes:
        note.voucher = by_key[note.pk]
    # One UPDATE joining on the unique gift key (bulk_update's CASE per row is far slower).
    Note.objects.filter(pk__in=list(by_key)).update(
        voucher_id=Subquery(
            Voucher.objects.filter(
                gift_key=Concat(Value("gift:note:"), Cast(OuterRef("pk"), output_field=CharField()))
            ).values("pk")[:1]
        )
    )
    issued = notes
    return len(issued)


def _queue_campaign(
    *, campaign: Campaign, as_of: dt.datetime, now: dt.datetime, run: NoteRun, home_store, taken: set[int]
) -> tuple[dict, list[Note], dict[int, dict[int, int]]]:
    with transaction.atomic():
        # Serialise runs of one campaign: the second waits, then sees the first's notes as "already".
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        ev = cmp.campaign_evaluate(campaign=campaign, as_of=as_of, home_store=home_store, taken=taken)
        contacts = ev.of(cmp.CONTACT)
        details = _details(campaign=campaign, decisions=contacts, as_of=as_of)
        new_notes = []
        for d in contacts:
            det = details[d.candidate.customer_id]
            emails = d.channel in (NoteChannel.EMAIL, NoteChannel.BOTH)
            new_notes.append(
                Note(
                    customer_id=d.candidate.customer_id,
                    campaign=campaign,
                    store_id=det.store_id,
                    kind=campaign.kind,
                    period=ev.period,
                    channel=d.channel,
                    status=NoteStatus.SENDING if d.channel == NoteChannel.EMAIL else NoteStatus.QUEUED,
                    email_state=EmailState.SENDING if emails else EmailState.NONE,
                    email_queued_at=now if emails else None,
                    why=det.why,
                    context=det.context,
                    language=det.language,
                    subject=det.subject,
                    wording=det.wording,
                    queued_at=as_of,
                    run=run,
                )
            )
        created = Note.objects.bulk_create(new_notes, batch_size=1000)
        HoldoutMember.objects.bulk_create(
            [
                HoldoutMember(
                    customer_id=d.candidate.customer_id,
                    campaign=campaign,
                    store_id=campaign.store_id or d.candidate.home_store_id,
                    kind=campaign.kind,
                    period=ev.period,
                    held_at=as_of,
                    run=run,
                )
                for d in ev.of(cmp.HOLDOUT)
            ],
            batch_size=1000,
        )
        _issue_vouchers(campaign=campaign, notes=created, as_of=as_of)
        email_ids = [n.pk for n in created if n.email_state == EmailState.SENDING]
        if email_ids:
            transaction.on_commit(lambda: _dispatch_emails(email_ids))
    taken |= {d.candidate.customer_id for d in contacts}
    prefs = {n.pk: details[n.customer_id].served_by for n in created}
    return ev.summary(), created, prefs


def _dispatch_emails(note_ids: list[int]) -> None:
    from .tasks_notes import note_email_send_task

    for note_id in note_ids:
        note_email_send_task.delay(note_id)


def notes_split(*, notes: list[Note], preferences: dict[int, dict[int, int]]) -> dict[int, int]:
    """Give each handwritten note a writer from its store (see ``outreach.split``); returns note → user."""
    handwritten = [n for n in notes if n.is_handwritten]
    by_store: dict[int, list[Note]] = defaultdict(list)
    for n in handwritten:
        by_store[n.store_id].append(n)
    writers = writers_for_stores(by_store)
    assigned: dict[int, int] = {}
    for store_id, store_notes in by_store.items():
        plan = split_plan(
            note_ids=[n.pk for n in store_notes], staff_ids=writers.get(store_id, []), preferences=preferences
        )
        for n in store_notes:
            if n.pk in plan:
                n.assigned_to_id = plan[n.pk]
        assigned.update(plan)
    by_writer: dict[int, list[int]] = defaultdict(list)
    for note_id, user_id in assigned.items():
        by_writer[user_id].append(note_id)
    for user_id, note_ids in by_writer.items():  # one UPDATE per writer, not one per note
        Note.objects.filter(pk__in=note_ids).update(assigned_to_id=user_id)
    _sign_pending(handwritten)
    return assigned


def _sign_pending(notes: list[Note]) -> None:
    """Put the writer's first name where the wording says {staff} and nobody had served the customer."""
    pending = [n for n in notes if STAFF_PENDING in n.wording or STAFF_PENDING in n.subject]
    if not pending:
        return
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.in_bulk({n.assigned_to_id for n in pending if n.assigned_to_id})
    stores = Store.objects.in_bulk({n.store_id for n in pending})
    groups: dict[str, list[Note]] = defaultdict(list)
    for n in pending:
        user = users.get(n.assigned_to_id)
        groups[(user.first_name or user.get_username()) if user else stores[n.store_id].name].append(n)
    for name, group in groups.items():  # one UPDATE per signer
        for n in group:
            n.wording = n.wording.replace(STAFF_PENDING, name)
            n.subject = n.subject.replace(STAFF_PENDING, name)
        Note.objects.filter(pk__in=[n.pk for n in group]).update(
            wording=Replace("wording", Value(STAFF_PENDING), Value(name)),
            subject=Replace("subject", Value(STAFF_PENDING), Value(name)),
        )


def notes_queue(
    *,
    as_of: dt.datetime,
    store: Store | None = None,
    campaign_ids: list[int] | None = None,
    now: dt.datetime | None = None,
) -> NoteRun:
    """Queue one note per eligible customer for every active campaign (or ``campaign_ids``); count the rest.

    ``store``: that store's campaigns, and chain campaigns for customers whose home store it is.
    Returns the NoteRun with totals and per-campaign counts (created, held out, already, skipped by reason).
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    now = now or as_of
    campaigns = Campaign.objects.filter(is_active=True).select_related("store", "incentive_reward")
    if campaign_ids is not None:
        campaigns = Campaign.objects.filter(pk__in=campaign_ids).select_related("store", "incentive_reward")
    if store is not None:
        campaigns = campaigns.filter(store__isnull=True) | campaigns.filter(store=store)
    run = NoteRun.objects.create(as_of=as_of, store=store, started_at=now)
    taken: set[int] = set()
    all_notes: list[Note] = []
    prefs: dict[int, dict[int, int]] = {}
    counts: dict[str, dict] = {}
    for campaign in cmp.campaigns_in_priority(campaigns):
        home = store if (store is not None and campaign.store_id is None) else None
        summary, created, p = _queue_campaign(
            campaign=campaign, as_of=as_of, now=now, run=run, home_store=home, taken=taken
        )
        counts[str(campaign.pk)] = summary
        all_notes += created
        prefs.update(p)
    # Handwritten notes that an interrupted run committed without a writer (its worker died between a
    # campaign's commit and this split, and the rerun finds them "already" queued) get one now.
    done_ids = {n.pk for n in all_notes}
    leftovers = [
        n
        for n in Note.objects.filter(
            campaign__in=campaigns,
            status=NoteStatus.QUEUED,
            channel__in=[NoteChannel.POST, NoteChannel.BOTH],
            assigned_to__isnull=True,
        )
        if n.pk not in done_ids
    ]
    notes_split(notes=all_notes + leftovers, preferences=prefs)
    from .tasks_dashboard import campaign_results_refresh_later

    campaign_results_refresh_later(int(c) for c, n in counts.items() if n["created"] or n["held_out"])
    run.counts = counts
    run.created = sum(c["created"] for c in counts.values())
    run.held_out = sum(c["held_out"] for c in counts.values())
    run.skipped = sum(sum(c["skipped"].values()) for c in counts.values())
    run.finished_at = now
    run.save(update_fields=["counts", "created", "held_out", "skipped", "finished_at"])
    log.info("notes queued run=%s created=%s held_out=%s skipped=%s", run.pk, run.created, run.held_out, run.skipped)
    return run


# --- Ticks and reassignment -------------------------------------------------------------------------

MARKS = {"written": NoteStatus.WRITTEN, "posted": NoteStatus.POSTED}


def notes_mark(*, notes, action: str, at: dt.datetime) -> int:
    """Tick handwritten notes as written or posted (posted implies written). Returns how many changed.

    ``notes`` must already be scoped to what the person may tick (``notes_selectors``). Email-only,
    cancelled notes and notes already further along are left alone.
    """
    if action not in MARKS:
        raise ValidationError(_("Unknown action."))
    from .tasks_dashboard import campaign_results_refresh_later

    handwritten = notes.filter(channel__in=[NoteChannel.POST, NoteChannel.BOTH])
    with transaction.atomic():
        if action == "written":
            return handwritten.filter(status=NoteStatus.QUEUED).update(status=NoteStatus.WRITTEN, written_at=at)
        campaigns = set(
            handwritten.filter(status__in=[NoteStatus.QUEUED, NoteStatus.WRITTEN]).values_list("campaign_id", flat=True)
        )
        changed = handwritten.filter(status=NoteStatus.QUEUED).update(
            status=NoteStatus.POSTED, written_at=at, posted_at=at
        )
        changed += handwritten.filter(status=NoteStatus.WRITTEN).update(status=NoteStatus.POSTED, posted_at=at)
        # A posted note starts its 60-day "did they come back" clock: the dashboard's results move.
        campaign_results_refresh_later(campaigns)
    return changed


def note_reassign(*, note: Note, to_user_id: int) -> Note:
    """Give ``note`` to another writer of its store (active, not on leave)."""
    if to_user_id not in writers_for_stores([note.store_id]).get(note.store_id, []):
        raise PermissionDenied(_("That person cannot write notes for this store."))
    if note.status not in (NoteStatus.QUEUED, NoteStatus.WRITTEN):
        raise ValidationError(_("Only notes still to write or post can be reassigned."))
    note.assigned_to_id = to_user_id
    note.save(update_fields=["assigned_to"])
    log.info("note %s reassigned to user %s", note.pk, to_user_id)
    return note
