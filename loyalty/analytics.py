"""Aggregates for managers: the points liability per store, what expires soon, earned vs redeemed per month."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from .models import Account, EntryKind, PointsEntry
from .rules import add_months
from .selectors import expiring_between, remaining_lots, rules_by_store

EARN_KINDS = [EntryKind.EARN, EntryKind.WELCOME, EntryKind.REFERRAL, EntryKind.BIRTHDAY, EntryKind.OPENING]


@dataclass(frozen=True)
class StoreLiability:
    store_id: int
    store_code: str
    store_name: str
    currency: str
    accounts: int
    points: int  # outstanding (positive balances)
    debt: int  # points owed by accounts in debt (returns of spent points)
    value: Decimal
    expiring: dict[int, int]  # days ahead (30/60/90) -> points expiring within them


@dataclass(frozen=True)
class MonthFlow:
    month: dt.date
    earned: int
    redeemed: int
    expired: int
    reversed: int
    adjusted: int


HORIZONS = (30, 60, 90)


def liability_by_store(*, stores, as_of: dt.datetime) -> list[StoreLiability]:
    """Outstanding points and their money value per store (the account's store), and what expires soon.

    Three queries for the totals (accounts; lots; debits per account) whatever the number of customers.
    """
    stores = list(stores)
    by_store = {
        row["store_id"]: row
        for row in Account.objects.filter(store__in=stores)
        .values("store_id")
        .annotate(
            accounts=Count("id"),
            points=Sum("balance", filter=Q(balance__gt=0), default=0),
            debt=Sum("balance", filter=Q(balance__lt=0), default=0),
        )
    }
    today = as_of.date()
    horizon = today + dt.timedelta(days=max(HORIZONS))
    soon_accounts = dict(
        Account.objects.filter(
            store__in=stores,
            balance__gt=0,
            entries__points__gt=0,
            entries__expires_on__lte=horizon,
        )
        .values_list("pk", "store_id")
        .distinct()
    )
    expiring: dict[int, dict[int, int]] = defaultdict(lambda: dict.fromkeys(HORIZONS, 0))
    for account_id, lots in remaining_lots(soon_accounts).items():
        for days in HORIZONS:
            # Lots already past their date count too: tonight's job expires them.
            expiring[soon_accounts[account_id]][days] += expiring_between(
                lots, dt.date.min, today + dt.timedelta(days=days)
            )
    rules = rules_by_store(s.pk for s in stores)
    result = []
    for store in stores:
        row = by_store.get(store.pk, {"accounts": 0, "points": 0, "debt": 0})
        result.append(
            StoreLiability(
                store_id=store.pk,
                store_code=store.code,
                store_name=store.name,
                currency=store.currency,
                accounts=row["accounts"],
                points=row["points"],
                debt=-row["debt"],
                value=(Decimal(row["points"]) * rules[store.pk].point_value).quantize(Decimal("0.01")),
                expiring=dict(expiring[store.pk]),
            )
        )
    return result


def points_flow_by_month(*, stores, as_of: dt.datetime, months: int = 12) -> list[MonthFlow]:
    """Points earned (purchases and bonuses) vs redeemed, expired, reversed per month, for entries in ``stores``."""
    start = add_months(as_of.date().replace(day=1), -(months - 1))
    rows = (
        PointsEntry.objects.filter(store__in=stores, occurred_at__date__gte=start, occurred_at__lte=as_of)
        .annotate(month=TruncMonth("occurred_at"))
        .values("month")
        .annotate(
            earned=Sum("points", filter=Q(kind__in=EARN_KINDS), default=0),
            redeemed=Sum("points", filter=Q(kind=EntryKind.REDEEM), default=0),
            expired=Sum("points", filter=Q(kind=EntryKind.EXPIRE), default=0),
            reversed=Sum("points", filter=Q(kind=EntryKind.REVERSE), default=0),
            adjusted=Sum("points", filter=Q(kind=EntryKind.ADJUST), default=0),
        )
    )
    found = {row["month"].date() if isinstance(row["month"], dt.datetime) else row["month"]: row for row in rows}
    result = []
    for i in range(months):
        month = add_months(start, i)
        row = found.get(month, {})
        result.append(
            MonthFlow(
                month=month,
                earned=row.get("earned", 0),
                redeemed=-row.get("redeemed", 0),
                expired=-row.get("expired", 0),
                reversed=-row.get("reversed", 0),
                adjusted=row.get("adjusted", 0),
            )
        )
    return result
