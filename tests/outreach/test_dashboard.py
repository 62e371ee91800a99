"""The manager dashboard page: scoped, bounded in queries, explains its numbers, follows the filter."""

import datetime as dt
import json

import pytest
from django.urls import reverse

from tests.factories import CustomerFactory, visits
from tests.outreach.conftest import refresh

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:index")


def test_manager_sees_kpi_cards_charts_data_and_tables_in_a_bounded_number_of_queries(
    login, manager, refreshed_history, django_assert_max_num_queries
):
    client = login(manager)
    with django_assert_max_num_queries(12):
        response = client.get(URL, {"start": "2026-08-01", "end": "2026-10-31"})
    assert response.status_code == 200
    html = response.content.decode()
    for key in ("active", "new", "returning", "crr", "average_ticket", "visits_per_month", "ltv", "points_liability"):
        assert f'data-testid="kpi-{key}"' in html
    assert "vs previous period" in html
    data = json.loads(html.split('id="dashboard-data" type="application/json">')[1].split("</script>")[0])
    assert sum(data["visits"]["visits"]) > 0  # the weekly chart has data, also shown as a table
    assert 'data-testid="visits-table"' in html and 'data-testid="cohort-table"' in html
    assert "<script>" not in html.replace('<script id="dashboard-data"', "")  # no inline scripts
    # The slots for segmentation and outreach tiles render nothing until their tables exist.
    assert "data-slot=" not in html


def test_query_count_does_not_grow_with_more_customers(login, manager, store, django_assert_max_num_queries):
    for i in range(30):
        visits(CustomerFactory(home_store=store), [dt.date(2026, 9, 1 + i % 28), dt.date(2026, 10, 1 + i % 28)])
    refresh(dt.date(2026, 9, 1), dt.date(2026, 10, 31))
    client = login(manager)
    with django_assert_max_num_queries(12):
        response = client.get(URL, {"start": "2026-09-01", "end": "2026-10-31"})
    assert response.context["cards"][0]["card"].value == 30


def test_changing_the_period_changes_the_figures(login, manager, refreshed_history):
    client = login(manager)
    short = client.get(URL, {"start": "2026-10-01", "end": "2026-10-31"}).context["weeks"]
    long = client.get(URL, {"start": "2026-05-01", "end": "2026-10-31"}).context["weeks"]
    assert sum(w.visits for w in long) > sum(w.visits for w in short)


def test_manager_cannot_pick_a_store_they_do_not_manage(login, manager, other_store, refreshed_history):
    response = login(manager).get(URL, {"store": other_store.code, "start": "2026-10-01", "end": "2026-10-31"})
    assert response.status_code == 200
    assert other_store not in response.context["flt"].stores
    assert response.context["form"].errors  # told, and shown their own stores instead


def test_an_end_before_the_start_is_explained(login, manager, refreshed_history):
    response = login(manager).get(URL, {"start": "2026-10-31", "end": "2026-10-01"})
    assert "The end date is before the start date." in response.content.decode()


def test_staff_are_refused_the_dashboard(login, staff):
    assert login(staff).get(URL).status_code == 403
