"""Earning from tickets: once per ticket, rounded down, capped, reversed on returns, referral bonuses."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from customers.signals import send_customer_created, send_tickets_created
from loyalty.models import AppendOnlyError, EntryKind, PointsEntry, ProgramRules
from loyalty.services import LoyaltyError, account_open, points_redeem
from tests.factories import CustomerFactory
from tests.loyalty.conftest import balance_of, earn, ledger_sum, refund, sale

pytestmark = pytest.mark.django_db
AS_OF = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def test_sale_earns_points_rounded_down_per_ticket(chain_rules, store):
    customer = CustomerFactory(home_store=store)
    earn(sale(customer, "25.99"), sale(customer, "10.50"))
    assert balance_of(customer) == 25 + 10
    assert ledger_sum(customer) == 35


def test_ticket_delivered_twice_earns_once(chain_rules, store, django_capture_on_commit_callbacks):
    customer = CustomerFactory(home_store=store)
    ticket = sale(customer, "40.00")
    with django_capture_on_commit_callbacks(execute=True):
        send_tickets_created([ticket.pk])
    with django_capture_on_commit_callbacks(execute=True):
        send_tickets_created([ticket.pk, ticket.pk])
    earn(ticket)
    assert balance_of(customer) == 40
    assert PointsEntry.objects.filter(ticket=ticket, kind=EntryKind.EARN).count() == 1


def test_ticket_below_the_minimum_earns_nothing(chain_rules, store):
    chain_rules.min_ticket = Decimal("20.00")
    chain_rules.save(update_fields=["min_ticket"])
    customer = CustomerFactory(home_store=store)
    earn(sale(customer, "19.99"), sale(customer, "20.00"))
    assert balance_of(customer) == 20


def test_huge_purchase_earns_no_more_than_the_cap_per_ticket(chain_rules, store):
    customer = CustomerFactory(home_store=store)
    earn(sale(customer, "1000000.00"))
    assert balance_of(customer) == chain_rules.cap_per_ticket == 500


def test_tier_multiplier_applies_but_never_lifts_a_ticket_over_the_cap(chain_rules, store, tiers):
    customer = CustomerFactory(home_store=store)
    account = account_open(customer=customer)
    account.tier = tiers["premier"]
    account.tier_until = dt.date(2027, 6, 1)
    account.save(update_fields=["tier", "tier_until"])
    earn(sale(customer, "101.00"))  # 101 × 1.5 = 151.5 → 151
    earn(sale(customer, "900.00"))  # 1350 → capped at 500
    assert balance_of(customer) == 151 + 500


def test_a_store_override_replaces_the_chain_rules(chain_rules, store, other_store):
    ProgramRules.objects.create(store=store, points_per_unit=Decimal("2"), cap_per_ticket=1000)
    here, there = CustomerFactory(home_store=store), CustomerFactory(home_store=other_store)
    earn(sale(here, "30.00"), sale(there, "30.00"))
    assert (balance_of(here), balance_of(there)) == (60, 30)


def test_one_chain_row_only(chain_rules):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProgramRules.objects.create(store=None)


def test_full_refund_takes_back_every_point_the_sale_earned(chain_rules, store):
    customer = CustomerFactory(home_store=store)
    bought = sale(customer, "80.00")
    earn(bought)
    earn(refund(bought, "80.00"))
    assert balance_of(customer) == 0
    reverse = PointsEntry.objects.get(kind=EntryKind.REVERSE)
    assert reverse.points == -80


def test_partial_return_takes_back_the_same_share_and_returns_never_exceed_what_was_earned(chain_rules, store):
    customer = CustomerFactory(home_store=store)
    bought = sale(customer, "100.00")
    earn(bought)
    first = refund(bought, "30.00")
    earn(first)
    assert balance_of(customer) == 70
    second, third = refund(bought, "50.00"), refund(bought, "50.00")  # 130 returned of 100
    earn(second, third)
    earn(first, second, third)  # replays change nothing
    assert balance_of(customer) == 0
    assert ledger_sum(customer) == 0


def test_return_without_the_original_ticket_reverses_nothing(chain_rules, store):
    from tests.factories import TicketFactory

    customer = CustomerFactory(home_store=store)
    earn(sale(customer, "50.00"))
    orphan = TicketFactory(customer=customer, store=store, total=Decimal("-50.00"), is_return=True)
    earn(orphan)
    assert balance_of(customer) == 50


def test_refund_of_points_already_spent_leaves_a_debt_that_blocks_redemption(chain_rules, store, voucher_reward):
    customer = CustomerFactory(home_store=store)
    bought = sale(customer, "300.00")
    earn(bought)
    account = account_open(customer=customer)
    points_redeem(account=account, reward=voucher_reward, store=store, by=None, key="t1", source="counter", as_of=AS_OF)
    earn(refund(bought, "300.00"))
    assert balance_of(customer) == -250
    earn(sale(customer, "260.00"))  # repays the debt first
    assert balance_of(customer) == 10
    with pytest.raises(LoyaltyError) as refused:
        points_redeem(
            account=account, reward=voucher_reward, store=store, by=None, key="t2", source="counter", as_of=AS_OF
        )
    assert refused.value.code == "insufficient"


def test_a_customer_in_debt_cannot_redeem_anything(chain_rules, store):
    from tests.loyalty.conftest import RewardFactory

    cheap = RewardFactory(points_cost=1)
    customer = CustomerFactory(home_store=store)
    bought = sale(customer, "100.00")
    earn(bought)
    points_redeem(
        account=account_open(customer=customer),
        reward=RewardFactory(points_cost=100),
        store=store,
        by=None,
        key="a",
        source="counter",
        as_of=AS_OF,
    )
    earn(refund(bought, "50.00"))
    with pytest.raises(LoyaltyError) as refused:
        points_redeem(
            account=account_open(customer=customer),
            reward=cheap,
            store=store,
            by=None,
            key="b",
            source="counter",
            as_of=AS_OF,
        )
    assert refused.value.code == "debt"


def test_referral_bonus_is_paid_only_on_the_friends_first_purchase(chain_rules, store):
    member = CustomerFactory(home_store=store)
    friend = CustomerFactory(home_store=store, referred_by=member)
    earn(sale(friend, "10.00", at=AS_OF - dt.timedelta(days=10)))
    earn(sale(friend, "10.00", at=AS_OF - dt.timedelta(days=5)))
    assert balance_of(member) == 100
    assert balance_of(friend) == 10 + 20 + 10  # two sales and the friend's bonus once
    assert PointsEntry.objects.filter(kind=EntryKind.REFERRAL).count() == 2


def test_no_referral_bonus_when_the_friend_had_bought_before(chain_rules, store):
    member = CustomerFactory(home_store=store)
    friend = CustomerFactory(home_store=store, referred_by=member)
    sale(friend, "10.00", at=AS_OF - dt.timedelta(days=300))  # before the programme: never earned
    earn(sale(friend, "10.00", at=AS_OF - dt.timedelta(days=5)))
    assert balance_of(member) == 0


def test_welcome_bonus_once_per_new_member_not_for_imports(chain_rules, store, django_capture_on_commit_callbacks):
    joined, imported = CustomerFactory(home_store=store), CustomerFactory(home_store=store)
    with django_capture_on_commit_callbacks(execute=True):
        send_customer_created(joined.pk, "signup")
        send_customer_created(joined.pk, "signup")
        send_customer_created(imported.pk, "import")
    assert balance_of(joined) == 50
    assert balance_of(imported) == 0


def test_ledger_entries_cannot_be_changed_or_deleted(chain_rules, store):
    customer = CustomerFactory(home_store=store)
    (entry,) = earn(sale(customer, "10.00"))
    entry.points = 1000
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    for sql in ("UPDATE loyalty_pointsentry SET points = 1000", "DELETE FROM loyalty_pointsentry"):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsEntry.objects.filter(pk=entry.pk).update(points=1000)
    assert PointsEntry.objects.get(pk=entry.pk).points == 10


def test_database_refuses_a_redemption_below_zero_and_an_entry_without_key(chain_rules, store):
    account = account_open(customer=CustomerFactory(home_store=store))
    base = {
        "account": account,
        "occurred_at": AS_OF,
        "store": store,
        "source": "counter",
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsEntry.objects.create(kind=EntryKind.REDEEM, points=-10, balance_after=-10, key="k1", **base)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsEntry.objects.create(kind=EntryKind.EARN, points=10, balance_after=10, key="", **base)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsEntry.objects.create(kind=EntryKind.EARN, points=-10, balance_after=-10, key="k2", **base)
