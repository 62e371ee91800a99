"""When two customer records are merged, points and vouchers follow the person."""

import datetime as dt

from django.db.models import Sum

from customers.services import customers_merge
from loyalty.models import PointsEntry, Voucher
from loyalty.services import account_open, points_redeem
from tests.factories import CustomerFactory
from tests.loyalty.conftest import balance_of, earn, ledger_sum, sale


def _lots(customer) -> list[tuple]:
    account = account_open(customer=customer)
    return sorted(
        PointsEntry.objects.filter(account=account, points__gt=0)
        .values("expires_on")
        .annotate(points=Sum("points"))
        .values_list("expires_on", "points")
    )


def test_merge_moves_the_duplicates_points_with_their_expiry_dates(chain_rules, store, manager):
    survivor = CustomerFactory(home_store=store)
    duplicate = CustomerFactory(home_store=store)
    earn(sale(survivor, "120.00", at=dt.datetime(2026, 9, 1, 10, tzinfo=dt.UTC)))
    earn(sale(duplicate, "80.00", at=dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)))
    duplicate_lot_expiry = _lots(duplicate)[0][0]

    customers_merge(survivor=survivor, duplicate=duplicate, by=manager)

    assert balance_of(survivor) == 200 == ledger_sum(survivor)
    assert (duplicate_lot_expiry, 80) in _lots(survivor), "the moved points keep their own expiry (FIFO unchanged)"


def test_merge_hands_the_whole_account_over_when_the_survivor_has_none(chain_rules, store, manager, voucher_reward):
    survivor = CustomerFactory(home_store=store)
    duplicate = CustomerFactory(home_store=store)
    earn(sale(duplicate, "400.00"))
    voucher = points_redeem(
        account=account_open(customer=duplicate), reward=voucher_reward, store=store, by=None, key="v1",
        source="counter", as_of=dt.datetime(2026, 10, 2, tzinfo=dt.UTC),
    )  # fmt: skip
    customers_merge(survivor=survivor, duplicate=duplicate, by=manager)
    assert balance_of(survivor) == 400 - voucher_reward.points_cost
    assert Voucher.objects.get(pk=voucher.pk).account.customer_id == survivor.pk


def test_vouchers_follow_the_person_when_both_have_accounts(chain_rules, store, manager, voucher_reward):
    survivor = CustomerFactory(home_store=store)
    duplicate = CustomerFactory(home_store=store)
    earn(sale(survivor, "10.00"))
    earn(sale(duplicate, "400.00"))
    voucher = points_redeem(
        account=account_open(customer=duplicate), reward=voucher_reward, store=store, by=None, key="v2",
        source="counter", as_of=dt.datetime(2026, 10, 2, tzinfo=dt.UTC),
    )  # fmt: skip
    customers_merge(survivor=survivor, duplicate=duplicate, by=manager)
    assert Voucher.objects.get(pk=voucher.pk).account.customer_id == survivor.pk
    assert balance_of(survivor) == 10 + 400 - voucher_reward.points_cost == ledger_sum(survivor)
