"""Did it work? Return rates of contacted customers against the holdout, lift, vouchers, revenue, cost.

A contacted customer **came back** if they bought (a sale, not a return) within ``RETURN_WINDOW_DAYS``
after the note was posted or emailed (whichever came first). A holdout member came back if they
bought within the same window after the day they were held out — the day they would have been
contacted. Only notes actually posted or sent count as contacted; those still on someone's desk do not.

Every figure is kept per (campaign, store) — the store whose staff wrote the note, or the holdout
member's store — so a manager sees their store's part of a chain campaign and nothing of another
store. ``campaign_results_refresh`` writes them into ``CampaignResult`` (set-based: four grouped reads
for all campaigns, driven by the notes); the dashboard reads those rows in one query
(``campaign_results_rows``) and the notes pipeline in one aggregate query (``notes_pipeline``).

The lift is contacted rate − holdout rate; its 95 % confidence interval is the normal (Wald)
interval of a difference of two independent proportions,
``lift ± 1.96 × √(p₁(1 − p₁)/n₁ + p₀(1 − p₀)/n₀)``. It is shown only when both groups have at least
one customer; with small groups it is wide, which is the point: it says when to wait for more data.

Besides that 60-day rule, a return is **attributed** when the till (or the counter screen) recorded the
note's return code on a sale (``PurchaseTicket.return_code``, see customers/attribution.py): the
customer brought the note back. Attributed returns count notes with at least one such sale; attributed
revenue sums those sales, whenever they happened (the code itself is the proof, no window). The
refresh keeps them per (campaign, store) in ``CampaignResult`` like the other figures (a fourth grouped
read, driven by the notes: one probe of the tickets' partial return-code index per note), for the
dashboard's campaign tile; ``campaign_results`` (the campaign page) counts them again on its own, and
``tests/outreach/test_dashboard_outreach.py`` checks that the two agree.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, DateTimeField, DecimalField, Exists, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce, Least

from customers.models import PurchaseTicket

from .notes_models import Campaign, HoldoutMember, Note, NoteChannel, NoteStatus

RETURN_WINDOW_DAYS = 60
Z_95 = 1.96
# A handwritten note still to write or post this many days after it was queued is overdue.
NOTE_DUE_DAYS = 7
ZERO = Decimal("0")


# --- Pure arithmetic ----------------------------------------------------------------------------------


def lift_interval(
    *, contacted: int, contacted_returned: int, holdout: int, holdout_returned: int, z: float = Z_95
) -> tuple[float, float] | None:
    """The (low, high) confidence interval of contacted rate − holdout rate; None without both groups."""
    if not contacted or not holdout:
        return None
    p1, p0 = contacted_returned / contacted, holdout_returned / holdout
    half = z * math.sqrt(p1 * (1 - p1) / contacted + p0 * (1 - p0) / holdout)
    return (p1 - p0 - half, p1 - p0 + half)


@dataclass(frozen=True)
class CampaignResults:
    campaign_id: int
    window_days: int
    contacted: int
    contacted_returned: int
    holdout: int
    holdout_returned: int
    vouchers_issued: int
    vouchers_redeemed: int
    revenue: Decimal  # from contacted customers who came back, within the window
    cost: Decimal  # cost per note × notes contacted
    name: str = ""
    kind: str = ""
    store_ids: tuple[int, ...] = field(default=())
    attributed_returned: int = 0  # notes whose return code a sale carries
    attributed_revenue: Decimal = Decimal("0")  # the sales carrying the campaign's return codes

    @property
    def contacted_rate(self) -> float | None:
        return self.contacted_returned / self.contacted if self.contacted else None

    @property
    def holdout_rate(self) -> float | None:
        return self.holdout_returned / self.holdout if self.holdout else None

    @property
    def lift(self) -> float | None:
        """Percentage points the notes added to the return rate (contacted − holdout), as a fraction."""
        if self.contacted_rate is None or self.holdout_rate is None:
            return None
        return self.contacted_rate - self.holdout_rate

    @property
    def lift_interval(self) -> tuple[float, float] | None:
        return lift_interval(
            contacted=self.contacted,
            contacted_returned=self.contacted_returned,
            holdout=self.holdout,
            holdout_returned=self.holdout_returned,
        )

    # For display: percentages and percentage points, one decimal.
    @property
    def contacted_pct(self) -> float | None:
        return None if self.contacted_rate is None else round(100 * self.contacted_rate, 1)

    @property
    def holdout_pct(self) -> float | None:
        return None if self.holdout_rate is None else round(100 * self.holdout_rate, 1)

    @property
    def lift_points(self) -> float | None:
        return None if self.lift is None else round(100 * self.lift, 1)

    @property
    def lift_points_interval(self) -> tuple[float, float] | None:
        ci = self.lift_interval
        return None if ci is None else (round(100 * ci[0], 1), round(100 * ci[1], 1))

    @property
    def cost_per_returned(self) -> Decimal | None:
        return (self.cost / self.contacted_returned).quantize(Decimal("0.01")) if self.contacted_returned else None

    def __add__(self, other: CampaignResults) -> CampaignResults:
        return replace(
            self,
            contacted=self.contacted + other.contacted,
            contacted_returned=self.contacted_returned + other.contacted_returned,
            holdout=self.holdout + other.holdout,
            holdout_returned=self.holdout_returned + other.holdout_returned,
            vouchers_issued=self.vouchers_issued + other.vouchers_issued,
            vouchers_redeemed=self.vouchers_redeemed + other.vouchers_redeemed,
            revenue=self.revenue + other.revenue,
            cost=self.cost + other.cost,
            attributed_returned=self.attributed_returned + other.attributed_returned,
            attributed_revenue=self.attributed_revenue + other.attributed_revenue,
            store_ids=tuple(sorted(set(self.store_ids) | set(other.store_ids))),
        )


# --- Computing the figures (the refresh job; never on a dashboard request) ---------------------------


def _sales_within(start_field: str, days: int):
    return PurchaseTicket.objects.filter(
        customer=OuterRef("customer_id"),
        is_return=False,
        purchased_at__gt=OuterRef(start_field),
        purchased_at__lte=OuterRef(start_field) + dt.timedelta(days=days),
    )


def _contacted(campaign_ids: list[int] | None):
    notes = Note.objects.filter(Q(posted_at__isnull=False) | Q(sent_at__isnull=False))
    if campaign_ids is not None:
        notes = notes.filter(campaign_id__in=campaign_ids)
    return notes.annotate(
        contact_at=Least(
            Coalesce("posted_at", "sent_at"), Coalesce("sent_at", "posted_at"), output_field=DateTimeField()
        )
    )


def campaign_results_by_store(
    *, campaign_ids: list[int] | None = None, window_days: int = RETURN_WINDOW_DAYS
) -> dict[tuple[int, int], CampaignResults]:
    """Each (campaign, store)'s figures (see the module docstring): four grouped reads, driven by the
    notes and holdout members (index scans of their customers' tickets, or of the coded tickets),
    whatever the ticket count."""
    contacted = _contacted(campaign_ids)
    keys: dict[tuple[int, int], dict] = defaultdict(
        lambda: {
            "contacted": 0,
            "contacted_returned": 0,
            "holdout": 0,
            "holdout_returned": 0,
            "vouchers_issued": 0,
            "vouchers_redeemed": 0,
            "revenue": ZERO,
            "attributed_returned": 0,
            "attributed_revenue": ZERO,
        }
    )
    # Revenue: the sales in each note's window, each sale counted once per campaign — for the latest
    # contact of that customer by the campaign before the sale. Driven by the notes (an index scan of
    # each customer's tickets), never a scan of the tickets table.
    later_contact = _contacted(None).filter(
        campaign_id=OuterRef(OuterRef("campaign_id")),
        customer_id=OuterRef(OuterRef("customer_id")),
        contact_at__gt=OuterRef(OuterRef("contact_at")),
        contact_at__lt=OuterRef("purchased_at"),
    )
    window_sales = (
        _sales_within("contact_at", window_days)
        .filter(~Exists(later_contact))
        .order_by()
        .values("customer_id")
        .annotate(total=Sum("total"))
        .values("total")
    )
    for r in (
        contacted.annotate(
            came_back=Exists(_sales_within("contact_at", window_days)),
            sales=Coalesce(Subquery(window_sales), ZERO, output_field=DecimalField()),
        )
        .values("campaign_id", "store_id")
        .annotate(n=Count("pk"), back=Count("pk", filter=Q(came_back=True)), revenue=Sum("sales"))
        .order_by()
    ):
        keys[(r["campaign_id"], r["store_id"])].update(
            contacted=r["n"], contacted_returned=r["back"], revenue=r["revenue"] or ZERO
        )
    holdout = HoldoutMember.objects.all()
    vouchers = Note.objects.filter(voucher__isnull=False)
    if campaign_ids is not None:
        holdout = holdout.filter(campaign_id__in=campaign_ids)
        vouchers = vouchers.filter(campaign_id__in=campaign_ids)
    for r in (
        holdout.annotate(came_back=Exists(_sales_within("held_at", window_days)))
        .values("campaign_id", "store_id")
        .annotate(n=Count("pk"), back=Count("pk", filter=Q(came_back=True)))
        .order_by()
    ):
        keys[(r["campaign_id"], r["store_id"])].update(holdout=r["n"], holdout_returned=r["back"])
    for r in (
        vouchers.values("campaign_id", "store_id")
        .annotate(n=Count("pk"), used=Count("pk", filter=Q(voucher__use__isnull=False)))
        .order_by()
    ):
        keys[(r["campaign_id"], r["store_id"])].update(vouchers_issued=r["n"], vouchers_redeemed=r["used"])
    # Attributed returns: notes whose return code a sale carries, and those sales (any time). The literal
    # ``return_code <> ''`` lets PostgreSQL use the partial index on the (few) coded tickets.
    coded = PurchaseTicket.objects.filter(is_return=False, return_code=OuterRef("return_code")).exclude(return_code="")
    coded_total = coded.order_by().values("return_code").annotate(s=Sum("total")).values("s")
    attributed = Note.objects.filter(Exists(coded))
    if campaign_ids is not None:
        attributed = attributed.filter(campaign_id__in=campaign_ids)
    for r in (
        attributed.annotate(sales=Coalesce(Subquery(coded_total), ZERO, output_field=DecimalField()))
        .values("campaign_id", "store_id")
        .annotate(n=Count("pk"), revenue=Sum("sales"))
        .order_by()
    ):
        keys[(r["campaign_id"], r["store_id"])].update(attributed_returned=r["n"], attributed_revenue=r["revenue"])
    costs = dict(Campaign.objects.filter(pk__in={c for c, _s in keys}).values_list("pk", "cost_per_note"))
    return {
        (campaign_id, store_id): CampaignResults(
            campaign_id=campaign_id,
            window_days=window_days,
            cost=(costs[campaign_id] * f["contacted"]).quantize(Decimal("0.01")),
            store_ids=(store_id,),
            **f,
        )
        for (campaign_id, store_id), f in keys.items()
    }


def _empty(campaign_id: int, window_days: int = RETURN_WINDOW_DAYS) -> CampaignResults:
    return CampaignResults(
        campaign_id=campaign_id,
        window_days=window_days,
        contacted=0,
        contacted_returned=0,
        holdout=0,
        holdout_returned=0,
        vouchers_issued=0,
        vouchers_redeemed=0,
        revenue=ZERO,
        cost=ZERO,
    )


def campaign_results(
    campaign: Campaign, *, window_days: int = RETURN_WINDOW_DAYS, store_ids: list[int] | None = None
) -> CampaignResults:
    """The campaign's figures, computed now (all stores, or only ``store_ids``)."""
    total = _empty(campaign.pk, window_days)
    for (_c, store_id), r in campaign_results_by_store(campaign_ids=[campaign.pk], window_days=window_days).items():
        if store_ids is None or store_id in store_ids:
            total = total + r
    notes = Note.objects.filter(campaign=campaign).exclude(return_code="")
    if store_ids is not None:
        notes = notes.filter(store_id__in=store_ids)
    coded_sales = PurchaseTicket.objects.filter(is_return=False).exclude(return_code="")
    attributed_returned = notes.filter(Exists(coded_sales.filter(return_code=OuterRef("return_code")))).count()
    attributed_revenue = coded_sales.filter(return_code__in=notes.values("return_code")).aggregate(s=Sum("total"))[
        "s"
    ] or Decimal("0")
    return replace(total, attributed_returned=attributed_returned, attributed_revenue=attributed_revenue)


def campaign_results_refresh(*, now: dt.datetime, campaign_ids: list[int] | None = None) -> int:
    """Recompute ``CampaignResult`` for these campaigns (all when None); returns the rows written.

    Idempotent: rows are upserted, and rows of these campaigns that no longer have figures are
    deleted. Cheap enough to run after every note tick (it reads only the campaigns' notes, holdout
    members and those customers' tickets through the (customer, purchased_at) index).
    """
    from .models import CampaignResult

    figures = campaign_results_by_store(campaign_ids=campaign_ids)
    rows = [
        CampaignResult(
            campaign_id=campaign_id,
            store_id=store_id,
            contacted=r.contacted,
            contacted_returned=r.contacted_returned,
            holdout=r.holdout,
            holdout_returned=r.holdout_returned,
            vouchers_issued=r.vouchers_issued,
            vouchers_redeemed=r.vouchers_redeemed,
            revenue=r.revenue,
            cost=r.cost,
            attributed_returned=r.attributed_returned,
            attributed_revenue=r.attributed_revenue,
            refreshed_at=now,
        )
        for (campaign_id, store_id), r in figures.items()
    ]
    fields = [f.name for f in CampaignResult._meta.concrete_fields if f.name not in ("id", "campaign", "store")]
    with transaction.atomic():
        stale = CampaignResult.objects.all()
        if campaign_ids is not None:
            stale = stale.filter(campaign_id__in=campaign_ids)
        keep = Q()
        for campaign_id, store_id in figures:
            keep |= Q(campaign_id=campaign_id, store_id=store_id)
        (stale.exclude(keep) if figures else stale).delete()
        CampaignResult.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["campaign", "store"], update_fields=fields, batch_size=500
        )
    return len(rows)


# --- Dashboard reads (one query each, whatever the number of notes) ----------------------------------


def campaign_results_rows(*, store_ids: list[int]) -> list[CampaignResults]:
    """Each campaign's precomputed figures summed over ``store_ids`` (one query), by name."""
    from .models import CampaignResult

    rows = (
        CampaignResult.objects.filter(store_id__in=store_ids)
        .values("campaign_id", "campaign__name", "campaign__kind")
        .annotate(
            s_contacted=Sum("contacted"),
            s_contacted_returned=Sum("contacted_returned"),
            s_holdout=Sum("holdout"),
            s_holdout_returned=Sum("holdout_returned"),
            s_vouchers_issued=Sum("vouchers_issued"),
            s_vouchers_redeemed=Sum("vouchers_redeemed"),
            s_revenue=Sum("revenue"),
            s_cost=Sum("cost"),
            s_attributed_returned=Sum("attributed_returned"),
            s_attributed_revenue=Sum("attributed_revenue"),
        )
        .order_by("campaign__name", "campaign_id")
    )
    return [
        CampaignResults(
            campaign_id=r["campaign_id"],
            window_days=RETURN_WINDOW_DAYS,
            contacted=r["s_contacted"],
            contacted_returned=r["s_contacted_returned"],
            holdout=r["s_holdout"],
            holdout_returned=r["s_holdout_returned"],
            vouchers_issued=r["s_vouchers_issued"],
            vouchers_redeemed=r["s_vouchers_redeemed"],
            revenue=r["s_revenue"],
            cost=r["s_cost"],
            attributed_returned=r["s_attributed_returned"],
            attributed_revenue=r["s_attributed_revenue"],
            name=r["campaign__name"],
            kind=r["campaign__kind"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class PipelineRow:
    """One writer's notes: open now (to write, written, overdue) and done in the period (posted, emailed)."""

    user_id: int | None
    name: str  # "" for notes nobody writes yet (or email-only notes, ``email_only``)
    email_only: bool
    queued: int
    written: int
    posted: int
    emailed: int
    overdue: int


OPEN = (NoteStatus.QUEUED, NoteStatus.WRITTEN)
PIPELINE_COUNTS = ("queued", "written", "posted", "emailed", "overdue")


def notes_pipeline(
    *, store_ids: list[int], start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> list[PipelineRow]:
    """Per staff member: notes to write, written (not yet posted), posted and emailed in [start, end), overdue.

    One statement, three branches each grouped by writer: the open notes (the (store, status) index),
    the notes posted in the period and those emailed in it (the partial (store, posted_at) /
    (store, sent_at) indexes). Each index carries the columns its branch counts, so the branches are
    index-only scans: linear in the notes they count (never in the notes ever written) and no
    table read per note. Overdue: still to write or post ``NOTE_DUE_DAYS`` after queueing.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection

    notes, users = Note._meta.db_table, get_user_model()._meta.db_table

    def ts(value):
        return connection.ops.adapt_datetimefield_value(value)

    stores = ", ".join(["%s"] * len(store_ids)) or "NULL"
    # Each branch counts per writer id; only the few grouped rows meet the users table (grouping the
    # notes by the writers' names cost more than reading them).
    sql = f"""
        SELECT n.uid, u.first_name, u.last_name, u.username, sum(n.queued), sum(n.written), sum(n.posted),
               sum(n.emailed), sum(n.overdue), sum(n.not_email)
        FROM (
            SELECT assigned_to_id AS uid, count(*) FILTER (WHERE status = %s) AS queued,
                   count(*) FILTER (WHERE status = %s) AS written, 0 AS posted, 0 AS emailed,
                   count(*) FILTER (WHERE queued_at < %s AND channel <> %s) AS overdue,
                   count(*) FILTER (WHERE channel <> %s) AS not_email
            FROM {notes} WHERE store_id IN ({stores}) AND status IN (%s, %s)
            GROUP BY assigned_to_id
            UNION ALL
            SELECT assigned_to_id, 0, 0, count(*), 0, 0, count(*) FILTER (WHERE channel <> %s)
            FROM {notes}
            WHERE store_id IN ({stores}) AND posted_at IS NOT NULL AND posted_at >= %s AND posted_at < %s
            GROUP BY assigned_to_id
            UNION ALL
            SELECT assigned_to_id, 0, 0, 0, count(*), 0, count(*) FILTER (WHERE channel <> %s)
            FROM {notes}
            WHERE store_id IN ({stores}) AND sent_at IS NOT NULL AND sent_at >= %s AND sent_at < %s
            GROUP BY assigned_to_id
        ) n LEFT JOIN {users} u ON u.id = n.uid
        GROUP BY n.uid, u.first_name, u.last_name, u.username
    """  # nosec B608 - only placeholders are formatted in
    email = NoteChannel.EMAIL.value
    params = [
        NoteStatus.QUEUED.value,
        NoteStatus.WRITTEN.value,
        ts(now - dt.timedelta(days=NOTE_DUE_DAYS)),
        email,
        email,
        *store_ids,
        *[s.value for s in OPEN],
        email,
        *store_ids,
        ts(start),
        ts(end),
        email,
        *store_ids,
        ts(start),
        ts(end),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        keys = ("assigned_to_id", "assigned_to__first_name", "assigned_to__last_name", "assigned_to__username")
        merged = {
            row[0]: {
                **dict(zip(keys, row[:4], strict=True)),
                **{k: int(v or 0) for k, v in zip((*PIPELINE_COUNTS, "not_email"), row[4:], strict=True)},
            }
            for row in cursor.fetchall()
        }
    ordered = sorted(
        merged.values(),
        # Writers by first name then user name; the notes nobody writes (no user) last.
        key=lambda r: (
            r["assigned_to_id"] is None,
            r["assigned_to__first_name"] or "",
            r["assigned_to__username"] or "",
        ),
    )
    out = []
    for r in ordered:
        name = " ".join(p for p in (r["assigned_to__first_name"], r["assigned_to__last_name"]) if p)
        out.append(
            PipelineRow(
                user_id=r["assigned_to_id"],
                name=name or (r["assigned_to__username"] or ""),
                email_only=r["assigned_to_id"] is None and r["not_email"] == 0,
                **{key: r[key] for key in PIPELINE_COUNTS},
            )
        )
    # Rows with nothing to show (an email-only note still queued to send) are left out.
    return [r for r in out if r.queued or r.written or r.posted or r.emailed or r.overdue]
