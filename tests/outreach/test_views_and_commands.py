"""The managers' segment page, its JSON status, member lists, the commands and the customer-page badges."""

import csv
import datetime as dt
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from outreach import bgnbd
from outreach.selectors import segment_badges
from outreach.services import segments_refresh
from tests.factories import CustomerFactory, visits
from tests.outreach.conftest import AS_OF_DATE, every

pytestmark = pytest.mark.django_db

DAY_PARAMS = bgnbd.BGNBDParams(r=0.5, alpha=10.0, a=0.8, b=2.5)


@pytest.fixture
def every_12_days_gone_61(store):
    """Came every 12 days ten times, then nothing for 61 days."""
    c = CustomerFactory(first_name="Gulnora", last_name="Karimova", home_store=store)
    visits(c, every(12, since=61, count=10))
    return c


def test_lapsed_regular_badge_says_why(lapsed_regular):
    segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    badges = {b.name: b for b in segment_badges(lapsed_regular)}
    assert badges["lapsed"].label == "lapsed regular"
    assert badges["lapsed"].explanation == "usually every 7 days, 9 weeks since"
    assert "repeat" in badges


def test_at_risk_customer_is_flagged_with_an_explanation(every_12_days_gone_61, best_regular):
    run = segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now(), params=DAY_PARAMS)
    badges = {b.name: b for b in segment_badges(every_12_days_gone_61)}
    assert re.fullmatch(
        r"usually comes every 12 days; 61 days since; \d{1,2} % likely still active", badges["at_risk"].explanation
    )
    assert run.counts["at_risk"] == 1, "the weekly regular seen 3 days ago is not at risk"


def test_refresh_segments_prints_the_count_per_segment(best_regular, lapsed_regular, one_timer, two_visit_customer):
    out = StringIO()
    call_command("refresh_segments", "--as-of", AS_OF_DATE.isoformat(), stdout=out)
    counts = dict(line.split() for line in out.getvalue().splitlines()[1:])
    assert counts["lapsed"] == "1" and counts["one_timer"] == "1" and counts["best"] == "4"
    assert counts["customers"] == "4"


def test_show_segment_lists_members_as_csv(lapsed_regular, best_regular, store):
    out = StringIO()
    call_command(
        "show_segment",
        "lapsed",
        "--as-of",
        AS_OF_DATE.isoformat(),
        "--store",
        store.code,
        "--format",
        "csv",
        stdout=out,
        stderr=StringIO(),
    )
    rows = list(csv.DictReader(StringIO(out.getvalue())))
    assert [r["card"] for r in rows] == [lapsed_regular.card_number]
    assert rows[0]["visits"] == "34" and rows[0]["median_gap_days"] == "7"
    assert rows[0]["last_visit"] == (AS_OF_DATE - dt.timedelta(days=63)).isoformat()


def test_segment_page_shows_sizes_and_the_refresh_button(login, manager, lapsed_regular, best_regular, store):
    segments_refresh(store=store, as_of=AS_OF_DATE, now=timezone.now())
    response = login(manager).get(reverse("outreach:segments"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Refresh segments" in html and "js/segments.js" in html and "<script>" not in html
    assert re.search(r'data-segment="lapsed">.*?js-count">1<', html, re.S)


def test_status_json_reports_progress(login, manager, best_regular, store):
    segments_refresh(store=store, as_of=AS_OF_DATE, now=timezone.now())
    data = login(manager).get(reverse("outreach:status")).json()
    assert data["status"] == "done" and data["percent"] == 100 and data["counts"]["best"] == 1


def test_member_list_shows_only_the_managers_store(login, manager, store, other_store):
    here = CustomerFactory(home_store=store, first_name="Here")
    there = CustomerFactory(home_store=other_store, first_name="There")
    visits(here, every(7, since=2, count=5))
    visits(there, every(7, since=2, count=5))
    segments_refresh(store=store, as_of=AS_OF_DATE, now=timezone.now())
    segments_refresh(store=other_store, as_of=AS_OF_DATE, now=timezone.now())
    html = login(manager).get(reverse("outreach:members", args=["best"])).content.decode()
    assert here.card_number in html and there.card_number not in html


def test_refresh_button_queues_the_task_after_commit(login, manager, store, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = login(manager).post(reverse("outreach:refresh"))
    assert response.status_code == 302 and "after=" in response["Location"]
    assert len(callbacks) == 1


def test_the_customer_page_shows_segment_badges_with_the_reason(lapsed_regular, staff, login):
    segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    html = login(staff).get(lapsed_regular.get_absolute_url()).content.decode()
    assert 'data-testid="segment-badges"' in html
    assert "lapsed regular" in html and "usually every 7 days, 9 weeks since" in html


def test_demo_campaigns_give_the_demo_notes_to_write(best_regular, lapsed_regular, staff, store):
    import io

    from django.core.management import call_command

    from outreach.notes_models import Campaign, Note

    for _ in range(2):
        call_command("load_demo_campaigns", stdout=io.StringIO())
    assert Campaign.objects.filter(store=None).count() == 2
    for customer in (best_regular, lapsed_regular):
        customer.consent_post = True
        customer.save(update_fields=["consent_post"])
    segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    out = io.StringIO()
    call_command("queue_notes", "--as-of", AS_OF_DATE.isoformat(), stdout=out)
    kinds = set(Note.objects.values_list("campaign__kind", flat=True))
    assert kinds == {"thank_you", "win_back"}, out.getvalue()
