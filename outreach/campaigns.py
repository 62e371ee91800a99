"""Who a campaign reaches, and why not the others: the one evaluation both the preview and the queue use.

``campaign_evaluate`` reads (never writes): the campaign's candidates (one query, by kind), then
decides for each, in this order, and counts every reason:

1. **do not contact** (the customer asked for nothing);
2. a **channel**: handwritten needs post consent and a postal address, email needs email consent and
   an address (``no_address`` when post was agreed but there is no address and no email alternative;
   ``no_consent`` when no channel the campaign uses was agreed);
3. an **open complaint** (thank-you and big-purchase thanks only: thanking someone whose complaint
   nobody answered is tone-deaf; a win-back is exactly for them);
4. already queued or held out for this campaign and period (a rerun: not counted as skipped);
5. **cooldown**: a note or holdout of the same kind within the campaign's cooldown (thank-you 180 days,
   win-back 90…), or any note within ``MIN_GAP_DAYS`` (30) across campaigns;
6. **holdout**: a deterministic share (hash of customer, campaign and period) is deliberately left
   out, so the return rate with and without a note can be compared.

Held-out customers count for the same-kind cooldown too: otherwise next month's run would contact
them and spoil the comparison.
"""

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Exists, F, FilteredRelation, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Feedback, PurchaseTicket, Store

from . import analytics
from .campaigns_wording import SHIPPED_LANGUAGES
from .models import CHAIN, Ladder, Status
from .notes_models import Campaign, CampaignKind, ChannelPolicy, HoldoutMember, Note, NoteChannel, NoteStatus

DEFAULT_COOLDOWN_DAYS = {
    CampaignKind.THANK_YOU: 180,
    CampaignKind.WIN_BACK: 90,
    CampaignKind.BIRTHDAY: 300,
    CampaignKind.BIG_PURCHASE: 60,
    CampaignKind.NEW_ARRIVALS: 30,
    CampaignKind.MANUAL: 30,
}
DEFAULT_HOLDOUT_PERCENT = {CampaignKind.WIN_BACK: Decimal("10")}
MIN_GAP_DAYS = 30
BIRTHDAY_AHEAD_DAYS = 14
LAPSED_MIN_VISITS = 3  # win-back wants regulars who stopped, never one- or two-time buyers
# When several campaigns want the same person in one run, the earlier kind wins the 30-day gap.
KIND_PRIORITY = [
    CampaignKind.BIRTHDAY,
    CampaignKind.BIG_PURCHASE,
    CampaignKind.WIN_BACK,
    CampaignKind.THANK_YOU,
    CampaignKind.NEW_ARRIVALS,
    CampaignKind.MANUAL,
]
THANKS_KINDS = {CampaignKind.THANK_YOU, CampaignKind.BIG_PURCHASE}

SKIP_REASONS = {
    "do_not_contact": _("do not contact"),
    "no_consent": _("no consent for any channel this campaign uses"),
    "no_address": _("no postal address for a handwritten note"),
    "open_complaint": _("an open complaint"),
    "cooldown": _("contacted recently (cooldown)"),
}

CONTACT, HOLDOUT, SKIP, ALREADY = "contact", "holdout", "skip", "already"


@dataclass(frozen=True)
class Candidate:
    """One person a campaign would reach, with what the note needs (plain values from one query)."""

    customer_id: int
    first_name: str
    last_name: str
    email: str
    postal_address: str
    city: str
    preferred_language: str
    home_store_id: int
    consent_post: bool
    consent_email: bool
    do_not_contact: bool
    open_complaint: bool
    visits: int | None = None
    window_visits: int | None = None
    last_visit: dt.date | None = None
    median_gap_days: float | None = None
    best_rank: int | None = None
    p_alive: float | None = None
    status: str | None = None
    is_at_risk: bool | None = None
    birthday: dt.date | None = None
    big_total: Decimal | None = None
    big_at: dt.datetime | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class Decision:
    candidate: Candidate
    outcome: str  # contact / holdout / skip / already
    reason: str = ""
    channel: str = ""


@dataclass
class Evaluation:
    campaign: Campaign
    as_of: dt.datetime
    period: str
    decisions: list[Decision] = field(default_factory=list)

    def of(self, outcome: str) -> list[Decision]:
        return [d for d in self.decisions if d.outcome == outcome]

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.of(SKIP):
            out[d.reason] = out.get(d.reason, 0) + 1
        return out

    def summary(self) -> dict:
        return {
            "created": len(self.of(CONTACT)),
            "held_out": len(self.of(HOLDOUT)),
            "already": len(self.of(ALREADY)),
            "skipped": self.skipped_by_reason,
        }


# --- Pure helpers -----------------------------------------------------------------------------------


def campaign_tz(campaign: Campaign):
    return campaign.store.tz if campaign.store_id else timezone.get_default_timezone()


def campaign_period(campaign: Campaign, as_of: dt.datetime) -> str:
    """The period a note belongs to: one note per customer, campaign and period.

    Monthly for most kinds; the birthday's year for birthdays; yesterday's date for big purchases.
    """
    local = as_of.astimezone(campaign_tz(campaign)).date()
    if campaign.kind == CampaignKind.BIRTHDAY:
        return f"{(local + dt.timedelta(days=BIRTHDAY_AHEAD_DAYS)).year}"
    if campaign.kind == CampaignKind.BIG_PURCHASE:
        return (local - dt.timedelta(days=1)).isoformat()
    return f"{local:%Y-%m}"


def holdout_bucket(customer_id: int, campaign_id: int, period: str) -> float:
    """A stable number in [0, 100) from customer, campaign and period: below the share → held out."""
    digest = hashlib.sha256(f"{customer_id}:{campaign_id}:{period}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def channel_for(candidate: Candidate, policy: str) -> tuple[str, str]:
    """(channel, "") or ("", skip reason) for a customer under a campaign's channel policy."""
    if candidate.do_not_contact:
        return "", "do_not_contact"
    post_ok = candidate.consent_post and bool(candidate.postal_address.strip())
    email_ok = candidate.consent_email and bool(candidate.email)
    if policy == ChannelPolicy.EMAIL:
        return (NoteChannel.EMAIL, "") if email_ok else ("", "no_consent")
    if policy == ChannelPolicy.BOTH:
        if post_ok and email_ok:
            return NoteChannel.BOTH, ""
        if post_ok:
            return NoteChannel.POST, ""
        if email_ok:
            return NoteChannel.EMAIL, ""
    else:  # handwritten first
        if post_ok:
            return NoteChannel.POST, ""
        if email_ok:
            return NoteChannel.EMAIL, ""
    if candidate.consent_post and not candidate.postal_address.strip():
        return "", "no_address"
    return "", "no_consent"


# --- Candidates --------------------------------------------------------------------------------------

_STATE_FIELDS = {
    "visits": "st__visits",
    "window_visits": "st__window_visits",
    "last_visit": "st__last_visit",
    "median_gap_days": "st__median_gap_days",
    "best_rank": "st__best_rank",
    "status": "st__status",
    "is_at_risk": "st__is_at_risk",
}
_CUSTOMER_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "postal_address",
    "city",
    "preferred_language",
    "home_store_id",
    "consent_post",
    "consent_email",
    "do_not_contact",
    "birthday",
)


def scope_key_of(campaign: Campaign) -> str:
    return f"store:{campaign.store_id}" if campaign.store_id else CHAIN


def campaign_candidates(*, campaign: Campaign, as_of: dt.datetime, home_store: Store | None = None) -> QuerySet:
    """The people ``campaign`` is about (before consent, cooldowns and holdout), as value dicts.

    One query: the customer row, their segment state in the campaign's scope (a filtered LEFT JOIN),
    whether a complaint is open, and for big purchases yesterday's biggest ticket.
    """
    scope = scope_key_of(campaign)
    qs = (
        Customer.objects.active()
        .annotate(st=FilteredRelation("segment_states", condition=Q(segment_states__scope_key=scope)))
        .annotate(
            open_complaint=Exists(Feedback.objects.open_complaints().filter(customer=OuterRef("pk"))),
            **{name: F(path) for name, path in _STATE_FIELDS.items()},
            p_alive=analytics.p_alive_expression(scope_key=scope, prefix="st__"),
        )
    )
    if home_store is not None:
        qs = qs.filter(home_store=home_store)
    local = as_of.astimezone(campaign_tz(campaign)).date()
    kind = campaign.kind
    if kind == CampaignKind.THANK_YOU:
        qs = qs.filter(st__is_best=True).order_by("st__best_rank", "pk")
    elif kind == CampaignKind.WIN_BACK:
        qs = qs.filter(
            Q(st__status=Status.LAPSED)
            | Q(st__is_at_risk=True, st__status=Status.ACTIVE, st__visits__gte=LAPSED_MIN_VISITS),
            st__visits__gte=LAPSED_MIN_VISITS,
        ).order_by("st__last_visit", "pk")
    elif kind == CampaignKind.BIRTHDAY:
        target = local + dt.timedelta(days=BIRTHDAY_AHEAD_DAYS)
        match = Q(birthday__month=target.month, birthday__day=target.day)
        if target.month == 2 and target.day == 28 and not _is_leap(target.year):
            match |= Q(birthday__month=2, birthday__day=29)  # 29 February is celebrated on the 28th
        qs = qs.filter(match)
        if campaign.store_id:
            qs = qs.filter(home_store_id=campaign.store_id)
        qs = qs.order_by("pk")
    elif kind == CampaignKind.BIG_PURCHASE:
        tz = campaign_tz(campaign)
        start = dt.datetime.combine(local - dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        end = dt.datetime.combine(local, dt.time.min, tzinfo=tz)
        tickets = PurchaseTicket.objects.filter(
            customer=OuterRef("pk"),
            is_return=False,
            purchased_at__gte=start,
            purchased_at__lt=end,
            total__gte=campaign.big_purchase_threshold or 0,
        )
        if campaign.store_id:
            tickets = tickets.filter(store_id=campaign.store_id)
        biggest = tickets.order_by("-total", "-purchased_at")
        qs = (
            qs.annotate(
                big_total=Subquery(biggest.values("total")[:1]), big_at=Subquery(biggest.values("purchased_at")[:1])
            )
            .filter(big_total__isnull=False)
            .order_by("-big_total", "pk")
        )
    elif kind == CampaignKind.NEW_ARRIVALS:
        qs = qs.filter(tags__name__iexact=campaign.interest_tag.strip())
        if campaign.store_id:
            qs = qs.filter(home_store_id=campaign.store_id)
        qs = qs.order_by(F("st__visits").desc(nulls_last=True), "pk")[: campaign.top_n]
    elif kind == CampaignKind.MANUAL:
        seg = campaign.filter_segment
        if seg == "best":
            qs = qs.filter(st__is_best=True)
        elif seg == "at_risk":
            qs = qs.filter(st__is_at_risk=True)
        elif seg in Status.values:
            qs = qs.filter(st__status=seg)
        elif seg in Ladder.values:
            qs = qs.filter(st__ladder=seg)
        elif campaign.store_id:
            qs = qs.filter(Q(st__isnull=False) | Q(home_store_id=campaign.store_id))
        if campaign.filter_min_visits:
            qs = qs.filter(st__visits__gte=campaign.filter_min_visits)
        if campaign.interest_tag.strip():
            qs = qs.filter(tags__name__iexact=campaign.interest_tag.strip())
        qs = qs.order_by("pk")
    extra = ("big_total", "big_at") if kind == CampaignKind.BIG_PURCHASE else ()
    return qs.values("pk", *_CUSTOMER_FIELDS, "open_complaint", *_STATE_FIELDS, "p_alive", *extra)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _candidate(row: dict) -> Candidate:
    row = dict(row)
    row["customer_id"] = row.pop("pk")
    return Candidate(**{k: v for k, v in row.items() if k in Candidate.__dataclass_fields__})


# --- Evaluation ---------------------------------------------------------------------------------------


def recently_noted(*, as_of: dt.datetime, days: int, kind: str | None = None) -> set[int]:
    """Customers with a (not cancelled) note — and, for one kind, a holdout — within ``days`` of ``as_of``."""
    since = as_of - dt.timedelta(days=days)
    notes = Note.objects.filter(queued_at__gt=since).exclude(status=NoteStatus.CANCELLED)
    if kind is None:
        return set(notes.values_list("customer_id", flat=True))
    ids = set(notes.filter(kind=kind).values_list("customer_id", flat=True))
    ids |= set(HoldoutMember.objects.filter(kind=kind, held_at__gt=since).values_list("customer_id", flat=True))
    return ids


def campaign_evaluate(
    *,
    campaign: Campaign,
    as_of: dt.datetime,
    home_store: Store | None = None,
    taken: set[int] | None = None,
) -> Evaluation:
    """Decide, for every candidate of ``campaign``, contact / holdout / skip (why) / already. Reads only.

    ``taken``: customers already given a note earlier in the same run (the 30-day gap across campaigns).
    """
    period = campaign_period(campaign, as_of)
    evaluation = Evaluation(campaign=campaign, as_of=as_of, period=period)
    existing = set(Note.objects.filter(campaign=campaign, period=period).values_list("customer_id", flat=True))
    existing |= set(
        HoldoutMember.objects.filter(campaign=campaign, period=period).values_list("customer_id", flat=True)
    )
    same_kind = recently_noted(as_of=as_of, days=campaign.effective_cooldown_days, kind=campaign.kind)
    any_kind = recently_noted(as_of=as_of, days=MIN_GAP_DAYS) | (taken or set())
    share = float(campaign.effective_holdout_percent)
    complaint_blocks = campaign.kind in THANKS_KINDS
    for row in campaign_candidates(campaign=campaign, as_of=as_of, home_store=home_store).iterator(chunk_size=2000):
        c = _candidate(row)
        channel, reason = channel_for(c, campaign.channel_policy)
        if not reason and complaint_blocks and c.open_complaint:
            reason = "open_complaint"
        if reason:
            evaluation.decisions.append(Decision(c, SKIP, reason))
        elif c.customer_id in existing:
            evaluation.decisions.append(Decision(c, ALREADY, channel=channel))
        elif c.customer_id in same_kind or c.customer_id in any_kind:
            evaluation.decisions.append(Decision(c, SKIP, "cooldown"))
        elif share and holdout_bucket(c.customer_id, campaign.pk, period) < share:
            evaluation.decisions.append(Decision(c, HOLDOUT, channel=channel))
        else:
            evaluation.decisions.append(Decision(c, CONTACT, channel=channel))
    return evaluation


@dataclass(frozen=True)
class Preview:
    """What queueing ``campaign`` now would do, for the form's confirmation step."""

    campaign: Campaign
    period: str
    contacted: int
    held_out: int
    already: int
    skipped: list[tuple[str, int]]  # (reason in words, count)
    by_channel: dict[str, int]
    sample: list[str]

    @property
    def skipped_total(self) -> int:
        return sum(n for _, n in self.skipped)


def campaign_preview(*, campaign: Campaign, as_of: dt.datetime, sample_size: int = 10) -> Preview:
    """Counts and a sample of names, without writing anything."""
    ev = campaign_evaluate(campaign=campaign, as_of=as_of)
    contacts = ev.of(CONTACT)
    by_channel: dict[str, int] = {}
    for d in contacts:
        label = str(NoteChannel(d.channel).label)
        by_channel[label] = by_channel.get(label, 0) + 1
    return Preview(
        campaign=campaign,
        period=ev.period,
        contacted=len(contacts),
        held_out=len(ev.of(HOLDOUT)),
        already=len(ev.of(ALREADY)),
        skipped=[(str(SKIP_REASONS[r]), n) for r, n in sorted(ev.skipped_by_reason.items(), key=lambda x: -x[1])],
        by_channel=by_channel,
        sample=[d.candidate.name for d in contacts[:sample_size]],
    )


def campaigns_in_priority(campaigns) -> list[Campaign]:
    rank = {k: i for i, k in enumerate(KIND_PRIORITY)}
    return sorted(campaigns, key=lambda c: (rank.get(c.kind, 99), c.pk))


def language_for(candidate: Candidate, campaign_languages: set[str], store_locale: str) -> str:
    """The customer's language when we have words for it, else the store's, else English."""
    available = set(campaign_languages) | set(SHIPPED_LANGUAGES)
    for code in (candidate.preferred_language, store_locale):
        base = (code or "").split("-")[0].lower()
        if base in available:
            return base
    return "en"
