"""KPIs: CRR and LTV pinned on hand-computed fixtures, through the precomputed tables."""

import datetime as dt
from decimal import Decimal

import pytest

from outreach.analytics_dashboard import dashboard_aggregates_refresh
from outreach.kpis import (
    KpiInputs,
    Period,
    crr,
    kpi_cards,
    kpi_inputs,
    kpis_compute,
    lifetime_months,
    ltv,
    points_liability,
    q,
)
from tests.factories import CustomerFactory, StoreFactory, visits

D = dt.date
OCTOBER = Period(D(2026, 10, 1), D(2026, 10, 31))


def test_crr_is_kept_customers_over_customers_at_the_start():
    # 40 at the start, 45 at the end of whom 10 are new: 35 of the 40 were kept.
    assert crr(active_start=40, active_end=45, new=10) == Decimal("87.5")
    assert crr(active_start=0, active_end=5, new=5) is None


def test_lifetime_from_a_yearly_retention_of_half_is_about_18_months():
    # r = 0.5^(1/12) = 0.94387; T = 1 / (1 - 0.94387) = 17.82 months.
    assert q(lifetime_months(crr_percent=Decimal(50), months=Decimal(12))) == Decimal("17.82")
    assert lifetime_months(crr_percent=Decimal(100), months=Decimal(12)) == Decimal(120)  # capped
    assert lifetime_months(crr_percent=Decimal(0), months=Decimal(12)) == Decimal(1)
    assert lifetime_months(crr_percent=None, months=Decimal(12)) is None


def test_ltv_is_the_product_of_its_four_factors_and_unknown_if_one_is():
    assert (
        ltv(average_ticket=Decimal(20), purchases_per_month=Decimal(2), margin=Decimal("0.3"), lifetime=Decimal(10))
        == 120
    )
    assert ltv(average_ticket=None, purchases_per_month=Decimal(2), margin=Decimal("0.3"), lifetime=Decimal(10)) is None


def test_previous_period_has_the_same_length_and_ends_the_day_before():
    assert OCTOBER.previous() == Period(D(2026, 8, 31), D(2026, 9, 30))


@pytest.fixture
def october_store(db):
    """Four customers around October 2026 (store margin 40 %).

    - A: 10 Sep, 5 Oct, 20 Oct — active at the start and the end, returning;
    - B: 15 Jul only — active at the start (window 3 Jul–30 Sep), gone by the end (3 Aug–31 Oct);
    - C: first sale 10 Oct (60.00) — new;
    - D: 10 Jul and 25 Oct — active at the start and the end, returning.
    Sales of 30.00 unless said. S = 3 (A, B, D), E = 3 (A, C, D), N = 1 (C).
    """
    shop = StoreFactory(code="OCT", time_zone="Asia/Tashkent", margin=Decimal("0.400"))
    a, b, c, d = (CustomerFactory(home_store=shop) for _ in range(4))
    visits(a, [D(2026, 9, 10), D(2026, 10, 5), D(2026, 10, 20)], total=Decimal("30.00"))
    visits(b, [D(2026, 7, 15)], total=Decimal("30.00"))
    visits(c, [D(2026, 10, 10)], total=Decimal("60.00"))
    visits(d, [D(2026, 7, 10), D(2026, 10, 25)], total=Decimal("30.00"))
    dashboard_aggregates_refresh(start=D(2026, 7, 1), end=D(2026, 10, 31))
    return shop


def test_crr_and_ltv_on_a_hand_computed_store(october_store):
    current, previous = kpi_inputs(store_ids=[october_store.pk], period=OCTOBER)
    k = kpis_compute(current)
    assert (current.active_start, current.active_end, current.new) == (3, 3, 1)
    assert (k.active, k.new, k.returning) == (3, 1, 2)
    # CRR = (3 - 1) / 3 × 100
    assert q(k.crr) == Decimal("66.67")
    # S: 150.00 over 4 sales.
    assert k.average_ticket == Decimal("37.50")
    # C: 4 visits by 3 customers in 31 days = 4/3 ÷ (31 / 30.4375) = 1.3091 per month.
    assert q(k.visits_per_customer_month, "0.0001") == Decimal("1.3091")
    # T (less than a year of history → the period's CRR): r = (2/3)^(30.4375/31) = 0.67159,
    # T = 1 / (1 - 0.67159) = 3.0450 months.
    assert k.lifetime_method == "period"
    assert q(k.lifetime_months, "0.0001") == Decimal("3.0450")
    # LTV = 37.50 × 1.3091 × 0.400 × 3.0450 = 59.79
    assert q(k.ltv) == Decimal("59.79")
    # September: S at 30 Aug = B, D (10 Jul, 15 Jul); E at 30 Sep = A, B, D; A is new.
    p = kpis_compute(previous)
    assert (previous.active_start, previous.active_end, previous.new) == (2, 3, 1)
    assert q(p.crr) == Decimal("100.00")


def test_cards_compare_with_the_previous_period(october_store):
    current, previous = kpi_inputs(store_ids=[october_store.pk], period=OCTOBER)
    cards = {c.key: c for c in kpi_cards(kpis_compute(current), kpis_compute(previous))}
    assert cards["crr"].change.delta.quantize(Decimal("0.01")) == Decimal("-33.33")  # percentage points
    assert cards["crr"].change.percent is None
    assert cards["new"].change.direction == "flat"
    assert cards["ltv"].hover["P"] == Decimal("0.400")
    assert cards["points_liability"].value == Decimal("0.00")  # nobody holds points in this fixture


def test_a_year_of_history_measures_lifetime_over_twelve_months(db):
    inputs = KpiInputs(
        period=OCTOBER,
        active_start=10,
        active_end=12,
        new=2,
        customers=10,
        visits=20,
        sales=20,
        sales_amount=Decimal("400"),
        margin=Decimal("0.3"),
        year_active_start=10,
        year_new=7,
    )
    k = kpis_compute(inputs)
    # Year CRR = (12 - 7) / 10 = 50 % → T = 17.82 months (see above).
    assert k.lifetime_method == "year"
    assert q(k.lifetime_months) == Decimal("17.82")


def test_cached_visitor_counts_follow_a_refresh(october_store):
    before, _ = kpi_inputs(store_ids=[october_store.pk], period=OCTOBER)
    late = CustomerFactory(home_store=october_store)
    visits(late, [D(2026, 10, 30)])
    dashboard_aggregates_refresh(start=D(2026, 10, 30), end=D(2026, 10, 30))
    after, _ = kpi_inputs(store_ids=[october_store.pk], period=OCTOBER)
    assert (after.customers, after.new) == (before.customers + 1, before.new + 1)


def test_30_and_90_day_periods_read_their_visitors_from_the_daily_rows(october_store, monkeypatch):
    from outreach import kpis

    counted = {}
    for days in (30, 90):
        period = Period(D(2026, 10, 31) - dt.timedelta(days=days - 1), D(2026, 10, 31))
        counted[days] = kpi_inputs(store_ids=[october_store.pk], period=period)
    from django.core.cache import cache

    cache.clear()
    # No CustomerMonth read for these lengths: the figures come from StoreDay alone.
    monkeypatch.setattr(kpis, "_visited", lambda **kw: pytest.fail("counted from CustomerMonth"))
    for days in (30, 90):
        period = Period(D(2026, 10, 31) - dt.timedelta(days=days - 1), D(2026, 10, 31))
        current, previous = kpi_inputs(store_ids=[october_store.pk], period=period)
        # 2–31 Oct: A, C, D (C new); 2 Sep–1 Oct: A (new: first sale 10 Sep).
        # 3 Aug–31 Oct: A, C, D (A and C new); 5 May–2 Aug: B and D (both new).
        expected = {30: ((3, 2), (1, 0)), 90: ((3, 1), (2, 0))}[days]
        assert ((current.customers, current.returning), (previous.customers, previous.returning)) == expected
    monkeypatch.undo()
    cache.clear()
    for days in (30, 90):
        period = Period(D(2026, 10, 31) - dt.timedelta(days=days - 1), D(2026, 10, 31))
        # The CustomerMonth count (another length's path, forced here) agrees.
        assert kpis._visited(store_ids=[october_store.pk], periods=(period, period.previous())) == [
            (c.customers, c.returning) for c in counted[days]
        ]


def test_rows_refreshed_before_the_daily_visitor_count_fall_back_to_customer_months(october_store):
    from outreach.models import StoreDay

    period = Period(D(2026, 10, 2), D(2026, 10, 31))
    kept, _ = kpi_inputs(store_ids=[october_store.pk], period=period)
    StoreDay.objects.update(visitors_30=None)  # as right after the migration
    from django.core.cache import cache

    cache.clear()
    fallback, _ = kpi_inputs(store_ids=[october_store.pk], period=period)
    assert (fallback.customers, fallback.returning) == (kept.customers, kept.returning) == (3, 2)


def test_points_liability_values_positive_balances_at_each_stores_point_value(store, other_store):
    from loyalty.models import ProgramRules
    from loyalty.services import account_open, points_adjust
    from tests.factories import UserFactory

    ProgramRules.objects.create(display_points=100, display_value=Decimal("5.00"))  # 1 point = 0.05
    by = UserFactory()
    for customer, points in ((CustomerFactory(home_store=store), 300), (CustomerFactory(home_store=store), 40)):
        points_adjust(
            account=account_open(customer=customer),
            points=points,
            reason="t",
            by=by,
            key=f"k{points}",
            as_of=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        )
    points_adjust(
        account=account_open(customer=CustomerFactory(home_store=other_store)),
        points=999,
        reason="t",
        by=by,
        key="other",
        as_of=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
    )
    assert points_liability(store_ids=[store.pk]) == Decimal("17.00")


def test_points_liability_read_with_the_stores_equals_the_separate_query(store, other_store):
    """The dashboard reads the liability as annotations of its store query (one query fewer): same money."""
    from customers.models import Store
    from loyalty.models import ProgramRules
    from loyalty.services import account_open, points_adjust
    from outreach.analytics_tiles import points_liability_annotations
    from outreach.kpis import points_liability_of
    from tests.factories import UserFactory

    ProgramRules.objects.create(display_points=100, display_value=Decimal("5.00"))  # chain: 1 point = 0.05
    ProgramRules.objects.create(store=other_store, display_points=10, display_value=Decimal("1.00"))  # 0.10
    by = UserFactory()
    for i, (where, points) in enumerate(((store, 300), (store, 40), (other_store, 999))):
        points_adjust(
            account=account_open(customer=CustomerFactory(home_store=where)),
            points=points,
            reason="t",
            by=by,
            key=f"k{i}",
            as_of=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        )
    stores = list(Store.objects.annotate(**points_liability_annotations()).order_by("code"))
    assert points_liability_of(stores) == Decimal("17.00") + Decimal("99.90")
    assert points_liability_of(stores) == points_liability(store_ids=[store.pk, other_store.pk])
    assert points_liability_of([s for s in stores if s.pk == store.pk]) == Decimal("17.00")
