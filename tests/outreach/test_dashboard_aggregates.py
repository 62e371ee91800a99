"""The dashboard's precomputed tables: set-based SQL and the ORM fallback agree, and match by hand."""

import datetime as dt
from decimal import Decimal

import pytest

from customers.signals import tickets_created
from outreach.analytics_dashboard import dashboard_aggregates_refresh, month_chunks
from outreach.models import CohortMonth, CustomerMonth, CustomerMonthStaff, StoreDay
from tests.factories import CustomerFactory, TicketFactory, UserFactory, visits

pytestmark = pytest.mark.django_db

D = dt.date


def _table(model, *fields):
    return sorted(model.objects.values_list(*fields))


STORE_DAY_FIELDS = (
    "store_id",
    "day",
    "tickets",
    "sales",
    "returns",
    "sales_amount",
    "revenue",
    "visits",
    "customer_sales",
    "customer_sales_amount",
    "anonymous_sales",
    "new_customers",
    "active_customers",
    "visitors_30",
)
MONTH_FIELDS = (
    "customer_id",
    "store_id",
    "month",
    "visits",
    "tickets",
    "revenue",
    "first_day",
    "last_day",
    "visit_days",
    "first_seen",
)


STAFF_FIELDS = ("customer_id", "store_id", "month", "staff_id", "tickets", "last_day")


def bob_store(history) -> int:
    return history["both"].tickets.get(served_by=history["bob"]).store_id


@pytest.fixture
def history(store, other_store):
    """A cross-store shopper, a return, an anonymous sale and a late-night sale."""
    both = CustomerFactory(first_name="Kamola", home_store=store)
    visits(both, [D(2026, 9, 1), D(2026, 9, 1), D(2026, 10, 15)])  # two tickets on one day = one visit
    TicketFactory(customer=both, store=other_store, purchased_at=dt.datetime(2026, 10, 2, 12, tzinfo=dt.UTC))
    TicketFactory(
        customer=both, store=store, total=Decimal("-10.00"), purchased_at=dt.datetime(2026, 10, 16, 9, tzinfo=dt.UTC)
    )
    TicketFactory(
        customer=None, store=store, total=Decimal("7.50"), purchased_at=dt.datetime(2026, 10, 16, 10, tzinfo=dt.UTC)
    )
    # 20:30 UTC on 14 Oct is 01:30 on 15 Oct in Tashkent (UTC+5): the local day counts.
    late = CustomerFactory(home_store=store)
    TicketFactory(customer=late, store=store, purchased_at=dt.datetime(2026, 10, 14, 20, 30, tzinfo=dt.UTC))
    # Who rang the sales (CustomerMonthStaff): twice Ann, once Bob; the return by Ann does not count.
    ann, bob = UserFactory(username="ann.cashier"), UserFactory(username="bob.cashier")
    both.tickets.filter(purchased_at__month=9).update(served_by=ann)
    both.tickets.filter(store=other_store).update(served_by=bob)
    both.tickets.filter(total__lt=0).update(served_by=ann)
    late.tickets.update(served_by=ann)
    return {"both": both, "late": late, "ann": ann, "bob": bob}


def test_sql_and_orm_refresh_give_the_same_rows(history, best_regular, lapsed_regular, two_visit_customer, one_timer):
    start, end = D(2026, 8, 20), D(2026, 10, 31)
    for a, b in month_chunks(start, end):
        dashboard_aggregates_refresh(start=a, end=b, engine="sql")
    sql = (
        _table(StoreDay, *STORE_DAY_FIELDS),
        _table(CustomerMonth, *MONTH_FIELDS),
        _table(CohortMonth, "store_id", "cohort", "month", "customers", "revenue"),
        _table(CustomerMonthStaff, *STAFF_FIELDS),
    )
    StoreDay.objects.all().delete()
    CustomerMonth.objects.all().delete()
    CohortMonth.objects.all().delete()
    CustomerMonthStaff.objects.all().delete()
    for a, b in month_chunks(start, end):
        dashboard_aggregates_refresh(start=a, end=b, engine="orm")
    orm = (
        _table(StoreDay, *STORE_DAY_FIELDS),
        _table(CustomerMonth, *MONTH_FIELDS),
        _table(CohortMonth, "store_id", "cohort", "month", "customers", "revenue"),
        _table(CustomerMonthStaff, *STAFF_FIELDS),
    )
    assert len(sql[0]) == 2 * 73  # two stores × every day of the range, tickets or not
    assert sql[1] and sql[2]
    both, ann, bob = history["both"].pk, history["ann"].pk, history["bob"].pk
    assert [r for r in sql[3] if r[0] == both] == sorted(
        [
            (both, history["both"].home_store_id, D(2026, 9, 1), ann, 2, D(2026, 9, 1)),
            (both, bob_store(history), D(2026, 10, 1), bob, 1, D(2026, 10, 2)),
        ]
    )
    assert sql == orm


def test_a_history_refresh_in_one_piece_equals_the_monthly_refresh(
    history, best_regular, lapsed_regular, two_visit_customer, one_timer
):
    """From before the first ticket the task refreshes everything at once and reads the first sales
    from the range itself; month by month, later months look them up: the same rows."""
    from outreach.analytics_dashboard import refresh_chunks
    from outreach.tasks_dashboard import dashboard_aggregates_refresh_task

    start, end = D(2024, 10, 1), D(2026, 11, 1)  # before the fixtures' first ticket
    assert refresh_chunks(start, end) == [(start, end)]
    assert len(refresh_chunks(D(2026, 8, 20), end)) == 4  # after it: month by month
    dashboard_aggregates_refresh_task.apply(args=(start.isoformat(), end.isoformat())).get()
    whole = (
        _table(StoreDay, *STORE_DAY_FIELDS),
        _table(CustomerMonth, *MONTH_FIELDS),
        _table(CohortMonth, "store_id", "cohort", "month", "customers", "revenue"),
    )
    StoreDay.objects.all().delete()
    CustomerMonth.objects.all().delete()
    CohortMonth.objects.all().delete()
    for a, b in month_chunks(start, end):
        dashboard_aggregates_refresh(start=a, end=b, engine="sql")
    monthly = (
        _table(StoreDay, *STORE_DAY_FIELDS),
        _table(CustomerMonth, *MONTH_FIELDS),
        _table(CohortMonth, "store_id", "cohort", "month", "customers", "revenue"),
    )
    assert whole == monthly
    assert sum(row[-3] for row in whole[0]) > 0  # new customers were counted (the visits' first sales)


def test_store_day_counts_by_hand(history, store):
    dashboard_aggregates_refresh(start=D(2026, 10, 15), end=D(2026, 10, 16))
    oct15 = StoreDay.objects.get(store=store, day=D(2026, 10, 15))
    # Kamola's sale and the late-night sale (local 15 Oct); Kamola came before, the night owl did not.
    assert (oct15.tickets, oct15.sales, oct15.visits, oct15.new_customers) == (2, 2, 2, 1)
    oct16 = StoreDay.objects.get(store=store, day=D(2026, 10, 16))
    assert (oct16.returns, oct16.anonymous_sales, oct16.revenue) == (1, 1, Decimal("-2.50"))


def test_active_customers_is_a_90_day_window(store, best_regular, lapsed_regular, two_visit_customer, one_timer):
    dashboard_aggregates_refresh(start=D(2026, 10, 31), end=D(2026, 10, 31))
    # best_regular (3 days ago) and one_timer (120 days ago → no); lapsed 63 days ago → yes.
    assert StoreDay.objects.get(store=store, day=D(2026, 10, 31)).active_customers == 2
    one_timer_day = D(2026, 11, 1) - dt.timedelta(days=120)
    dashboard_aggregates_refresh(start=one_timer_day + dt.timedelta(days=89), end=one_timer_day + dt.timedelta(days=90))
    last_active, gone = StoreDay.objects.filter(
        store=store, day__range=(one_timer_day + dt.timedelta(days=89), one_timer_day + dt.timedelta(days=90))
    ).order_by("day")
    assert last_active.active_customers - gone.active_customers == 1


def test_visitors_30_counts_the_customers_of_the_30_days_ending_each_day(store):
    a, b = CustomerFactory(home_store=store), CustomerFactory(home_store=store)
    visits(a, [D(2026, 9, 1), D(2026, 9, 20)])
    visits(b, [D(2026, 9, 10)])
    dashboard_aggregates_refresh(start=D(2026, 9, 1), end=D(2026, 10, 31))
    rows = dict(StoreDay.objects.filter(store=store).values_list("day", "visitors_30"))
    # a: 1 Sep–19 Oct (the 20 Sep visit keeps them 30 days more); b: 10 Sep–9 Oct.
    assert (rows[D(2026, 9, 1)], rows[D(2026, 9, 10)], rows[D(2026, 10, 9)]) == (1, 2, 2)
    assert (rows[D(2026, 10, 10)], rows[D(2026, 10, 19)], rows[D(2026, 10, 20)]) == (1, 1, 0)
    # The 90-day count of the same days is the active count.
    assert StoreDay.objects.get(store=store, day=D(2026, 10, 20)).active_customers == 2


def test_refresh_is_idempotent_and_drops_rows_whose_tickets_moved(history, store):
    dashboard_aggregates_refresh(start=D(2026, 10, 1), end=D(2026, 10, 31))
    first = _table(CustomerMonth, *MONTH_FIELDS)
    dashboard_aggregates_refresh(start=D(2026, 10, 1), end=D(2026, 10, 31))
    assert _table(CustomerMonth, *MONTH_FIELDS) == first
    history["late"].tickets.update(customer=history["both"])  # a merge moves the tickets
    dashboard_aggregates_refresh(start=D(2026, 10, 1), end=D(2026, 10, 31))
    assert not CustomerMonth.objects.filter(customer=history["late"]).exists()
    assert not CustomerMonthStaff.objects.filter(customer=history["late"]).exists()
    moved = CustomerMonthStaff.objects.get(customer=history["both"], store=store, month=D(2026, 10, 1))
    assert (moved.staff_id, moved.tickets, moved.last_day) == (history["ann"].pk, 1, D(2026, 10, 15))
    row = CustomerMonth.objects.get(customer=history["both"], store=store, month=D(2026, 10, 1))
    # Both sales fell on local 15 Oct: two tickets, one visit; the return on the 16th is no visit.
    assert (row.tickets, row.visits, row.visit_days, row.revenue) == (2, 1, 1 << 14, Decimal("40.00"))


def test_new_tickets_refresh_their_day_through_the_receiver(store, settings):
    from crm.celery import app

    app.conf.task_always_eager = True
    try:
        customer = CustomerFactory(home_store=store)
        (ticket,) = visits(customer, [D(2026, 10, 20)])
        tickets_created.send(sender=None, ticket_ids=[ticket.pk])
    finally:
        app.conf.task_always_eager = False
    day = StoreDay.objects.get(store=store, day=D(2026, 10, 20))
    assert (day.visits, day.new_customers, day.active_customers) == (1, 1, 1)
    assert CustomerMonth.objects.get(customer=customer).first_seen == D(2026, 10, 20)


def test_refresh_command_fills_the_tables_for_one_store_and_refuses_unknown_codes(history, store, other_store):
    from django.core.management import CommandError, call_command

    call_command("refresh_dashboard", "--since", "2026-10-01", "--until", "2026-10-31", "--store", store.code)
    assert StoreDay.objects.filter(store=store).count() == 31
    assert not StoreDay.objects.filter(store=other_store).exists()
    assert CustomerMonth.objects.filter(store=store, month=D(2026, 10, 1)).exists()
    with pytest.raises(CommandError, match="Unknown store"):
        call_command("refresh_dashboard", "--store", "NOPE")
