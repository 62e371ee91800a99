"""What the shop knows about a customer beyond the card: interests, service notes, consent, feedback."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from .core import ConsentChannel, Customer, PurchaseTicket, Store


class Tag(models.Model):
    """An interest or preference staff note during a conversation ("kosher", "size M", "jazz")."""

    name = models.CharField(_("name"), max_length=40)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [
            # "Jazz" and "jazz" are one interest.
            models.UniqueConstraint(Lower("name"), name="tag_name_ci_unique"),
            models.CheckConstraint(condition=~Q(name=""), name="tag_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class ServiceNote(models.Model):
    """Free text a member of staff wrote about serving this customer (with author and date)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="service_notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    store = models.ForeignKey(Store, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    text = models.TextField(_("note"))
    created_at = models.DateTimeField(_("written"), db_default=models.functions.Now())

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("service note")
        verbose_name_plural = _("service notes")
        indexes = [models.Index(fields=["customer", "created_at"], name="servicenote_customer_idx")]

    def __str__(self) -> str:
        return f"note #{self.pk} on customer #{self.customer_id}"


class ConsentSource(models.TextChoices):
    STORE = "store", _("In the store")
    SIGNUP = "signup", _("Sign-up form")
    API = "api", _("API")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribe link")


class ConsentEvent(models.Model):
    """One change of consent, with its provenance. Append-only: a withdrawal is a new row.

    ``channel`` is one of ``ConsentChannel`` or ``all`` ("do not contact": ``granted=False``
    switches it on, ``granted=True`` lifts it). ``wording`` is the exact sentence the
    person saw or was read, in the language it was shown.
    """

    ALL = "all"
    CHANNELS = [*ConsentChannel.choices, (ALL, _("Do not contact (every channel)"))]

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(_("channel"), max_length=10, choices=CHANNELS)
    granted = models.BooleanField(_("granted"))
    at = models.DateTimeField(_("when"))
    source = models.CharField(_("where"), max_length=12, choices=ConsentSource.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    wording = models.TextField(_("wording shown"), blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")
        indexes = [models.Index(fields=["customer", "channel", "at"], name="consent_customer_channel_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=[*ConsentChannel.values, "all"]), name="consent_channel_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {'granted' if self.granted else 'withdrawn'} #{self.customer_id}"

    @property
    def summary(self) -> str:
        """A plain sentence for the timeline: "Email: agreed", "Do not contact: switched on"."""
        if self.channel == self.ALL:
            return _("Do not contact: lifted") if self.granted else _("Do not contact: switched on")
        label = ConsentChannel(self.channel).label
        return (_("%(channel)s: agreed") if self.granted else _("%(channel)s: withdrawn")) % {"channel": label}


class FeedbackQuerySet(models.QuerySet):
    def open_complaints(self) -> "FeedbackQuerySet":
        return self.filter(kind=Feedback.Kind.COMPLAINT, status=Feedback.Status.OPEN)


class Feedback(models.Model):
    """A complaint, a return or a refusal to buy, with why (reason code) and what the shop answered.

    Together the reason codes show why customers drift away (the dashboard counts them).
    """

    class Kind(models.TextChoices):
        COMPLAINT = "complaint", _("Complaint")
        RETURN = "return", _("Return")
        REFUSAL = "refusal", _("Refusal to buy")

    class Reason(models.TextChoices):
        NOT_FIT = "not_fit", _("The product or service did not fit")
        STAFF = "staff", _("Did not like the staff")
        PUSHY = "pushy", _("Staff were pushy during the sale")
        PRICE = "price", _("Price")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="feedback")
    ticket = models.ForeignKey(
        PurchaseTicket,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback",
        verbose_name=_("ticket"),
    )
    store = models.ForeignKey(Store, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    kind = models.CharField(_("what happened"), max_length=10, choices=Kind.choices)
    reason = models.CharField(_("reason"), max_length=10, choices=Reason.choices)
    text = models.TextField(_("in their words"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    response = models.TextField(_("our answer"), blank=True)
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    responded_at = models.DateTimeField(_("answered"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("recorded"))

    objects = FeedbackQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        indexes = [models.Index(fields=["customer", "kind", "status"], name="feedback_customer_open_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["complaint", "return", "refusal"]), name="feedback_kind"),
            models.CheckConstraint(
                condition=Q(reason__in=["not_fit", "staff", "pushy", "price", "other"]), name="feedback_reason"
            ),
            # "Answered" means somebody answered and when is recorded. (The answer's words are
            # required by the service, but erasure removes them while the fact stays.)
            models.CheckConstraint(
                condition=~Q(status="answered") | Q(responded_at__isnull=False),
                name="feedback_answered_has_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} on customer #{self.customer_id}"

    @property
    def is_open_complaint(self) -> bool:
        return self.kind == self.Kind.COMPLAINT and self.status == self.Status.OPEN
