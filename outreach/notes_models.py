"""Outreach notes: campaigns, their wording, the notes staff write (or we email), holdouts and queue runs.

Invariants the database holds:
- one Note per customer, campaign and period (``note_once_per_period``): a rerun of the queue
  creates nothing twice; the same for holdout members (``holdout_once_per_period``);
- a posted note has ``posted_at``, an emailed one ``sent_at`` (check constraints), so the
  "did it work" clock always has a start;
- one template per campaign and language.
"""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Store

__all__ = [
    "CampaignKind",
    "ChannelPolicy",
    "IncentiveKind",
    "Campaign",
    "CampaignTemplate",
    "NoteChannel",
    "NoteStatus",
    "EmailState",
    "Note",
    "HoldoutMember",
    "NoteRun",
    "new_return_code",
]


class CampaignKind(models.TextChoices):
    THANK_YOU = "thank_you", _("Thank-you")
    WIN_BACK = "win_back", _("Win-back")
    BIRTHDAY = "birthday", _("Birthday")
    BIG_PURCHASE = "big_purchase", _("Big-purchase thanks")
    NEW_ARRIVALS = "new_arrivals", _("New arrivals")
    MANUAL = "manual", _("Manual")


class ChannelPolicy(models.TextChoices):
    HANDWRITTEN_FIRST = "handwritten_first", _("Handwritten first, else email")
    EMAIL = "email", _("Email only")
    BOTH = "both", _("Handwritten and email")


class IncentiveKind(models.TextChoices):
    NONE = "none", _("None — just thanks")
    AMOUNT = "amount", _("A fixed amount off")
    PERCENT = "percent", _("A percentage off")
    REWARD = "reward", _("A reward from the catalogue")


class Campaign(models.Model):
    """Who gets a note, in which words, by which channel, with which incentive, and how often."""

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=CampaignKind.choices)
    store = models.ForeignKey(
        Store,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("store"),
        help_text=_("Empty: the whole chain (notes go to each customer's home store)."),
    )
    is_active = models.BooleanField(_("active"), default=True, help_text=_("Queued after every segmentation run."))
    channel_policy = models.CharField(
        _("channel"), max_length=20, choices=ChannelPolicy.choices, default=ChannelPolicy.HANDWRITTEN_FIRST
    )
    incentive_kind = models.CharField(
        _("incentive"), max_length=10, choices=IncentiveKind.choices, default=IncentiveKind.NONE
    )
    incentive_amount = models.DecimalField(_("amount off"), max_digits=12, decimal_places=2, null=True, blank=True)
    incentive_percent = models.PositiveSmallIntegerField(
        _("percent off"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    incentive_reward = models.ForeignKey(
        "loyalty.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reward"),
    )
    incentive_valid_days = models.PositiveSmallIntegerField(
        _("voucher valid for (days)"), default=60, validators=[MinValueValidator(1)]
    )
    holdout_percent = models.DecimalField(
        _("holdout (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("50"))],
        help_text=_("Eligible customers deliberately not contacted, to measure what the notes do. Empty: default."),
    )
    cooldown_days = models.PositiveIntegerField(
        _("cooldown (days)"),
        null=True,
        blank=True,
        help_text=_("No second note of this kind to the same customer within this many days. Empty: default."),
    )
    cost_per_note = models.DecimalField(
        _("cost per note"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        help_text=_("Card and stamp, for the cost report."),
    )
    # Kind-specific settings.
    big_purchase_threshold = models.DecimalField(
        _("big purchase from"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    interest_tag = models.CharField(_("interest"), max_length=40, blank=True, help_text=_('e.g. "jazz"'))
    top_n = models.PositiveIntegerField(_("most frequent N"), default=50)
    filter_segment = models.CharField(
        _("segment"),
        max_length=20,
        blank=True,
        help_text=_("Manual campaigns: best, at_risk, lapsed, new, one_timer, regular, adherent, advocate…"),
    )
    filter_min_visits = models.PositiveIntegerField(_("at least N visits"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(db_default=models.functions.Now())
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(
                condition=~Q(incentive_kind="amount") | Q(incentive_amount__gt=0), name="campaign_amount_positive"
            ),
            models.CheckConstraint(
                condition=~Q(incentive_kind="percent") | (Q(incentive_percent__gte=1) & Q(incentive_percent__lte=100)),
                name="campaign_percent_1_100",
            ),
            models.CheckConstraint(
                condition=~Q(incentive_kind="reward") | Q(incentive_reward__isnull=False), name="campaign_reward_set"
            ),
            models.CheckConstraint(
                condition=Q(holdout_percent__isnull=True) | (Q(holdout_percent__gte=0) & Q(holdout_percent__lte=50)),
                name="campaign_holdout_0_50",
            ),
            models.CheckConstraint(condition=Q(cost_per_note__gte=0), name="campaign_cost_not_negative"),
            models.CheckConstraint(
                condition=~Q(kind="big_purchase") | Q(big_purchase_threshold__gt=0),
                name="campaign_big_purchase_threshold",
            ),
            models.CheckConstraint(
                condition=~Q(kind="new_arrivals") | ~Q(interest_tag=""), name="campaign_new_arrivals_tag"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("notes:campaign_detail", args=[self.pk])

    @property
    def effective_holdout_percent(self) -> Decimal:
        from .campaigns import DEFAULT_HOLDOUT_PERCENT

        if self.holdout_percent is not None:
            return self.holdout_percent
        return DEFAULT_HOLDOUT_PERCENT.get(self.kind, Decimal("0"))

    @property
    def effective_cooldown_days(self) -> int:
        from .campaigns import DEFAULT_COOLDOWN_DAYS

        return self.cooldown_days if self.cooldown_days is not None else DEFAULT_COOLDOWN_DAYS[self.kind]

    @property
    def has_incentive(self) -> bool:
        return self.incentive_kind != IncentiveKind.NONE

    @property
    def scope_label(self) -> str:
        return self.store.code if self.store_id else str(_("Chain"))


class CampaignTemplate(models.Model):
    """The wording of a campaign in one language, with {placeholders} (see ``outreach.campaigns``)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="templates")
    language = models.CharField(_("language"), max_length=10)
    subject = models.CharField(_("email subject"), max_length=200, blank=True)
    body = models.TextField(_("wording"))

    class Meta:
        ordering = ["campaign", "language"]
        verbose_name = _("campaign wording")
        verbose_name_plural = _("campaign wordings")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "language"], name="campaign_template_one_per_language"),
            models.CheckConstraint(condition=~Q(body=""), name="campaign_template_body_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} · {self.language}"


class NoteChannel(models.TextChoices):
    POST = "post", _("Handwritten")
    EMAIL = "email", _("Email")
    BOTH = "both", _("Handwritten and email")


class NoteStatus(models.TextChoices):
    QUEUED = "queued", _("To write")
    WRITTEN = "written", _("Written")
    POSTED = "posted", _("Posted")
    SENDING = "sending", _("Sending")
    EMAILED = "emailed", _("Emailed")
    FAILED = "failed", _("Could not send")
    CANCELLED = "cancelled", _("Cancelled")


class EmailState(models.TextChoices):
    """The email leg of a note (email and both channels). ``sending``: a send task is due or running."""

    NONE = "", _("No email")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


RETURN_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_return_code() -> str:
    """Six characters read aloud at the till (no 0/O, 1/I): attributes a return to its note."""
    return "".join(secrets.choice(RETURN_CODE_ALPHABET) for _ in range(6))


class NoteQuerySet(models.QuerySet):
    """Bulk writes bump the dashboard's live version of the stores they touch (``outreach.live_versions``).

    ``save()`` and ``delete()`` bump through ``post_save`` / ``post_delete``; ``update()`` and
    ``bulk_create()`` send no signal, so they bump here, in the same transaction as the write.
    """

    def update(self, **kwargs):
        from .live_versions import live_changed

        with transaction.atomic(using=self.db):
            stores = set(self.order_by().values_list("store_id", flat=True).distinct())
            changed = super().update(**kwargs)
            if changed:
                moved_to = kwargs.get("store_id", getattr(kwargs.get("store"), "pk", None))
                live_changed([*stores, moved_to])
        return changed

    def bulk_create(self, objs, *args, **kwargs):
        from .live_versions import live_changed

        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            live_changed(n.store_id for n in created)
        return created


class Note(models.Model):
    """One thank-you / win-back / … note to one customer: who writes it, what it says, where it is."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="outreach_notes")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="notes")
    # The store whose staff write it: the campaign's store, else the customer's home store.
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+", verbose_name=_("store"))
    kind = models.CharField(_("kind"), max_length=20, choices=CampaignKind.choices)
    period = models.CharField(
        _("period"), max_length=16, help_text=_("e.g. 2026-11: one note per campaign and period.")
    )
    channel = models.CharField(_("channel"), max_length=10, choices=NoteChannel.choices)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outreach_notes",
        verbose_name=_("written by"),
    )
    status = models.CharField(_("status"), max_length=10, choices=NoteStatus.choices, default=NoteStatus.QUEUED)
    email_state = models.CharField(max_length=10, choices=EmailState.choices, default=EmailState.NONE, blank=True)
    voucher = models.OneToOneField(
        "loyalty.Voucher", on_delete=models.SET_NULL, null=True, blank=True, related_name="note"
    )
    return_code = models.CharField(_("return code"), max_length=8, unique=True, default=new_return_code)
    why = models.CharField(_("why this person"), max_length=300)
    context = models.TextField(_("personal context"), blank=True)
    language = models.CharField(_("language"), max_length=10)
    subject = models.CharField(_("email subject"), max_length=200, blank=True)
    wording = models.TextField(_("suggested wording"))
    queued_at = models.DateTimeField(_("queued"))
    written_at = models.DateTimeField(_("written"), null=True, blank=True)
    posted_at = models.DateTimeField(_("posted"), null=True, blank=True)
    email_queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("emailed"), null=True, blank=True)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_error = models.CharField(max_length=300, blank=True)
    run = models.ForeignKey("outreach.NoteRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    objects = NoteQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "id"]
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        constraints = [
            models.UniqueConstraint(fields=["customer", "campaign", "period"], name="note_once_per_period"),
            models.CheckConstraint(
                condition=~Q(status="posted") | Q(posted_at__isnull=False), name="note_posted_has_time"
            ),
            models.CheckConstraint(
                condition=~Q(status="emailed") | Q(sent_at__isnull=False), name="note_emailed_has_time"
            ),
            models.CheckConstraint(
                condition=~Q(email_state="sent") | Q(sent_at__isnull=False), name="note_sent_has_time"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=["email", "both"]) | Q(email_state=""), name="note_email_state_needs_email"
            ),
        ]
        indexes = [
            models.Index(fields=["assigned_to", "status"], name="note_assignee_status_idx"),
            # With the columns the dashboard's notes pipeline counts: its three reads are index-only scans.
            models.Index(
                fields=["store", "status"],
                name="note_store_status_idx",
                include=["assigned_to", "channel", "queued_at"],
            ),
            models.Index(fields=["customer", "kind", "queued_at"], name="note_customer_kind_idx"),
            models.Index(fields=["email_queued_at"], name="note_sending_idx", condition=Q(email_state="sending")),
            # The dashboard's notes pipeline counts notes posted / emailed in a period, per store.
            models.Index(
                fields=["store", "posted_at"],
                name="note_store_posted_idx",
                condition=Q(posted_at__isnull=False),
                include=["assigned_to", "channel"],
            ),
            models.Index(
                fields=["store", "sent_at"],
                name="note_store_sent_idx",
                condition=Q(sent_at__isnull=False),
                include=["assigned_to", "channel"],
            ),
        ]

    def __str__(self) -> str:
        return f"note #{self.pk} ({self.kind}) to customer #{self.customer_id}"

    @property
    def is_handwritten(self) -> bool:
        return self.channel in (NoteChannel.POST, NoteChannel.BOTH)

    @property
    def contacted_at(self):
        """When the customer was reached: posted or emailed, whichever came first."""
        moments = [m for m in (self.posted_at, self.sent_at) if m]
        return min(moments) if moments else None


class HoldoutMember(models.Model):
    """An eligible customer deliberately not contacted, so the notes' effect can be measured against them."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="holdout")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=CampaignKind.choices)
    period = models.CharField(max_length=16)
    held_at = models.DateTimeField()
    run = models.ForeignKey("outreach.NoteRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("holdout member")
        verbose_name_plural = _("holdout members")
        constraints = [
            models.UniqueConstraint(fields=["customer", "campaign", "period"], name="holdout_once_per_period"),
        ]
        indexes = [models.Index(fields=["customer", "kind", "held_at"], name="holdout_customer_kind_idx")]

    def __str__(self) -> str:
        return f"holdout customer #{self.customer_id} campaign #{self.campaign_id} {self.period}"


class NoteRun(models.Model):
    """One pass of the queue: when, for which day and store, and what happened to each campaign's customers."""

    as_of = models.DateTimeField(_("as of"))
    store = models.ForeignKey(Store, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    created = models.PositiveIntegerField(_("notes queued"), default=0)
    held_out = models.PositiveIntegerField(_("held out"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    # {"<campaign id>": {"created": n, "held_out": n, "already": n, "skipped": {"cooldown": n, …}}}
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("note queue run")
        verbose_name_plural = _("note queue runs")

    def __str__(self) -> str:
        return f"note run #{self.pk} {self.as_of:%Y-%m-%d}"
