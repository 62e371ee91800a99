"""Writes of the loyalty programme. Every change of points goes through ``_post``.

``_post`` appends entries to accounts the caller has locked (``_lock``), skipping
idempotency keys already in the ledger, and updates each account's cached balance
in the same transaction. The unique index on ``PointsEntry.key`` is the backstop
if two writers ever raced past the lock.
"""

import datetime as dt
import logging
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from customers.models import Customer, PurchaseTicket, Store

from . import rules as r
from .models import (
    Account,
    EntryKind,
    EntrySource,
    Notice,
    PointsEntry,
    Reward,
    Tier,
    Voucher,
    VoucherUse,
)
from .selectors import expiring_between, remaining_lots, rules_by_store, rules_for

log = logging.getLogger(__name__)


class LoyaltyError(Exception):
    """A refusal with a message for people (translated) and a stable ``code`` for machines."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class EntrySpec:
    account_id: int
    kind: str
    points: int
    key: str
    occurred_at: dt.datetime
    store_id: int
    source: str
    expires_on: dt.date | None = None
    ticket_id: int | None = None
    author_id: int | None = None
    reason: str = ""


# --- The one writer -----------------------------------------------------------------------


def _lock(account_ids) -> dict[int, Account]:
    """Lock accounts in id order (so two batches never deadlock) and return them by id."""
    return {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=set(account_ids)).order_by("pk")}


def _post(accounts: dict[int, Account], specs: list[EntrySpec]) -> list[PointsEntry]:
    """Append ``specs`` to locked ``accounts`` (keys already present are skipped); update the cached balances."""
    if not specs:
        return []
    taken = set(PointsEntry.objects.filter(key__in=[s.key for s in specs]).values_list("key", flat=True))
    new: list[PointsEntry] = []
    for spec in specs:
        if spec.key in taken or spec.points == 0:
            continue
        taken.add(spec.key)
        account = accounts[spec.account_id]
        account.balance += spec.points
        new.append(
            PointsEntry(
                account_id=spec.account_id,
                kind=spec.kind,
                points=spec.points,
                balance_after=account.balance,
                key=spec.key,
                occurred_at=spec.occurred_at,
                expires_on=spec.expires_on if spec.points > 0 else None,
                store_id=spec.store_id,
                ticket_id=spec.ticket_id,
                author_id=spec.author_id,
                source=spec.source,
                reason=spec.reason[:255],
            )
        )
    if new:
        PointsEntry.objects.bulk_create(new)
        changed = sorted({e.account_id for e in new})
        Account.objects.bulk_update([accounts[i] for i in changed], ["balance"])
    return new


def accounts_open(*, customer_ids) -> dict[int, Account]:
    """Each customer's account (opened on first use), by customer id. Safe when two requests open at once."""
    ids = set(customer_ids)
    found = {a.customer_id: a for a in Account.objects.filter(customer_id__in=ids)}
    missing = ids - set(found)
    if missing:
        homes = dict(Customer.objects.filter(pk__in=missing).values_list("pk", "home_store_id"))
        Account.objects.bulk_create(
            [Account(customer_id=cid, store_id=homes[cid]) for cid in missing if cid in homes],
            ignore_conflicts=True,
        )
        found.update({a.customer_id: a for a in Account.objects.filter(customer_id__in=missing)})
    return found


def account_open(*, customer: Customer) -> Account:
    return accounts_open(customer_ids=[customer.pk])[customer.pk]


# --- Earning from tickets -------------------------------------------------------------------


def _local_date(moment: dt.datetime, store: Store) -> dt.date:
    return moment.astimezone(store.tz).date()


def points_earn_for_tickets(*, ticket_ids: list[int]) -> list[PointsEntry]:
    """Earn for sales, reverse for returns, and pay referral bonuses, for a batch of tickets. Idempotent.

    - A sale earns once (key ``earn:ticket:<id>``) by its store's rules and the tier multiplier.
    - A return with an ``original`` takes back that sale's share of the points (key
      ``reverse:ticket:<id>``); a return without one reverses nothing (we cannot know what it earned).
    - A referred customer's first sale pays the referrer (and, if the rules say so, the friend) once.
    """
    tickets = list(
        PurchaseTicket.objects.filter(pk__in=ticket_ids, customer__isnull=False)
        .select_related("store", "original")
        .order_by("purchased_at", "pk")
    )
    if not tickets:
        return []
    sales = [t for t in tickets if not t.is_return]
    returns = [t for t in tickets if t.is_return and t.original_id]
    customer_ids = {t.customer_id for t in sales}
    # Referral: the friend's first sale ever (by time, then id).
    referred = dict(
        Customer.objects.filter(pk__in=customer_ids, referred_by__isnull=False).values_list("pk", "referred_by_id")
    )
    first_sale = {}
    if referred:
        first_sale = {
            row["customer_id"]: row["first"]
            for row in PurchaseTicket.objects.sales()
            .filter(customer_id__in=referred)
            .values("customer_id")
            .annotate(first=Min("purchased_at"))
        }
    accounts = accounts_open(customer_ids=customer_ids | set(referred.values()))
    original_ids = {t.original_id for t in returns}
    earned_on = {
        e.ticket_id: e
        for e in PointsEntry.objects.filter(kind=EntryKind.EARN, ticket_id__in=original_ids).only(
            "account_id", "points", "ticket_id"
        )
    }
    lock_ids = {a.pk for a in accounts.values()} | {e.account_id for e in earned_on.values()}
    store_rules = rules_by_store({t.store_id for t in tickets})

    with transaction.atomic():
        locked = _lock(lock_ids)
        tiers = {t.pk: t for t in Tier.objects.all()}
        specs: list[EntrySpec] = []
        for t in sales:
            rules = store_rules[t.store_id]
            account = locked[accounts[t.customer_id].pk]
            tier = tiers.get(account.tier_id)
            points = r.points_for_sale(
                total=t.total,
                points_per_unit=rules.points_per_unit,
                min_ticket=rules.min_ticket,
                cap=rules.cap_per_ticket,
                multiplier=tier.earn_multiplier if tier else Decimal(1),
            )
            expires = r.expiry_date(earned_on=_local_date(t.purchased_at, t.store), months=rules.expiry_months)
            specs.append(
                EntrySpec(
                    account_id=account.pk,
                    kind=EntryKind.EARN,
                    points=points,
                    key=f"earn:ticket:{t.pk}",
                    occurred_at=t.purchased_at,
                    store_id=t.store_id,
                    source=EntrySource.TICKET,
                    expires_on=expires,
                    ticket_id=t.pk,
                    reason=_("Ticket %(number)s") % {"number": t.number},
                )
            )
            if t.customer_id in referred and first_sale.get(t.customer_id) == t.purchased_at:
                referrer_account = locked[accounts[referred[t.customer_id]].pk]
                specs.append(
                    EntrySpec(
                        account_id=referrer_account.pk,
                        kind=EntryKind.REFERRAL,
                        points=rules.referral_bonus,
                        key=f"referral:friend:{t.customer_id}",
                        occurred_at=t.purchased_at,
                        store_id=t.store_id,
                        source=EntrySource.TICKET,
                        expires_on=expires,
                        ticket_id=t.pk,
                        reason=_("A friend you referred made a first purchase"),
                    )
                )
                specs.append(
                    EntrySpec(
                        account_id=account.pk,
                        kind=EntryKind.REFERRAL,
                        points=rules.referral_friend_bonus,
                        key=f"referral:welcome-friend:{t.customer_id}",
                        occurred_at=t.purchased_at,
                        store_id=t.store_id,
                        source=EntrySource.TICKET,
                        expires_on=expires,
                        ticket_id=t.pk,
                        reason=_("First purchase as a referred friend"),
                    )
                )
        specs += _reversal_specs(returns, earned_on)
        return _post(locked, specs)


def _reversal_specs(returns: list[PurchaseTicket], earned_on: dict[int, PointsEntry]) -> list[EntrySpec]:
    """Reversals for returns, computed under the accounts' locks so two partial returns never over-reverse."""
    returns = [t for t in returns if t.original_id in earned_on]
    if not returns:
        return []
    originals = {t.original_id for t in returns}
    returned = defaultdict(list)  # original id -> [(return id, |total|)] in id order
    for rid, oid, total in (
        PurchaseTicket.objects.filter(original_id__in=originals, is_return=True)
        .order_by("pk")
        .values_list("pk", "original_id", "total")
    ):
        returned[oid].append((rid, abs(total)))
    reversed_so_far = defaultdict(int)
    for oid, points in (
        PointsEntry.objects.filter(kind=EntryKind.REVERSE, ticket__original_id__in=originals)
        .values("ticket__original_id")
        .annotate(total=Sum("points"))
        .values_list("ticket__original_id", "total")
    ):
        reversed_so_far[oid] = -points
    specs = []
    done = set(
        PointsEntry.objects.filter(key__in=[f"reverse:ticket:{t.pk}" for t in returns]).values_list("key", flat=True)
    )
    for t in sorted(returns, key=lambda t: t.pk):
        key = f"reverse:ticket:{t.pk}"
        if key in done:
            continue
        earn = earned_on[t.original_id]
        so_far = sum(amount for rid, amount in returned[t.original_id] if rid <= t.pk)
        points = r.reversal_for_return(
            earned=earn.points,
            original_total=t.original.total,
            returned_so_far=so_far,
            already_reversed=reversed_so_far[t.original_id],
        )
        reversed_so_far[t.original_id] += points
        specs.append(
            EntrySpec(
                account_id=earn.account_id,
                kind=EntryKind.REVERSE,
                points=-points,
                key=key,
                occurred_at=t.purchased_at,
                store_id=t.store_id,
                source=EntrySource.TICKET,
                ticket_id=t.pk,
                reason=_("Return %(number)s of ticket %(original)s")
                % {"number": t.number, "original": t.original.number},
            )
        )
    return specs


# --- Bonuses --------------------------------------------------------------------------------


def points_welcome_grant(*, customer_id: int, as_of: dt.datetime) -> PointsEntry | None:
    """The welcome bonus on joining, once per customer (key ``welcome:<customer id>``)."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        return None
    rules = rules_for(customer.home_store_id)
    if rules.welcome_bonus <= 0:
        return None
    account = account_open(customer=customer)
    spec = EntrySpec(
        account_id=account.pk,
        kind=EntryKind.WELCOME,
        points=rules.welcome_bonus,
        key=f"welcome:{customer_id}",
        occurred_at=as_of,
        store_id=customer.home_store_id,
        source=EntrySource.SIGNUP,
        expires_on=r.expiry_date(earned_on=as_of.date(), months=rules.expiry_months),
        reason=_("Welcome to the programme"),
    )
    with transaction.atomic():
        created = _post(_lock([account.pk]), [spec])
    return created[0] if created else None


BIRTHDAY_CATCH_UP_DAYS = 7


def points_birthday_grant(*, as_of: dt.datetime) -> int:
    """Birthday bonuses for birthdays in the last week (local to each home store), once per customer per year.

    The catch-up window means a missed night (worker down) still pays; the key
    ``birthday:<customer>:<year>`` makes a second run a no-op. 29 February is
    celebrated on the 28th in other years.
    """
    specs_by_customer: dict[int, tuple[int, dt.date]] = {}
    for store in Store.objects.all():
        today = as_of.astimezone(store.tz).date()
        days = [today - dt.timedelta(days=i) for i in range(BIRTHDAY_CATCH_UP_DAYS)]
        match = Q()
        for day in days:
            match |= Q(birthday__month=day.month, birthday__day=day.day)
            if day.month == 2 and day.day == 28 and not _is_leap(day.year):
                match |= Q(birthday__month=2, birthday__day=29)
        for cid, birthday in Customer.objects.filter(match, home_store=store).values_list("pk", "birthday"):
            for day in days:
                bday = (birthday.month, birthday.day)
                if bday == (day.month, day.day) or (bday == (2, 29) and (day.month, day.day) == (2, 28)):
                    specs_by_customer[cid] = (store.pk, day)
                    break
    if not specs_by_customer:
        return 0
    accounts = accounts_open(customer_ids=specs_by_customer)
    store_rules = rules_by_store({sid for sid, _d in specs_by_customer.values()})
    specs = []
    for cid, (sid, day) in specs_by_customer.items():
        rules = store_rules[sid]
        specs.append(
            EntrySpec(
                account_id=accounts[cid].pk,
                kind=EntryKind.BIRTHDAY,
                points=rules.birthday_bonus,
                key=f"birthday:{cid}:{day.year}",
                occurred_at=as_of,
                store_id=sid,
                source=EntrySource.NIGHTLY,
                expires_on=r.expiry_date(earned_on=as_of.date(), months=rules.expiry_months),
                reason=_("Happy birthday"),
            )
        )
    with transaction.atomic():
        created = _post(_lock(a.pk for a in accounts.values()), specs)
    return len(created)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# --- Spending -------------------------------------------------------------------------------


def points_redeem(
    *,
    account: Account,
    reward: Reward,
    store: Store,
    by,
    key: str,
    source: str,
    as_of: dt.datetime,
) -> Voucher:
    """Spend ``reward.points_cost`` points for a voucher. Idempotent per ``key``; safe under concurrency.

    Under the account's row lock: refused when the balance is short or in debt
    (a debt from a return is repaid by new points before anything is redeemed),
    when the reward is not available, or out of stock (stock is taken with a
    conditional UPDATE, so it never goes below zero). The redeem entry's
    ``balance_after >= 0`` is also a database check.
    """
    key = f"redeem:{key}"
    with transaction.atomic():
        locked = _lock([account.pk])
        acc = locked[account.pk]
        previous = PointsEntry.objects.filter(key=key).first()
        if previous is not None:
            if previous.account_id != acc.pk:
                raise LoyaltyError("key_reused", _("This request key was already used for another customer."))
            return previous.voucher
        today = as_of.date()
        if not Reward.objects.for_stores([acc.store_id]).available(on=today).filter(pk=reward.pk).exists():
            raise LoyaltyError("unavailable", _("This reward is not available today."))
        if acc.balance < 0:
            raise LoyaltyError(
                "debt",
                _("The customer owes %(points)s points from a return; new purchases repay it first.")
                % {"points": -acc.balance},
            )
        if acc.balance < reward.points_cost:
            raise LoyaltyError(
                "insufficient",
                _("Not enough points: %(balance)s, the reward needs %(cost)s.")
                % {"balance": acc.balance, "cost": reward.points_cost},
            )
        if reward.stock is not None and not Reward.objects.filter(pk=reward.pk, stock__gt=0).update(
            stock=F("stock") - 1
        ):
            raise LoyaltyError("out_of_stock", _("This reward is out of stock."))
        (entry,) = _post(
            locked,
            [
                EntrySpec(
                    account_id=acc.pk,
                    kind=EntryKind.REDEEM,
                    points=-reward.points_cost,
                    key=key,
                    occurred_at=as_of,
                    store_id=store.pk,
                    source=source,
                    author_id=getattr(by, "pk", None),
                    reason=reward.name,
                )
            ],
        )
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    voucher = Voucher.objects.create(
                        account=acc,
                        reward=reward,
                        entry=entry,
                        store=store,
                        label=reward.value_label,
                        issued_at=as_of,
                        expires_at=as_of + dt.timedelta(days=reward.voucher_valid_days),
                    )
                break
            except IntegrityError:  # a code collision (1 in ~10^15): draw another
                continue
        else:
            raise LoyaltyError("code", _("Could not issue a voucher code; try again."))
    log.info("points redeemed account=%s reward=%s entry=%s voucher=%s", acc.pk, reward.pk, entry.pk, voucher.pk)
    return voucher


def voucher_use(*, code: str, stores, by, source: str, as_of: dt.datetime, ticket_number: str = "") -> VoucherUse:
    """Use a voucher once. Concurrent uses of one code: exactly one wins (row lock + one-to-one use row)."""
    code = code.strip().upper()
    with transaction.atomic():
        voucher = (
            Voucher.objects.select_for_update(of=("self",))
            .select_related("account")
            .filter(code=code, account__store__in=stores)
            .first()
        )
        if voucher is None:
            raise LoyaltyError("unknown", _("No voucher with this code."))
        if VoucherUse.objects.filter(voucher=voucher).exists():
            raise LoyaltyError("used", _("This voucher was already used."))
        if voucher.expires_at <= as_of:
            raise LoyaltyError("expired", _("This voucher expired on %(date)s.") % {"date": voucher.expires_at.date()})
        store = stores.filter(pk=voucher.account.store_id).first() or voucher.store
        try:
            with transaction.atomic():
                return VoucherUse.objects.create(
                    voucher=voucher,
                    used_at=as_of,
                    store=store,
                    by_id=getattr(by, "pk", None),
                    source=source,
                    ticket_number=ticket_number[:64],
                )
        except IntegrityError as exc:
            raise LoyaltyError("used", _("This voucher was already used.")) from exc


def points_adjust(*, account: Account, points: int, reason: str, by, key: str, as_of: dt.datetime) -> PointsEntry:
    """A manager's correction, with a reason, recorded in the audit log. Never takes a balance below zero."""
    from customers.services import audit_record

    reason = reason.strip()
    if not reason:
        raise LoyaltyError("reason", _("Give a reason for the adjustment."))
    if points == 0:
        raise LoyaltyError("zero", _("An adjustment of 0 points changes nothing."))
    rules = rules_for(account.store_id)
    key = f"adjust:{key}"
    with transaction.atomic():
        locked = _lock([account.pk])
        acc = locked[account.pk]
        previous = PointsEntry.objects.filter(key=key).first()
        if previous is not None:
            return previous
        if points < 0 and acc.balance + points < 0:
            raise LoyaltyError(
                "below_zero",
                _("The balance is %(balance)s; an adjustment cannot take it below zero.") % {"balance": acc.balance},
            )
        (entry,) = _post(
            locked,
            [
                EntrySpec(
                    account_id=acc.pk,
                    kind=EntryKind.ADJUST,
                    points=points,
                    key=key,
                    occurred_at=as_of,
                    store_id=acc.store_id,
                    source=EntrySource.MANAGER,
                    expires_on=r.expiry_date(earned_on=as_of.date(), months=rules.expiry_months),
                    author_id=by.pk,
                    reason=reason,
                )
            ],
        )
        audit_record(
            actor=by,
            action="points_adjust",
            target=acc.customer,
            store=acc.store,
            details={"account_id": acc.pk, "entry_id": entry.pk, "points": points},
        )
    return entry


@dataclass(frozen=True)
class OpeningRow:
    line: int
    card: str
    points: int
    as_of: dt.date


@dataclass
class OpeningResult:
    inserted: int = 0
    already: int = 0
    errors: list[str] | None = None


def points_opening_post(*, rows: list[OpeningRow], by, file_name: str = "") -> OpeningResult:
    """Post opening balances from another system: one per card, ever (key ``opening:card:<card>``).

    Re-importing a file (or a corrected one) never doubles a balance; corrections
    after import are manager adjustments. Points expire from the row's as-of date.
    """
    result = OpeningResult(errors=[])
    customers = dict(
        Customer.objects.filter(card_number__in={row.card for row in rows}).values_list("card_number", "pk")
    )
    good = []
    for row in rows:
        if row.card not in customers:
            result.errors.append(
                _("Line %(line)s: no customer with card %(card)s.") % {"line": row.line, "card": row.card}
            )
        else:
            good.append(row)
    accounts = accounts_open(customer_ids=[customers[row.card] for row in good])
    store_rules = rules_by_store({a.store_id for a in accounts.values()})
    specs = []
    for row in good:
        account = accounts[customers[row.card]]
        rules = store_rules[account.store_id]
        specs.append(
            EntrySpec(
                account_id=account.pk,
                kind=EntryKind.OPENING,
                points=row.points,
                key=f"opening:card:{row.card}",
                occurred_at=dt.datetime.combine(row.as_of, dt.time(0), tzinfo=dt.UTC),
                store_id=account.store_id,
                source=EntrySource.IMPORT,
                expires_on=r.expiry_date(earned_on=row.as_of, months=rules.expiry_months),
                author_id=getattr(by, "pk", None),
                reason=(
                    _("Imported from %(file)s, line %(line)s") % {"file": file_name, "line": row.line}
                    if file_name
                    else _("Imported, line %(line)s") % {"line": row.line}
                )[:255],
            )
        )
    with transaction.atomic():
        created = _post(_lock(a.pk for a in accounts.values()), specs)
    result.inserted = len(created)
    result.already = len(specs) - len(created)
    return result


# --- Nightly jobs ----------------------------------------------------------------------------


def points_expire(*, as_of: dt.datetime) -> int:
    """Expire what is left of lots whose date has come, oldest first. A second run the same day adds nothing."""
    today = as_of.date()
    candidates = list(
        Account.objects.filter(balance__gt=0, entries__points__gt=0, entries__expires_on__lte=today)
        .values_list("pk", flat=True)
        .distinct()
    )
    created = 0
    for start in range(0, len(candidates), 500):
        chunk = candidates[start : start + 500]
        with transaction.atomic():
            locked = _lock(chunk)
            lots = remaining_lots(chunk)
            specs = []
            for account_id, account_lots in lots.items():
                due = sum(n for day, n in account_lots if day is not None and day <= today)
                due = min(due, locked[account_id].balance)
                if due > 0:
                    specs.append(
                        EntrySpec(
                            account_id=account_id,
                            kind=EntryKind.EXPIRE,
                            points=-due,
                            key=f"expire:{account_id}:{today.isoformat()}",
                            occurred_at=as_of,
                            store_id=locked[account_id].store_id,
                            source=EntrySource.NIGHTLY,
                            reason=_("Points older than the expiry period"),
                        )
                    )
            created += len(_post(locked, specs))
    return created


def expiry_warnings_queue(*, as_of: dt.datetime) -> int:
    """Queue one notice per account whose points expire within its store's warning period.

    No second notice while one queued in the last warning period stands (so daily
    earners are not warned daily); the unique (account, kind, due date) makes a
    rerun a no-op.
    """
    today = as_of.date()
    store_rules = rules_by_store(Store.objects.values_list("pk", flat=True))
    horizon = today + dt.timedelta(days=max((ru.expiry_warning_days for ru in store_rules.values()), default=30))
    candidates = list(
        Account.objects.filter(
            balance__gt=0, entries__points__gt=0, entries__expires_on__gt=today, entries__expires_on__lte=horizon
        )
        .values_list("pk", "store_id")
        .distinct()
    )
    if not candidates:
        return 0
    recent = {
        (account_id, queued_on)
        for account_id, queued_on in Notice.objects.filter(
            kind=Notice.Kind.EXPIRY_WARNING, account_id__in=[a for a, _s in candidates]
        ).values_list("account_id", "queued_on")
    }
    recently_warned = defaultdict(lambda: dt.date.min)
    for account_id, queued_on in recent:
        recently_warned[account_id] = max(recently_warned[account_id], queued_on)
    lots = remaining_lots([a for a, _s in candidates])
    notices = []
    for account_id, store_id in candidates:
        days = store_rules[store_id].expiry_warning_days
        if recently_warned[account_id] > today - dt.timedelta(days=days):
            continue
        end = today + dt.timedelta(days=days)
        soon = [(d, n) for d, n in lots.get(account_id, []) if d is not None and today < d <= end]
        if soon:
            notices.append(
                Notice(
                    account_id=account_id,
                    kind=Notice.Kind.EXPIRY_WARNING,
                    due_on=soon[0][0],
                    points=expiring_between(soon, today, end),
                    queued_on=today,
                )
            )
    return len(Notice.objects.bulk_create(notices, ignore_conflicts=True)) if notices else 0


TRAILING = dt.timedelta(days=365)


def tiers_recompute(*, as_of: dt.datetime, account_ids=None) -> dict[str, int]:
    """Place accounts in tiers by trailing-12-month spend (net of returns) and visits (days with a sale).

    Upgrades happen at once; a customer who no longer qualifies keeps the tier until
    the end of their tier period and gets a queued notice; a rerun changes nothing.
    """
    tiers = [r.TierRule(t.pk, t.rank, t.basis, t.threshold) for t in Tier.objects.all()]
    rank_of = {t.id: t.rank for t in tiers}
    accounts = Account.objects.filter(customer__isnull=False)
    if account_ids is not None:
        accounts = accounts.filter(pk__in=list(account_ids))
    accounts = list(accounts.only("pk", "customer_id", "tier_id", "tier_until"))
    if not accounts or not tiers:
        return {"up": 0, "down": 0, "warned": 0}
    customer_ids = [a.customer_id for a in accounts]
    window = PurchaseTicket.objects.filter(
        customer_id__in=customer_ids, purchased_at__gt=as_of - TRAILING, purchased_at__lte=as_of
    )
    spend = dict(window.values("customer_id").annotate(s=Sum("total")).values_list("customer_id", "s"))
    visits: dict[int, int] = defaultdict(int)
    # A visit is a calendar day in the store's time zone: count per time zone, then add up.
    for tz_name in set(Store.objects.values_list("time_zone", flat=True)):
        rows = (
            window.filter(is_return=False, store__time_zone=tz_name)
            .values("customer_id")
            .annotate(n=Count(TruncDate("purchased_at", tzinfo=zoneinfo.ZoneInfo(tz_name)), distinct=True))
            .values_list("customer_id", "n")
        )
        for cid, n in rows:
            visits[cid] += n
    today = as_of.date()
    changed, notices, counts = [], [], {"up": 0, "down": 0, "warned": 0}
    for acc in accounts:
        decision = r.tier_decide(
            current_id=acc.tier_id,
            current_rank=rank_of.get(acc.tier_id),
            current_until=acc.tier_until,
            qualified=r.qualifying_tier(
                tiers, spend=spend.get(acc.customer_id) or Decimal(0), visits=visits.get(acc.customer_id, 0)
            ),
            today=today,
        )
        if decision.warn_downgrade:
            notices.append(
                Notice(account_id=acc.pk, kind=Notice.Kind.TIER_DOWNGRADE, due_on=acc.tier_until, queued_on=today)
            )
        if (decision.tier_id, decision.until) != (acc.tier_id, acc.tier_until):
            old, new = rank_of.get(acc.tier_id, -1), rank_of.get(decision.tier_id, -1)
            if new > old:
                counts["up"] += 1
            elif new < old:
                counts["down"] += 1
            acc.tier_id, acc.tier_until = decision.tier_id, decision.until
            changed.append(acc)
    if notices:
        queued = set(
            Notice.objects.filter(
                kind=Notice.Kind.TIER_DOWNGRADE, account_id__in=[n.account_id for n in notices]
            ).values_list("account_id", "due_on")
        )
        notices = [n for n in notices if (n.account_id, n.due_on) not in queued]
    with transaction.atomic():
        if changed:
            Account.objects.bulk_update(changed, ["tier", "tier_until"], batch_size=500)
        if notices:
            Notice.objects.bulk_create(notices, ignore_conflicts=True)
    counts["warned"] = len(notices)
    return counts


def accounts_merge(*, survivor_id: int, duplicate_id: int, as_of: dt.datetime) -> list[PointsEntry]:
    """Move a merged-away customer's points and vouchers to the survivor. Idempotent.

    The ledger only appends, so points move as paired adjustments: each unspent lot of
    the duplicate becomes a credit on the survivor **with its own expiry date** (FIFO
    expiry is unchanged), and one debit empties the duplicate's account. A debt (points
    spent, then returned) moves the same way. Vouchers are re-pointed at the survivor's
    account. If the survivor has no account yet, the duplicate's account simply changes
    hands, history and all.
    """
    duplicate = Account.objects.filter(customer_id=duplicate_id).first()
    if duplicate is None:
        return []
    survivor = Account.objects.filter(customer_id=survivor_id).first()
    if survivor is None:
        Account.objects.filter(pk=duplicate.pk).update(customer_id=survivor_id)
        return []
    accounts = _lock([duplicate.pk, survivor.pk])
    duplicate, survivor = accounts[duplicate.pk], accounts[survivor.pk]
    reason = f"merge of customer {duplicate_id} into {survivor_id}"
    base = f"merge:{duplicate.pk}:{survivor.pk}"
    common = {"occurred_at": as_of, "store_id": survivor.store_id, "source": EntrySource.MANAGER, "reason": reason}
    specs: list[EntrySpec] = []
    if duplicate.balance > 0:
        lots = remaining_lots([duplicate.pk]).get(duplicate.pk, [])
        for i, (expires_on, points) in enumerate(lots):
            specs.append(
                EntrySpec(
                    account_id=survivor.pk, kind=EntryKind.ADJUST, points=points, key=f"{base}:in:{i}",
                    expires_on=expires_on, **common,
                )
            )  # fmt: skip
        moved = sum(points for _, points in lots)
        specs.append(
            EntrySpec(account_id=duplicate.pk, kind=EntryKind.ADJUST, points=-moved, key=f"{base}:out", **common)
        )
    elif duplicate.balance < 0:
        debt = -duplicate.balance
        specs += [
            EntrySpec(account_id=survivor.pk, kind=EntryKind.ADJUST, points=-debt, key=f"{base}:debt-in", **common),
            EntrySpec(account_id=duplicate.pk, kind=EntryKind.ADJUST, points=debt, key=f"{base}:debt-out", **common),
        ]
    entries = _post(accounts, specs)
    Voucher.objects.filter(account=duplicate).update(account=survivor)
    return entries
