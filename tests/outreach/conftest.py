"""Outreach fixtures: segmentation personas whose visit histories pin each definition (relative to
AS_OF), and a store history with the dashboard tables refreshed."""

import datetime as dt
from decimal import Decimal

import pytest

from outreach.analytics_dashboard import dashboard_aggregates_refresh, month_chunks
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


def generate_chain(
    *, customers: int = 200, seed: int = 7, end: dt.date = AS_OF_DATE, days: int = 800, prefix: str = "GEN"
):
    """A small random chain for agreement tests: two stores in different time zones, regulars and
    one-timers, several tickets on some days, tickets near local midnight, returns, referrals."""
    import random

    from customers.models import Customer, PurchaseTicket
    from tests.factories import StoreFactory

    rnd = random.Random(seed)
    east = StoreFactory(code=f"{prefix}E", time_zone="Asia/Tashkent")
    west = StoreFactory(code=f"{prefix}W", time_zone="America/New_York")
    people = Customer.objects.bulk_create(
        [
            Customer(first_name=f"Gen{i}", last_name="Customer", home_store=east if i % 3 else west)
            for i in range(customers)
        ]
    )
    for i, c in enumerate(people):
        if i > 10 and rnd.random() < 0.15:
            c.referred_by = people[rnd.randrange(0, i)]
    Customer.objects.bulk_update(people, ["referred_by"])
    tickets, n = [], 0
    for c in people:
        kind = rnd.random()
        if kind < 0.25:
            gap, count = None, 1
        else:
            gap, count = rnd.choice([3, 7, 14, 30, 60]), rnd.randint(2, 40)
        day = end - dt.timedelta(days=rnd.randint(-3, days))
        for _ in range(count):
            if day >= end + dt.timedelta(days=3):
                break
            store = c.home_store if rnd.random() < 0.8 else (west if c.home_store == east else east)
            hour = rnd.choice([0, 1, 9, 12, 18, 23])
            when = dt.datetime.combine(day, dt.time(hour, rnd.randint(0, 59)), tzinfo=store.tz)
            for _ in range(1 if rnd.random() < 0.85 else 2):
                n += 1
                total = Decimal(rnd.randint(100, 20000)) / 100
                tickets.append(
                    PurchaseTicket(store=store, number=f"{prefix}{n}", purchased_at=when, total=total, customer=c)
                )
            if rnd.random() < 0.05:
                n += 1
                tickets.append(
                    PurchaseTicket(
                        store=store,
                        number=f"{prefix}{n}",
                        purchased_at=when + dt.timedelta(days=rnd.randint(0, 3)),
                        total=-Decimal("5.00"),
                        customer=c,
                        is_return=True,
                    )
                )
            day -= dt.timedelta(days=max(1, int(rnd.expovariate(1 / gap)))) if gap else dt.timedelta(days=0)
    PurchaseTicket.objects.bulk_create(tickets, batch_size=2000)
    return {"east": east, "west": west, "customers": people, "tickets": len(tickets)}


def refresh(start: dt.date, end: dt.date) -> None:
    for a, b in month_chunks(start, end):
        dashboard_aggregates_refresh(start=a, end=b)


@pytest.fixture
def refreshed_history(store, best_regular, lapsed_regular, two_visit_customer, one_timer):
    """The customer personas, with a year of dashboard tables up to 1 Nov 2026."""
    refresh(dt.date(2025, 10, 1), dt.date(2026, 11, 1))
    return {"best": best_regular, "lapsed": lapsed_regular, "two": two_visit_customer, "one": one_timer}


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


# Notes: a real local SMTP server (aiosmtpd) for the email tests.
from .smtp_server import smtp_server  # noqa: E402,F401


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own (free port, nothing on disk): a broker it may restart or fill."""
    from tests.processes import PrivateRedis

    server = PrivateRedis(tmp_path)
    try:
        yield server
    finally:
        server.stop()
