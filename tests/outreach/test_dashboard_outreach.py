"""The dashboard's outreach tiles: campaign results (contacted vs holdout, lift and its interval, vouchers,
revenue, cost) and the notes pipeline per staff member — pinned on hand-computed fixtures, scoped to
the viewer's stores, read from precomputed rows within the page's query budget."""

import datetime as dt
import json
import random
from decimal import Decimal

import pytest
from django.urls import reverse

from customers.models import PurchaseTicket
from outreach.models import CampaignResult
from outreach.notes import notes_mark
from outreach.notes_models import CampaignKind, HoldoutMember, Note, NoteChannel, NoteStatus
from outreach.results import (
    campaign_results,
    campaign_results_refresh,
    campaign_results_rows,
    lift_interval,
    notes_pipeline,
)
from tests.factories import CustomerFactory, MembershipFactory, TicketFactory, UserFactory

from .notes_helpers import campaign

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:index")
T0 = dt.datetime(2026, 9, 1, 10, 0, tzinfo=dt.UTC)  # the day the notes were posted / the holdout held
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def _note(customer, camp, store, *, posted_at=None, sent_at=None, channel=NoteChannel.POST, **kw):
    status = kw.pop("status", NoteStatus.POSTED if posted_at else (NoteStatus.EMAILED if sent_at else "queued"))
    return Note.objects.create(
        customer=customer,
        campaign=camp,
        store=store,
        kind=camp.kind,
        period=kw.pop("period", "2026-09"),
        channel=channel,
        status=status,
        email_state="sent" if sent_at else "",
        why="43 visits this year",
        language="uz",
        wording="We missed you",
        queued_at=kw.pop("queued_at", T0 - dt.timedelta(days=3)),
        posted_at=posted_at,
        sent_at=sent_at,
        **kw,
    )


def _held(customer, camp, store, held_at=T0):
    return HoldoutMember.objects.create(
        customer=customer, campaign=camp, store=store, kind=camp.kind, period="2026-09", held_at=held_at
    )


def _sale(customer, store, at, total="100.00"):
    return TicketFactory(customer=customer, store=store, purchased_at=at, total=Decimal(total))


@pytest.fixture
def win_back(store, other_store):
    """A chain win-back campaign, hand-computed.

    CHZ: 10 notes posted at T0; 6 customers bought 5 days later (100 each); one of them again after
    70 days (outside the window) and one customer only the day before the note (not a return).
    5 held out at T0, 1 bought 20 days later. YUN: 4 notes, all 4 came back (1,000 each), no holdout.
    Cost 2.00 a note.
    """
    camp = campaign(CampaignKind.WIN_BACK, name="Win-back autumn", cost_per_note=Decimal("2.00"))
    chz = [CustomerFactory(home_store=store) for _ in range(10)]
    for i, c in enumerate(chz):
        _note(c, camp, store, posted_at=T0)
        if i < 6:
            _sale(c, store, T0 + dt.timedelta(days=5))
    _sale(chz[0], store, T0 + dt.timedelta(days=70))
    _sale(chz[9], store, T0 - dt.timedelta(days=1))
    held = [CustomerFactory(home_store=store) for _ in range(5)]
    for c in held:
        _held(c, camp, store)
    _sale(held[0], store, T0 + dt.timedelta(days=20))
    for _ in range(4):
        c = CustomerFactory(home_store=other_store)
        _note(c, camp, other_store, posted_at=T0)
        _sale(c, other_store, T0 + dt.timedelta(days=3), "1000.00")
    campaign_results_refresh(now=NOW)
    return camp


def test_lift_interval_is_the_wald_interval_of_two_proportions():
    low, high = lift_interval(contacted=10, contacted_returned=6, holdout=5, holdout_returned=1)
    # 0.6 − 0.2 ± 1.96 × √(0.6 × 0.4 / 10 + 0.2 × 0.8 / 5) = 0.4 ± 0.46382
    assert low == pytest.approx(-0.06382, abs=1e-5) and high == pytest.approx(0.86382, abs=1e-5)
    assert lift_interval(contacted=10, contacted_returned=6, holdout=0, holdout_returned=0) is None


def test_campaign_results_are_pinned_per_store_for_a_manager(store, win_back):
    (row,) = campaign_results_rows(store_ids=[store.pk])
    assert (row.name, row.contacted, row.contacted_returned, row.holdout, row.holdout_returned) == (
        "Win-back autumn",
        10,
        6,
        5,
        1,
    )
    assert (row.contacted_pct, row.holdout_pct, row.lift_points) == (60.0, 20.0, 40.0)
    assert row.lift_points_interval == (-6.4, 86.4)
    assert row.revenue == Decimal("600.00")  # the sale after 70 days and the one before the note do not count
    assert row.cost == Decimal("20.00") and row.cost_per_returned == Decimal("3.33")


def test_campaign_results_add_up_the_stores_for_the_owner(store, other_store, win_back):
    (row,) = campaign_results_rows(store_ids=[store.pk, other_store.pk])
    assert (row.contacted, row.contacted_returned, row.holdout, row.holdout_returned) == (14, 10, 5, 1)
    assert row.revenue == Decimal("4600.00") and row.cost == Decimal("28.00")
    # The precomputed rows agree with the figures computed straight from notes and tickets.
    live = campaign_results(win_back)
    assert (live.contacted, live.contacted_returned, live.revenue, live.cost) == (14, 10, row.revenue, row.cost)
    assert campaign_results(win_back, store_ids=[other_store.pk]).revenue == Decimal("4000.00")


def test_the_lift_recovers_a_known_simulated_effect(store):
    """800 customers: contacted come back with p = 0.45, the holdout with p = 0.15 — a true lift of 30 points."""
    rnd = random.Random(20261123)
    camp = campaign(CampaignKind.WIN_BACK, name="Simulated", cost_per_note=Decimal("1.00"))
    people = CustomerFactory.create_batch(800, home_store=store)
    notes, held, tickets = [], [], []
    for i, c in enumerate(people):
        contacted = i % 2 == 0
        if contacted:
            notes.append(
                Note(
                    customer=c,
                    campaign=camp,
                    store=store,
                    kind=camp.kind,
                    period="2026-09",
                    channel=NoteChannel.POST,
                    status=NoteStatus.POSTED,
                    why="-",
                    language="uz",
                    wording="-",
                    queued_at=T0,
                    posted_at=T0,
                    return_code=f"S{i:05d}",
                )
            )
        else:
            held.append(
                HoldoutMember(customer=c, campaign=camp, store=store, kind=camp.kind, period="2026-09", held_at=T0)
            )
        if rnd.random() < (0.45 if contacted else 0.15):
            tickets.append(
                PurchaseTicket(
                    customer=c,
                    store=store,
                    number=f"SIM{i}",
                    purchased_at=T0 + dt.timedelta(days=rnd.randint(1, 59)),
                    total=Decimal("10.00"),
                )
            )
    Note.objects.bulk_create(notes)
    HoldoutMember.objects.bulk_create(held)
    PurchaseTicket.objects.bulk_create(tickets)
    campaign_results_refresh(now=NOW, campaign_ids=[camp.pk])

    (row,) = campaign_results_rows(store_ids=[store.pk])
    low, high = row.lift_interval
    assert (row.contacted, row.holdout) == (400, 400)
    assert low < 0.30 < high  # the true effect is inside the 95 % interval
    assert abs(row.lift - 0.30) < 0.08 and low > 0  # and the notes clearly worked
    assert row.revenue == Decimal("10.00") * row.contacted_returned


def test_a_sale_after_two_contacts_of_one_campaign_counts_once_in_its_revenue(store):
    camp = campaign(CampaignKind.MANUAL, name="Monthly", cost_per_note=Decimal("1.00"))
    c = CustomerFactory(home_store=store)
    _note(c, camp, store, posted_at=T0, period="2026-09")
    _note(c, camp, store, posted_at=T0 + dt.timedelta(days=20), period="2026-10")
    _sale(c, store, T0 + dt.timedelta(days=10), "30.00")  # after the first contact only
    _sale(c, store, T0 + dt.timedelta(days=25), "70.00")  # in both windows: counted once
    campaign_results_refresh(now=NOW)
    (row,) = campaign_results_rows(store_ids=[store.pk])
    assert (row.contacted, row.contacted_returned, row.revenue) == (2, 2, Decimal("100.00"))


def test_a_refresh_forgets_rows_that_no_longer_have_figures(store, win_back):
    Note.objects.filter(store=store).delete()
    HoldoutMember.objects.filter(store=store).delete()
    campaign_results_refresh(now=NOW, campaign_ids=[win_back.pk])
    assert not CampaignResult.objects.filter(store=store).exists()
    assert CampaignResult.objects.filter(campaign=win_back).count() == 1


@pytest.fixture
def eager_celery():
    from crm.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def test_ticking_notes_as_posted_refreshes_the_campaign_results(
    store, staff, eager_celery, django_capture_on_commit_callbacks
):
    camp = campaign(CampaignKind.WIN_BACK, name="Ticked", cost_per_note=Decimal("1.00"))
    c = CustomerFactory(home_store=store)
    note = _note(c, camp, store, status=NoteStatus.WRITTEN, assigned_to=staff)
    assert not CampaignResult.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        notes_mark(notes=Note.objects.filter(pk=note.pk), action="posted", at=T0)
    result = CampaignResult.objects.get(campaign=camp, store=store)
    assert (result.contacted, result.contacted_returned, result.cost) == (1, 0, Decimal("1.00"))


def test_new_tickets_refresh_the_results_of_their_customers_campaigns(store, win_back, eager_celery):
    from outreach.tasks_dashboard import dashboard_aggregates_refresh_task

    customer = Note.objects.filter(store=store).order_by("pk").last().customer  # had not come back
    _sale(customer, store, T0 + dt.timedelta(days=30), "50.00")
    day = (T0 + dt.timedelta(days=30)).date().isoformat()
    dashboard_aggregates_refresh_task.apply(args=(day, day), kwargs={"customer_ids": [customer.pk]})
    (row,) = campaign_results_rows(store_ids=[store.pk])
    assert (row.contacted_returned, row.revenue) == (7, Decimal("650.00"))


# --- Notes pipeline -----------------------------------------------------------------------------------


@pytest.fixture
def pipeline_notes(store, other_store, staff):
    """Anna (staff of CHZ): 3 to write (one queued 10 days ago), 1 written 8 days ago, 2 posted in
    November and 1 in August; an email-only note sent in November; a note of YUN's staff."""
    camp = campaign(CampaignKind.THANK_YOU, name="Thanks")
    nov = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)

    def n(**kw):
        kw.setdefault("assigned_to", staff)
        return _note(CustomerFactory(home_store=kw.pop("store", store)), camp, kw.pop("in_store", store), **kw)

    n(status=NoteStatus.QUEUED, queued_at=NOW - dt.timedelta(days=1))
    n(status=NoteStatus.QUEUED, queued_at=NOW - dt.timedelta(days=2))
    n(status=NoteStatus.QUEUED, queued_at=NOW - dt.timedelta(days=10))
    n(status=NoteStatus.WRITTEN, queued_at=NOW - dt.timedelta(days=8), written_at=NOW - dt.timedelta(days=1))
    n(posted_at=nov)
    n(posted_at=nov + dt.timedelta(days=2))
    n(posted_at=dt.datetime(2026, 8, 5, tzinfo=dt.UTC))
    n(channel=NoteChannel.EMAIL, sent_at=nov, assigned_to=None)
    yun_staff = UserFactory(username="kamola.staff", first_name="Kamola")
    MembershipFactory(user=yun_staff, store=other_store, role="staff")
    n(status=NoteStatus.QUEUED, assigned_to=yun_staff, store=other_store, in_store=other_store)
    return camp


def test_pipeline_counts_each_writers_notes_open_now_and_done_in_the_period(store, staff, pipeline_notes):
    rows = notes_pipeline(
        store_ids=[store.pk],
        start=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        end=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        now=NOW,
    )
    by_user = {r.user_id: r for r in rows}
    assert set(by_user) == {staff.pk, None}  # Kamola of YUN is not in CHZ's pipeline
    anna = by_user[staff.pk]
    assert (anna.queued, anna.written, anna.posted, anna.emailed, anna.overdue) == (3, 1, 2, 0, 2)
    email = by_user[None]
    assert email.email_only and (email.emailed, email.queued) == (1, 0)


def test_pipeline_row_of_notes_nobody_writes_is_not_email_only_with_a_handwritten_one(store, staff, pipeline_notes):
    customer = CustomerFactory(home_store=store)
    _note(customer, pipeline_notes, store, status=NoteStatus.QUEUED, queued_at=NOW, assigned_to=None)
    rows = notes_pipeline(
        store_ids=[store.pk],
        start=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        end=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        now=NOW,
    )
    nobody = {r.user_id: r for r in rows}[None]
    # The emailed note and the handwritten one still to write share the writer-less row.
    assert (nobody.email_only, nobody.queued, nobody.emailed) == (False, 1, 1)
    assert [r.user_id for r in rows] == [staff.pk, None]  # writers first, the notes nobody writes last


def test_manager_sees_both_tiles_for_their_store_within_the_query_budget(
    login, manager, store, other_store, win_back, pipeline_notes, django_assert_max_num_queries
):
    client = login(manager)
    with django_assert_max_num_queries(12):
        response = client.get(URL, {"start": "2026-11-01", "end": "2026-11-30"})
    html = response.content.decode()
    assert 'data-slot="campaigns"' in html and 'data-slot="notes_pipeline"' in html
    assert 'data-testid="campaigns-table"' in html and 'data-testid="pipeline-table"' in html
    assert "+40.0" in html and "[-6.4; 86.4]" in html
    assert "Kamola" not in html and "4,600" not in html and "4600" not in html  # nothing of YUN
    data, live = _json(html, "dashboard-data"), _json(html, "dashboard-live-data")
    assert data["campaigns"]["contacted"] == [60.0] and data["campaigns"]["holdout"] == [20.0]
    assert len(live["pipeline"]["labels"]) == 2 and "Email" in live["pipeline"]["labels"]


def test_owner_sees_the_chain_within_the_query_budget(
    login, owner, store, other_store, win_back, pipeline_notes, django_assert_max_num_queries
):
    client = login(owner)
    with django_assert_max_num_queries(12):
        response = client.get(URL, {"start": "2026-11-01", "end": "2026-11-30"})
    html = response.content.decode()
    (row,) = response.context["slots"]["campaigns"]["rows"]
    assert (row.contacted, row.revenue) == (14, Decimal("4600.00"))
    assert "Kamola" in html  # every store's writers


def _json(html: str, element_id: str) -> dict:
    return json.loads(html.split(f'id="{element_id}" type="application/json">')[1].split("</script>")[0])


def test_a_second_view_reads_the_tiles_from_the_cache_until_their_tables_change(
    login, manager, store, staff, refreshed_history, win_back, pipeline_notes, django_assert_max_num_queries
):
    client = login(manager)
    params = {"start": "2026-11-01", "end": "2026-11-30"}
    first = client.get(URL, params).content.decode()
    with django_assert_max_num_queries(5):  # session, user, 2FA, membership, stores + versions (the body is cached)
        second = client.get(URL, params).content.decode()
    assert _json(second, "dashboard-data") == _json(first, "dashboard-data") and "+40.0" in second
    # A note ticked as posted shows at once (it bumps the store's live version) ...
    Note.objects.filter(assigned_to=staff, status=NoteStatus.WRITTEN).update(
        status=NoteStatus.POSTED, posted_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    )
    live = _json(client.get(URL, params).content.decode(), "dashboard-live-data")
    assert dict(zip(live["pipeline"]["labels"], live["pipeline"]["series"][2]["data"], strict=True))["Email"] == 0
    assert max(live["pipeline"]["series"][2]["data"]) == 3  # Anna: 2 posted in November + this one
    # ... and a refresh of the campaign results changes the cached tile.
    customer = HoldoutMember.objects.filter(store=store).order_by("pk").last().customer
    _sale(customer, store, T0 + dt.timedelta(days=9))
    campaign_results_refresh(now=NOW + dt.timedelta(minutes=5))
    third = client.get(URL, params).content.decode()
    campaigns = _json(third, "dashboard-data")["campaigns"]
    win_back.name = "Win-back, autumn 2026"
    win_back.save()
    assert "Win-back, autumn 2026" in client.get(URL, params).content.decode()
    assert dict(zip(campaigns["labels"], campaigns["holdout"], strict=True))["Win-back autumn"] == 40.0
    assert "+20.0" in third


def test_tiles_render_nothing_without_notes(login, manager, store):
    html = login(manager).get(URL).content.decode()
    assert 'data-slot="campaigns"' not in html and 'data-slot="notes_pipeline"' not in html


# --- Attributed returns: the note's return code on a sale ---------------------------------------------


@pytest.fixture
def coded_win_back(store, other_store):
    """A win-back campaign, hand-computed. CHZ: 5 notes posted at T0.

    0 buys 5 days later with the note's code (120.00); 1 comes in anonymously twice with the code, 90
    days later (outside the 60-day window: 80.00 + 20.00); 2 buys 5 days later without the code (55.00);
    3 only returns goods with the code (a return is not a sale); 4 never comes. YUN: 1 note, back with
    the code (1,000.00). So CHZ: 2 of 5 came back within 60 days, 2 returned with the code (220.00).
    """
    camp = campaign(CampaignKind.WIN_BACK, name="Spring win-back", cost_per_note=Decimal("1.00"))
    chz = [CustomerFactory(home_store=store) for _ in range(5)]
    notes = [_note(c, camp, store, posted_at=T0) for c in chz]
    TicketFactory(
        customer=chz[0],
        store=store,
        purchased_at=T0 + dt.timedelta(days=5),
        total=Decimal("120.00"),
        return_code=notes[0].return_code,
    )
    for total in ("80.00", "20.00"):
        TicketFactory(
            customer=None,
            store=store,
            purchased_at=T0 + dt.timedelta(days=90),
            total=Decimal(total),
            return_code=notes[1].return_code,
        )
    _sale(chz[2], store, T0 + dt.timedelta(days=5), "55.00")
    TicketFactory(
        customer=chz[3],
        store=store,
        purchased_at=T0 + dt.timedelta(days=6),
        total=Decimal("-30.00"),
        return_code=notes[3].return_code,
    )
    yun = CustomerFactory(home_store=other_store)
    note = _note(yun, camp, other_store, posted_at=T0)
    TicketFactory(
        customer=yun,
        store=other_store,
        purchased_at=T0 + dt.timedelta(days=3),
        total=Decimal("1000.00"),
        return_code=note.return_code,
    )
    campaign_results_refresh(now=NOW)
    return camp


def test_the_campaign_tile_shows_who_returned_with_the_notes_code(login, manager, store, coded_win_back):
    response = login(manager).get(URL, {"start": "2026-11-01", "end": "2026-11-30"})
    html = response.content.decode()
    (row,) = response.context["slots"]["campaigns"]["rows"]
    assert (row.contacted, row.contacted_returned, row.attributed_returned, row.attributed_revenue) == (
        5,
        2,
        2,
        Decimal("220.00"),
    )
    table = html.split('data-testid="campaigns-table"')[1]
    assert '<td class="text-end" data-testid="attributed-returned">2</td>' in table
    assert '<td class="text-end" data-testid="attributed-revenue">220.00</td>' in table
    shown = html.split('data-testid="campaigns-attributed"')[1].split("</ul>")[0]
    assert "Spring win-back</span>: 2 returned," in shown and "220" in shown
    assert "1,000" not in html and "1000" not in html  # nothing of YUN's note


def test_the_owner_sees_every_stores_attributed_returns(login, owner, coded_win_back):
    response = login(owner).get(URL, {"start": "2026-11-01", "end": "2026-11-30"})
    (row,) = response.context["slots"]["campaigns"]["rows"]
    assert (row.attributed_returned, row.attributed_revenue) == (3, Decimal("1220.00"))
    assert '<td class="text-end" data-testid="attributed-returned">3</td>' in response.content.decode()


def _figures(r):
    return (
        r.contacted,
        r.contacted_returned,
        r.holdout,
        r.holdout_returned,
        r.vouchers_issued,
        r.vouchers_redeemed,
        r.revenue,
        r.cost,
        r.attributed_returned,
        r.attributed_revenue,
    )


def test_the_refresh_writes_what_campaign_results_computes(store, other_store, win_back, coded_win_back):
    # The autumn campaign gets a coded sale too, and a note of a store the results are not filtered to.
    note = Note.objects.filter(campaign=win_back, store=store).order_by("pk").first()
    TicketFactory(
        customer=note.customer,
        store=store,
        purchased_at=T0 + dt.timedelta(days=200),
        total=Decimal("12.50"),
        return_code=note.return_code,
    )
    campaign_results_refresh(now=NOW)
    for camp in (win_back, coded_win_back):
        for store_ids in ([store.pk], [other_store.pk], [store.pk, other_store.pk]):
            (row,) = [r for r in campaign_results_rows(store_ids=store_ids) if r.campaign_id == camp.pk]
            assert _figures(row) == _figures(campaign_results(camp, store_ids=store_ids)), (camp.name, store_ids)
    (autumn,) = [r for r in campaign_results_rows(store_ids=[store.pk]) if r.campaign_id == win_back.pk]
    assert (autumn.attributed_returned, autumn.attributed_revenue) == (1, Decimal("12.50"))


def test_codes_recorded_at_the_counter_or_sent_anonymously_by_the_till_reach_the_cached_tile(
    login,
    manager,
    store,
    refreshed_history,
    coded_win_back,
    eager_celery,
    settings,
    django_capture_on_commit_callbacks,
):
    import json as json_

    from rest_framework.test import APIClient

    from customers.models import ApiToken
    from customers.services_pos import ticket_return_code_record

    client = login(manager)
    params = {"start": "2026-11-01", "end": "2026-11-30"}

    def shown() -> str:
        html = client.get(URL, params).content.decode()
        return html.split('data-testid="campaigns-attributed"')[1].split("</ul>")[0]

    assert ": 2 returned," in shown()
    assert ": 2 returned," in shown()  # from the cache now
    notes = list(Note.objects.filter(campaign=coded_win_back, store=store).order_by("pk"))
    # Customer 2 came back without the code; staff record it on her sale at the counter.
    sale_ = PurchaseTicket.objects.get(customer=notes[2].customer)
    with django_capture_on_commit_callbacks(execute=True):
        ticket_return_code_record(stores=[store], number=sale_.number, code=notes[2].return_code, by=manager)
    assert ": 3 returned," in shown()
    # Customer 4 comes in with the card; the chain keeps such sales anonymous.
    settings.RETURN_CODES_IDENTIFY_CUSTOMER = False
    _, raw = ApiToken.issue(store=store, name="Till 1")
    pos = APIClient()
    pos.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    body = {
        "store": "CHZ",
        "ticket": "ANON1",
        "purchased_at": "2026-11-18T10:00:00",
        "total": "45.00",
        "return_code": notes[4].return_code,
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert pos.post("/api/v1/tickets/", json_.dumps(body), content_type="application/json").status_code == 201
    assert PurchaseTicket.objects.get(number="ANON1").customer is None
    assert ": 4 returned," in shown()
    (row,) = campaign_results_rows(store_ids=[store.pk])
    assert (row.attributed_returned, row.attributed_revenue) == (4, Decimal("320.00"))
