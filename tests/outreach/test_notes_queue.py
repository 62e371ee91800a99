"""Queueing notes: one per eligible customer, reruns create nothing, cooldowns, holdout, exclusions, split."""

import datetime as dt
import math
from decimal import Decimal

import pytest

from customers.models import Customer, Role
from loyalty.models import Voucher
from outreach.campaigns import campaign_preview, holdout_bucket
from outreach.models import CustomerSegmentState
from outreach.notes import notes_queue
from outreach.notes_models import (
    CampaignKind,
    ChannelPolicy,
    EmailState,
    HoldoutMember,
    IncentiveKind,
    Note,
    NoteChannel,
    NoteStatus,
)
from outreach.services import segments_refresh
from outreach.split import split_cap, split_plan
from tests.conftest import AS_OF
from tests.factories import CustomerFactory, MembershipFactory, UserFactory, visits

from .notes_helpers import best, campaign, consenting, lapsed, open_complaint, state

pytestmark = pytest.mark.django_db


def _later(days: int) -> dt.datetime:
    return AS_OF + dt.timedelta(days=days)


def test_segmented_best_regular_gets_one_thank_you_and_a_rerun_creates_nothing(best_regular, staff, store):
    Customer.objects.filter(pk=best_regular.pk).update(consent_post=True)
    segments_refresh(store=None, as_of=AS_OF.date(), now=AS_OF)
    thanks = campaign(CampaignKind.THANK_YOU)

    first = notes_queue(as_of=AS_OF)
    second = notes_queue(as_of=AS_OF + dt.timedelta(hours=5))

    note = Note.objects.get()
    assert (note.customer, note.campaign, note.channel) == (best_regular, thanks, NoteChannel.POST)
    assert note.assigned_to == staff
    assert note.voucher is None  # a thank-you carries no coupon
    assert "Oxirgi 12 oyda" in note.why  # "in the last 12 months", in the store's language (uz)
    assert "Jasur" in note.wording
    assert first.created == 1
    assert second.created == 0
    assert second.counts[str(thanks.pk)]["already"] == 1
    assert Note.objects.count() == 1


def test_a_rerun_gives_a_writer_to_notes_an_interrupted_run_left_without_one(best_regular, staff, store):
    Customer.objects.filter(pk=best_regular.pk).update(consent_post=True)
    segments_refresh(store=None, as_of=AS_OF.date(), now=AS_OF)
    campaign(CampaignKind.THANK_YOU)
    notes_queue(as_of=AS_OF)
    # As if the worker died after the campaign's transaction committed, before the split.
    Note.objects.update(assigned_to=None)

    rerun = notes_queue(as_of=AS_OF + dt.timedelta(hours=1))

    assert rerun.created == 0
    assert Note.objects.get().assigned_to == staff


def test_thank_you_cooldown_is_180_days_and_win_back_90(store, staff):
    regular = consenting(store)
    best(regular)
    thanks = campaign(CampaignKind.THANK_YOU)
    notes_queue(as_of=AS_OF)

    in_cooldown = notes_queue(as_of=_later(40))  # a new month: a new period, still within 180 days
    assert in_cooldown.counts[str(thanks.pk)]["skipped"] == {"cooldown": 1}
    after = notes_queue(as_of=_later(181))
    assert after.created == 1

    gone = consenting(store)
    lapsed(gone)
    win_back = campaign(CampaignKind.WIN_BACK, incentive_kind=IncentiveKind.PERCENT, incentive_percent=15)
    notes_queue(as_of=_later(200), campaign_ids=[win_back.pk])
    assert notes_queue(as_of=_later(260), campaign_ids=[win_back.pk]).counts[str(win_back.pk)]["skipped"] == {
        "cooldown": 1
    }
    assert notes_queue(as_of=_later(291), campaign_ids=[win_back.pk]).created == 1


def test_at_most_one_note_per_customer_per_30_days_across_campaigns(store, staff):
    regular = consenting(store)
    best(regular)
    thanks = campaign(CampaignKind.THANK_YOU)
    manual = campaign(CampaignKind.MANUAL, filter_segment="best")

    run = notes_queue(as_of=AS_OF)

    assert run.created == 1
    assert Note.objects.get().campaign == thanks  # thank-you comes before a manual campaign
    assert run.counts[str(manual.pk)]["skipped"] == {"cooldown": 1}
    assert notes_queue(as_of=_later(20), campaign_ids=[manual.pk]).created == 0
    assert notes_queue(as_of=_later(31), campaign_ids=[manual.pk]).created == 1


def test_consent_do_not_contact_address_and_complaint_exclusions_are_counted(store, staff):
    ok = consenting(store)
    no_consent = consenting(store, consent_post=False, consent_email=False)
    dnc = consenting(store, do_not_contact=True)
    no_address = consenting(store, consent_email=False, postal_address="")
    email_only = consenting(store, consent_post=False)
    complainer = consenting(store)
    open_complaint(complainer)
    for rank, c in enumerate([ok, no_consent, dnc, no_address, email_only, complainer], start=1):
        best(c, rank=rank)
    thanks = campaign(CampaignKind.THANK_YOU)

    run = notes_queue(as_of=AS_OF)

    assert run.counts[str(thanks.pk)]["skipped"] == {
        "no_consent": 1,
        "do_not_contact": 1,
        "no_address": 1,
        "open_complaint": 1,
    }
    notes = {n.customer_id: n for n in Note.objects.all()}
    assert set(notes) == {ok.pk, email_only.pk}
    assert notes[ok.pk].channel == NoteChannel.POST
    assert notes[email_only.pk].channel == NoteChannel.EMAIL
    assert notes[email_only.pk].assigned_to is None  # nobody writes an email by hand


def test_open_complaint_holds_back_a_thank_you_but_not_a_win_back(store, staff):
    customer = consenting(store)
    lapsed(customer)
    open_complaint(customer)
    win_back = campaign(CampaignKind.WIN_BACK, incentive_kind=IncentiveKind.AMOUNT, incentive_amount=Decimal("50"))

    run = notes_queue(as_of=AS_OF)

    assert run.counts[str(win_back.pk)]["created"] == 1


def test_email_policy_never_emails_without_email_consent(store, staff):
    post_only = consenting(store, consent_email=False)
    best(post_only)
    emails = campaign(CampaignKind.THANK_YOU, channel_policy=ChannelPolicy.EMAIL)

    run = notes_queue(as_of=AS_OF)

    assert run.counts[str(emails.pk)]["skipped"] == {"no_consent": 1}
    assert not Note.objects.exists()


def test_holdout_share_is_about_ten_percent_deterministic_and_measured(store, staff):
    customers = Customer.objects.bulk_create(
        [
            Customer(
                first_name=f"C{i}",
                last_name="Lapsed",
                home_store=store,
                email=f"c{i}@example.test",
                postal_address=f"Street {i}",
                consent_post=True,
                consent_email=True,
                card_number=f"29{i:011d}",
            )
            for i in range(600)
        ]
    )
    day = AS_OF.date() - dt.timedelta(days=63)
    CustomerSegmentState.objects.bulk_create(
        [
            CustomerSegmentState(
                scope_key="chain",
                customer=c,
                visits=10,
                tickets=10,
                first_visit=day - dt.timedelta(days=70),
                last_visit=day,
                median_gap_days=7,
                status="lapsed",
                ladder="repeat",
            )
            for c in customers
        ]
    )
    win_back = campaign(CampaignKind.WIN_BACK, holdout_percent=None)  # the default: 10 %
    assert win_back.effective_holdout_percent == Decimal("10")

    preview = campaign_preview(campaign=win_back, as_of=AS_OF)
    run = notes_queue(as_of=AS_OF)

    held = run.counts[str(win_back.pk)]["held_out"]
    # Binomial(600, 0.1): sd ≈ 7.3; four standard deviations either side.
    assert 60 - 30 <= held <= 60 + 30
    assert preview.held_out == held and preview.contacted == run.created  # the preview is what happens
    assert HoldoutMember.objects.count() == held
    expected = {c.pk for c in customers if holdout_bucket(c.pk, win_back.pk, "2026-11") < 10}
    assert set(HoldoutMember.objects.values_list("customer_id", flat=True)) == expected
    assert not Note.objects.filter(customer_id__in=expected).exists()
    assert notes_queue(as_of=_later(1)).held_out == 0  # rerun: nothing new, the group stays the same


def test_win_back_note_carries_a_single_use_gift_voucher_issued_once(store, staff, lapsed_regular):
    Customer.objects.filter(pk=lapsed_regular.pk).update(consent_post=True)
    segments_refresh(store=None, as_of=AS_OF.date(), now=AS_OF)
    win_back = campaign(
        CampaignKind.WIN_BACK, incentive_kind=IncentiveKind.PERCENT, incentive_percent=15, incentive_valid_days=45
    )

    notes_queue(as_of=AS_OF)
    notes_queue(as_of=AS_OF)

    note = Note.objects.get(campaign=win_back)
    voucher = note.voucher
    assert voucher.source == Voucher.Source.GIFT and voucher.entry is None
    assert voucher.expires_at == AS_OF + dt.timedelta(days=45)
    assert "15" in voucher.label
    assert Voucher.objects.count() == 1
    assert "odatda har 7 kunda" in note.why  # "usually every 7 days", in the store's language (uz)
    assert note.language == "ru" and "Elena" in note.wording


def test_two_visit_customer_never_gets_a_win_back_note(store, staff, two_visit_customer, lapsed_regular):
    Customer.objects.update(consent_post=True)
    segments_refresh(store=None, as_of=AS_OF.date(), now=AS_OF)
    campaign(CampaignKind.WIN_BACK)
    notes_queue(as_of=AS_OF)
    assert list(Note.objects.values_list("customer_id", flat=True)) == [lapsed_regular.pk]


def test_fair_split_respects_the_cap_skips_staff_on_leave_and_prefers_who_served(store):
    anna, bek, dil, away = (UserFactory(username=n) for n in ("anna", "bek", "dil", "away"))
    for u in (anna, bek):
        MembershipFactory(user=u, store=store, role=Role.STAFF)
    MembershipFactory(user=dil, store=store, role=Role.MANAGER)
    MembershipFactory(user=away, store=store, role=Role.STAFF, on_leave=True)
    customers = [consenting(store) for _ in range(20)]
    for rank, c in enumerate(customers, start=1):
        best(c, rank=rank)
        # Anna served every one of them; Bek served the last two more often than Anna did.
        visits(c, [AS_OF.date() - dt.timedelta(days=10)])
        c.tickets.update(served_by=anna)
    for c in customers[-2:]:
        for t in visits(c, [AS_OF.date() - dt.timedelta(days=d) for d in (20, 30)]):
            t.served_by = bek
            t.save(update_fields=["served_by"])
    campaign(CampaignKind.THANK_YOU)

    notes_queue(as_of=AS_OF)

    load = {u: Note.objects.filter(assigned_to=u).count() for u in (anna, bek, dil, away)}
    cap = math.ceil(20 / 3) + 1
    assert load[away] == 0
    assert max(load.values()) <= cap
    assert sum(load.values()) == 20
    assert load[anna] == cap  # she served everybody: she gets as many as the rule allows
    assert set(Note.objects.filter(customer__in=customers[-2:]).values_list("assigned_to", flat=True)) == {bek.pk}


@pytest.mark.parametrize("notes,staff", [(1, 1), (7, 3), (20, 3), (100, 7), (5, 9)])
def test_split_plan_never_exceeds_the_cap_even_when_everyone_prefers_one_person(notes, staff):
    staff_ids = list(range(1, staff + 1))
    plan = split_plan(note_ids=range(notes), staff_ids=staff_ids, preferences={n: {1: 5} for n in range(notes)})
    loads = [list(plan.values()).count(s) for s in staff_ids]
    assert sum(loads) == notes
    assert max(loads) <= split_cap(notes, staff)


def test_email_notes_wait_in_sending_state_for_the_sender(store, staff, settings):
    customer = consenting(store)
    best(customer)
    campaign(CampaignKind.THANK_YOU, channel_policy=ChannelPolicy.BOTH)
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the wake-up goes to a broker nobody consumes here
    notes_queue(as_of=AS_OF)
    note = Note.objects.get()
    assert note.channel == NoteChannel.BOTH
    assert note.email_state == EmailState.SENDING and note.status == NoteStatus.QUEUED


def test_birthday_campaign_finds_birthdays_two_weeks_ahead(store, staff):
    target = AS_OF.date() + dt.timedelta(days=14)
    born = consenting(store, birthday=target.replace(year=1990))
    consenting(store, birthday=(target + dt.timedelta(days=1)).replace(year=1990))
    campaign(CampaignKind.BIRTHDAY)
    notes_queue(as_of=AS_OF)
    assert list(Note.objects.values_list("customer_id", "period")) == [(born.pk, "2026")]


def test_big_purchase_thanks_yesterdays_ticket_over_the_threshold(store, staff):
    big, small = consenting(store), consenting(store)
    yesterday = AS_OF.astimezone(store.tz).date() - dt.timedelta(days=1)
    visits(big, [yesterday], total=Decimal("2500000"))
    visits(small, [yesterday], total=Decimal("90000"))
    campaign(CampaignKind.BIG_PURCHASE, big_purchase_threshold=Decimal("2000000"), store=store)
    notes_queue(as_of=AS_OF)
    note = Note.objects.get()
    assert note.customer == big and "2" in note.why and note.period == yesterday.isoformat()


def test_new_arrivals_goes_to_the_most_frequent_fans_of_a_tag(store, staff):
    from customers.services import customer_tags_set

    fans = [consenting(store) for _ in range(3)]
    for i, c in enumerate(fans):
        state(c, visits=10 + i)
        customer_tags_set(customer=c, names=["Jazz"])
    other = consenting(store)
    state(other, visits=99)
    campaign(CampaignKind.NEW_ARRIVALS, interest_tag="jazz", top_n=2)
    notes_queue(as_of=AS_OF)
    assert set(Note.objects.values_list("customer_id", flat=True)) == {fans[2].pk, fans[1].pk}
    assert "Jazz" in Note.objects.first().context


def test_queue_for_one_store_leaves_the_other_store_alone(store, other_store, staff, staff_of_other_store):
    here, there = consenting(store), consenting(other_store)
    best(here, rank=1)
    best(there, rank=2)
    campaign(CampaignKind.THANK_YOU)
    notes_queue(as_of=AS_OF, store=store)
    assert list(Note.objects.values_list("customer_id", flat=True)) == [here.pk]
    notes_queue(as_of=AS_OF)
    assert Note.objects.get(customer=there).assigned_to == staff_of_other_store


def test_customer_factory_default_has_no_consent_so_nobody_is_contacted_by_accident(store, staff):
    best(CustomerFactory(home_store=store))
    campaign(CampaignKind.THANK_YOU)
    assert notes_queue(as_of=AS_OF).created == 0


def test_bulgarian_and_tagalog_notes_follow_the_customer_then_the_store(store, staff):
    store.locale = "bg"
    store.save(update_fields=["locale"])
    no_preference = consenting(store, first_name="Petya", preferred_language="")
    tagalog = consenting(store, first_name="Maricel", preferred_language="tl")
    unshipped = consenting(store, first_name="Hans", preferred_language="de")
    for rank, c in enumerate([no_preference, tagalog, unshipped], start=1):
        best(c, rank=rank)
    campaign(CampaignKind.THANK_YOU)

    notes_queue(as_of=AS_OF)

    by_customer = {n.customer_id: n for n in Note.objects.all()}
    assert by_customer[no_preference.pk].language == "bg"
    assert by_customer[no_preference.pk].wording.startswith("Здравейте, Petya!")
    assert by_customer[unshipped.pk].language == "bg"  # no German wording: the store's language
    assert by_customer[tagalog.pk].language == "tl"
    assert by_customer[tagalog.pk].wording.startswith("Magandang araw po, Maricel!")
    assert "Salamat" in by_customer[tagalog.pk].subject


def test_why_and_context_are_written_in_the_stores_language_and_the_wording_in_the_customers(store, staff):
    store.locale = "fa"
    store.save(update_fields=["locale"])
    best(consenting(store, first_name="Elena", preferred_language="ru"), rank=1)
    campaign(CampaignKind.THANK_YOU)

    notes_queue(as_of=AS_OF)

    note = Note.objects.get()
    assert "مراجعه" in note.why  # the staff of a Tehran shop read why in Persian…
    assert note.language == "ru" and note.wording.startswith("Здравствуйте, Elena!")  # …and write in Russian
