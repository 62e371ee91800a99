"""Pure classification rules for segmentation (no ORM; unit-tested without a database).

Every definition of issue 5 lives here, with its defaults in :class:`Policy`:

- a **visit** is a local calendar day with at least one non-return ticket (the SQL counts those);
- **new**: first visit within ``new_window_days`` before ``as_of``; **one-timer**: one visit, older;
- **lapsed regular**: ``lapse_min_visits``+ visits, days since the last visit > max(multiplier × own
  median gap, floor) and ≤ ``lost_after_days``; **lost**: last visit more than ``lost_after_days`` ago
  (whatever the number of visits — lost wins over new/one-timer/lapsed);
- the **ladder**: buyer (1 visit) → repeat (2+) → regular (3+ and neither lapsed nor lost) →
  adherent (regular with a visit in each of the last 4 quarters: the 12 complete calendar months before
  ``as_of``'s month in blocks of three, so they move once a month, not daily) → advocate (regular
  or adherent who referred at least one customer who bought);
- **at risk**: 3+ visits, not lost, and P(alive) below the threshold;
- **RFM**: quintile scores 1–5 from the rank among the scope's customers (ties share a score);
- **ABC**: customers by trailing-window revenue, descending; A while the revenue of those ranked
  before is under 80 % of the total, B under 95 %, C after; no revenue → no class;
- **XYZ**: coefficient of variation (population std / mean) of visits per calendar month over the 12
  complete months before ``as_of``'s month: X ≤ 0.5, Y ≤ 1.0, Z above; no visit in those months → none.
"""

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

NEW, ACTIVE, ONE_TIMER, LAPSED, LOST = "new", "active", "one_timer", "lapsed", "lost"
BUYER, REPEAT, REGULAR, ADHERENT, ADVOCATE = "buyer", "repeat", "regular", "adherent", "advocate"
STATUSES = (NEW, ACTIVE, ONE_TIMER, LAPSED, LOST)
LADDER = (BUYER, REPEAT, REGULAR, ADHERENT, ADVOCATE)
SEGMENT_NAMES = ("best", LAPSED, LOST, NEW, ONE_TIMER, "at_risk", *LADDER)


@dataclass(frozen=True)
class Policy:
    """The numbers behind the definitions (a frozen copy of a SegmentPolicy row)."""

    best_top_n: int = 50
    best_top_percent: Decimal | None = None
    window_days: int = 365
    lapse_multiplier: Decimal = Decimal("3")
    lapse_floor_days: int = 30
    lapse_min_visits: int = 3
    lost_after_days: int = 730
    new_window_days: int = 30
    at_risk_threshold: Decimal = Decimal("0.50")
    adherent_quarters: int = 4
    abc_a_share: int = 80
    abc_b_share: int = 15
    xyz_x_max_cv: Decimal = Decimal("0.50")
    xyz_y_max_cv: Decimal = Decimal("1.00")
    expected_days: int = 30

    def best_limit(self, ranked_customers: int) -> int:
        """How many customers are "best": the top N, or the top X % (rounded up) of those ranked."""
        if self.best_top_percent:
            return math.ceil(ranked_customers * float(self.best_top_percent) / 100)
        return self.best_top_n


@dataclass(frozen=True)
class Windows:
    """The day ranges one run counts in (all half-open [start, end), local calendar days)."""

    as_of: dt.date
    window_start: dt.date
    months: tuple[tuple[dt.date, dt.date], ...]


def windows_for(as_of: dt.date, policy: Policy) -> Windows:
    """The trailing window and the 12 complete calendar months before as_of's month (newest first)."""
    months, month_end = [], as_of.replace(day=1)
    for _ in range(12):
        month_start = (month_end - dt.timedelta(days=1)).replace(day=1)
        months.append((month_start, month_end))
        month_end = month_start
    return Windows(as_of, as_of - dt.timedelta(days=policy.window_days), tuple(months))


@dataclass(frozen=True)
class VisitStats:
    """One customer's ticket-derived figures in one scope, before ``as_of`` (what analytics returns)."""

    customer_id: int
    visits: int
    tickets: int
    first_visit: dt.date
    last_visit: dt.date
    median_gap_days: float | None
    window_visits: int
    window_revenue: Decimal
    month_visits: tuple[int, ...]
    # Oldest day (visit or return) inside the trailing window: when it slides out, the window figures change.
    oldest_inside: tuple[dt.date | None, ...] = ()
    referred_buyers: int = 0


@dataclass(frozen=True)
class Classification:
    status: str
    ladder: str
    quarters_with_visit: int
    monthly_cv: float | None
    xyz: str
    due_on: dt.date | None


def median(values: list[float]) -> float | None:
    """The median (average of the two middle values for an even count), None for no values."""
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def lapse_threshold_days(median_gap_days: float | None, policy: Policy) -> float:
    """Days of absence after which a regular counts as lapsed: max(multiplier × median gap, floor)."""
    if median_gap_days is None:
        return float(policy.lapse_floor_days)
    return max(float(policy.lapse_multiplier) * median_gap_days, float(policy.lapse_floor_days))


def status_for(*, visits: int, first_visit: dt.date, last_visit: dt.date, median_gap_days, as_of, policy) -> str:
    """new / one_timer / active / lapsed / lost at ``as_of`` (visits are days before ``as_of``)."""
    since = (as_of - last_visit).days
    if since > policy.lost_after_days:
        return LOST
    if (as_of - first_visit).days <= policy.new_window_days:
        return NEW
    if visits == 1:
        return ONE_TIMER
    if visits >= policy.lapse_min_visits and since > lapse_threshold_days(median_gap_days, policy):
        return LAPSED
    return ACTIVE


def ladder_for(*, visits: int, status: str, quarters_with_visit: int, referred_buyers: int, policy: Policy) -> str:
    """The customer's rung on the ladder."""
    if visits <= 1:
        return BUYER
    if visits < policy.lapse_min_visits or status in (LAPSED, LOST):
        return REPEAT
    if referred_buyers > 0:
        return ADVOCATE
    if quarters_with_visit >= policy.adherent_quarters:
        return ADHERENT
    return REGULAR


def coefficient_of_variation(counts: tuple[int, ...]) -> float | None:
    """Population standard deviation / mean of monthly visit counts; None when there is no visit."""
    if not counts or sum(counts) == 0:
        return None
    mean = sum(counts) / len(counts)
    var = sum((c - mean) ** 2 for c in counts) / len(counts)
    return round(math.sqrt(var) / mean, 6)


def xyz_for(cv: float | None, policy: Policy) -> str:
    if cv is None:
        return ""
    if cv <= float(policy.xyz_x_max_cv):
        return "X"
    return "Y" if cv <= float(policy.xyz_y_max_cv) else "Z"


def due_on_for(stats: VisitStats, status: str, windows: Windows, policy: Policy) -> dt.date | None:
    """The next day on which this customer's figures or status change by the passage of time alone.

    Status: when "new" ends, when the lapse threshold or the lost limit is crossed. Figures: when the
    oldest day inside the window slides out, and on the next month's first day when a
    visit lies in the 13 months the monthly CV looks at. Until then a run can skip the customer.
    """
    as_of = windows.as_of
    candidates = []
    if status == NEW:
        candidates.append(stats.first_visit + dt.timedelta(days=policy.new_window_days + 1))
    if status != LOST:
        candidates.append(stats.last_visit + dt.timedelta(days=policy.lost_after_days + 1))
    if status in (NEW, ACTIVE) and stats.visits >= policy.lapse_min_visits:
        threshold = lapse_threshold_days(stats.median_gap_days, policy)
        candidates.append(stats.last_visit + dt.timedelta(days=math.floor(threshold) + 1))
    for days, oldest in zip((policy.window_days,), stats.oldest_inside, strict=False):
        if oldest is not None:
            candidates.append(oldest + dt.timedelta(days=days + 1))
    if stats.last_visit >= windows.months[-1][0]:
        next_month = (as_of.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        candidates.append(next_month)
    future = [c for c in candidates if c > as_of]
    return min(future) if future else None


def classify(stats: VisitStats, windows: Windows, policy: Policy) -> Classification:
    """Status, ladder rung, XYZ and the next due day for one customer's figures."""
    status = status_for(
        visits=stats.visits,
        first_visit=stats.first_visit,
        last_visit=stats.last_visit,
        median_gap_days=stats.median_gap_days,
        as_of=windows.as_of,
        policy=policy,
    )
    months = stats.month_visits
    quarters = sum(1 for q in range(0, len(months), 3) if sum(months[q : q + 3]) > 0)
    ladder = ladder_for(
        visits=stats.visits,
        status=status,
        quarters_with_visit=quarters,
        referred_buyers=stats.referred_buyers,
        policy=policy,
    )
    cv = coefficient_of_variation(stats.month_visits)
    return Classification(status, ladder, quarters, cv, xyz_for(cv, policy), due_on_for(stats, status, windows, policy))


def quintile(rank: int, count: int) -> int:
    """Score 1–5 from a 1-based ascending rank among ``count`` (ties share the rank, so share the score)."""
    return 1 + (5 * (rank - 1)) // count


def abc_for(revenue_before: Decimal, total: Decimal, policy: Policy) -> str:
    """A/B/C from the revenue of the customers ranked before this one, as a share of the total."""
    if total <= 0:
        return ""
    share = revenue_before * 100 / total
    if share < policy.abc_a_share:
        return "A"
    return "B" if share < policy.abc_a_share + policy.abc_b_share else "C"


def is_at_risk(*, visits: int, status: str, p_alive: float | None, policy: Policy) -> bool:
    """3+ visits, not lost, and P(alive) under the threshold."""
    return (
        p_alive is not None
        and visits >= policy.lapse_min_visits
        and status != LOST
        and p_alive < float(policy.at_risk_threshold)
    )


def at_risk_mask(visits, statuses, p_alive, policy: Policy):
    """:func:`is_at_risk` over numpy arrays (NaN P(alive) = no model = not at risk)."""
    import numpy as np

    p = np.asarray(p_alive, dtype=float)
    return (
        (np.asarray(visits) >= policy.lapse_min_visits)
        & (np.asarray(statuses) != LOST)
        & (p < float(policy.at_risk_threshold))
    )


def humanize_days(days: float) -> str:
    """ "12 days", "2 weeks", "5 months" — the unit a shop owner would say."""
    from django.utils.translation import ngettext

    days = round(days)
    if days < 14:
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if days < 70:
        weeks = round(days / 7)
        return ngettext("%(n)d week", "%(n)d weeks", weeks) % {"n": weeks}
    months = round(days / 30.4)
    return ngettext("%(n)d month", "%(n)d months", months) % {"n": months}


def explain_lapsed(*, median_gap_days: float | None, days_since: int) -> str:
    """ "usually every 2 weeks, 9 weeks since"."""
    from django.utils.translation import gettext as _

    if median_gap_days is None:
        return _("%(since)s since the last visit") % {"since": humanize_days(days_since)}
    return _("usually every %(gap)s, %(since)s since") % {
        "gap": humanize_days(median_gap_days),
        "since": humanize_days(days_since),
    }


def explain_at_risk(*, median_gap_days: float | None, days_since: int, p_alive: float) -> str:
    """ "usually comes every 12 days; 61 days since; 18 % likely still active"."""
    from django.utils.translation import gettext as _
    from django.utils.translation import ngettext

    gap = round(median_gap_days or 0)
    return _("usually comes every %(gap)s; %(since)s since; %(pct)d %% likely still active") % {
        "gap": ngettext("%(n)d day", "%(n)d days", gap) % {"n": gap},
        "since": ngettext("%(n)d day", "%(n)d days", days_since) % {"n": days_since},
        "pct": round(100 * p_alive),
    }
