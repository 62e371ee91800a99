"""One chunk of a run is one statement (PostgreSQL): it inserts the customers new to the scope, updates
only the rows whose figures moved, deletes the customers without a visit any more, and records each
move in the history — and a second write of the same day touches no row at all."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import Customer, PurchaseTicket
from outreach import analytics, rules
from outreach.models import CustomerSegmentState, SegmentChange
from outreach.services import policy_for, segments_refresh
from tests.conftest import AS_OF
from tests.factories import CustomerFactory, visits

pytestmark = pytest.mark.django_db
AS_OF_DATE = AS_OF.date()


def row_versions() -> dict[int, str]:
    """customer id → the state row's xmin (a row written again gets a new one)."""
    with connection.cursor() as cur:
        cur.execute("SELECT customer_id, xmin::text FROM outreach_customersegmentstate WHERE scope_key = 'chain'")
        return dict(cur.fetchall())


def chunk_write(*, run_id: int, as_of: dt.date, customers: analytics.CustomerFilter) -> int:
    policy = policy_for(store=None)
    return analytics.segment_chunk_write(
        run_id=run_id,
        scope_key="chain",
        store_id=None,
        as_of=as_of,
        customers=customers,
        windows=rules.windows_for(as_of, policy),
        policy=policy,
    )


def everyone() -> analytics.CustomerFilter:
    ids = list(Customer.objects.values_list("id", flat=True))
    return analytics.CustomerFilter(id_range=(min(ids), max(ids)))


@pytest.mark.skipif(not analytics.use_sql(), reason="the set-based chunk is PostgreSQL's")
def test_a_second_write_of_the_same_day_writes_no_row_and_no_history(
    best_regular, lapsed_regular, two_visit_customer, one_timer
):
    run = segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now(), full=True)
    before, history = row_versions(), SegmentChange.objects.count()
    assert len(before) == 4

    assert chunk_write(run_id=run.pk, as_of=AS_OF_DATE, customers=everyone()) == 4
    assert chunk_write(run_id=run.pk, as_of=AS_OF_DATE, customers=analytics.CustomerFilter(ids=tuple(before))) == 4

    assert row_versions() == before
    assert SegmentChange.objects.count() == history


@pytest.mark.skipif(not analytics.use_sql(), reason="the set-based chunk is PostgreSQL's")
def test_one_statement_inserts_updates_deletes_and_records_each_move(
    store, best_regular, lapsed_regular, two_visit_customer, one_timer
):
    run = segments_refresh(store=None, as_of=AS_OF_DATE, now=timezone.now(), full=True)
    # The lapsed regular loses every ticket (unlinked, as an erasure of the tickets' owner would) while
    # flagged best and at risk; a newcomer buys; the two-visit customer comes back yesterday (a third
    # visit: still active, a regular now).
    CustomerSegmentState.objects.filter(customer=lapsed_regular).update(is_best=True, is_at_risk=True)
    PurchaseTicket.objects.filter(customer=lapsed_regular).update(customer=None)
    analytics.visit_days_rebuild(customer_ids=[lapsed_regular.pk])
    newcomer = CustomerFactory(first_name="Nodira", last_name="Karimova", home_store=store)
    visits(newcomer, [AS_OF_DATE - dt.timedelta(days=1)])
    visits(two_visit_customer, [AS_OF_DATE - dt.timedelta(days=1)])
    analytics.visit_days_sync()
    before = row_versions()
    history = SegmentChange.objects.count()

    # Covered: the four who have a visit (one of them new) and the one who lost theirs.
    assert chunk_write(run_id=run.pk, as_of=AS_OF_DATE, customers=everyone()) == 5

    after = row_versions()
    assert set(after) == {best_regular.pk, two_visit_customer.pk, one_timer.pk, newcomer.pk}
    assert after[best_regular.pk] == before[best_regular.pk] and after[one_timer.pk] == before[one_timer.pk]
    assert after[two_visit_customer.pk] != before[two_visit_customer.pk]
    back = CustomerSegmentState.objects.get(scope_key="chain", customer=two_visit_customer)
    assert (back.visits, back.last_visit, back.status, back.ladder) == (
        3,
        AS_OF_DATE - dt.timedelta(days=1),
        "active",
        "regular",
    )
    new = CustomerSegmentState.objects.get(scope_key="chain", customer=newcomer)
    assert (new.visits, new.status, new.ladder, new.is_best, new.is_at_risk) == (1, "new", "buyer", False, False)
    moves = set(
        SegmentChange.objects.filter(id__gt=0)
        .order_by("id")[history:]
        .values_list("customer_id", "kind", "from_value", "to_value")
    )
    assert moves == {
        (lapsed_regular.pk, "status", "lapsed", ""),
        (lapsed_regular.pk, "ladder", "repeat", ""),
        (lapsed_regular.pk, "best", "best", ""),
        (lapsed_regular.pk, "at_risk", "at_risk", ""),
        (newcomer.pk, "status", "", "new"),
        (newcomer.pk, "ladder", "", "buyer"),
        (two_visit_customer.pk, "ladder", "repeat", "regular"),
    }
