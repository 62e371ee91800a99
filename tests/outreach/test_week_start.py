"""The dashboard's weeks start where the store's locale starts them: Monday in Sofia, Saturday in Tehran."""

import datetime as dt

import pytest

from customers.models import Role
from outreach.analytics_dashboard import visits_by_week
from tests.factories import CustomerFactory, MembershipFactory, StoreFactory, UserFactory, visits

from .conftest import refresh

pytestmark = pytest.mark.django_db

# Fri 2 Oct, Sat 3 Oct, Sun 4 Oct, Mon 5 Oct 2026.
DAYS = [dt.date(2026, 10, 2), dt.date(2026, 10, 3), dt.date(2026, 10, 4), dt.date(2026, 10, 5)]


def _store(code, locale, country, tz, currency="EUR"):
    store = StoreFactory(code=code, locale=locale, country=country, time_zone=tz, currency=currency)
    visits(CustomerFactory(home_store=store), DAYS)
    return store


def test_weeks_start_on_the_day_given():
    store = _store("SOF", "bg", "BG", "Europe/Sofia")
    refresh(dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    span = {"store_ids": [store.pk], "start": dt.date(2026, 10, 1), "end": dt.date(2026, 10, 31)}
    monday = [(w.week, w.visits) for w in visits_by_week(**span) if w.visits]
    saturday = [(w.week, w.visits) for w in visits_by_week(**span, first_weekday=5) if w.visits]
    sunday = [(w.week, w.visits) for w in visits_by_week(**span, first_weekday=6) if w.visits]
    assert monday == [(dt.date(2026, 9, 28), 3), (dt.date(2026, 10, 5), 1)]
    assert saturday == [(dt.date(2026, 9, 26), 1), (dt.date(2026, 10, 3), 3)]
    assert sunday == [(dt.date(2026, 9, 27), 2), (dt.date(2026, 10, 4), 2)]


@pytest.mark.parametrize(
    ("locale", "country", "tz", "currency", "first_week", "words", "average_ticket"),
    [
        ("fa", "IR", "Asia/Tehran", "IRR", dt.date(2026, 9, 26), "شنبه تا جمعه", "\u200eریال\xa025"),
        ("tl", "PH", "Asia/Manila", "PHP", dt.date(2026, 9, 27), "Linggo hanggang Sabado", "₱25.00"),
        ("bg", "BG", "Europe/Sofia", "EUR", dt.date(2026, 9, 28), "понеделник до неделя", "25,00\xa0€"),
    ],
)
def test_the_dashboard_uses_the_store_locales_week_and_money(
    client, locale, country, tz, currency, first_week, words, average_ticket
):
    store = _store("ONE", locale, country, tz, currency)
    manager = UserFactory(username="m")
    MembershipFactory(user=manager, store=store, role=Role.MANAGER)
    refresh(dt.date(2026, 9, 1), dt.date(2026, 10, 31))
    client.force_login(manager)
    client.cookies["django_language"] = locale
    response = client.get("/dashboard/", {"start": "2026-09-01", "end": "2026-10-31"})
    weeks = response.context["weeks"]
    assert [w.week for w in weeks if w.visits][0] == first_week
    assert {w.week.weekday() for w in weeks} == {first_week.weekday()}
    page = response.content.decode()
    assert words in " ".join(page.split())
    assert f'<span dir="ltr" class="money">{average_ticket}</span>' in page  # tickets of 25 each
