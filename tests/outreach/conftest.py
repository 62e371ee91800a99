"""Fixtures for the outreach tests: a store history with the dashboard tables refreshed."""

import datetime as dt

import pytest

from outreach.analytics_dashboard import dashboard_aggregates_refresh, month_chunks


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
