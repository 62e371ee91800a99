"""The dashboard's whole body is cached per data version: a hit runs only the store query, and every
write that changes what the body shows (a note marked, queued, reassigned or deleted, a complaint, new
tickets) shows on the next page load; stores, users' store lists and languages never share a body."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.urls import reverse

from customers.models import Feedback
from customers.services import feedback_record
from outreach.live_versions import live_changed
from outreach.models import LiveVersion
from outreach.notes import note_reassign, notes_mark
from outreach.notes_models import CampaignKind, Note, NoteChannel, NoteStatus
from tests.factories import CustomerFactory, MembershipFactory, TicketFactory, UserFactory
from tests.outreach.conftest import refresh

from .notes_helpers import campaign

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:index")
PARAMS = {"start": "2026-10-01", "end": "2026-10-31"}
OCT = dt.datetime(2026, 10, 10, 10, 0, tzinfo=dt.UTC)


def _live(response) -> dict:
    html = response.content.decode()
    return json.loads(html.split('id="dashboard-live-data" type="application/json">')[1].split("</script>")[0])


def _pipeline(response) -> dict[str, dict[str, int]]:
    """Per writer's first name: to write, written, posted, emailed."""
    data = _live(response).get("pipeline")
    if not data:
        return {}
    keys = ("queued", "written", "posted", "emailed")
    return {
        label.split()[0]: {k: s["data"][i] for k, s in zip(keys, data["series"], strict=True)}
        for i, label in enumerate(data["labels"])
    }


def _note(customer, camp, store, **kw):
    kw.setdefault("status", NoteStatus.WRITTEN)
    return Note.objects.create(
        customer=customer,
        campaign=camp,
        store=store,
        kind=camp.kind,
        period=kw.pop("period", "2026-10"),
        channel=kw.pop("channel", NoteChannel.POST),
        why="12 visits this year",
        language="uz",
        wording="We missed you",
        queued_at=kw.pop("queued_at", OCT - dt.timedelta(days=2)),
        written_at=kw.pop("written_at", OCT - dt.timedelta(days=1)),
        **kw,
    )


@pytest.fixture
def two_stores(store, other_store, refreshed_history):
    """Dashboard tables for both stores; a writer and a written note in each."""
    TicketFactory(customer=CustomerFactory(home_store=other_store), store=other_store, purchased_at=OCT)
    refresh(dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    camp = campaign(CampaignKind.WIN_BACK, name="Autumn", cost_per_note=Decimal("1.00"))
    anna = UserFactory(username="anna.writer", first_name="Anna")
    MembershipFactory(user=anna, store=store, role="staff")
    bobur = UserFactory(username="bobur.writer", first_name="Bobur")
    MembershipFactory(user=bobur, store=other_store, role="staff")
    notes = {
        "anna": _note(CustomerFactory(home_store=store), camp, store, assigned_to=anna),
        "bobur": _note(CustomerFactory(home_store=other_store), camp, other_store, assigned_to=bobur),
    }
    return {"campaign": camp, "anna": anna, "bobur": bobur, "notes": notes}


def test_a_second_view_is_one_store_query_after_the_session(login, manager, two_stores, django_assert_num_queries):
    client = login(manager)
    first = client.get(URL, PARAMS)
    with django_assert_num_queries(4):  # session, user, membership + 2FA device, stores + versions
        second = client.get(URL, PARAMS)
    assert _live(second) == _live(first)
    assert _pipeline(second)["Anna"]["written"] == 1


def test_a_marked_note_shows_on_the_next_page_load(login, manager, two_stores):
    client = login(manager)
    assert _pipeline(client.get(URL, PARAMS))["Anna"] == {"queued": 0, "written": 1, "posted": 0, "emailed": 0}
    client.get(URL, PARAMS)  # cached
    notes_mark(notes=Note.objects.filter(pk=two_stores["notes"]["anna"].pk), action="posted", at=OCT)
    assert _pipeline(client.get(URL, PARAMS))["Anna"] == {"queued": 0, "written": 0, "posted": 1, "emailed": 0}


def test_queued_reassigned_and_deleted_notes_show_on_the_next_page_load(login, manager, store, two_stores):
    client = login(manager)
    camp, anna = two_stores["campaign"], two_stores["anna"]
    client.get(URL, PARAMS)
    # Queued in bulk (no post_save signal) ...
    Note.objects.bulk_create(
        [
            Note(
                customer=CustomerFactory(home_store=store),
                campaign=camp,
                store=store,
                kind=camp.kind,
                period="2026-10",
                channel=NoteChannel.POST,
                assigned_to=anna,
                why="-",
                language="uz",
                wording="-",
                queued_at=OCT,
                return_code=f"BULK{i}",
            )
            for i in range(3)
        ]
    )
    assert _pipeline(client.get(URL, PARAMS))["Anna"]["queued"] == 3
    # ... one given to another writer (save) ...
    olim = UserFactory(username="olim.writer", first_name="Olim")
    MembershipFactory(user=olim, store=store, role="staff")
    note_reassign(note=Note.objects.filter(status=NoteStatus.QUEUED, store=store).first(), to_user_id=olim.pk)
    pipeline = _pipeline(client.get(URL, PARAMS))
    assert (pipeline["Anna"]["queued"], pipeline["Olim"]["queued"]) == (2, 1)
    # ... and the campaign deleted with all its notes (one bump for the whole deletion).
    before = LiveVersion.objects.get(store=store).version
    camp.delete()
    assert LiveVersion.objects.get(store=store).version == before + 1
    assert _pipeline(client.get(URL, PARAMS)) == {}


def test_a_new_complaint_shows_on_the_next_page_load(login, manager, store, staff, two_stores):
    client = login(manager)
    before = _live(client.get(URL, PARAMS))["complaints"]["series"]
    assert sum(sum(s["data"]) for s in before) == 0
    client.get(URL, PARAMS)
    feedback_record(
        customer=CustomerFactory(home_store=store),
        kind=Feedback.Kind.COMPLAINT,
        reason=Feedback.Reason.PRICE,
        at=OCT,
        by=staff,
    )
    series = {s["label"]: s["data"] for s in _live(client.get(URL, PARAMS))["complaints"]["series"]}
    assert sum(series[str(Feedback.Reason.PRICE.label)]) == 1


def test_new_tickets_show_once_the_dashboard_tables_are_refreshed(login, manager, store, two_stores):
    client = login(manager)

    def active():
        return client.get(URL, PARAMS).context["cards"][0]["card"].value

    before = active()
    client.get(URL, PARAMS)
    for _ in range(3):
        TicketFactory(customer=CustomerFactory(home_store=store), store=store, purchased_at=OCT)
    refresh(dt.date(2026, 10, 1), dt.date(2026, 10, 31))  # what the ticket import queues
    assert active() == before + 3


def test_two_stores_managers_never_see_each_others_body(client_as, store, other_store, manager, two_stores):
    other_manager = UserFactory(username="yun.manager")
    MembershipFactory(user=other_manager, store=other_store, role="manager")
    mine, theirs = client_as(manager), client_as(other_manager)
    for _ in range(2):  # the second round reads both bodies from the cache
        html_mine = mine.get(URL, PARAMS).content.decode()
        html_theirs = theirs.get(URL, PARAMS).content.decode()
        assert "Anna" in html_mine and "Bobur" not in html_mine and "Yunusobod" not in html_mine
        assert "Bobur" in html_theirs and "Anna" not in html_theirs and "Chilonzor" not in html_theirs
        # The page around the body is each user's own.
        assert "dilnoza.manager" in html_mine and "yun.manager" in html_theirs


def test_languages_do_not_mix(client_as, manager, two_stores):
    uzbek, russian = client_as(manager, "uz"), client_as(manager, "ru")
    for _ in range(2):
        html_uz, html_ru = uzbek.get(URL, PARAMS).content.decode(), russian.get(URL, PARAMS).content.decode()
        assert 'lang="uz"' in html_uz and 'lang="ru"' in html_ru
        # The body's own words follow the page's language (the pipeline's heading, translated).
        assert html_uz.count('id="pipeline-title"') == html_ru.count('id="pipeline-title"') == 1
        title_uz = html_uz.split('id="pipeline-title">')[1].split("<")[0]
        title_ru = html_ru.split('id="pipeline-title">')[1].split("<")[0]
        assert title_uz != title_ru


def test_the_owner_and_a_manager_of_one_store_do_not_share_a_body(client_as, owner, manager, store, two_stores):
    chain, one = client_as(owner), client_as(manager)
    params = {**PARAMS, "store": store.code}
    for _ in range(2):
        html_owner, html_manager = chain.get(URL, params).content.decode(), one.get(URL, params).content.decode()
        # Same store and period, but the owner's form offers every store.
        assert "Yunusobod" in html_owner and "Yunusobod" not in html_manager


def test_a_form_error_is_never_cached(login, manager, two_stores):
    client = login(manager)
    bad = {"start": "2026-10-31", "end": "2026-10-01"}
    assert client.get(URL, bad).context["form"].errors
    assert "alert-warning" in client.get(URL, bad).content.decode()
    assert "alert-warning" not in client.get(URL, PARAMS).content.decode()


def test_a_bump_creates_the_row_once_and_deletions_never_create_one(store, other_store):
    LiveVersion.objects.all().delete()
    live_changed([store.pk, store.pk, None])
    live_changed([store.pk])
    assert LiveVersion.objects.get(store=store).version == 2
    live_changed([other_store.pk], create=False)
    assert not LiveVersion.objects.filter(store=other_store).exists()


def test_the_query_budget_holds_cold_and_cached(login, owner, two_stores, django_assert_max_num_queries):
    client = login(owner)
    with django_assert_max_num_queries(12):
        client.get(URL, PARAMS)
    with django_assert_max_num_queries(4):
        client.get(URL, PARAMS)


def test_the_compiled_store_query_returns_what_the_orm_query_does(store, other_store, two_stores):
    from customers.models import Store
    from outreach import analytics_tiles

    names = ("pk", "code", "name", "currency", "margin", "time_zone", "points_held", "points_shown", "points_value")
    names += ("days_version", "results_version", "campaigns_version", "run_version", "chain_run_version")
    names += ("live_version",)

    def rows(stores):
        return [tuple(getattr(s, n) for n in names) for s in stores]

    one = frozenset([other_store.pk])
    for ids, qs in ((None, Store.objects.all()), (one, Store.objects.filter(pk__in=one))):
        orm = rows(analytics_tiles._dashboard_stores_qs(qs))
        assert rows(analytics_tiles.dashboard_stores(store_ids=ids)) == orm
        assert orm and orm[0][-1] is not None and orm[0][-6] is not None  # the versions are there
    assert analytics_tiles.dashboard_stores(store_ids=frozenset()) == []


def test_points_held_are_summed_at_most_once_a_minute_per_set_of_stores(store, other_store, two_stores):
    """Summing every account's balance costs ~45 ms a store at 200,000 accounts: the dashboard reads it from
    the cache for a minute (``POINTS_HELD_SECONDS``), the loyalty pages' liability stays live."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from loyalty.models import Account
    from loyalty.services import account_open, points_adjust
    from outreach import analytics_tiles
    from outreach.kpis import points_liability

    by = UserFactory()
    account = account_open(customer=CustomerFactory(home_store=store))
    points_adjust(account=account, points=300, reason="t", by=by, key="a", as_of=OCT)
    ids = frozenset([store.pk, other_store.pk])

    def held(stores):
        return {s.pk: s.points_held for s in stores}

    with CaptureQueriesContext(connection) as first:
        assert held(analytics_tiles.dashboard_stores(store_ids=ids)) == {store.pk: 300, other_store.pk: None}
    points_adjust(account=Account.objects.get(pk=account.pk), points=40, reason="t", by=by, key="b", as_of=OCT)
    with CaptureQueriesContext(connection) as second:
        assert held(analytics_tiles.dashboard_stores(store_ids=ids)) == {store.pk: 300, other_store.pk: None}
    assert len(first) == len(second) == 1
    table = Account._meta.db_table
    assert table in first[0]["sql"] and table not in second[0]["sql"]  # the second query sums nothing
    assert points_liability(store_ids=[store.pk]) > 0  # live where it is read on its own

    cache.delete(analytics_tiles.points_held_cache_key(sorted(ids)))  # the minute is over
    assert held(analytics_tiles.dashboard_stores(store_ids=ids))[store.pk] == 340


def test_at_the_turn_of_a_minute_one_request_renders_the_body_and_the_others_show_the_last_minutes():
    from django.core.cache import cache

    from outreach import dashboard_tiles

    cache.set("body:minute-1", "last minute's body")
    asked = []

    def previous():
        asked.append(1)
        return "body:minute-1"

    assert dashboard_tiles.body_cached(key="body:minute", previous_key=previous) is None, "the first one renders"
    assert not asked
    assert dashboard_tiles.body_cached(key="body:minute", previous_key=previous) == "last minute's body"
    dashboard_tiles.body_keep(key="body:minute", body="this minute's body")
    assert dashboard_tiles.body_cached(key="body:minute", previous_key=previous) == "this minute's body"
    # New data (a note, a complaint) is in both keys: with no body of the last minute for it, each renders.
    assert dashboard_tiles.body_cached(key="body:new-data", previous_key=lambda: "body:new-data-1") is None
    assert dashboard_tiles.body_cached(key="body:new-data", previous_key=lambda: "body:new-data-1") is None


def test_points_held_past_their_minute_are_summed_by_one_request_while_the_others_keep_the_last(store, two_stores):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from loyalty.models import Account
    from loyalty.services import account_open, points_adjust
    from outreach import analytics_tiles

    by = UserFactory()
    account = account_open(customer=CustomerFactory(home_store=store))
    points_adjust(account=account, points=300, reason="t", by=by, key="a", as_of=OCT)
    ids = frozenset([store.pk])
    key = analytics_tiles.points_held_cache_key(sorted(ids))
    assert analytics_tiles.dashboard_stores(store_ids=ids)[0].points_held == 300
    points_adjust(account=Account.objects.get(pk=account.pk), points=40, reason="t", by=by, key="b", as_of=OCT)
    cache.set(key, {**cache.get(key), "until": 0})  # the minute is over
    cache.add(key + ":summing", 1)  # and another request is summing them
    with CaptureQueriesContext(connection) as kept:
        assert analytics_tiles.dashboard_stores(store_ids=ids)[0].points_held == 300
    assert Account._meta.db_table not in kept[0]["sql"]
    cache.delete(key + ":summing")  # nobody is
    with CaptureQueriesContext(connection) as summed:
        assert analytics_tiles.dashboard_stores(store_ids=ids)[0].points_held == 340
    assert Account._meta.db_table in summed[0]["sql"]
    assert cache.get(key)["until"] > 0 and cache.get(key + ":summing") is None
