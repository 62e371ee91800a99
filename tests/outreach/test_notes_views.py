"""Notes screens through the test client; the queue command; the segmentation hook; results; timeline."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from customers.models import Role, Store
from customers.timeline import timeline_for
from loyalty.services import voucher_use
from outreach.campaigns_wording import SHIPPED_LANGUAGES
from outreach.notes import notes_queue
from outreach.notes_models import Campaign, CampaignKind, CampaignTemplate, HoldoutMember, Note, NoteStatus
from outreach.results import campaign_results
from tests.conftest import AS_OF
from tests.factories import MembershipFactory, TicketFactory, UserFactory

from .notes_helpers import best, campaign, consenting, lapsed

pytestmark = pytest.mark.django_db


@pytest.fixture
def six_notes(store, staff):
    customers = [consenting(store, first_name=f"Regular{i}") for i in range(6)]
    for rank, c in enumerate(customers, start=1):
        best(c, rank=rank)
    campaign(CampaignKind.THANK_YOU)
    notes_queue(as_of=AS_OF)
    return list(Note.objects.order_by("pk"))


def test_my_notes_shows_progress_and_ticks_one_by_one_and_in_bulk(login, staff, six_notes):
    client = login(staff)
    page = client.get(reverse("notes:mine"))
    assert page.status_code == 200
    assert "0 of 6 posted" in page.content.decode()

    client.post(reverse("notes:tick"), {"note": six_notes[0].pk, "action": "written"})
    client.post(reverse("notes:tick"), {"notes": [six_notes[1].pk, six_notes[2].pk], "action": "posted"})
    client.post(reverse("notes:tick"), {"notes": [n.pk for n in six_notes[3:]], "action": "posted"})

    statuses = [n.status for n in Note.objects.order_by("pk")]
    assert statuses == [NoteStatus.WRITTEN] + [NoteStatus.POSTED] * 5
    assert all(n.posted_at for n in Note.objects.filter(status=NoteStatus.POSTED))
    assert "5 of 6 posted" in client.get(reverse("notes:mine")).content.decode()


def test_staff_cannot_tick_someone_elses_notes(login, store, six_notes):
    colleague = UserFactory(username="colleague")
    MembershipFactory(user=colleague, store=store, role=Role.STAFF)
    login(colleague).post(reverse("notes:tick"), {"notes": [n.pk for n in six_notes], "action": "posted"})
    assert not Note.objects.filter(status=NoteStatus.POSTED).exists()


def test_today_shows_my_notes_badge_with_the_open_count(login, staff, six_notes):
    Note.objects.filter(pk=six_notes[0].pk).update(status=NoteStatus.POSTED, posted_at=AS_OF)
    html = login(staff).get(reverse("home")).content.decode()
    assert 'data-testid="my-notes-badge"' in html
    assert '<span class="badge text-bg-primary rounded-pill">5</span>' in html


def test_print_gives_a_pdf_and_changes_nothing(login, staff, six_notes):
    before = list(Note.objects.order_by("pk").values_list("status", "assigned_to_id"))
    for layout in ("sheet", "cards", "labels"):
        response = login(staff).get(reverse("notes:print"), {"layout": layout})
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
    assert list(Note.objects.order_by("pk").values_list("status", "assigned_to_id")) == before


def test_manager_reassigns_a_note_to_a_colleague_but_not_to_someone_on_leave(login, manager, store, six_notes):
    bek = UserFactory(username="bek")
    MembershipFactory(user=bek, store=store, role=Role.STAFF)
    away = UserFactory(username="away")
    MembershipFactory(user=away, store=store, role=Role.STAFF, on_leave=True)
    client = login(manager)
    assert client.get(reverse("notes:store")).status_code == 200

    client.post(reverse("notes:reassign", args=[six_notes[0].pk]), {"assigned_to": bek.pk})
    client.post(reverse("notes:reassign", args=[six_notes[1].pk]), {"assigned_to": away.pk})

    assert Note.objects.get(pk=six_notes[0].pk).assigned_to == bek
    assert Note.objects.get(pk=six_notes[1].pk).assigned_to != away


def test_campaign_form_saves_wording_and_the_preview_counts_before_queueing(login, manager, store, staff):
    people = [
        consenting(store, preferred_language="en"),
        consenting(store, preferred_language="en"),
        consenting(store, consent_post=False, consent_email=False),
    ]
    for rank, c in enumerate(people, start=1):
        best(c, rank=rank, scope_key=f"store:{store.pk}")  # a store campaign reads the store's segments
    client = login(manager)
    form = client.get(reverse("notes:campaign_new") + "?kind=thank_you").content.decode()
    assert "thank you for coming to see us so often" in form  # the shipped English wording as a start
    data = {
        "name": "Thank the best",
        "kind": "thank_you",
        "store": store.pk,
        "is_active": "on",
        "channel_policy": "handwritten_first",
        "incentive_kind": "none",
        "incentive_valid_days": 60,
        "cost_per_note": "2.00",
        "top_n": 50,
        "filter_min_visits": 0,
        "body_en": "Dear {first_name}, thank you!",
        "subject_en": "Thanks",
    }
    response = client.post(reverse("notes:campaign_new"), data)
    created = Campaign.objects.get(name="Thank the best")
    assert response.status_code == 302
    assert CampaignTemplate.objects.filter(campaign=created).count() == 1  # only the languages given

    detail = client.get(reverse("notes:campaign_detail", args=[created.pk])).content.decode()
    assert not Note.objects.exists()  # a preview writes nothing
    assert "no consent for any channel" in detail
    client.post(reverse("notes:campaign_queue", args=[created.pk]))
    assert Note.objects.count() == 2
    assert [n.wording for n in Note.objects.order_by("pk")] == [f"Dear {c.first_name}, thank you!" for c in people[:2]]


def test_managers_cannot_make_chain_campaigns_and_see_only_their_stores(login, manager, other_store):
    client = login(manager)
    response = client.post(
        reverse("notes:campaign_new"),
        {"name": "x", "kind": "thank_you", "channel_policy": "email", "incentive_kind": "none", "body_en": "Hi"},
    )
    assert response.status_code == 200 and not Campaign.objects.exists()
    theirs = Campaign.objects.create(name="Theirs", kind="thank_you", store=other_store)
    assert client.get(reverse("notes:campaign_detail", args=[theirs.pk])).status_code == 404


def test_every_kind_ships_warm_wording_in_six_languages():
    from outreach.campaigns_wording import DEFAULT_WORDING

    for kind in CampaignKind.values:
        assert set(SHIPPED_LANGUAGES) <= set(DEFAULT_WORDING[kind]), kind
        for _subject, body in DEFAULT_WORDING[kind].values():
            assert "{first_name}" in body and len(body) < 400
    # The shops' rules: a thank-you only thanks; a win-back never asks why they left.
    for _subject, body in DEFAULT_WORDING["thank_you"].values():
        assert "%" not in body and "coupon" not in body.lower()
    assert "why" not in DEFAULT_WORDING["win_back"]["en"][1].lower()


def test_queue_notes_command_reports_counts_and_a_rerun_queues_nothing(store, staff, capsys):
    best(consenting(store))
    campaign(CampaignKind.THANK_YOU)
    call_command("queue_notes", "--as-of", "2026-11-01T09:00:00+00:00", "--store", "CHZ")
    call_command("queue_notes", "--as-of", "2026-11-01T10:00:00+00:00")
    out = capsys.readouterr().out
    assert "1 notes queued" in out and "0 notes queued" in out
    assert Note.objects.count() == 1


def test_notes_are_queued_after_a_segmentation_run_finishes(store, staff, best_regular):
    from customers.models import Customer
    from outreach.tasks import segments_refresh_task

    Customer.objects.filter(pk=best_regular.pk).update(consent_post=True)
    campaign(CampaignKind.THANK_YOU)
    from crm.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        segments_refresh_task.delay(None, AS_OF.date().isoformat())
    finally:
        app.conf.task_always_eager = eager
    assert Note.objects.filter(customer=best_regular).exists()


def test_results_compare_contacted_and_holdout_return_rates(store, staff):
    win_back = campaign(CampaignKind.WIN_BACK, cost_per_note=Decimal("3.00"))
    customers = [consenting(store) for _ in range(4)]
    for c in customers:
        lapsed(c)
    notes_queue(as_of=AS_OF)
    notes = list(Note.objects.order_by("pk"))
    posted_at = AS_OF + dt.timedelta(days=2)
    Note.objects.filter(pk__in=[n.pk for n in notes]).update(status=NoteStatus.POSTED, posted_at=posted_at)
    # Two of four came back within 60 days (one after 70 days does not count).
    TicketFactory(customer=notes[0].customer, purchased_at=posted_at + dt.timedelta(days=10), total=Decimal("100"))
    TicketFactory(customer=notes[1].customer, purchased_at=posted_at + dt.timedelta(days=59), total=Decimal("50"))
    TicketFactory(customer=notes[2].customer, purchased_at=posted_at + dt.timedelta(days=70), total=Decimal("70"))
    held = consenting(store)
    HoldoutMember.objects.create(
        customer=held, campaign=win_back, store=store, kind="win_back", period="2026-11", held_at=AS_OF
    )
    HoldoutMember.objects.create(
        customer=consenting(store), campaign=win_back, store=store, kind="win_back", period="2026-11", held_at=AS_OF
    )
    TicketFactory(customer=held, purchased_at=AS_OF + dt.timedelta(days=5))

    r = campaign_results(win_back)

    assert (r.contacted, r.contacted_returned, r.holdout, r.holdout_returned) == (4, 2, 2, 1)
    assert r.contacted_rate == 0.5 and r.holdout_rate == 0.5 and r.lift == 0
    assert r.revenue == Decimal("150.00")
    assert r.cost == Decimal("12.00") and r.cost_per_returned == Decimal("6.00")


def test_posted_notes_appear_on_the_customer_timeline(store, staff, six_notes):
    note = six_notes[0]
    Note.objects.filter(pk=note.pk).update(status=NoteStatus.POSTED, posted_at=AS_OF + dt.timedelta(days=1))
    entries = [e for e in timeline_for(note.customer) if e.kind == "outreach"]
    assert len(entries) == 1 and "posted" in entries[0].title


def test_voucher_redemptions_are_counted(store, staff):
    from outreach.notes_models import IncentiveKind

    win_back = campaign(CampaignKind.WIN_BACK, incentive_kind=IncentiveKind.PERCENT, incentive_percent=10)
    lapsed(consenting(store))
    lapsed(consenting(store))
    notes_queue(as_of=AS_OF)
    used = Note.objects.first().voucher
    voucher_use(code=used.code, stores=Store.objects.filter(pk=store.pk), by=None, source="counter", as_of=AS_OF)
    r = campaign_results(win_back)
    assert (r.vouchers_issued, r.vouchers_redeemed) == (2, 1)


def test_a_manager_sees_only_their_stores_part_of_a_chain_campaigns_results(login, manager, store, other_store):
    chain = campaign(CampaignKind.WIN_BACK)
    lapsed(consenting(store))
    lapsed(consenting(other_store))
    notes_queue(as_of=AS_OF)
    Note.objects.update(status=NoteStatus.POSTED, posted_at=AS_OF)
    page = login(manager).get(reverse("notes:campaign_detail", args=[chain.pk]))
    assert page.context["results"].contacted == 1
    assert campaign_results(chain).contacted == 2
