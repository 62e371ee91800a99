"""Did it work? Return rates of contacted customers against the holdout, lift, vouchers, revenue, cost.

A contacted customer **came back** if they bought (a sale, not a return) within ``RETURN_WINDOW_DAYS``
after the note was posted or emailed (whichever came first). A holdout member came back if they
bought within the same window after the day they were held out — the day they would have been
contacted. Only notes actually posted or sent count as contacted; those still on someone's desk do not.

Besides that 60-day rule, a return is **attributed** when the till (or the counter screen) recorded the
note's return code on a sale (``PurchaseTicket.return_code``, see customers/attribution.py): the
customer brought the note back. Attributed returns count notes with at least one such sale; attributed
revenue sums those sales, whenever they happened (the code itself is the proof, no window).
Set-based: one query per figure, however many notes.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DateTimeField, Exists, OuterRef, Q, Sum
from django.db.models.functions import Coalesce, Least

from customers.models import PurchaseTicket

from .notes_models import Campaign, HoldoutMember, Note

RETURN_WINDOW_DAYS = 60


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
        """Percentage points the notes added to the return rate (contacted − holdout)."""
        if self.contacted_rate is None or self.holdout_rate is None:
            return None
        return self.contacted_rate - self.holdout_rate

    @property
    def cost_per_returned(self) -> Decimal | None:
        return (self.cost / self.contacted_returned).quantize(Decimal("0.01")) if self.contacted_returned else None


def _sales_within(start_field: str, days: int):
    return PurchaseTicket.objects.filter(
        customer=OuterRef("customer_id"),
        is_return=False,
        purchased_at__gt=OuterRef(start_field),
        purchased_at__lte=OuterRef(start_field) + dt.timedelta(days=days),
    )


def campaign_results(campaign: Campaign, *, window_days: int = RETURN_WINDOW_DAYS) -> CampaignResults:
    """The campaign's figures (see the module docstring)."""
    contacted = (
        Note.objects.filter(campaign=campaign)
        .filter(Q(posted_at__isnull=False) | Q(sent_at__isnull=False))
        .annotate(
            contact_at=Least(
                Coalesce("posted_at", "sent_at"), Coalesce("sent_at", "posted_at"), output_field=DateTimeField()
            )
        )
    )
    returned = contacted.annotate(came_back=Exists(_sales_within("contact_at", window_days))).filter(came_back=True)
    contacted_n = contacted.count()
    returned_n = returned.count()
    revenue = PurchaseTicket.objects.filter(is_return=False).filter(
        Exists(
            contacted.filter(
                customer_id=OuterRef("customer_id"),
                contact_at__lt=OuterRef("purchased_at"),
                contact_at__gte=OuterRef("purchased_at") - dt.timedelta(days=window_days),
            )
        )
    ).aggregate(s=Sum("total"))["s"] or Decimal("0")
    holdout = HoldoutMember.objects.filter(campaign=campaign)
    holdout_returned = holdout.annotate(came_back=Exists(_sales_within("held_at", window_days))).filter(came_back=True)
    vouchers = Note.objects.filter(campaign=campaign, voucher__isnull=False)
    coded_sales = PurchaseTicket.objects.filter(is_return=False).exclude(return_code="")
    attributed_returned = (
        Note.objects.filter(campaign=campaign)
        .filter(Exists(coded_sales.filter(return_code=OuterRef("return_code"))))
        .count()
    )
    attributed_revenue = coded_sales.filter(
        return_code__in=Note.objects.filter(campaign=campaign).values("return_code")
    ).aggregate(s=Sum("total"))["s"] or Decimal("0")
    return CampaignResults(
        campaign_id=campaign.pk,
        window_days=window_days,
        contacted=contacted_n,
        contacted_returned=returned_n,
        holdout=holdout.count(),
        holdout_returned=holdout_returned.count(),
        vouchers_issued=vouchers.count(),
        vouchers_redeemed=vouchers.filter(voucher__use__isnull=False).count(),
        revenue=revenue,
        cost=(campaign.cost_per_note * contacted_n).quantize(Decimal("0.01")),
        attributed_returned=attributed_returned,
        attributed_revenue=attributed_revenue,
    )


# --- Dashboard seams (outreach.views_dashboard.segment_slots: "campaigns", "notes_pipeline") -------------


def campaigns_slot(*, store_ids: list[int]) -> dict | None:
    """Contacted vs holdout return rates and lift for each campaign of these stores (and the chain's)."""
    from django.db.models import Q

    campaigns = Campaign.objects.filter(Q(store__isnull=True) | Q(store_id__in=store_ids)).order_by("name", "pk")
    rows = [(c, campaign_results(c)) for c in campaigns if c.notes.exists() or c.holdout.exists()]
    if not rows:
        return None
    return {"template": "outreach/notes/dashboard_campaigns.html", "rows": rows}


def notes_pipeline_slot(*, store_ids: list[int]) -> dict | None:
    """Per writer: notes to write, written, posted (handwritten notes of these stores)."""
    from django.db.models import Count, Q

    from .notes_models import NoteChannel, NoteStatus

    rows = list(
        Note.objects.filter(store_id__in=store_ids, channel__in=[NoteChannel.POST, NoteChannel.BOTH])
        .values("assigned_to__first_name", "assigned_to__last_name", "assigned_to__username")
        .annotate(
            queued=Count("pk", filter=Q(status=NoteStatus.QUEUED)),
            written=Count("pk", filter=Q(status=NoteStatus.WRITTEN)),
            posted=Count("pk", filter=Q(status=NoteStatus.POSTED)),
        )
        .order_by("assigned_to__first_name", "assigned_to__username")
    )
    if not rows:
        return None
    return {"template": "outreach/notes/dashboard_pipeline.html", "rows": rows}
