"""The visit-day table stays equal to a rebuild from the tickets whichever way tickets arrive or move,
and the set-based run (visit-days → figures → classification in SQL) equals the rules applied in Python."""

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Customer, PurchaseTicket
from customers.signals import send_tickets_created
from outreach import analytics, rules
from outreach.models import ChainVisitDay, CustomerSegmentState, VisitDay, VisitDayFeed
from outreach.services import STATE_FIELDS, policy_for, segments_refresh
from tests.outreach.conftest import AS_OF_DATE, generate_chain

pytestmark = pytest.mark.django_db


def table() -> list[tuple]:
    return sorted(VisitDay.objects.values_list("customer_id", "store_id", "day", "sales", "revenue"))


def chain_rows() -> list[tuple]:
    return sorted(ChainVisitDay.objects.values_list("customer_id", "day", "sales", "revenue", "gap"))


def chain_of(rows: list[tuple]) -> list[tuple]:
    """The chain's visit-days from the stores' (customer, store, day, sales, revenue) rows: one row per
    customer and day, with the days since the previous visit day on a visit (None on the first, and on a
    return-only day)."""
    days: dict = {}
    for customer, _, day, sales, revenue in rows:
        s, r = days.get((customer, day), (0, Decimal("0")))
        days[(customer, day)] = (s + sales, r + revenue)
    out, prev = [], {}
    for (customer, day), (sales, revenue) in sorted(days.items()):
        gap = (day - prev[customer]).days if sales > 0 and customer in prev else None
        if sales > 0:
            prev[customer] = day
        out.append((customer, day, sales, revenue, gap))
    return out


def rebuilt() -> list[tuple]:
    analytics.visit_days_rebuild()
    return table()


def ticket(customer, store, when: dt.datetime, total: str = "10.00", **kw) -> PurchaseTicket:
    n = PurchaseTicket.objects.count()
    return PurchaseTicket.objects.create(
        customer=customer, store=store, number=f"VD{n}", purchased_at=when, total=Decimal(total), **kw
    )


def test_a_day_row_counts_sales_and_nets_returns_in_the_stores_local_day(best_regular, store):
    analytics.visit_days_sync()
    before = VisitDay.objects.filter(customer=best_regular).count()
    # 23:30 and 00:30 local are two days; a return the next evening is a return-only day.
    day = AS_OF_DATE + dt.timedelta(days=3)  # after the persona's own visits
    late = dt.datetime.combine(day, dt.time(23, 30), tzinfo=store.tz)
    made = [ticket(best_regular, store, late), ticket(best_regular, store, late + dt.timedelta(hours=1))]
    made.append(ticket(best_regular, store, late - dt.timedelta(hours=2), "5.00"))
    made.append(ticket(best_regular, store, late + dt.timedelta(hours=44), "-4.00", is_return=True))
    analytics.visit_days_apply(ticket_ids=[t.pk for t in made])
    rows = {r.day: (r.sales, r.revenue) for r in VisitDay.objects.filter(customer=best_regular, day__gte=day)}
    assert rows == {
        day: (2, Decimal("15.00")),
        day + dt.timedelta(days=1): (1, Decimal("10.00")),
        day + dt.timedelta(days=2): (0, Decimal("-4.00")),
    }
    assert VisitDay.objects.filter(customer=best_regular).count() == before + 3
    assert chain_rows() == chain_of(table())
    # A late ticket between two old visits, and a return on an old visit day: the chain's rows from the
    # earliest touched day on are recomputed (the next visit's gap shrinks), the rows before stay.
    old_days = sorted(VisitDay.objects.filter(customer=best_regular, sales__gt=0).values_list("day", flat=True))
    between = old_days[1] + (old_days[2] - old_days[1]) / 2
    assert between not in old_days
    late = [ticket(best_regular, store, dt.datetime.combine(between, dt.time(12), tzinfo=store.tz))]
    late.append(
        ticket(
            best_regular, store, dt.datetime.combine(old_days[3], dt.time(18), tzinfo=store.tz), "-1.00", is_return=True
        )
    )
    analytics.visit_days_apply(ticket_ids=[t.pk for t in late])
    assert chain_rows() == chain_of(table())
    assert (best_regular.pk, between, 1, Decimal("10.00"), (between - old_days[1]).days) in chain_rows()


def test_the_receiver_the_catch_up_merges_and_erasures_keep_the_table_equal_to_a_rebuild(
    owner, django_capture_on_commit_callbacks
):
    from customers.services import customer_erase, customers_merge

    chain = generate_chain(customers=120, seed=3)
    east = chain["east"]
    assert analytics.visit_days_sync() > 0, "the first sync fills the table from the tickets"
    assert table() and VisitDayFeed.objects.get().ticket_watermark == PurchaseTicket.objects.latest("id").pk
    people = list(Customer.objects.order_by("id")[:6])
    noon = dt.datetime.combine(AS_OF_DATE, dt.time(12), tzinfo=east.tz)
    # Through tickets_created (after commit), twice: a repeated id changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        made = [ticket(c, east, noon + dt.timedelta(minutes=i)) for i, c in enumerate(people)]
        send_tickets_created([t.pk for t in made])
    with django_capture_on_commit_callbacks(execute=True):
        send_tickets_created([t.pk for t in made])
    assert chain_rows() == chain_of(table())
    assert table() == rebuilt()
    # Tickets that send no signal (demo data, a bulk load): the next run's catch-up folds them in.
    PurchaseTicket.objects.bulk_create(
        [
            PurchaseTicket(customer=c, store=east, number=f"BULK{i}", purchased_at=noon, total=Decimal("3.00"))
            for i, c in enumerate(people[:3])
        ]
    )
    expected = rebuilt()
    VisitDay.objects.filter(customer__in=people[:3], day=AS_OF_DATE).delete()
    VisitDayFeed.objects.update(ticket_watermark=max(t.pk for t in made))
    analytics.visit_days_sync()
    assert table() == expected
    assert chain_rows() == chain_of(expected)
    # A merge moves the duplicate's days to the survivor; an erasure takes the customer's days away.
    customers_merge(survivor=people[0], duplicate=people[1], by=owner)
    assert chain_rows() == chain_of(table())
    assert table() == rebuilt()
    customer_erase(customer=people[2], by=owner, at=timezone.now())
    assert not VisitDay.objects.filter(customer=people[2]).exists()
    assert not ChainVisitDay.objects.filter(customer=people[2]).exists()
    assert chain_rows() == chain_of(table())
    assert table() == rebuilt()


def test_a_store_whose_time_zone_changes_has_its_days_rebuilt(best_regular, store):
    analytics.visit_days_sync()
    before = table()
    store.time_zone = "America/Los_Angeles"  # 11:00 in Tashkent is 22:00 the day before in California
    store.save(update_fields=["time_zone"])
    analytics.visit_days_sync()
    got = table()
    assert chain_rows() == chain_of(got)
    assert got == rebuilt() and got != before
    assert {d - dt.timedelta(days=1) for _, _, d, _, _ in before} == {d for _, _, d, _, _ in got}


@pytest.mark.parametrize("scope", ["chain", "east"])
def test_the_set_based_run_equals_the_python_rules_on_the_orm_figures(scope):
    chain = generate_chain(customers=250, seed=9)
    store = chain.get(scope)
    segments_refresh(store=store, as_of=AS_OF_DATE, now=timezone.now(), full=True)
    policy = policy_for(store=store)
    windows = rules.windows_for(AS_OF_DATE, policy)
    stats = analytics.visit_stats(store_id=store.pk if store else None, windows=windows, policy=policy, force_orm=True)
    expected = {}
    for st in stats:
        c = rules.classify(st, windows, policy)
        row = {**dataclasses.asdict(st), **dataclasses.asdict(c), "window_oldest": st.oldest_inside[0]}
        expected[st.customer_id] = tuple(row[f] for f in STATE_FIELDS)
    scope_key = "chain" if store is None else f"store:{store.pk}"
    got = {
        r[0]: tuple(r[1:])
        for r in CustomerSegmentState.objects.filter(scope_key=scope_key).values_list("customer_id", *STATE_FIELDS)
    }
    assert len(got) > 100 and got == expected
    statuses = {v[STATE_FIELDS.index("status")] for v in got.values()}
    ladders = {v[STATE_FIELDS.index("ladder")] for v in got.values()}
    assert {"active", "lapsed", "one_timer"} <= statuses and {"buyer", "repeat", "regular"} <= ladders


def test_incremental_equals_full_after_tickets_through_the_receiver_and_after_time_alone(
    django_capture_on_commit_callbacks,
):
    chain = generate_chain(customers=200, seed=21)
    east = chain["east"]
    day = AS_OF_DATE
    segments_refresh(store=None, as_of=day, now=timezone.now())

    def compare(as_of):
        inc = segments_refresh(store=None, as_of=as_of, now=timezone.now())
        assert inc.mode == "incremental"
        fields = [f.attname for f in CustomerSegmentState._meta.concrete_fields if f.attname != "id"]
        state = list(CustomerSegmentState.objects.order_by("customer_id").values_list(*fields))
        full = segments_refresh(store=None, as_of=as_of, now=timezone.now(), full=True)
        assert full.changes == 0 and full.counts == inc.counts
        assert list(CustomerSegmentState.objects.order_by("customer_id").values_list(*fields)) == state
        return inc

    # New tickets, announced as the till would (the receiver feeds the visit-day table).
    people = list(Customer.objects.order_by("-id")[:15])
    with django_capture_on_commit_callbacks(execute=True):
        made = [
            ticket(c, east, dt.datetime.combine(day, dt.time(10), tzinfo=east.tz) + dt.timedelta(minutes=i))
            for i, c in enumerate(people)
        ]
        send_tickets_created([t.pk for t in made])
    compare(day + dt.timedelta(days=1))
    # Time alone: six weeks later (lapses, the end of "new", a month boundary), no ticket at all.
    inc = compare(day + dt.timedelta(days=43))
    assert inc.changes > 0, "time alone moved somebody"
