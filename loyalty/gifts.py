"""Gift vouchers: single-use vouchers the shop gives away (a win-back note's incentive), no points spent.

A gift is an ordinary ``Voucher`` (so the till redeems it with ``voucher_use`` like any other) with
``source="gift"``, no points entry, and a NOT NULL unique ``gift_key``: issuing twice with the same key
returns the first voucher, so a re-run or a retried task never gives a customer two vouchers.
"""

import datetime as dt
import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from customers.models import Customer

from .models import Reward, Voucher
from .services import LoyaltyError, account_open, accounts_open

log = logging.getLogger(__name__)


def gift_label(*, reward: Reward | None = None, amount: Decimal | None = None, percent: int | None = None) -> str:
    """What the voucher gives, in words ("10.00 voucher", "15% off voucher", or the reward's name)."""
    if reward is not None:
        return reward.value_label
    if amount:
        return str(_("%(amount)s voucher") % {"amount": amount})
    if percent:
        return str(_("%(percent)s%% off voucher") % {"percent": percent})
    raise LoyaltyError("gift", _("A gift voucher needs a reward, an amount or a percentage."))


def voucher_gift_issue(
    *,
    customer: Customer,
    key: str,
    issued_at: dt.datetime,
    expires_at: dt.datetime,
    reward: Reward | None = None,
    amount: Decimal | None = None,
    percent: int | None = None,
    by=None,
) -> Voucher:
    """Give ``customer`` a single-use voucher worth ``reward`` / ``amount`` / ``percent``. Idempotent per ``key``.

    The customer's points account is opened if needed (vouchers hang off accounts: the till looks
    them up by the account's store). Nothing is written to the points ledger: a gift costs no points.
    """
    if not key:
        raise ValueError("a gift voucher needs an idempotency key")
    gift_key = f"gift:{key}"
    existing = Voucher.objects.filter(gift_key=gift_key).first()
    if existing is not None:
        if existing.account.customer_id != customer.pk:
            raise LoyaltyError("key_reused", _("This gift key was already used for another customer."))
        return existing
    label = gift_label(reward=reward, amount=amount, percent=percent)
    account = account_open(customer=customer)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                voucher = Voucher.objects.create(
                    account=account,
                    reward=reward,
                    entry=None,
                    source=Voucher.Source.GIFT,
                    gift_key=gift_key,
                    store=customer.home_store,
                    label=label[:200],
                    issued_at=issued_at,
                    expires_at=expires_at,
                )
            break
        except IntegrityError:
            # Either the same key won a race (return its voucher) or a code collided (draw again).
            existing = Voucher.objects.filter(gift_key=gift_key).first()
            if existing is not None:
                return existing
    else:
        raise LoyaltyError("code", _("Could not issue a voucher code; try again."))
    log.info("gift voucher issued voucher=%s customer=%s by=%s", voucher.pk, customer.pk, getattr(by, "pk", None))
    return voucher


def vouchers_gift_issue_many(
    *,
    gifts: list[tuple[Customer, str]],
    issued_at: dt.datetime,
    expires_at: dt.datetime,
    reward: Reward | None = None,
    amount: Decimal | None = None,
    percent: int | None = None,
) -> dict[str, Voucher]:
    """``voucher_gift_issue`` for many (customer, key) pairs at once: one account lookup, one bulk insert.

    Returns vouchers by key. Keys already issued keep their voucher; if the bulk insert hits a unique
    index (an existing key from a concurrent run, or a code collision), each pair is retried one by one.
    """
    if not gifts:
        return {}
    label = gift_label(reward=reward, amount=amount, percent=percent)[:200]
    keys = {f"gift:{key}": (customer, key) for customer, key in gifts}
    existing = {v.gift_key: v for v in Voucher.objects.filter(gift_key__in=list(keys))}
    todo = [(c, k) for gk, (c, k) in keys.items() if gk not in existing]
    accounts = accounts_open(customer_ids=[c.pk for c, _ in todo])
    fresh = [
        Voucher(
            account=accounts[c.pk],
            reward=reward,
            source=Voucher.Source.GIFT,
            gift_key=f"gift:{k}",
            store_id=c.home_store_id,
            label=label,
            issued_at=issued_at,
            expires_at=expires_at,
        )
        for c, k in todo
    ]
    try:
        with transaction.atomic():
            created = Voucher.objects.bulk_create(fresh, batch_size=1000)
    except IntegrityError:
        created = [
            voucher_gift_issue(
                customer=c,
                key=k,
                issued_at=issued_at,
                expires_at=expires_at,
                reward=reward,
                amount=amount,
                percent=percent,
            )
            for c, k in todo
        ]
    out = {v.gift_key.removeprefix("gift:"): v for v in created}
    out.update({gk.removeprefix("gift:"): v for gk, v in existing.items()})
    log.info("gift vouchers issued: %s new, %s existing", len(created), len(existing))
    return out
