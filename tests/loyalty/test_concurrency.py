"""Real concurrency against PostgreSQL: threads, each with its own connection, no mocks.

Workers stay at 20 (PostgreSQL here allows 100 connections, shared with other test runs).
"""

import datetime as dt
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.test import Client
from django.urls import reverse

from customers.models import ApiToken
from loyalty.models import EntryKind, PointsEntry, Voucher
from loyalty.services import OpeningRow, account_open, points_earn_for_tickets, points_opening_post
from tests.factories import CustomerFactory
from tests.loyalty.conftest import RewardFactory, sale

pytestmark = pytest.mark.django_db(transaction=True)
WORKERS = 20


def run_in_threads(fn, args_list):
    """Run ``fn(*args)`` for every args on WORKERS threads, in order of ``args_list``.

    Each thread works through its share with its own connection and closes it at the end.
    """
    shares = [list(range(w, len(args_list), WORKERS)) for w in range(WORKERS)]
    results = [None] * len(args_list)

    def work(indices):
        try:
            for i in indices:
                results[i] = fn(*args_list[i])
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(work, shares))
    return results


@pytest.fixture
def pos(chain_rules, store):
    token, raw = ApiToken.issue(store=store, name="Till 1")
    return {"Authorization": f"Token {raw}"}


def funded_customer(store, points: int):
    customer = CustomerFactory(home_store=store)
    points_opening_post(rows=[OpeningRow(1, customer.card_number, points, dt.date(2026, 10, 1))], by=None)
    return customer


def test_200_simultaneous_10_point_redemptions_on_1000_points_exactly_100_succeed(store, pos):
    customer = funded_customer(store, 1000)
    reward = RewardFactory(name="Coffee", kind="gift", amount=None, points_cost=10)
    url = reverse("loyalty_api:redeem", kwargs={"card": customer.card_number})

    def redeem(i):
        response = Client().post(
            url,
            data=json.dumps({"reward": reward.pk}),
            content_type="application/json",
            headers={**pos, "Idempotency-Key": f"till-1-{i}"},
        )
        return response.status_code, response.json()

    results = run_in_threads(redeem, [(i,) for i in range(200)])
    statuses = Counter(code for code, _body in results)
    assert statuses == {201: 100, 409: 100}, statuses
    assert {body["code"] for code, body in results if code == 409} == {"insufficient"}
    account = account_open(customer=customer)
    account.refresh_from_db()
    assert account.balance == 0
    assert account.entries.aggregate(s=Sum("points"))["s"] == 0
    assert account.entries.filter(kind=EntryKind.REDEEM).count() == 100
    assert Voucher.objects.filter(account=account).count() == 100
    assert len({body["voucher"] for code, body in results if code == 201}) == 100
    # A till retrying a request that succeeded gets the same voucher, not a second one.
    first_ok = next(i for i, (code, _b) in enumerate(results) if code == 201)
    replay = Client().post(
        url,
        data=json.dumps({"reward": reward.pk}),
        content_type="application/json",
        headers={**pos, "Idempotency-Key": f"till-1-{first_ok}"},
    )
    assert replay.status_code == 201
    assert replay.json()["voucher"] == results[first_ok][1]["voucher"]
    assert Voucher.objects.filter(account=account).count() == 100


def test_20_simultaneous_uses_of_one_voucher_code_only_one_succeeds(store, pos):
    customer = funded_customer(store, 300)
    reward = RewardFactory(points_cost=250, amount=Decimal("5.00"))
    response = Client().post(
        reverse("loyalty_api:redeem", kwargs={"card": customer.card_number}),
        data=json.dumps({"reward": reward.pk}),
        content_type="application/json",
        headers=pos,
    )
    code = response.json()["voucher"]
    url = reverse("loyalty_api:voucher_use", kwargs={"code": code})

    def use(i):
        return (
            Client()
            .post(url, data=json.dumps({"ticket_number": f"T{i}"}), content_type="application/json", headers=pos)
            .status_code
        )

    statuses = Counter(run_in_threads(use, [(i,) for i in range(20)]))
    assert statuses == {200: 1, 409: 19}, statuses


def test_a_ticket_delivered_by_ten_workers_at_once_earns_once(store, chain_rules):
    customer = CustomerFactory(home_store=store)
    ticket = sale(customer, "75.00")
    run_in_threads(lambda: points_earn_for_tickets(ticket_ids=[ticket.pk]), [()] * 10)
    assert PointsEntry.objects.filter(ticket=ticket, kind=EntryKind.EARN).count() == 1
    account = account_open(customer=customer)
    account.refresh_from_db()
    assert account.balance == 75


def test_database_refuses_a_cached_balance_that_differs_from_the_ledger(store, chain_rules):
    customer = funded_customer(store, 100)
    account = account_open(customer=customer)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE loyalty_account SET balance = 5000 WHERE id = %s", [account.pk])
    account.refresh_from_db()
    assert account.balance == 100
