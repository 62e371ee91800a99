"""Segmentation personas: customers whose visit histories pin each definition (relative to AS_OF)."""

import datetime as dt
from decimal import Decimal

import pytest

from tests.conftest import AS_OF
from tests.factories import CustomerFactory, TicketFactory, visits

AS_OF_DATE = AS_OF.date()  # runs count visits on local days before this date


def days_ago(*offsets: int) -> list[dt.date]:
    return [AS_OF_DATE - dt.timedelta(days=o) for o in offsets]


def every(step: int, *, since: int, count: int) -> list[dt.date]:
    """``count`` visits ``step`` days apart, the newest ``since`` days before AS_OF."""
    return days_ago(*[since + step * i for i in range(count)])


@pytest.fixture
def weekly_regular_absent_5_weeks(store):
    c = CustomerFactory(first_name="Weekly", last_name="Five", home_store=store)
    visits(c, every(7, since=35, count=20))
    return c


@pytest.fixture
def weekly_regular_absent_4_weeks(store):
    """Median gap 7 → 3 × 7 = 21 < 30: the floor keeps a 28-day absence from counting as lapsed."""
    c = CustomerFactory(first_name="Weekly", last_name="Four", home_store=store)
    visits(c, every(7, since=28, count=20))
    return c


@pytest.fixture
def monthly_regular_absent_5_weeks(store):
    c = CustomerFactory(first_name="Monthly", last_name="Five", home_store=store)
    visits(c, every(30, since=35, count=10))
    return c


@pytest.fixture
def recent_tie_visitor(store):
    """Ten visits in the window, the last one 2 days ago."""
    c = CustomerFactory(first_name="Tie", last_name="Recent", home_store=store)
    visits(c, every(20, since=2, count=10))
    return c


@pytest.fixture
def older_tie_visitor(store):
    """Ten visits in the window too, the last one 5 days ago, and a lower id than nobody cares about."""
    c = CustomerFactory(first_name="Tie", last_name="Older", home_store=store)
    visits(c, every(20, since=5, count=10), total=Decimal("900.00"))
    return c


@pytest.fixture
def returner(store):
    """Two sales and, on a third day, only a return: two visits, not three."""
    c = CustomerFactory(first_name="Returns", last_name="Things", home_store=store)
    sales = visits(c, days_ago(100, 60))
    TicketFactory(
        customer=c,
        store=store,
        purchased_at=dt.datetime.combine(AS_OF_DATE - dt.timedelta(days=40), dt.time(12), tzinfo=store.tz),
        total=Decimal("-25.00"),
        is_return=True,
        original=sales[0],
    )
    return c


@pytest.fixture
def triple_ticket_day_customer(store):
    """Three tickets on one local day: one visit."""
    c = CustomerFactory(first_name="Three", last_name="Tickets", home_store=store)
    day = AS_OF_DATE - dt.timedelta(days=50)
    for hour in (9, 13, 19):
        visits(c, [day], hour=hour)
    return c


# Notes: a real local SMTP server (aiosmtpd) for the email tests.
from .smtp_server import smtp_server  # noqa: E402,F401
