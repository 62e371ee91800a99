"""Loyalty points: program rules, accounts, the append-only ledger, rewards, vouchers, tiers.

Invariants and where they live (the rules in plain words are in loyalty/README.md):
- A ``PointsEntry`` is never updated or deleted (``save``/``delete`` refuse; on PostgreSQL
  a trigger refuses UPDATE/DELETE too). Every entry has a NOT NULL, unique idempotency key.
- ``Account.balance`` is a cache of SUM(entries.points). Services change it in the same
  transaction as the entry, under ``select_for_update``; on PostgreSQL a deferred constraint
  trigger checks at commit that the cache equals the sum.
- A redemption never takes a balance below zero: every redeem entry records
  ``balance_after`` and a CheckConstraint refuses a redeem row with ``balance_after < 0``.
  Other debits (a return reversing points already spent) may leave a negative balance: a debt.
- A voucher is used at most once: ``VoucherUse`` is one-to-one with ``Voucher``.
"""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Store


class ProgramRules(models.Model):
    """How points are earned and spent. One chain row (``store`` NULL); a store may have its own row.

    A store row replaces the chain row as a whole (it is created as a copy of it), so
    what applies in a store is always one row a person can read.
    """

    store = models.OneToOneField(
        Store,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="loyalty_rules",
        verbose_name=_("store"),
        help_text=_("Empty: the chain's rules. A store row overrides them for that store."),
    )
    points_per_unit = models.DecimalField(
        _("points per currency unit"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Points earned for each unit of money spent, rounded down per ticket."),
    )
    min_ticket = models.DecimalField(
        _("minimum ticket"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Tickets below this total earn nothing."),
    )
    cap_per_ticket = models.PositiveIntegerField(
        _("cap per ticket"),
        default=500,
        help_text=_("The most points one ticket can earn, however large the purchase."),
    )
    display_points = models.PositiveIntegerField(
        _("points"), default=250, validators=[MinValueValidator(1)], help_text=_("… are worth …")
    )
    display_value = models.DecimalField(
        _("value"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("5.00"),
        help_text=_('Shown to customers as "250 points = 5.00".'),
    )
    welcome_bonus = models.PositiveIntegerField(_("welcome bonus"), default=50)
    referral_bonus = models.PositiveIntegerField(
        _("referral bonus"), default=100, help_text=_("For the member whose friend makes a first purchase.")
    )
    referral_friend_bonus = models.PositiveIntegerField(
        _("friend's bonus"), default=0, help_text=_("For the friend on that first purchase (0: none).")
    )
    birthday_bonus = models.PositiveIntegerField(_("birthday bonus"), default=50)
    expiry_months = models.PositiveSmallIntegerField(
        _("points expire after (months)"), default=12, help_text=_("0: points never expire.")
    )
    expiry_warning_days = models.PositiveSmallIntegerField(_("warn before expiry (days)"), default=30)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("program rules")
        verbose_name_plural = _("program rules")
        constraints = [
            # NULL store is the chain row: at most one (NULLs never collide in a plain unique index).
            models.UniqueConstraint(Coalesce("store", 0), name="rules_one_chain_row"),
            models.CheckConstraint(condition=Q(points_per_unit__gte=0), name="rules_points_per_unit_not_negative"),
            models.CheckConstraint(condition=Q(min_ticket__gte=0), name="rules_min_ticket_not_negative"),
            models.CheckConstraint(condition=Q(display_points__gt=0), name="rules_display_points_positive"),
            models.CheckConstraint(condition=Q(display_value__gte=0), name="rules_display_value_not_negative"),
        ]

    def __str__(self) -> str:
        return str(_("Rules for %(where)s") % {"where": self.store.code if self.store_id else _("the chain")})

    @property
    def point_value(self) -> Decimal:
        """Money value of one point (for liability)."""
        return self.display_value / self.display_points


class TierBasis(models.TextChoices):
    SPEND = "spend", _("Spend in the last 12 months")
    VISITS = "visits", _("Visits in the last 12 months")


class Tier(models.Model):
    """A level of the programme (Regular, Premier…), reached by trailing-12-month spend or visits."""

    name = models.CharField(_("name"), max_length=40, unique=True)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True, help_text=_("Higher ranks are better."))
    basis = models.CharField(_("reached by"), max_length=10, choices=TierBasis.choices, default=TierBasis.SPEND)
    threshold = models.DecimalField(
        _("threshold"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        help_text=_("Spend (money) or visits (days with a purchase) needed in the last 12 months."),
    )
    earn_multiplier = models.DecimalField(_("earn multiplier"), max_digits=4, decimal_places=2, default=Decimal("1.00"))
    perks = models.TextField(_("perks"), blank=True)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gte=0), name="tier_threshold_not_negative"),
            models.CheckConstraint(
                condition=Q(earn_multiplier__gte=1) & Q(earn_multiplier__lte=10), name="tier_multiplier_1_10"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """A customer's points account. ``balance`` caches the sum of its entries (see module docstring)."""

    # SET_NULL: erasing a person keeps the ledger (it is never deleted) without the person.
    customer = models.OneToOneField(
        Customer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="points_account",
        verbose_name=_("customer"),
    )
    # The store that carries this account's liability: the customer's home store when it opened.
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+", verbose_name=_("store"))
    balance = models.IntegerField(_("balance"), default=0)
    tier = models.ForeignKey(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="accounts", verbose_name=_("tier")
    )
    # A tier is held at least until this date: downgrades wait for the end of the period.
    tier_until = models.DateField(_("tier held until"), null=True, blank=True)
    created_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        constraints = [
            models.CheckConstraint(
                condition=Q(tier__isnull=False) | Q(tier_until__isnull=True), name="account_until_needs_tier"
            ),
        ]

    def __str__(self) -> str:
        return f"account #{self.pk}"

    @property
    def in_debt(self) -> bool:
        return self.balance < 0


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earned on a purchase")
    WELCOME = "welcome", _("Welcome bonus")
    REFERRAL = "referral", _("Referral bonus")
    BIRTHDAY = "birthday", _("Birthday bonus")
    REDEEM = "redeem", _("Redeemed")
    EXPIRE = "expire", _("Expired")
    REVERSE = "reverse", _("Reversed (return)")
    ADJUST = "adjust", _("Adjusted by a manager")
    OPENING = "opening", _("Opening balance")


CREDIT_KINDS = [EntryKind.EARN, EntryKind.WELCOME, EntryKind.REFERRAL, EntryKind.BIRTHDAY, EntryKind.OPENING]
DEBIT_KINDS = [EntryKind.REDEEM, EntryKind.EXPIRE, EntryKind.REVERSE]


class EntrySource(models.TextChoices):
    TICKET = "ticket", _("Purchase ticket")
    SIGNUP = "signup", _("Sign-up")
    NIGHTLY = "nightly", _("Nightly job")
    COUNTER = "counter", _("Counter")
    API = "api", _("POS API")
    IMPORT = "import", _("Import")
    MANAGER = "manager", _("Manager")


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove a ledger entry."""


class PointsEntry(models.Model):
    """One line of the ledger. Appended, never changed: corrections are new entries."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(_("kind"), max_length=10, choices=EntryKind.choices)
    points = models.IntegerField(_("points"))
    balance_after = models.IntegerField(_("balance after"))
    # Idempotency key, e.g. "earn:ticket:42", "redeem:api:token:3:abc", "opening:card:2000…".
    key = models.CharField(max_length=200, unique=True)
    occurred_at = models.DateTimeField(_("when"))
    created_at = models.DateTimeField(db_default=models.functions.Now())
    # Positive entries are lots that expire oldest first on this date (NULL: never).
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+", verbose_name=_("store"))
    # No database FK: deleting a ticket or a user must never touch (update) a ledger row.
    ticket = models.ForeignKey(
        "customers.PurchaseTicket",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    source = models.CharField(_("source"), max_length=10, choices=EntrySource.choices)
    reason = models.CharField(_("reason"), max_length=255, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        indexes = [
            models.Index(fields=["account", "occurred_at"], name="entry_account_time_idx"),
            models.Index(fields=["ticket"], name="entry_ticket_idx"),
            models.Index(fields=["expires_on"], name="entry_expires_idx", condition=Q(points__gt=0)),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(key=""), name="entry_key_not_empty"),
            models.CheckConstraint(condition=~Q(points=0), name="entry_points_not_zero"),
            models.CheckConstraint(
                condition=~Q(kind__in=CREDIT_KINDS) | Q(points__gt=0), name="entry_credit_kinds_positive"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=DEBIT_KINDS) | Q(points__lt=0), name="entry_debit_kinds_negative"
            ),
            # The promise to the business: a redemption never takes a balance below zero.
            models.CheckConstraint(
                condition=~Q(kind=EntryKind.REDEEM) | Q(balance_after__gte=0), name="entry_redeem_never_below_zero"
            ),
            models.CheckConstraint(
                condition=Q(points__gt=0) | Q(expires_on__isnull=True), name="entry_only_credits_expire"
            ),
            models.CheckConstraint(condition=~Q(kind=EntryKind.ADJUST) | ~Q(reason=""), name="entry_adjust_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d} ({self.key})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("Points entries are append-only; add a correcting entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Points entries are never deleted.")


class RewardKind(models.TextChoices):
    GIFT = "gift", _("Gift item")
    FIXED = "fixed", _("Voucher of a fixed amount")
    PERCENT = "percent", _("Percentage voucher")


class RewardQuerySet(models.QuerySet):
    def for_stores(self, stores) -> "RewardQuerySet":
        """Chain-wide rewards and those of ``stores``."""
        return self.filter(Q(store__isnull=True) | Q(store__in=stores))

    def available(self, *, on) -> "RewardQuerySet":
        """Active on date ``on`` and in stock."""
        return self.filter(
            Q(is_active=True),
            Q(active_from__isnull=True) | Q(active_from__lte=on),
            Q(active_until__isnull=True) | Q(active_until__gte=on),
            Q(stock__isnull=True) | Q(stock__gt=0),
        )


class Reward(models.Model):
    """Something points buy: a gift, a fixed-amount voucher or a percentage voucher."""

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=RewardKind.choices, default=RewardKind.FIXED)
    points_cost = models.PositiveIntegerField(_("points"), validators=[MinValueValidator(1)])
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, null=True, blank=True, help_text=_("For fixed vouchers.")
    )
    percent = models.PositiveSmallIntegerField(
        _("percent off"), null=True, blank=True, help_text=_("For percentage vouchers, 1–100.")
    )
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True, help_text=_("Empty: unlimited."))
    active_from = models.DateField(_("active from"), null=True, blank=True)
    active_until = models.DateField(_("active until"), null=True, blank=True)
    photo = models.ImageField(_("photo"), upload_to="rewards/", blank=True)
    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("store"),
        help_text=_("Empty: every store of the chain."),
    )
    voucher_valid_days = models.PositiveSmallIntegerField(
        _("voucher valid for (days)"), default=30, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RewardQuerySet.as_manager()

    class Meta:
        ordering = ["points_cost", "name"]
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        constraints = [
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="reward_cost_positive"),
            models.CheckConstraint(
                condition=~Q(kind=RewardKind.FIXED) | Q(amount__gt=0), name="reward_fixed_has_amount"
            ),
            models.CheckConstraint(
                condition=~Q(kind=RewardKind.PERCENT) | (Q(percent__gte=1) & Q(percent__lte=100)),
                name="reward_percent_1_100",
            ),
            models.CheckConstraint(
                condition=Q(active_from__isnull=True)
                | Q(active_until__isnull=True)
                | Q(active_until__gte=F("active_from")),
                name="reward_dates_in_order",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("loyalty:reward_edit", args=[self.pk])

    def clean(self):
        if self.kind == RewardKind.FIXED and not self.amount:
            raise ValidationError({"amount": _("A fixed voucher needs an amount.")})
        if self.kind == RewardKind.PERCENT and not self.percent:
            raise ValidationError({"percent": _("A percentage voucher needs a percentage (1–100).")})

    @property
    def value_label(self) -> str:
        if self.kind == RewardKind.FIXED:
            return str(_("%(amount)s voucher") % {"amount": self.amount})
        if self.kind == RewardKind.PERCENT:
            return str(_("%(percent)s%% off voucher") % {"percent": self.percent})
        return self.name


VOUCHER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at the till


def new_voucher_code() -> str:
    """A 10-character code (about 50 bits); the unique index catches the rare collision."""
    return "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(10))


class Voucher(models.Model):
    """What a redemption gives the customer: a single-use code with an expiry."""

    class Source(models.TextChoices):
        REDEEM = "redeem", _("Bought with points")
        GIFT = "gift", _("Gift (outreach)")

    code = models.CharField(_("code"), max_length=16, unique=True, default=new_voucher_code)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="vouchers")
    # A gift voucher (win-back note) may have no catalogue reward and costs no points: no entry.
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="vouchers", verbose_name=_("reward")
    )
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="voucher")
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.REDEEM)
    # Idempotency key of a gift ("gift:note:42"); NULL for redemptions (their key is the entry's).
    gift_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+", verbose_name=_("issued at"))
    # What the reward was when redeemed (the catalogue may change later).
    label = models.CharField(_("reward"), max_length=200)
    issued_at = models.DateTimeField(_("issued"))
    expires_at = models.DateTimeField(_("expires"))

    class Meta:
        ordering = ["-issued_at", "-id"]
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=F("issued_at")), name="voucher_expires_after_issue"),
            # A redemption always has its points entry and reward; a gift always has its key.
            models.CheckConstraint(
                condition=~Q(source="redeem") | (Q(entry__isnull=False) & Q(reward__isnull=False)),
                name="voucher_redeem_has_entry",
            ),
            models.CheckConstraint(
                condition=~Q(source="gift") | (Q(gift_key__isnull=False) & Q(entry__isnull=True)),
                name="voucher_gift_has_key_no_entry",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def get_absolute_url(self) -> str:
        return reverse("loyalty:voucher", args=[self.code])


class VoucherUse(models.Model):
    """The one use of a voucher. One-to-one: the database refuses a second use."""

    voucher = models.OneToOneField(Voucher, on_delete=models.PROTECT, related_name="use")
    used_at = models.DateTimeField(_("used"))
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    source = models.CharField(max_length=10, choices=EntrySource.choices)
    ticket_number = models.CharField(_("ticket number"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("voucher use")
        verbose_name_plural = _("voucher uses")

    def __str__(self) -> str:
        return f"{self.voucher_id} used {self.used_at:%Y-%m-%d}"


class Notice(models.Model):
    """A message to send a customer, queued by a nightly job (outreach sends it and sets ``sent_at``)."""

    class Kind(models.TextChoices):
        EXPIRY_WARNING = "expiry", _("Points about to expire")
        TIER_DOWNGRADE = "tier_down", _("Tier ends at the end of the period")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="notices")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    due_on = models.DateField(_("due on"), help_text=_("When the points expire or the tier period ends."))
    points = models.PositiveIntegerField(_("points"), default=0)
    tier = models.ForeignKey(Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    queued_on = models.DateField(_("queued on"))
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-queued_on", "-id"]
        verbose_name = _("loyalty notice")
        verbose_name_plural = _("loyalty notices")
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "due_on"], name="notice_once_per_due_date"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} account#{self.account_id} {self.due_on}"
