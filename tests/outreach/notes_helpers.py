"""Builders for the notes tests: segment states written directly (fast), consenting customers, campaigns."""

import datetime as dt
from decimal import Decimal

from customers.models import Feedback
from outreach.models import CustomerSegmentState
from outreach.notes_models import Campaign, CampaignKind, ChannelPolicy, Note, NoteChannel, NoteStatus
from tests.conftest import AS_OF
from tests.factories import CustomerFactory


def consenting(store, **kw):
    """A customer who agreed to post and email, with both addresses."""
    kw.setdefault("consent_post", True)
    kw.setdefault("consent_email", True)
    return CustomerFactory(home_store=store, **kw)


def state(customer, *, scope_key="chain", status="active", ladder="regular", visits=20, last_days_ago=3, **kw):
    """A CustomerSegmentState as segmentation would leave it (without running it)."""
    last = AS_OF.date() - dt.timedelta(days=last_days_ago)
    return CustomerSegmentState.objects.create(
        scope_key=scope_key,
        customer=customer,
        visits=visits,
        tickets=visits,
        first_visit=last - dt.timedelta(days=7 * visits),
        last_visit=last,
        median_gap_days=kw.pop("median_gap_days", 7.0),
        window_visits=kw.pop("window_visits", visits),
        status=status,
        ladder=ladder,
        **kw,
    )


def best(customer, rank=1, **kw):
    return state(customer, is_best=True, best_rank=rank, **kw)


def lapsed(customer, **kw):
    kw.setdefault("last_days_ago", 63)
    return state(customer, status="lapsed", ladder="repeat", **kw)


def campaign(kind=CampaignKind.THANK_YOU, **kw):
    kw.setdefault("name", f"{kind} campaign")
    kw.setdefault("channel_policy", ChannelPolicy.HANDWRITTEN_FIRST)
    kw.setdefault("cost_per_note", Decimal("1.50"))
    if kind == CampaignKind.WIN_BACK:
        kw.setdefault("holdout_percent", Decimal("0"))
    return Campaign.objects.create(kind=kind, **kw)


def open_complaint(customer):
    return Feedback.objects.create(
        customer=customer,
        store=customer.home_store,
        kind=Feedback.Kind.COMPLAINT,
        reason=Feedback.Reason.STAFF,
        created_at=AS_OF - dt.timedelta(days=2),
    )


def coded_note(customer, *, store, code: str) -> Note:
    """A posted win-back note with a known return code (as printed on its card), written by ``store``'s staff."""
    camp = campaign(CampaignKind.WIN_BACK, name=f"Win-back {code}")
    return Note.objects.create(
        customer=customer,
        campaign=camp,
        store=store,
        kind=camp.kind,
        period="2026-10",
        channel=NoteChannel.POST,
        status=NoteStatus.POSTED,
        why="usually every 2 weeks",
        wording="We missed you",
        language="uz",
        queued_at=AS_OF - dt.timedelta(days=22),
        posted_at=AS_OF - dt.timedelta(days=20),
        return_code=code,
    )
