"""The dashboard's segmentation tiles: the ladder funnel and its movement, segment sizes over time, the
ABC-XYZ matrix and the RFM grid, read from the scope's segment runs in a bounded number of queries."""

import datetime as dt
import json
from collections import Counter

import pytest
from django.core.cache import cache
from django.urls import reverse

from outreach import analytics
from outreach.models import CustomerSegmentState
from outreach.services import segments_refresh
from tests.conftest import AS_OF
from tests.factories import CustomerFactory, visits
from tests.outreach.conftest import AS_OF_DATE
from tests.outreach.conftest import refresh as refresh_tables

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:index")
SECOND = AS_OF_DATE + dt.timedelta(days=3)  # Wednesday 4 Nov 2026: a week after AS_OF's (a Sunday)


def page_data(response) -> dict:
    html = response.content.decode()
    return json.loads(html.split('id="dashboard-data" type="application/json">')[1].split("</script>")[0])


@pytest.fixture
def two_runs(store, best_regular, lapsed_regular, two_visit_customer, one_timer, weekly_regular_absent_4_weeks):
    """Two runs of the store and of the chain, three days apart, with every kind of ladder move between them.

    First run: buyer 1 (one-timer), repeat 2 (lapsed regular, two-visit customer), regular 1 (weekly
    regular, 28 days away: the 30-day floor keeps them), adherent 1 (best regular).
    Then the two-visit customer comes a third time (repeat → regular), a friend the best regular referred
    buys (a new buyer; best regular adherent → advocate), and the weekly regular passes 30 days away
    (lapsed: regular → repeat, a move down).
    """
    runs = {"first": {}, "second": {}}
    for scope in (store, None):
        runs["first"][scope] = segments_refresh(store=scope, as_of=AS_OF_DATE, now=AS_OF)
    visits(two_visit_customer, [AS_OF_DATE])
    friend = CustomerFactory(home_store=store, referred_by=best_regular)
    visits(friend, [AS_OF_DATE + dt.timedelta(days=1)])
    for scope in (store, None):
        runs["second"][scope] = segments_refresh(store=scope, as_of=SECOND, now=AS_OF + dt.timedelta(days=3))
    refresh_tables(dt.date(2026, 8, 1), SECOND)
    runs["friend"] = friend
    return runs


def get(client, end=SECOND, **extra):
    return client.get(URL, {"start": (end - dt.timedelta(days=29)).isoformat(), "end": end.isoformat(), **extra})


def test_funnel_counts_each_rung_and_the_moves_since_the_previous_run(login, manager, two_runs):
    response = get(login(manager))
    tiles = response.context["slots"]["segments"]
    assert tiles.as_of == SECOND and tiles.previous_as_of == AS_OF_DATE
    rungs = {r.name: r for r in tiles.rungs}
    assert {n: r.customers for n, r in rungs.items()} == {
        "buyer": 2,
        "repeat": 2,
        "regular": 1,
        "adherent": 0,
        "advocate": 1,
    }
    assert (tiles.moved_up, tiles.moved_down, tiles.joined) == (2, 1, 1)
    assert (rungs["regular"].up_in, rungs["regular"].down_in, rungs["regular"].out) == (1, 0, 1)
    assert (rungs["repeat"].up_in, rungs["repeat"].down_in, rungs["repeat"].out) == (0, 1, 1)
    assert (rungs["advocate"].up_in, rungs["adherent"].out, rungs["adherent"].net) == (1, 1, -1)
    assert rungs["buyer"].up_in == 1 and rungs["buyer"].net == 1  # the friend, new on the ladder
    data = page_data(response)
    assert data["ladder"]["customers"] == [2, 2, 1, 0, 1]  # funnel order: buyer → advocate
    html = response.content.decode()
    assert 'data-testid="ladder-table"' in html and 'id="chart-ladder"' in html
    assert "2 moved up" in html and "1 moved down" in html


def test_a_period_ending_before_the_second_run_shows_the_first(login, manager, two_runs):
    tiles = get(login(manager), end=AS_OF_DATE - dt.timedelta(days=1)).context["slots"]["segments"]
    assert tiles.as_of == AS_OF_DATE and tiles.previous_as_of is None
    assert [r.customers for r in tiles.rungs] == [1, 2, 1, 1, 0]
    assert (tiles.moved_up, tiles.moved_down) == (0, 0)


def test_segment_sizes_are_one_point_per_week_from_the_runs(login, manager, two_runs, store):
    response = get(login(manager))
    sizes = response.context["slots"]["segments"].sizes
    assert [p["as_of"] for p in sizes] == [AS_OF_DATE, SECOND]
    first, second = (p["counts"] for p in sizes)
    assert (first["lapsed"], first["one_timer"], first["active"]) == (1, 1, 3)
    assert (second["lapsed"], second["one_timer"], second["new"], second["active"]) == (2, 1, 1, 2)
    series = {s["key"]: s["data"] for s in page_data(response)["segment_sizes"]["series"]}
    assert series["lapsed"] == [1, 2] and series["new"] == [0, 1]
    assert series["best"] == [r.counts["best"] for r in (two_runs["first"][store], two_runs["second"][store])]


def test_abc_xyz_and_rfm_cells_match_the_state_table(login, manager, two_runs, store):
    response = get(login(manager))
    tiles = response.context["slots"]["segments"]
    states = list(CustomerSegmentState.objects.filter(scope_key=f"store:{store.pk}"))
    cuts = two_runs["second"][store].rank_cuts
    scores = {s.pk: analytics.rank_scores(s, cuts) for s in states}  # (R, F, M, ABC) from the run's cuts
    expected_abc = Counter(scores[s.pk][3] + s.xyz for s in states if scores[s.pk][3] and s.xyz)
    shown_abc = {a["abc"] + c["xyz"]: c["n"] for a in tiles.abc_xyz for c in a["cells"]}
    assert sum(expected_abc.values()) > 0
    assert shown_abc == {k: expected_abc.get(k, 0) for k in shown_abc} and len(shown_abc) == 9
    cells = {(row["r"], c["f"]): c for row in tiles.rfm for c in row["cells"]}
    expected_n = Counter(scores[s.pk][:2] for s in states)
    assert {k: c["n"] for k, c in cells.items() if c["n"]} == dict(expected_n)
    for (r, f), n in expected_n.items():
        ms = [scores[s.pk][2] for s in states if scores[s.pk][:2] == (r, f)]
        assert cells[(r, f)]["m"] == round(sum(ms) / n, 1)
    assert [row["r"] for row in tiles.rfm] == [5, 4, 3, 2, 1]
    html = response.content.decode()
    assert 'data-testid="abc-xyz-table"' in html and 'data-testid="rfm-table"' in html


def test_the_owners_all_stores_view_reads_the_chain_runs(login, owner, two_runs, other_store):
    response = get(login(owner))
    tiles = response.context["slots"]["segments"]
    assert tiles.run_id == two_runs["second"][None].pk
    one_store = get(login(owner), store=two_runs["friend"].home_store.code).context["slots"]["segments"]
    assert one_store.run_id == two_runs["second"][two_runs["friend"].home_store].pk


def test_without_a_run_the_page_says_how_to_get_one(login, manager, store):
    html = get(login(manager)).content.decode()
    assert "No segmentation run yet — a manager can run it from the Segments page." in html
    assert "data-slot=" not in html


def test_the_page_stays_within_twelve_queries_with_segment_tiles(
    login, manager, owner, other_store, two_runs, django_assert_max_num_queries
):
    for user, extra in ((manager, {}), (owner, {}), (owner, {"store": other_store.code})):
        cache.clear()  # cold: the cached visitor counts would hide a query
        client = login(user)
        with django_assert_max_num_queries(12):
            response = get(client, **extra)
        assert response.status_code == 200
    assert response.context["slots"]["segments_missing"]  # the other store has no run of its own


def test_query_count_does_not_grow_with_more_runs_or_customers(
    login, manager, store, two_runs, django_assert_num_queries
):
    cache.clear()
    client = login(manager)
    # 31 days: a 30-day period reads its visitors from StoreDay when the end day has a row, one
    # query fewer, which the new visits below would change; the longest path is the one compared.
    month = {"start": (SECOND - dt.timedelta(days=30)).isoformat()}
    get(client, **month)
    cache.clear()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as before:
        get(client, **month)
    for i in range(20):
        visits(CustomerFactory(home_store=store), [SECOND - dt.timedelta(days=i + 1)])
    for day in range(2, 9):
        segments_refresh(store=store, as_of=SECOND + dt.timedelta(days=day), now=AS_OF + dt.timedelta(days=day))
    cache.clear()
    with django_assert_num_queries(len(before.captured_queries)):
        response = get(client, end=SECOND + dt.timedelta(days=7), start=(SECOND - dt.timedelta(days=23)).isoformat())
    assert len(response.context["slots"]["segments"].sizes) == 3


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_manager_sees_the_ladder_funnel_and_its_table_in_the_browser(
    page, browser_login, manager, two_runs, screenshot
):
    browser_login(manager)
    page.goto(f"/dashboard/?start=2026-10-06&end={SECOND.isoformat()}")
    page.wait_for_function("document.getElementById('chart-ladder').dataset.rendered === 'true'")
    page.wait_for_function("document.getElementById('chart-segment-sizes').dataset.rendered === 'true'")
    assert page.locator("#chart-ladder").get_attribute("data-total") == "6"
    assert page.locator("#chart-segment-sizes").get_attribute("data-points") == "2"
    page.locator("[data-slot=ladder]").get_by_role("button", name="Table").click()
    table = page.locator("[data-testid=ladder-table]")
    table.wait_for(state="visible")
    page.locator("#ladder-table.show:not(.collapsing)").wait_for()  # the opening animation is over
    assert table.locator("tr[data-rung=advocate] td").first.inner_text() == "1"
    page.locator("[data-testid=rfm-table]").scroll_into_view_if_needed()
    screenshot("dashboard-segments-1280")
