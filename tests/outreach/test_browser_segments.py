"""A manager presses "Refresh segments" in headless Chromium and sees the new sizes."""

import pytest

from crm.celery import app
from tests.factories import CustomerFactory, visits
from tests.outreach.conftest import every

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager_celery():
    """The embedded default: the button's task runs in the web process."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_manager_refreshes_segments_and_sees_the_counts(eager_celery, browser_login, screenshot, manager, store):
    for i in range(3):
        visits(CustomerFactory(home_store=store, first_name=f"Weekly{i}"), every(7, since=40 + i, count=12))
    visits(CustomerFactory(home_store=store, first_name="Once"), every(7, since=90, count=1))
    page = browser_login(manager)
    page.click("[data-nav=segments]")
    assert page.locator("h1").inner_text() == "Segments"
    page.click("[data-testid=refresh-segments]")
    page.wait_for_url("**/segments/")
    page.wait_for_selector("tr[data-segment=lapsed] .js-count")
    assert page.locator("tr[data-segment=lapsed] .js-count").inner_text() == "3"
    assert page.locator("tr[data-segment=one_timer] .js-count").inner_text() == "1"
    screenshot("segments-overview")
    page.click("tr[data-segment=lapsed] a")
    assert page.locator("[data-testid=segment-members] tbody tr").count() == 3
    screenshot("segments-lapsed-members")
