"""Headless Chromium: staff redeem a reward at the counter; managers' loyalty screens render."""

import datetime as dt
from decimal import Decimal

import pytest

from loyalty.models import Voucher
from loyalty.services import OpeningRow, points_opening_post
from tests.factories import CustomerFactory
from tests.loyalty.conftest import RewardFactory, earn, sale

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_find_a_customer_by_card_redeem_a_reward_and_show_the_voucher(
    browser_login, screenshot, staff, chain_rules, store, tiers
):
    customer = CustomerFactory(first_name="Jasur", last_name="Toshmatov", home_store=store)
    points_opening_post(rows=[OpeningRow(1, customer.card_number, 340, dt.date(2026, 1, 10))], by=None)
    RewardFactory(name="5.00 voucher", points_cost=250, amount=Decimal("5.00"))
    RewardFactory(name="Tote bag", kind="gift", amount=None, points_cost=100, stock=3)
    RewardFactory(name="10% off", kind="percent", amount=None, percent=10, points_cost=500)

    page = browser_login(staff)
    page.click("[data-nav=redeem]")
    page.fill("#q", customer.card_number)
    page.click("[data-testid=counter-search] button[type=submit]")
    page.wait_for_selector("[data-testid=points-summary]")
    assert page.locator("[data-testid=points-balance]").inner_text() == "340"
    assert (
        "You have 340 points; 160 more for a 10% off voucher."
        in page.locator("[data-testid=points-plain]").inner_text()
    )
    assert page.locator("[data-testid=eligible-rewards] .card").count() == 2
    screenshot("loyalty-counter-customer")

    page.click("[data-testid=eligible-rewards] >> text=Redeem for 250 points")
    page.wait_for_selector("[data-testid=voucher]")
    voucher = Voucher.objects.get()
    assert page.locator("[data-testid=voucher-code]").inner_text() == voucher.code
    screenshot("loyalty-voucher")
    page.click("text=Back to the customer")
    assert page.locator("[data-testid=points-balance]").inner_text() == "90"


def test_manager_screens_render(browser_login, screenshot, manager, chain_rules, store, tiers):
    customer = CustomerFactory(home_store=store)
    earn(sale(customer, "120.00", at=dt.datetime(2025, 11, 20, 10, tzinfo=dt.UTC)))
    RewardFactory(name="5.00 voucher", points_cost=250, amount=Decimal("5.00"))
    page = browser_login(manager)
    for nav, name in [("rewards", "reward-list"), ("liability", "liability"), ("points-rules", "rules")]:
        page.click("[data-nav=manage]")  # the managers' menu
        page.click(f"[data-nav={nav}]")
        page.wait_for_load_state()
        assert page.locator("h1").count() == 1
        screenshot(f"loyalty-{name}")
    page.goto(f"/loyalty/redeem/{customer.pk}/adjust/")
    screenshot("loyalty-adjust")
