"""Dashboard KPIs: pure arithmetic (top half, no ORM) and the set-based reads that feed it.

Definitions (quoted by the README):

**Visit**: a customer-day with at least one sale at a store (returns are not visits).

**Active customer**: a customer who made a sale at the store in the 90 days ending at the
given moment (the close of a local day). "Active at the start" of a period means at the close
of the day before it; "active at the end" at the close of its last day. A customer who shops
in two stores is a customer of each, so the figures of several stores add up.

**New**: customers whose first-ever sale at the store falls in the period.
**Returning**: customers with a visit in the period whose first sale there was before it.

**CRR** (customer retention rate) = (E − N) / S × 100, with E active at the end, N new in the
period, S active at the start. Undefined (shown as "—") when S is 0.

**Average ticket** = sales amount / number of sales (returns excluded; anonymous sales included).
**Visits per customer per month** = visits / customers who visited / (days in period / 30.4375).

**LTV** = S × C × P × T: S the average ticket, C the visits per customer per month, P the gross
margin (Store.margin, weighted by each store's sales when several are shown), T the average
customer lifetime in months, measured from the data: with the CRR of the 12 months ending at
the period's end (a year of history) turned into a monthly retention r = CRR^(1/12), a customer
stays on average T = 1 / (1 − r) months (a geometric lifetime). With less than a year of
history the period's own CRR is used, scaled the same way to a month. T is capped at 120 months
(a retention of 100 % would otherwise mean "for ever").

**Outstanding points liability**: the points customers hold and may still redeem, valued at
the loyalty programme's redemption value (from the loyalty app; "—" until it exists).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

DAYS_PER_MONTH = Decimal("30.4375")  # 365.25 / 12
LIFETIME_CAP_MONTHS = Decimal("120")
YEAR = dt.timedelta(days=365)

# --- Pure rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Local days ``start``…``end``, both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("A period ends on or after its start.")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def months(self) -> Decimal:
        return Decimal(self.days) / DAYS_PER_MONTH

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - dt.timedelta(days=self.days), self.start - dt.timedelta(days=1))


def _div(a, b) -> Decimal | None:
    return None if not b else Decimal(a) / Decimal(b)


def crr(*, active_start: int, active_end: int, new: int) -> Decimal | None:
    """Customer retention rate in percent: (E − N) / S × 100; None when S is 0."""
    ratio = _div(active_end - new, active_start)
    return None if ratio is None else ratio * 100


def average_ticket(*, sales_amount: Decimal, sales: int) -> Decimal | None:
    return _div(sales_amount, sales)


def visits_per_customer_per_month(*, visits: int, customers: int, months: Decimal) -> Decimal | None:
    per_customer = _div(visits, customers)
    return None if per_customer is None or not months else per_customer / months


def lifetime_months(*, crr_percent: Decimal | None, months: Decimal) -> Decimal | None:
    """Average customer lifetime from a retention rate measured over ``months`` months.

    Monthly retention r = (CRR / 100)^(1 / months); lifetime = 1 / (1 − r), between 1 and
    ``LIFETIME_CAP_MONTHS``. None when the CRR is unknown.
    """
    if crr_percent is None or not months:
        return None
    retained = min(max(crr_percent / 100, Decimal(0)), Decimal(1))
    if retained == 0:
        return Decimal(1)
    monthly = retained ** (Decimal(1) / months)
    if monthly >= 1:
        return LIFETIME_CAP_MONTHS
    return min(max(Decimal(1) / (1 - monthly), Decimal(1)), LIFETIME_CAP_MONTHS)


def ltv(
    *,
    average_ticket: Decimal | None,
    purchases_per_month: Decimal | None,
    margin: Decimal | None,
    lifetime: Decimal | None,
) -> Decimal | None:
    """LTV = S × C × P × T (money; None if a factor is unknown)."""
    factors = (average_ticket, purchases_per_month, margin, lifetime)
    if any(f is None for f in factors):
        return None
    return average_ticket * purchases_per_month * margin * lifetime


@dataclass(frozen=True)
class KpiInputs:
    """The counts one period's KPIs are made of (read from the precomputed tables)."""

    period: Period
    active_start: int = 0
    active_end: int = 0
    new: int = 0
    customers: int = 0
    returning: int = 0
    visits: int = 0
    sales: int = 0
    sales_amount: Decimal = Decimal(0)
    margin: Decimal | None = None
    # The 12 months ending at the period's end, for the lifetime T.
    year_active_start: int = 0
    year_new: int = 0
    points_liability: Decimal | None = None


@dataclass(frozen=True)
class Kpis:
    """One period's KPIs, with the parts LTV is made of (shown on hover)."""

    inputs: KpiInputs
    active: int
    new: int
    returning: int
    crr: Decimal | None
    average_ticket: Decimal | None
    visits_per_customer_month: Decimal | None
    margin: Decimal | None
    lifetime_months: Decimal | None
    lifetime_method: str
    ltv: Decimal | None
    points_liability: Decimal | None


def kpis_compute(inputs: KpiInputs) -> Kpis:
    """All KPIs of one period from its counts (pure)."""
    period_crr = crr(active_start=inputs.active_start, active_end=inputs.active_end, new=inputs.new)
    year_crr = crr(active_start=inputs.year_active_start, active_end=inputs.active_end, new=inputs.year_new)
    if year_crr is not None:
        lifetime, method = lifetime_months(crr_percent=year_crr, months=Decimal(12)), "year"
    else:
        lifetime, method = lifetime_months(crr_percent=period_crr, months=inputs.period.months), "period"
    avg = average_ticket(sales_amount=inputs.sales_amount, sales=inputs.sales)
    per_month = visits_per_customer_per_month(
        visits=inputs.visits, customers=inputs.customers, months=inputs.period.months
    )
    return Kpis(
        inputs=inputs,
        active=inputs.active_end,
        new=inputs.new,
        returning=inputs.returning,
        crr=period_crr,
        average_ticket=avg,
        visits_per_customer_month=per_month,
        margin=inputs.margin,
        lifetime_months=lifetime,
        lifetime_method=method,
        ltv=ltv(average_ticket=avg, purchases_per_month=per_month, margin=inputs.margin, lifetime=lifetime),
        points_liability=inputs.points_liability,
    )


@dataclass(frozen=True)
class Change:
    """How a KPI moved against the previous period."""

    delta: Decimal | None  # absolute difference (percentage points for CRR)
    percent: Decimal | None  # relative change in percent (None for CRR or a zero base)
    direction: str  # "up", "down", "flat", "none"


def change(current: Decimal | int | None, previous: Decimal | int | None, *, relative: bool = True) -> Change:
    if current is None or previous is None:
        return Change(None, None, "none")
    delta = Decimal(current) - Decimal(previous)
    percent = (delta / Decimal(previous) * 100) if relative and previous else None
    direction = "flat" if delta == 0 else ("up" if delta > 0 else "down")
    return Change(delta, percent, direction)


def q(value: Decimal | None, places: str = "0.01") -> Decimal | None:
    """Round for display (half up, as people round)."""
    return None if value is None else value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class KpiCard:
    key: str
    value: Decimal | int | None
    previous: Decimal | int | None
    change: Change
    places: str = "1"
    money: bool = False
    percent: bool = False
    hover: dict = field(default_factory=dict)


def kpi_cards(current: Kpis, previous: Kpis) -> list[KpiCard]:
    """The first row of the dashboard: each KPI with its previous value and the change."""

    def card(key, cur, prev, *, places="1", money=False, percent=False, relative=True, hover=None):
        return KpiCard(
            key=key,
            value=cur,
            previous=prev,
            change=change(cur, prev, relative=relative),
            places=places,
            money=money,
            percent=percent,
            hover=hover or {},
        )

    return [
        card("active", current.active, previous.active),
        card("new", current.new, previous.new),
        card("returning", current.returning, previous.returning),
        card(
            "crr",
            current.crr,
            previous.crr,
            places="0.1",
            percent=True,
            relative=False,
            hover={
                "E": current.inputs.active_end,
                "N": current.inputs.new,
                "S": current.inputs.active_start,
            },
        ),
        card("average_ticket", current.average_ticket, previous.average_ticket, places="0.01", money=True),
        card("visits_per_month", current.visits_per_customer_month, previous.visits_per_customer_month, places="0.01"),
        card(
            "ltv",
            current.ltv,
            previous.ltv,
            places="0.01",
            money=True,
            hover={
                "S": q(current.average_ticket),
                "C": q(current.visits_per_customer_month),
                "P": q(current.margin, "0.001"),
                "T": q(current.lifetime_months, "0.1"),
                "method": current.lifetime_method,
            },
        ),
        card("points_liability", current.points_liability, previous.points_liability, places="0.01", money=True),
    ]


# --- Reads (set-based, a fixed number of queries whatever the data size) -------------------------


def kpi_inputs(*, store_ids: list[int], period: Period, points: Decimal | None = None) -> tuple[KpiInputs, KpiInputs]:
    """Counts for ``period`` and the previous period of the same length (2 queries + loyalty)."""
    current, previous, _weeks = kpi_reads(store_ids=store_ids, period=period, points=points)
    return current, previous


def kpi_reads(
    *,
    store_ids: list[int],
    period: Period,
    points: Decimal | None = None,
    margins: list[Decimal] | None = None,
    first_weekday: int = 0,
) -> tuple[KpiInputs, KpiInputs, list]:
    """The KPI counts of ``period`` and of the previous period, and the period's visits per week.

    One read of StoreDay grouped by day (a row per day of the two periods and the trailing year,
    whatever the data size) gives the weekly chart (weeks start on ``first_weekday``, 0 = Monday)
    and every additive figure; the distinct visitors come from ``_visited_cached``.
    ``points``: the points liability when the caller already read it with its stores
    (``analytics_tiles.points_liability_annotations``); ``margins``: those stores' margins (the fallback when a
    period has no sales). Each saves the page a query.
    """
    from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Q, Sum

    from customers.models import Store

    from .analytics_dashboard import WeekRow
    from .models import StoreDay

    prev = period.previous()
    periods = {"cur": period, "prev": prev}

    # Active customers at the moments that matter (close of day).
    moments = {
        "cur_start": period.start - dt.timedelta(days=1),
        "cur_end": period.end,
        "prev_start": prev.start - dt.timedelta(days=1),
        "cur_year": period.end - YEAR,
        "prev_year": prev.end - YEAR,
    }

    # One query: per day, sums over both periods and their trailing years, the sales weighted by
    # each store's margin, and the active counts at each moment.
    weighted = ExpressionWrapper(F("sales_amount") * F("store__margin"), output_field=DecimalField())
    sums = {f"active_{key}": Sum("active_customers", filter=Q(day=day)) for key, day in moments.items()}
    sums["version"] = Max("refreshed_at")
    # The distinct visitors of a 30- or 90-day period are kept per day (visitors_30, active_customers):
    # read them at each period's last day, with how many stores have the figure there.
    window_field = PRECOMPUTED_VISITORS.get(period.days)
    if window_field:
        for key, p in periods.items():
            sums[f"{key}_kept_visitors"] = Sum(window_field, filter=Q(day=p.end))
            sums[f"{key}_kept_stores"] = Count(window_field, filter=Q(day=p.end))
    for key, p in periods.items():
        in_p = Q(day__range=(p.start, p.end))
        in_year = Q(day__gt=p.end - YEAR, day__lte=p.end)
        sums[f"{key}_visits"] = Sum("visits", filter=in_p)
        sums[f"{key}_sales"] = Sum("sales", filter=in_p)
        sums[f"{key}_amount"] = Sum("sales_amount", filter=in_p)
        sums[f"{key}_margin_amount"] = Sum(weighted, filter=in_p)
        sums[f"{key}_new"] = Sum("new_customers", filter=in_p)
        sums[f"{key}_year_new"] = Sum("new_customers", filter=in_year)
    per_day = list(
        StoreDay.objects.filter(store_id__in=store_ids, day__gte=prev.end - YEAR, day__lte=period.end)
        .values("day")
        .annotate(**sums)
        .order_by("day")
    )
    active = {day: sum(row[f"active_{key}"] or 0 for row in per_day) for key, day in moments.items()}
    by_week: dict[dt.date, list] = {}
    for row in per_day:
        if not period.start <= row["day"] <= period.end:
            continue
        week = row["day"] - dt.timedelta(days=(row["day"].weekday() - first_weekday) % 7)
        totals = by_week.setdefault(week, [0, 0, 0, Decimal(0)])
        totals[0] += row["cur_visits"] or 0
        totals[1] += row["cur_new"] or 0
        totals[2] += row["cur_sales"] or 0
        totals[3] += row["cur_amount"] or Decimal(0)
    weeks = [
        WeekRow(week=week, visits=v, new_customers=n, sales=sl, sales_amount=a)
        for week, (v, n, sl, a) in sorted(by_week.items())
    ]

    # Customers who visited in each period, and how many of them were already customers.
    version = max((row["version"] for row in per_day if row["version"]), default=None)
    kept = {}
    if window_field:
        for key in periods:
            if sum(row[f"{key}_kept_stores"] or 0 for row in per_day) == len(store_ids):
                customers = sum(row[f"{key}_kept_visitors"] or 0 for row in per_day)
                # Returning = visitors whose first sale here was before the period = visitors − new.
                kept[key] = (customers, customers - sum(row[f"{key}_new"] or 0 for row in per_day))
    if len(kept) == len(periods):
        visited = kept
    else:
        pair = _visited_cached(store_ids=store_ids, periods=(period, prev), version=version)
        visited = {"cur": pair[0], "prev": pair[1]}
    if points is None:
        points = points_liability(store_ids=store_ids)

    def total(key: str):
        return sum((row[key] or 0) for row in per_day)

    def weighted_margin(key: str) -> Decimal | None:
        nonlocal margins
        if not per_day:
            return None
        amount = total(f"{key}_amount")
        if amount:
            return total(f"{key}_margin_amount") / amount
        if margins is None:
            margins = list(Store.objects.filter(pk__in=store_ids).values_list("margin", flat=True))
        return sum(margins) / len(margins) if margins else None

    out = []
    for key, p in periods.items():
        out.append(
            KpiInputs(
                period=p,
                active_start=active.get(moments[f"{key}_start"], 0) or 0,
                active_end=active.get(moments["cur_end"] if key == "cur" else moments["cur_start"], 0) or 0,
                new=total(f"{key}_new"),
                customers=visited[key][0],
                returning=visited[key][1],
                visits=total(f"{key}_visits"),
                sales=total(f"{key}_sales"),
                sales_amount=total(f"{key}_amount") or Decimal(0),
                margin=weighted_margin(key),
                year_active_start=active.get(moments[f"{key}_year"], 0) or 0,
                year_new=total(f"{key}_year_new"),
                points_liability=points,
            )
        )
    return out[0], out[1], weeks


VISITED_CACHE_SECONDS = 6 * 60 * 60
# Period lengths whose distinct visitors StoreDay keeps per day (the 30- and 90-day presets).
PRECOMPUTED_VISITORS = {30: "visitors_30", 90: "active_customers"}


def _visited_cached(*, store_ids: list[int], periods: tuple[Period, ...], version) -> list[tuple[int, int]]:
    """``_visited`` through the cache, keyed by the last refresh of the stores' days.

    The distinct count is the one figure that does not add up from daily rows, so it reads
    CustomerMonth (linear in the customers of the periods). A refresh of any day in the year
    behind the period changes ``version``, so a cached count is never older than the tables.
    """
    from django.core.cache import cache

    if version is None:
        return [(0, 0) for _p in periods]
    stores = ",".join(str(i) for i in sorted(store_ids))
    spans = ",".join(f"{p.start}:{p.end}" for p in periods)
    key = f"dashboard:visited:{stores}:{spans}:{version.isoformat()}"
    hit = cache.get(key)
    if hit is None:
        hit = _visited(store_ids=store_ids, periods=periods)
        cache.set(key, hit, VISITED_CACHE_SECONDS)
    return [tuple(h) for h in hit]


def _day_mask(first: int, last: int) -> int:
    """Bits ``first``…``last`` (1-based days of a month) set."""
    return ((1 << last) - 1) ^ ((1 << (first - 1)) - 1)


def _visited(*, store_ids: list[int], periods: tuple[Period, ...]) -> list[tuple[int, int]]:
    """For each period: (customers with a visit in it, those whose first sale was before it) — one query.

    Whole months inside a period count as they are; its first and last month are cut to the
    period's days with the ``visit_days`` bitmask, so the count is exact for any range. All the
    periods are counted in one pass over CustomerMonth (the page's query budget is fixed).
    """
    from django.db.models import BigIntegerField, Case, Count, F, IntegerField, Max, Min, Q, Value, When

    from .analytics_dashboard import month_start, next_month
    from .models import CustomerMonth

    def bits(first: int, last: int):
        return F("visit_days").bitand(Value(_day_mask(first, last), BigIntegerField()))

    hits, seen_in, counts = {}, {}, {}
    for i, period in enumerate(periods):
        m_first, m_last = month_start(period.start), month_start(period.end)
        last_of_first = (next_month(period.start) - dt.timedelta(days=1)).day
        whens = [When(Q(month__lt=m_first) | Q(month__gt=m_last), then=Value(0, BigIntegerField()))]
        if m_first == m_last:
            whens.append(When(month=m_first, then=bits(period.start.day, period.end.day)))
        else:
            whens.append(When(month=m_first, then=bits(period.start.day, last_of_first)))
            whens.append(When(month=m_last, then=bits(1, period.end.day)))
        hits[f"hit{i}"] = Case(*whens, default=F("visit_days"), output_field=BigIntegerField())
        seen_in[f"in{i}"] = Max(
            Case(When(**{f"hit{i}__gt": 0}, then=Value(1)), default=Value(0)), output_field=IntegerField()
        )
        counts[f"customers{i}"] = Count("customer_id", filter=Q(**{f"in{i}": 1}))
        counts[f"returning{i}"] = Count("customer_id", filter=Q(**{f"in{i}": 1, "seen__lt": period.start}))
    any_hit = Q()
    for name in hits:
        any_hit |= Q(**{f"{name}__gt": 0})
    result = (
        CustomerMonth.objects.filter(
            store_id__in=store_ids,
            month__gte=min(month_start(p.start) for p in periods),
            month__lte=max(month_start(p.end) for p in periods),
            visits__gt=0,
        )
        .annotate(**hits)
        .filter(any_hit)
        .values("customer_id", "store_id")
        .annotate(seen=Min("first_seen"), **seen_in)
        .aggregate(**counts)
    )
    return [(result[f"customers{i}"] or 0, result[f"returning{i}"] or 0) for i in range(len(periods))]


def _rule(field: str, store_ref: str):
    from django.db.models import OuterRef, Subquery
    from django.db.models.functions import Coalesce

    from loyalty.models import ProgramRules

    own = ProgramRules.objects.filter(store_id=OuterRef(store_ref)).values(field)[:1]
    chain = ProgramRules.objects.filter(store__isnull=True).values(field)[:1]
    return Coalesce(Subquery(own), Subquery(chain))


def _points_value(points, shown_points, shown_value) -> Decimal:
    from loyalty.models import ProgramRules

    defaults = ProgramRules()
    shown_points = shown_points or defaults.display_points
    shown_value = shown_value if shown_value is not None else defaults.display_value
    return Decimal(points or 0) * Decimal(shown_value) / shown_points


def points_liability_of(stores) -> Decimal:
    """The points liability of stores annotated with ``points_liability_annotations`` (no query)."""
    value = sum(
        (_points_value(s.points_held, s.points_shown, s.points_value) for s in stores if s.points_held),
        Decimal(0),
    )
    return value.quantize(Decimal("0.01"))


def points_liability(*, store_ids: list[int]) -> Decimal:
    """Outstanding points valued in money: positive balances × each store's point value (one query).

    A stock figure at the moment of reading, not a flow of the period. Accounts in debt
    (returns of spent points) do not reduce it: that debt is not money the shop owes.
    The point value is the store's rules row if it has one, else the chain's, else the defaults.
    """
    from django.db.models import Sum

    from loyalty.models import Account

    rows = (
        Account.objects.filter(store_id__in=store_ids, balance__gt=0)
        .values("store_id")
        .annotate(
            points=Sum("balance"),
            shown_points=_rule("display_points", "store_id"),
            shown_value=_rule("display_value", "store_id"),
        )
        .order_by()
    )
    value = sum((_points_value(r["points"], r["shown_points"], r["shown_value"]) for r in rows), Decimal(0))
    return value.quantize(Decimal("0.01"))
