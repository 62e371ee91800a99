"""Screens: the counter flow, adjustments, the customer's plain-words summary, rewards, rules, liability, API."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import ApiToken
from loyalty.analytics import liability_by_store, points_flow_by_month
from loyalty.models import Account, EntryKind, PointsEntry, ProgramRules, Reward, Voucher
from loyalty.selectors import account_summary, timeline_entries
from loyalty.services import OpeningRow, account_open, points_opening_post
from tests.factories import CustomerFactory
from tests.loyalty.conftest import RewardFactory, earn, sale

pytestmark = pytest.mark.django_db


def fund(customer, points, day=dt.date(2026, 10, 1)):
    points_opening_post(rows=[OpeningRow(1, customer.card_number, points, day)], by=None)


def test_plain_words_say_how_many_points_and_how_many_more_for_the_next_reward(chain_rules, store, voucher_reward):
    customer = CustomerFactory(home_store=store)
    fund(customer, 90)
    summary = account_summary(customer=customer, as_of=timezone.now())
    assert summary.plain_words() == "You have 90 points; 160 more for a 5.00 voucher."
    (entry,) = timeline_entries(customer)
    assert (entry["kind"], entry["title"]) == ("points", "Opening balance: +90 points")


def test_scanning_a_card_opens_the_customer_and_staff_redeem_a_reward_once(
    login, staff, chain_rules, store, voucher_reward
):
    customer = CustomerFactory(home_store=store)
    fund(customer, 340)
    client = login(staff)
    response = client.get(reverse("loyalty:counter"), {"q": customer.card_number})
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert "You have 340 points" in page.content.decode()
    nonce = "2f0e3f1c-3b7a-4c55-8c2d-7f9b3b1f0a11"
    url = reverse("loyalty:redeem", args=[customer.pk])
    first = client.post(url, {"reward": voucher_reward.pk, "nonce": nonce})
    again = client.post(url, {"reward": voucher_reward.pk, "nonce": nonce})  # a double tap
    assert first["Location"] == again["Location"]
    assert Voucher.objects.count() == 1
    voucher_page = client.get(first["Location"])
    assert Voucher.objects.get().code in voucher_page.content.decode()
    assert Account.objects.get(customer=customer).balance == 90


def test_staff_cannot_see_a_voucher_of_another_store(login, staff_of_other_store, chain_rules, store, voucher_reward):
    from loyalty.services import points_redeem

    customer = CustomerFactory(home_store=store)
    fund(customer, 300)
    voucher = points_redeem(
        account=account_open(customer=customer),
        reward=voucher_reward,
        store=store,
        by=None,
        key="x",
        source="counter",
        as_of=timezone.now(),
    )
    assert login(staff_of_other_store).get(reverse("loyalty:voucher", args=[voucher.code])).status_code == 404


def test_counter_accepts_a_voucher_once(login, staff, chain_rules, store, voucher_reward):
    from loyalty.services import points_redeem

    customer = CustomerFactory(home_store=store)
    fund(customer, 300)
    voucher = points_redeem(
        account=account_open(customer=customer),
        reward=voucher_reward,
        store=store,
        by=None,
        key="x",
        source="counter",
        as_of=timezone.now(),
    )
    client = login(staff)
    url = reverse("loyalty:voucher_use")
    first = client.post(
        url, {"code": voucher.code.lower(), "nonce": "2f0e3f1c-3b7a-4c55-8c2d-7f9b3b1f0a12"}, follow=True
    )
    assert "accepted" in first.content.decode()
    second = client.post(url, {"code": voucher.code, "nonce": "2f0e3f1c-3b7a-4c55-8c2d-7f9b3b1f0a13"}, follow=True)
    assert "already used" in second.content.decode()


def test_manager_adjusts_with_a_reason(login, manager, chain_rules, store):
    customer = CustomerFactory(home_store=store)
    client = login(manager)
    url = reverse("loyalty:adjust", args=[customer.pk])
    nonce = "2f0e3f1c-3b7a-4c55-8c2d-7f9b3b1f0a14"
    missing = client.post(url, {"points": "25", "reason": "", "nonce": nonce})
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    done = client.post(url, {"points": "25", "reason": "Till was offline on Monday", "nonce": nonce})
    assert done.status_code == 302
    entry = PointsEntry.objects.get(kind=EntryKind.ADJUST)
    assert (entry.points, entry.author_id, entry.reason) == (25, manager.pk, "Till was offline on Monday")


def test_manager_adds_a_reward_and_a_store_override(login, manager, chain_rules, store):
    client = login(manager)
    response = client.post(
        reverse("loyalty:reward_create"),
        {
            "name": "Tote bag",
            "kind": "gift",
            "points_cost": "50",
            "voucher_valid_days": "30",
            "store": store.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Reward.objects.get(name="Tote bag").store == store
    form = client.get(reverse("loyalty:rules_store", args=[store.pk]))
    data = {k: v for k, v in form.context["form"].initial.items() if k in form.context["form"].fields}
    data["points_per_unit"] = "2"
    assert client.post(reverse("loyalty:rules_store", args=[store.pk]), data).status_code == 302
    assert ProgramRules.objects.get(store=store).points_per_unit == Decimal("2")
    client.post(reverse("loyalty:rules_store", args=[store.pk]), {"reset": "1"})
    assert not ProgramRules.objects.filter(store=store).exists()


def test_liability_shows_outstanding_points_value_and_what_expires_soon(chain_rules, store, other_store):
    now = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
    here = CustomerFactory(home_store=store)
    earn(sale(here, "100.00", at=dt.datetime(2025, 11, 20, tzinfo=dt.UTC)))  # expires 2026-11-20
    earn(sale(here, "150.00", at=dt.datetime(2026, 10, 5, tzinfo=dt.UTC)))
    row = {r.store_code: r for r in liability_by_store(stores=[store, other_store], as_of=now)}
    assert (row["CHZ"].points, row["CHZ"].value) == (250, Decimal("5.00"))
    assert row["CHZ"].expiring == {30: 100, 60: 100, 90: 100}
    assert row["YUN"].points == 0
    flow = {m.month: m for m in points_flow_by_month(stores=[store], as_of=now)}
    assert flow[dt.date(2026, 10, 1)].earned == 150


def test_pos_reads_a_card_with_its_eligible_rewards(client, chain_rules, store, other_store, voucher_reward):
    customer = CustomerFactory(home_store=store)
    fund(customer, 340)
    _token, raw = ApiToken.issue(store=store, name="Till")
    _other, other_raw = ApiToken.issue(store=other_store, name="Till")
    url = reverse("loyalty_api:card", args=[customer.card_number])
    body = client.get(url, headers={"Authorization": f"Token {raw}"}).json()
    assert body["balance"] == 340
    assert [r["id"] for r in body["eligible_rewards"]] == [voucher_reward.pk]
    assert body["plain"] == "You have 340 points."
    assert client.get(url, headers={"Authorization": f"Token {other_raw}"}).status_code == 404
    refused = client.post(
        reverse("loyalty_api:redeem", args=[customer.card_number]),
        data=json.dumps({"reward": RewardFactory(points_cost=1000).pk}),
        content_type="application/json",
        headers={"Authorization": f"Token {raw}"},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "insufficient")


def test_points_appear_on_the_customer_timeline(chain_rules, store):
    from customers import timeline

    customer = CustomerFactory(home_store=store)
    fund(customer, 25)
    assert any(e.kind == "points" and "+25" in e.title for e in timeline.timeline_for(customer))


def test_the_customer_page_shows_points_in_plain_words_and_a_redeem_button(chain_rules, store, staff, login):
    customer = CustomerFactory(home_store=store)
    fund(customer, 340)
    RewardFactory(name="Big", points_cost=500, amount=Decimal("10.00"))
    page = login(staff).get(customer.get_absolute_url())
    html = page.content.decode()
    assert "You have 340 points; 160 more for a 10.00 voucher." in html
    assert reverse("loyalty:counter_customer", args=[customer.pk]) in html


def test_points_summary_tag_renders_the_plain_words_for_any_template(chain_rules, store, voucher_reward):
    from django.template import Context, Template

    customer = CustomerFactory(home_store=store)
    fund(customer, 340)
    RewardFactory(name="Big", points_cost=500, amount=Decimal("10.00"))
    html = Template("{% load loyalty_tags %}{% points_summary customer %}").render(Context({"customer": customer}))
    assert "You have 340 points; 160 more for a 10.00 voucher." in html


def test_earning_history_command_earns_each_old_ticket_once(chain_rules, store):
    import io

    from django.core.management import call_command

    from loyalty.models import PointsEntry
    from tests.factories import TicketFactory

    customer = CustomerFactory(home_store=store)
    TicketFactory(customer=customer, store=store, total=Decimal("40.00"))  # no signal: as if loaded by COPY
    call_command("loyalty_earn_history", stdout=io.StringIO())
    call_command("loyalty_earn_history", stdout=io.StringIO())
    assert PointsEntry.objects.filter(account__customer=customer, kind="earn").count() == 1


def test_demo_loyalty_set_up_scales_points_to_each_currency_and_is_idempotent(store):
    import io

    from django.core.management import call_command

    from loyalty.models import Reward, Tier
    from loyalty.selectors import rules_by_store
    from tests.factories import StoreFactory

    euro = StoreFactory(code="SOF", currency="EUR", country="BG", time_zone="Europe/Sofia")
    for _ in range(2):
        call_command("load_demo_loyalty", stdout=io.StringIO())
    rules = rules_by_store([store.pk, euro.pk])
    assert rules[store.pk].points_per_unit == Decimal("0.001")  # a point per 1,000 UZS
    assert rules[euro.pk].points_per_unit == Decimal("1")
    # About 2 % back everywhere: 250 points are worth 2 % of what earned them.
    for sid in (store.pk, euro.pk):
        spend = Decimal(250) / rules[sid].points_per_unit
        assert rules[sid].point_value * 250 == spend * Decimal("0.02")
    assert Reward.objects.filter(store=store).count() == 4 and Tier.objects.count() == 2
