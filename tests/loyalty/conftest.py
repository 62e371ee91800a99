"""Loyalty fixtures: chain rules with round numbers, tiers, rewards, and helpers to post tickets."""

import datetime as dt
from decimal import Decimal

import factory
import pytest

from loyalty.models import ProgramRules, Reward, RewardKind, Tier, TierBasis
from loyalty.services import account_open, points_earn_for_tickets
from tests.factories import TicketFactory

UTC = dt.UTC


class RewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reward

    name = factory.Sequence(lambda n: f"Voucher {n}")
    kind = RewardKind.FIXED
    points_cost = 250
    amount = Decimal("5.00")


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier

    name = factory.Sequence(lambda n: f"Tier {n}")
    rank = factory.Sequence(lambda n: n + 1)
    basis = TierBasis.SPEND
    threshold = Decimal("0")
    earn_multiplier = Decimal("1.00")


@pytest.fixture
def chain_rules(db):
    """1 point per unit, no minimum, cap 500, 250 points = 5.00, 12-month expiry, warn 30 days before."""
    return ProgramRules.objects.create(
        store=None,
        points_per_unit=Decimal("1"),
        min_ticket=Decimal("0"),
        cap_per_ticket=500,
        display_points=250,
        display_value=Decimal("5.00"),
        welcome_bonus=50,
        referral_bonus=100,
        referral_friend_bonus=20,
        birthday_bonus=40,
        expiry_months=12,
        expiry_warning_days=30,
    )


@pytest.fixture
def voucher_reward(chain_rules):
    return RewardFactory(name="5.00 voucher", points_cost=250, amount=Decimal("5.00"))


@pytest.fixture
def tiers(db):
    regular = TierFactory(name="Regular", rank=1, threshold=Decimal("0"), earn_multiplier=Decimal("1.00"))
    premier = TierFactory(
        name="Premier", rank=2, threshold=Decimal("2500"), earn_multiplier=Decimal("1.50"), perks="Free alterations"
    )
    return {"regular": regular, "premier": premier}


def sale(customer, total, *, at=None, store=None, number=None):
    """A sale ticket for ``customer`` (not yet earned)."""
    kwargs = {"customer": customer, "store": store or customer.home_store, "total": Decimal(total)}
    if at is not None:
        kwargs["purchased_at"] = at
    if number is not None:
        kwargs["number"] = number
    return TicketFactory(**kwargs)


def refund(original, total, *, at=None):
    """A return of ``total`` (positive number: the money given back) against ``original``."""
    return TicketFactory(
        customer=original.customer,
        store=original.store,
        total=-Decimal(total),
        is_return=True,
        original=original,
        purchased_at=at or original.purchased_at + dt.timedelta(days=3),
    )


def earn(*tickets):
    return points_earn_for_tickets(ticket_ids=[t.pk for t in tickets])


def balance_of(customer) -> int:
    account = account_open(customer=customer)
    account.refresh_from_db()
    return account.balance


def ledger_sum(customer) -> int:
    from django.db.models import Sum

    account = account_open(customer=customer)
    return account.entries.aggregate(s=Sum("points"))["s"] or 0
