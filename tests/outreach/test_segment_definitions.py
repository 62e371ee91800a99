"""Named personas pin each definition of issue 5 through a real run (services + SQL)."""

import datetime as dt

import pytest
from django.utils import timezone

from outreach import rules
from outreach.models import CHAIN, CustomerSegmentState
from outreach.services import segments_refresh
from tests.outreach.conftest import AS_OF_DATE

pytestmark = pytest.mark.django_db


def refresh(store=None, as_of=AS_OF_DATE, **kw):
    return segments_refresh(store=store, as_of=as_of, now=timezone.now(), **kw)


def state(customer, scope=CHAIN) -> CustomerSegmentState:
    return CustomerSegmentState.objects.get(scope_key=scope, customer=customer)


def test_weekly_regular_absent_five_weeks_is_a_lapsed_regular(weekly_regular_absent_5_weeks):
    refresh()
    s = state(weekly_regular_absent_5_weeks)
    assert (s.status, s.ladder, s.median_gap_days) == ("lapsed", "repeat", 7.0)
    assert "lapsed" in s.segments


def test_monthly_regular_absent_five_weeks_is_not_lapsed(monthly_regular_absent_5_weeks):
    refresh()
    s = state(monthly_regular_absent_5_weeks)
    assert s.status == "active" and s.ladder in ("regular", "adherent")


def test_weekly_regular_absent_four_weeks_is_not_lapsed_because_of_the_30_day_floor(weekly_regular_absent_4_weeks):
    refresh()
    assert state(weekly_regular_absent_4_weeks).status == "active"


def test_two_visit_customer_is_never_a_lapsed_regular(two_visit_customer, store):
    for as_of in (AS_OF_DATE, AS_OF_DATE + dt.timedelta(days=300)):
        refresh(as_of=as_of, full=True)
        s = state(two_visit_customer)
        assert s.status != "lapsed" and s.ladder == "repeat"


def test_lapsed_regular_persona_is_lapsed_and_becomes_lost_after_730_days(lapsed_regular):
    refresh()
    assert state(lapsed_regular).status == "lapsed"
    refresh(as_of=AS_OF_DATE + dt.timedelta(days=731 - 63))
    assert state(lapsed_regular).status == "lost"


def test_tie_in_visits_goes_to_the_recent_visitor(recent_tie_visitor, older_tie_visitor, store):
    from outreach.models import SegmentPolicy

    SegmentPolicy.objects.create(store=None, best_top_n=1)
    refresh()
    assert state(recent_tie_visitor).window_visits == state(older_tie_visitor).window_visits == 10
    assert state(recent_tie_visitor).is_best and state(recent_tie_visitor).best_rank == 1
    assert not state(older_tie_visitor).is_best, "money never ranks: the bigger spender loses the tie"


def test_best_customers_rank_by_visits_not_money(best_regular, older_tie_visitor):
    from outreach.models import SegmentPolicy

    SegmentPolicy.objects.create(store=None, best_top_n=1)
    refresh()
    assert state(best_regular).is_best
    assert state(older_tie_visitor).window_revenue > state(best_regular).window_revenue


def test_returns_do_not_count_as_visits(returner):
    refresh()
    s = state(returner)
    assert (s.visits, s.tickets) == (2, 2)
    assert s.window_revenue == 25  # the return still nets off revenue


def test_several_tickets_on_one_day_are_one_visit(triple_ticket_day_customer):
    refresh()
    s = state(triple_ticket_day_customer)
    assert (s.visits, s.tickets, s.ladder, s.status) == (1, 3, "buyer", "one_timer")


def test_visit_days_are_local_calendar_days_in_the_store_time_zone(store):
    """Tashkent is UTC+5: 20:00 UTC and 02:00 UTC next day are the same local day (01:00 and 07:00)."""
    from tests.factories import CustomerFactory, TicketFactory

    c = CustomerFactory(home_store=store)
    TicketFactory(customer=c, store=store, purchased_at=dt.datetime(2026, 9, 30, 20, 0, tzinfo=dt.UTC))
    TicketFactory(customer=c, store=store, purchased_at=dt.datetime(2026, 10, 1, 2, 0, tzinfo=dt.UTC))
    # 18:30 UTC on Oct 1 is 23:30 local (still Oct 1); 19:30 UTC is 00:30 on Oct 2 — a second day.
    TicketFactory(customer=c, store=store, purchased_at=dt.datetime(2026, 10, 1, 18, 30, tzinfo=dt.UTC))
    TicketFactory(customer=c, store=store, purchased_at=dt.datetime(2026, 10, 1, 19, 30, tzinfo=dt.UTC))
    refresh()
    s = state(c)
    assert (s.visits, s.tickets, s.first_visit, s.last_visit) == (2, 4, dt.date(2026, 10, 1), dt.date(2026, 10, 2))


def test_a_visit_on_the_as_of_day_does_not_count_yet(store):
    from tests.factories import CustomerFactory, visits

    c = CustomerFactory(home_store=store)
    visits(c, [AS_OF_DATE - dt.timedelta(days=3), AS_OF_DATE])
    refresh()
    assert state(c).visits == 1


def test_new_and_one_timer(store, one_timer):
    from tests.factories import CustomerFactory, visits

    newcomer = CustomerFactory(home_store=store)
    visits(newcomer, [AS_OF_DATE - dt.timedelta(days=30)])
    refresh()
    assert state(newcomer).status == "new"
    assert state(one_timer).status == "one_timer"
    refresh(as_of=AS_OF_DATE + dt.timedelta(days=1))
    assert state(newcomer).status == "one_timer"


def test_store_scope_counts_visits_within_the_store_only(store, other_store):
    from tests.factories import CustomerFactory, visits

    c = CustomerFactory(home_store=store)
    visits(c, [AS_OF_DATE - dt.timedelta(days=d) for d in (10, 20)])
    c.home_store = other_store
    visits(c, [AS_OF_DATE - dt.timedelta(days=d) for d in (15,)])
    refresh()
    refresh(store=store)
    assert state(c).visits == 3
    assert state(c, scope=f"store:{store.pk}").visits == 2


def test_advocate_is_a_regular_who_referred_a_buyer(best_regular, store):
    from tests.factories import CustomerFactory, visits

    friend = CustomerFactory(home_store=store, referred_by=best_regular)
    refresh()
    assert state(best_regular).ladder == "adherent"
    visits(friend, [AS_OF_DATE - dt.timedelta(days=1)])
    refresh(as_of=AS_OF_DATE + dt.timedelta(days=1))
    assert state(best_regular).ladder == "advocate"


def test_rerun_for_the_same_day_changes_nothing(best_regular, lapsed_regular, one_timer, two_visit_customer):
    first = refresh()
    assert first.changes > 0
    again = refresh()
    assert again.mode == "incremental" and again.changes == 0 and again.customers_recomputed == 0
    assert again.counts == first.counts


def test_run_records_counts_and_history(best_regular, lapsed_regular, one_timer, two_visit_customer):
    run = refresh()
    assert run.counts["lapsed"] == 1 and run.counts["one_timer"] == 1 and run.counts["customers"] == 4
    assert run.counts["buyer"] == 1 and run.counts["repeat"] == 2
    moves = set(run.segment_changes.values_list("customer_id", "kind", "from_value", "to_value"))
    assert (lapsed_regular.pk, "status", "", "lapsed") in moves
    assert run.duration is not None and run.status == "done"


def test_segment_names_cover_the_command_line_names():
    assert set(rules.SEGMENT_NAMES) == {
        "best",
        "lapsed",
        "lost",
        "new",
        "one_timer",
        "at_risk",
        "buyer",
        "repeat",
        "regular",
        "adherent",
        "advocate",
    }
