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
from .services import LoyaltyError, account_open

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
