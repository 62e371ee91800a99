"""Reads for loyalty screens and services: effective rules, FIFO lots, account summaries, scoped fetches."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from customers.access import access_for, stores_for
from customers.models import Customer, Store

from . import rules as r
from .models import Account, EntryKind, PointsEntry, ProgramRules, Reward, Voucher

# --- Rules -------------------------------------------------------------------------------


def rules_for(store: Store | int | None) -> ProgramRules:
    """The rules that apply in ``store``: its own row, else the chain row, else the built-in defaults."""
    store_id = store.pk if isinstance(store, Store) else store
    rows = {row.store_id: row for row in ProgramRules.objects.filter(Q(store__isnull=True) | Q(store_id=store_id))}
    return rows.get(store_id) or rows.get(None) or ProgramRules()


def rules_by_store(store_ids) -> dict[int, ProgramRules]:
    """Effective rules for many stores in one query."""
    ids = set(store_ids)
    rows = {row.store_id: row for row in ProgramRules.objects.filter(Q(store__isnull=True) | Q(store_id__in=ids))}
    chain = rows.get(None) or ProgramRules()
    return {sid: rows.get(sid, chain) for sid in ids}


# --- FIFO lots ---------------------------------------------------------------------------

FAR_FUTURE = dt.date(9999, 12, 31)


def remaining_lots(account_ids) -> dict[int, list[tuple[dt.date | None, int]]]:
    """For each account, its credit lots still unspent, oldest expiry first: ``[(expires_on, points), ...]``.

    Two queries whatever the number of accounts: the positive entries, and the sum of
    the negative ones per account. Debits (redemptions, reversals, expiries, negative
    adjustments) consume lots oldest first (``rules.lots_remaining``).
    """
    ids = list(account_ids)
    if not ids:
        return {}
    lots: dict[int, list[r.Lot]] = defaultdict(list)
    for account_id, expires_on, points in (
        PointsEntry.objects.filter(account_id__in=ids, points__gt=0)
        .order_by("account_id", "expires_on", "occurred_at", "id")
        .values_list("account_id", "expires_on", "points")
    ):
        lots[account_id].append(r.Lot(expires_on, points))
    debits = dict(
        PointsEntry.objects.filter(account_id__in=ids, points__lt=0)
        .values("account_id")
        .annotate(total=Sum("points"))
        .values_list("account_id", "total")
    )
    result = {}
    for account_id, account_lots in lots.items():
        # ORDER BY puts NULL (never expires) last on PostgreSQL and first on SQLite: sort here.
        account_lots.sort(key=lambda lot: lot.expires_on or FAR_FUTURE)
        left = r.lots_remaining(account_lots, -(debits.get(account_id) or 0))
        result[account_id] = [(lot.expires_on, n) for lot, n in zip(account_lots, left, strict=True) if n > 0]
    return result


def expiring_between(lots: list[tuple[dt.date | None, int]], start: dt.date, end: dt.date) -> int:
    """Points of ``lots`` that expire after ``start`` and on or before ``end``."""
    return sum(n for day, n in lots if day is not None and start < day <= end)


# --- Accounts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountSummary:
    """What the counter, the customer page and the POS see about one customer's points."""

    customer: Customer
    account: Account | None
    rules: ProgramRules
    balance: int
    expiring_points: int
    expiring_on: dt.date | None
    eligible: list[Reward] = field(default_factory=list)
    next_reward: Reward | None = None
    points_missing: int | None = None

    @property
    def value(self) -> Decimal:
        return (Decimal(max(self.balance, 0)) * self.rules.point_value).quantize(Decimal("0.01"))

    @property
    def tier(self):
        return self.account.tier if self.account else None

    @property
    def in_debt(self) -> bool:
        return self.balance < 0

    def plain_words(self) -> str:
        """The rule in the customer's words: "You have 340 points; 160 more for a 5.00 voucher"."""
        if self.in_debt:
            return _("You owe %(points)s points from a returned purchase; new points pay that back first.") % {
                "points": -self.balance
            }
        text = _("You have %(points)s points") % {"points": self.balance}
        if self.next_reward is not None:
            text += "; " + _("%(missing)s more for a %(reward)s") % {
                "missing": self.points_missing,
                "reward": self.next_reward.value_label,
            }
        return text + "."


def account_summary(*, customer: Customer, as_of: dt.datetime) -> AccountSummary:
    """Balance, expiring points and rewards for one customer (a handful of queries)."""
    account = Account.objects.select_related("tier").filter(customer=customer).first()
    rules = rules_for(customer.home_store_id)
    today = as_of.date()
    balance = account.balance if account else 0
    expiring_points, expiring_on = 0, None
    if account and balance > 0:
        lots = remaining_lots([account.pk]).get(account.pk, [])
        horizon = today + dt.timedelta(days=max(rules.expiry_warning_days, 30))
        soon = [(d, n) for d, n in lots if d is not None and today < d <= horizon]
        if soon:
            expiring_on = soon[0][0]
            expiring_points = sum(n for _d, n in soon)
    rewards = list(Reward.objects.for_stores([customer.home_store_id]).available(on=today))
    eligible = [rw for rw in rewards if rw.points_cost <= balance] if balance >= 0 else []
    missing = r.points_to_next(balance, [rw.points_cost for rw in rewards])
    next_reward = None
    if missing is not None:
        next_reward = min((rw for rw in rewards if rw.points_cost > balance), key=lambda rw: rw.points_cost)
    return AccountSummary(
        customer=customer,
        account=account,
        rules=rules,
        balance=balance,
        expiring_points=expiring_points,
        expiring_on=expiring_on,
        eligible=eligible,
        next_reward=next_reward,
        points_missing=missing,
    )


def account_entries(*, account: Account | None, limit: int = 50) -> QuerySet[PointsEntry] | list:
    if account is None:
        return []
    return account.entries.select_related("store").order_by("-occurred_at", "-id")[:limit]


def timeline_entries(customer: Customer) -> list[dict]:
    """The customer's points history for the customer-page timeline, newest first (at most 50).

    Each dict has exactly the fields of ``customers.timeline.TimelineEntry`` (date, kind,
    title, detail, url), so it can be registered as a timeline source as it is.
    """
    from django.urls import reverse

    account = Account.objects.filter(customer=customer).first()
    if account is None:
        return []
    url = reverse("loyalty:counter_customer", args=[customer.pk])
    return [
        {
            "date": entry.occurred_at,
            "kind": "points",
            "title": _("%(label)s: %(points)s points")
            % {"label": entry.get_kind_display(), "points": f"{entry.points:+d}"},
            "detail": " · ".join(
                part for part in (entry.reason, _("balance %(n)s") % {"n": entry.balance_after}) if part
            ),
            "url": url,
        }
        for entry in account.entries.order_by("-occurred_at", "-id")[:50]
    ]


# --- Scoped fetches for screens ------------------------------------------------------------


def counter_search(*, user, stores, query: str) -> QuerySet[Customer]:
    """Customers for the counter: an exact card number first, else a name/phone/email search."""
    from customers.selectors import customer_list

    query = query.strip()
    if not query:
        return Customer.objects.none()
    visible = customer_list(user=user, stores=stores)
    if query.isdigit():
        by_card = visible.filter(card_number=query)
        if by_card.exists():
            return by_card
    return customer_list(user=user, stores=stores, query=query)


def voucher_get(*, user, code: str) -> Voucher:
    """A voucher of a customer of the user's stores, or 404."""
    return get_object_or_404(
        Voucher.objects.select_related("account__customer", "reward", "store").filter(
            account__store__in=stores_for(user)
        ),
        code=code.strip().upper(),
    )


def reward_list(*, user) -> QuerySet[Reward]:
    return Reward.objects.for_stores(stores_for(user)).select_related("store").order_by("points_cost", "name")


def reward_get_for_edit(*, user, pk: int) -> Reward:
    """A reward the user may change: their stores' rewards; chain-wide ones only for an owner. Else 404."""
    qs = Reward.objects.filter(store__in=stores_for(user))
    if access_for(user).chain_wide:
        qs = Reward.objects.all()
    return get_object_or_404(qs, pk=pk)


def store_get(*, user, pk: int) -> Store:
    return get_object_or_404(stores_for(user), pk=pk)


def entry_kind_label(kind: str) -> str:
    return EntryKind(kind).label


def tier_list() -> QuerySet:
    from .models import Tier

    return Tier.objects.order_by("rank")


def tier_get(*, user, pk: int):
    """Tiers are chain-wide: only an owner edits them (the view's role guard); 404 if unknown."""
    return get_object_or_404(tier_list(), pk=pk)


def rules_rows(*, stores) -> list[tuple[Store, ProgramRules, bool]]:
    """Each store with the rules that apply there and whether it overrides the chain."""
    stores = list(stores)
    effective = rules_by_store(s.pk for s in stores)
    return [(s, effective[s.pk], effective[s.pk].store_id == s.pk) for s in stores]
