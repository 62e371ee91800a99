"""Pure rules, no database."""

import datetime as dt
from decimal import Decimal

import pytest

from outreach import rules

AS_OF = dt.date(2026, 11, 1)
POLICY = rules.Policy()


def status(visits, first_ago, last_ago, gap):
    return rules.status_for(
        visits=visits,
        first_visit=AS_OF - dt.timedelta(days=first_ago),
        last_visit=AS_OF - dt.timedelta(days=last_ago),
        median_gap_days=gap,
        as_of=AS_OF,
        policy=POLICY,
    )


def test_lapse_threshold_is_three_gaps_with_a_30_day_floor():
    assert rules.lapse_threshold_days(7, POLICY) == 30
    assert rules.lapse_threshold_days(14, POLICY) == 42
    assert rules.lapse_threshold_days(None, POLICY) == 30


@pytest.mark.parametrize(
    ("visits", "first_ago", "last_ago", "gap", "expected"),
    [
        (20, 200, 35, 7, "lapsed"),  # weekly, 5 weeks away
        (20, 200, 28, 7, "active"),  # weekly, 4 weeks away: the floor
        (10, 400, 35, 30, "active"),  # monthly, 5 weeks away
        (2, 400, 380, 20, "active"),  # two visits: never lapsed
        (3, 800, 731, 30, "lost"),
        (3, 800, 730, 30, "lapsed"),  # exactly 730 days: still lapsed
        (1, 31, 31, None, "one_timer"),
        (1, 30, 30, None, "new"),
        (3, 20, 1, 9, "new"),
        (1, 900, 900, None, "lost"),
    ],
)
def test_status(visits, first_ago, last_ago, gap, expected):
    assert status(visits, first_ago, last_ago, gap) == expected


def test_ladder():
    kw = {"quarters_with_visit": 2, "referred_buyers": 0, "policy": POLICY}
    assert rules.ladder_for(visits=1, status="one_timer", **kw) == "buyer"
    assert rules.ladder_for(visits=2, status="active", **kw) == "repeat"
    assert rules.ladder_for(visits=9, status="lapsed", **kw) == "repeat"
    assert rules.ladder_for(visits=3, status="active", **kw) == "regular"
    assert rules.ladder_for(visits=9, status="active", **{**kw, "quarters_with_visit": 4}) == "adherent"
    assert rules.ladder_for(visits=3, status="active", **{**kw, "referred_buyers": 1}) == "advocate"
    assert rules.ladder_for(visits=2, status="active", **{**kw, "referred_buyers": 1}) == "repeat"


def test_median_and_quintiles_and_abc():
    assert rules.median([3, 1, 2]) == 2 and rules.median([1, 2, 3, 10]) == 2.5 and rules.median([]) is None
    assert [rules.quintile(r, 10) for r in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert rules.abc_for(Decimal("0"), Decimal("100"), POLICY) == "A"
    assert rules.abc_for(Decimal("79.99"), Decimal("100"), POLICY) == "A"
    assert rules.abc_for(Decimal("80"), Decimal("100"), POLICY) == "B"
    assert rules.abc_for(Decimal("95"), Decimal("100"), POLICY) == "C"


def test_xyz_from_monthly_visit_counts():
    assert rules.xyz_for(rules.coefficient_of_variation((4,) * 12), POLICY) == "X"
    assert rules.xyz_for(rules.coefficient_of_variation((2, 4) * 6), POLICY) == "X"  # cv 1/3
    assert rules.xyz_for(rules.coefficient_of_variation((0, 2) * 6), POLICY) == "Y"  # cv 1
    assert rules.xyz_for(rules.coefficient_of_variation((12,) + (0,) * 11), POLICY) == "Z"
    assert rules.xyz_for(rules.coefficient_of_variation((0,) * 12), POLICY) == ""


def test_best_limit_top_n_or_percent():
    assert rules.Policy(best_top_n=50).best_limit(1000) == 50
    assert rules.Policy(best_top_percent=Decimal("2.5")).best_limit(1001) == 26


def test_windows_are_the_trailing_year_and_the_12_complete_months():
    w = rules.windows_for(AS_OF, POLICY)
    assert w.window_start == dt.date(2025, 11, 1)
    assert w.months[0] == (dt.date(2026, 10, 1), dt.date(2026, 11, 1))
    assert w.months[-1] == (dt.date(2025, 11, 1), dt.date(2025, 12, 1))


def test_due_on_is_the_day_time_alone_changes_the_status():
    last = AS_OF - dt.timedelta(days=10)
    stats = rules.VisitStats(
        customer_id=1,
        visits=5,
        tickets=5,
        first_visit=AS_OF - dt.timedelta(days=60),
        last_visit=last,
        median_gap_days=7,
        window_visits=5,
        window_revenue=Decimal(50),
        month_visits=(3,) + (0,) * 11,
        oldest_inside=(None,),
    )
    w = rules.windows_for(AS_OF, POLICY)
    c = rules.classify(stats, w, POLICY)
    assert c.status == "active" and c.due_on == last + dt.timedelta(days=31)
    assert c.quarters_with_visit == 1


def test_quarters_are_the_12_complete_months_in_blocks_of_three():
    def quarters(months):
        stats = rules.VisitStats(1, 12, 12, dt.date(2025, 1, 1), dt.date(2026, 10, 20), 30.0, 12, Decimal(1), months)
        return rules.classify(stats, rules.windows_for(AS_OF, POLICY), POLICY).quarters_with_visit

    assert quarters((1, 0, 0) * 4) == 4
    assert quarters((0, 0, 1) * 4) == 4
    assert quarters((1,) * 9 + (0,) * 3) == 3


def test_explanations_say_why_in_words():
    assert rules.explain_lapsed(median_gap_days=14, days_since=63) == "usually every 2 weeks, 9 weeks since"
    assert (
        rules.explain_at_risk(median_gap_days=12, days_since=61, p_alive=0.18)
        == "usually comes every 12 days; 61 days since; 18 % likely still active"
    )


def test_vectorised_at_risk_agrees_with_the_rule():
    cases = [
        (5, "active", 0.2),
        (5, "active", 0.6),
        (2, "active", 0.1),
        (5, "lost", 0.1),
        (5, "lapsed", 0.49),
        (9, "new", None),
    ]
    mask = rules.at_risk_mask(
        [c[0] for c in cases], [c[1] for c in cases], [float("nan") if c[2] is None else c[2] for c in cases], POLICY
    )
    assert mask.tolist() == [rules.is_at_risk(visits=v, status=s, p_alive=p, policy=POLICY) for v, s, p in cases]
    assert mask.tolist() == [True, False, False, False, True, False]
