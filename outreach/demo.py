"""Campaigns for the demo chain, so `make demo` shows notes to write: chain-wide, a thank-you to the
best customers (no coupon — just thanks) and a win-back for lapsed regulars with 15 % off; each note
goes to the staff of the customer's home store. Idempotent."""

from decimal import Decimal

from customers.models import Store

from .notes_models import Campaign, CampaignKind, ChannelPolicy, IncentiveKind


def demo_campaigns_setup() -> int:
    """Create (once) the chain's two campaigns; return how many campaigns exist."""
    if Store.objects.exists():
        Campaign.objects.get_or_create(
            store=None,
            kind=CampaignKind.THANK_YOU,
            defaults={
                "name": "Thank our best customers",
                "channel_policy": ChannelPolicy.HANDWRITTEN_FIRST,
                "incentive_kind": IncentiveKind.NONE,
                "cost_per_note": Decimal("0"),
            },
        )
        Campaign.objects.get_or_create(
            store=None,
            kind=CampaignKind.WIN_BACK,
            defaults={
                "name": "We missed you",
                "channel_policy": ChannelPolicy.HANDWRITTEN_FIRST,
                "incentive_kind": IncentiveKind.PERCENT,
                "incentive_percent": 15,
                "cost_per_note": Decimal("0"),
            },
        )
    return Campaign.objects.count()
