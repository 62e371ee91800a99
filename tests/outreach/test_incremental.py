"""Incremental runs recompute only the changed and the due customers, and equal a full run."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone

from customers.models import Customer, PurchaseTicket
from customers.signals import send_tickets_created
from outreach.models import CustomerSegmentState, SegmentChange
from outreach.services import segments_refresh
from tests.outreach.conftest import AS_OF_DATE, generate_chain

pytestmark = pytest.mark.django_db

SNAPSHOT_FIELDS = [f.attname for f in CustomerSegmentState._meta.concrete_fields if f.attname not in ("id",)]


def snapshot(scope="chain"):
    return list(
        CustomerSegmentState.objects.filter(scope_key=scope).order_by("customer_id").values_list(*SNAPSHOT_FIELDS)
    )


def add_day_of_tickets(day: dt.date, chain, *, count: int = 12, seed: int = 0):
    """A day's tickets for a few existing customers and one new one, sent through tickets_created."""
    store = chain["east"]
    people = list(Customer.objects.order_by("id")[seed : seed + count])
    people.append(Customer.objects.create(first_name="Fresh", home_store=store, referred_by=people[0]))
    made = PurchaseTicket.objects.bulk_create(
        [
            PurchaseTicket(
                store=store,
                number=f"D{day:%Y%m%d}-{i}",
                purchased_at=dt.datetime.combine(day, dt.time(12), tzinfo=store.tz),
                total=Decimal("12.50"),
                customer=c,
            )
            for i, c in enumerate(people)
        ]
    )
    send_tickets_created([t.pk for t in made])
    return people


@pytest.mark.parametrize("scope_store", [None, "east"])
def test_incremental_runs_over_days_and_a_month_boundary_equal_full_runs(scope_store):
    chain = generate_chain(customers=220, seed=11)
    store = chain[scope_store] if scope_store else None
    scope = "chain" if store is None else f"store:{store.pk}"
    start = dt.date(2026, 10, 29)
    first = segments_refresh(store=store, as_of=start, now=timezone.now())
    assert first.mode == "full"
    total = first.counts["customers"]
    for offset in range(1, 5):  # Oct 30, 31, Nov 1 (a new month), Nov 2
        as_of = start + dt.timedelta(days=offset)
        add_day_of_tickets(as_of - dt.timedelta(days=1), chain, seed=offset * 5)
        inc = segments_refresh(store=store, as_of=as_of, now=timezone.now())
        assert inc.mode == "incremental"
        state_inc = snapshot(scope)
        full = segments_refresh(store=store, as_of=as_of, now=timezone.now(), full=True)
        assert full.changes == 0, f"the full run found {full.changes} differences on {as_of}"
        assert snapshot(scope) == state_inc
        assert full.counts == inc.counts
        if as_of.day != 1:
            assert inc.customers_recomputed < total / 2, "an ordinary night recomputes few customers"


def test_time_alone_moves_a_regular_into_lapsed_in_an_incremental_run(lapsed_regular, best_regular):
    # lapsed_regular is weekly (3 × 7 = 21 < the 30-day floor): lapsed from day 31 after the last visit.
    last = AS_OF_DATE - dt.timedelta(days=63)
    day_before = last + dt.timedelta(days=30)
    segments_refresh(store=None, as_of=day_before, now=timezone.now())
    assert CustomerSegmentState.objects.get(customer=lapsed_regular).status == "active"
    run = segments_refresh(store=None, as_of=day_before + dt.timedelta(days=1), now=timezone.now())
    assert run.mode == "incremental"
    assert CustomerSegmentState.objects.get(customer=lapsed_regular).status == "lapsed"
    assert SegmentChange.objects.filter(
        run=run, customer=lapsed_regular, kind="status", from_value="active", to_value="lapsed"
    ).exists()


def test_time_alone_turns_at_risk_on_in_an_incremental_run_on_the_full_runs_day(store, best_regular):
    """P(alive) falls with T: the flag turns on some night without a ticket or a due_on, and the
    incremental run (which re-checks only the recomputed customers and those whose risk_on came) flips
    it on the same day as a full run, and shows the same P(alive)."""
    from outreach import bgnbd
    from outreach.selectors import segment_members
    from tests.factories import CustomerFactory, visits

    params = bgnbd.BGNBDParams(r=0.5, alpha=10.0, a=0.8, b=2.5)
    fading = CustomerFactory(first_name="Fading", home_store=store)
    last = AS_OF_DATE - dt.timedelta(days=61)
    visits(fading, [last - dt.timedelta(days=12 * i) for i in range(10)])
    # P(alive) (rounded) is 0.50 at 38 days since the last visit, under 0.5 from 39 or 40.
    start = last + dt.timedelta(days=35)
    segments_refresh(store=None, as_of=start, now=timezone.now(), params=params)
    state = CustomerSegmentState.objects.get(scope_key="chain", customer=fading)
    assert not state.is_at_risk and state.risk_on is not None and start < state.risk_on <= last + dt.timedelta(days=39)
    flipped_on = None
    for offset in range(1, 7):  # the model is reused for 7 days: every run keeps the same parameters
        as_of = start + dt.timedelta(days=offset)
        inc = segments_refresh(store=None, as_of=as_of, now=timezone.now())
        assert inc.mode == "incremental" and inc.model_params["r"] == 0.5
        at_risk = CustomerSegmentState.objects.get(scope_key="chain", customer=fading).is_at_risk
        shown = {s.customer_id: s.p_alive for n in ("regular", "repeat") for s in segment_members(store=None, name=n)}
        state_inc = snapshot()
        full = segments_refresh(store=None, as_of=as_of, now=timezone.now(), full=True)
        assert full.changes == 0 and snapshot() == state_inc, f"incremental differs from full on {as_of}"
        expected_p = float(np.round(bgnbd.p_alive(params, [9], [108], [(as_of - last).days + 107])[0], 2))
        assert shown[fading.pk] == expected_p, "P(alive) is read against the newest run's as_of"
        assert at_risk == (expected_p < 0.5)
        if at_risk and flipped_on is None:
            flipped_on = as_of
            assert SegmentChange.objects.filter(run=inc, customer=fading, kind="at_risk", to_value="at_risk").exists()
            assert fading.pk not in {i for c in inc.plan for i in (c.get("ids") or [])}, "no ticket, not due"
    assert flipped_on is not None and (flipped_on - last).days in (39, 40)


def test_the_first_run_after_risk_on_appeared_rechecks_every_row(lapsed_regular, best_regular):
    """State rows written before risk_on existed have none: the next run, though incremental with the
    same parameters, re-checks every row instead of trusting risk_on."""
    from outreach import bgnbd
    from outreach.models import SegmentRun

    params = bgnbd.BGNBDParams(r=0.5, alpha=10.0, a=0.8, b=2.5)
    first = segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now(), params=params)
    expected = snapshot()
    assert any(row[SNAPSHOT_FIELDS.index("risk_on")] for row in expected)
    old = {k: v for k, v in first.model_params.items() if k != "risk_on"}
    SegmentRun.objects.filter(pk=first.pk).update(model_params=old)  # as an older release left it
    CustomerSegmentState.objects.update(risk_on=None)
    run = segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    assert run.mode == "incremental" and run.customers_recomputed == 0
    assert snapshot() == expected


def test_unchanged_memberships_write_no_history(best_regular, one_timer):
    segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    before = SegmentChange.objects.count()
    run = segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now(), full=True)
    assert run.changes == 0 and SegmentChange.objects.count() == before


def test_a_second_run_of_the_same_scope_is_refused_while_one_runs(best_regular):
    from outreach.services import SegmentRunBusy, segments_run_start

    run, _ = segments_run_start(store=None, as_of=AS_OF_DATE, now=timezone.now())
    with pytest.raises(SegmentRunBusy) as busy:
        segments_run_start(store=None, as_of=AS_OF_DATE, now=timezone.now())
    assert busy.value.run == run
    # A store scope is another lock.
    other, _ = segments_run_start(store=best_regular.home_store, as_of=AS_OF_DATE, now=timezone.now())
    assert other.status == "running"


def test_a_stale_running_run_does_not_hold_the_lock_forever(best_regular):
    from outreach.services import segments_run_start

    now = timezone.now()
    stuck, _ = segments_run_start(store=None, as_of=AS_OF_DATE, now=now - dt.timedelta(hours=5))
    run, _ = segments_run_start(store=None, as_of=AS_OF_DATE, now=now)
    stuck.refresh_from_db()
    assert stuck.status == "failed" and run.status == "running"


def test_tickets_created_queues_customers_for_both_scopes(best_regular, store, django_capture_on_commit_callbacks):
    from outreach.models import PendingCustomer
    from tests.factories import visits

    segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        made = visits(best_regular, [AS_OF_DATE])
        send_tickets_created([t.pk for t in made])
    assert set(PendingCustomer.objects.values_list("scope_key", "customer_id")) == {
        ("chain", best_regular.pk),
        (f"store:{store.pk}", best_regular.pk),
    }
    run = segments_refresh(store=None, as_of=AS_OF_DATE + dt.timedelta(days=1), now=timezone.now())
    assert run.mode == "incremental" and run.customers_recomputed >= 1
    assert not PendingCustomer.objects.filter(scope_key="chain").exists(), "the run consumed the chain's queue"
    assert PendingCustomer.objects.filter(scope_key=f"store:{store.pk}").exists(), "the store's queue waits for its run"


def test_a_store_override_changes_only_that_stores_segmentation(best_regular, lapsed_regular, store):
    from outreach.models import SegmentPolicy

    SegmentPolicy.objects.create(store=store, best_top_n=1)
    chain = segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    here = segments_refresh(store=store, as_of=AS_OF_DATE, now=timezone.now())
    assert chain.counts["best"] == 2 and here.counts["best"] == 1
    assert here.policy_snapshot["best_top_n"] == "1"


def test_the_visit_model_is_refitted_weekly_and_reused_in_between():
    generate_chain(customers=80, seed=5)
    day = AS_OF_DATE
    first = segments_refresh(store=None, as_of=day, now=timezone.now())
    assert first.model_params["fitted_as_of"] == day.isoformat()
    reused = segments_refresh(store=None, as_of=day + dt.timedelta(days=6), now=timezone.now(), full=True)
    assert reused.model_params["fitted_as_of"] == day.isoformat()
    assert reused.model_params["r"] == first.model_params["r"]
    refitted = segments_refresh(store=None, as_of=day + dt.timedelta(days=7), now=timezone.now())
    assert refitted.model_params["fitted_as_of"] == (day + dt.timedelta(days=7)).isoformat()


def test_a_merge_gives_the_survivor_the_duplicates_visits_in_the_next_run(store, owner):
    from customers.services import customers_merge
    from outreach.models import SegmentChange
    from tests.factories import CustomerFactory, visits

    survivor, duplicate = CustomerFactory(home_store=store), CustomerFactory(home_store=store)
    visits(survivor, [AS_OF_DATE - dt.timedelta(days=d) for d in (40, 20)])
    visits(duplicate, [AS_OF_DATE - dt.timedelta(days=d) for d in (30, 10)])
    segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    customers_merge(survivor=survivor, duplicate=duplicate, by=owner)
    run = segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    assert run.mode == "incremental"
    s = CustomerSegmentState.objects.get(scope_key="chain", customer=survivor)
    assert (s.visits, s.ladder) == (4, "regular")
    assert SegmentChange.objects.filter(customer=survivor, to_value="regular").exists()
    assert SegmentChange.objects.filter(customer=survivor).count() >= 4, "the duplicate's history moved over"


def test_an_erasure_drops_the_customers_segment_rows(best_regular, one_timer, owner):
    from customers.services import customer_erase
    from outreach.models import SegmentChange

    segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    customer_erase(customer=one_timer, by=owner, at=timezone.now())
    assert not CustomerSegmentState.objects.filter(customer=one_timer).exists()
    assert not SegmentChange.objects.filter(customer=one_timer).exists()
    run = segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now())
    assert run.counts["customers"] == 1 and run.counts["one_timer"] == 0


@pytest.mark.parametrize("scope_store", [None, "store"])
def test_a_customer_whose_oldest_day_leaves_the_window_is_slid_and_equals_a_full_run(store, other_store, scope_store):
    """A weekly regular (some days in two stores, one return-only day near the window's start): each
    night their oldest counted day may leave the 365-day window. The nightly run slides the window
    figures instead of recomputing them, and still lands on exactly what a full run writes."""
    from tests.factories import CustomerFactory, TicketFactory, visits
    from tests.outreach.conftest import every

    c = CustomerFactory(first_name="Slide", last_name="Weekly", home_store=store)
    days = every(7, since=3, count=60)  # 3 to 416 days before Nov 1
    sales = visits(c, days, total=Decimal("30.00"))
    for i, day in enumerate(days[-12:]):  # the oldest weeks: a second ticket in the other store, other sums
        TicketFactory(
            customer=c,
            store=other_store,
            purchased_at=dt.datetime.combine(day, dt.time(10), tzinfo=other_store.tz),
            total=Decimal("7.25") + i,
        )
    TicketFactory(  # a return-only day inside the window, near its start
        customer=c,
        store=store,
        purchased_at=dt.datetime.combine(AS_OF_DATE - dt.timedelta(days=361), dt.time(12), tzinfo=store.tz),
        total=Decimal("-30.00"),
        is_return=True,
        original=sales[-1],
    )
    scope_of = store if scope_store else None
    scope = "chain" if scope_of is None else f"store:{store.pk}"
    start = AS_OF_DATE + dt.timedelta(days=1)  # Nov 2; every run below stays in November
    segments_refresh(store=scope_of, as_of=start, now=timezone.now(), full=True)
    slid_nights = 0
    for offset in range(1, 10):
        as_of = start + dt.timedelta(days=offset)
        before = CustomerSegmentState.objects.get(scope_key=scope, customer=c)
        inc = segments_refresh(store=scope_of, as_of=as_of, now=timezone.now())
        assert inc.mode == "incremental"
        state_inc = snapshot(scope)
        after = CustomerSegmentState.objects.get(scope_key=scope, customer=c)
        if (before.window_visits, before.window_revenue) != (after.window_visits, after.window_revenue):
            slid_nights += inc.customers_recomputed == 0
        full = segments_refresh(store=scope_of, as_of=as_of, now=timezone.now(), full=True)
        assert full.changes == 0, f"the full run found {full.changes} differences on {as_of}"
        assert snapshot(scope) == state_inc, f"the slid state differs from a full run's on {as_of}"
        assert full.counts == inc.counts
    assert slid_nights >= 1, "the window moved without recomputing the customer"
