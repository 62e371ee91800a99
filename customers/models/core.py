"""The central customer file: stores, who works where, customers and their tickets.

Re-exported from ``customers.models``; the customer's records (tags, notes,
consent, feedback) live in ``records.py``.

This app depends on nothing else of ours; loyalty and outreach build on it.
Invariants live in the database (unique and check constraints); the Python
validation in forms is a courtesy on top.
"""

import secrets
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Concat, Lower
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    """Refuse a time zone name the IANA database does not know."""
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(tz)s is not a known time zone."), params={"tz": value})


class Role(models.TextChoices):
    """What a member of staff may do. Ordered from least to most access."""

    STAFF = "staff", _("Staff")
    MANAGER = "manager", _("Manager")
    OWNER = "owner", _("Owner")


ROLE_RANK = {Role.STAFF: 1, Role.MANAGER: 2, Role.OWNER: 3}


class Channel(models.TextChoices):
    """How a customer prefers to be reached."""

    EMAIL = "email", _("Email")
    POST = "post", _("Post / handwritten card")
    SMS = "sms", _("SMS")
    PHONE = "phone", _("Phone call")


class Store(models.Model):
    """One shop of the chain. Its time zone decides what a "day" (a visit) is."""

    code = models.CharField(
        _("code"),
        max_length=16,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9_-]*$", _("Use capital letters, digits, - or _."))],
        help_text=_("Short code used by the POS and in imports, e.g. CHZ."),
    )
    name = models.CharField(_("name"), max_length=120)
    address = models.TextField(_("address"), blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC", validators=[validate_time_zone])
    currency = models.CharField(
        _("currency"),
        max_length=3,
        default="USD",
        validators=[RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 code."))],
    )
    country = models.CharField(
        _("country"),
        max_length=2,
        default="US",
        validators=[RegexValidator(r"^[A-Z]{2}$", _("Use a two-letter ISO 3166 code."))],
        help_text=_("Decides the phone number region."),
    )
    locale = models.CharField(
        _("language"),
        max_length=10,
        default="en",
        help_text=_("Also decides how money, numbers and dates are written and where the week starts."),
    )
    calendar = models.CharField(
        _("calendar"),
        max_length=12,
        choices=[("gregorian", _("Gregorian")), ("solar_hijri", _("Solar Hijri"))],
        default="gregorian",
    )
    margin = models.DecimalField(
        _("gross margin"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.300"),
        help_text=_("Share of the ticket that is margin, used for lifetime value (0.300 = 30 %)."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        constraints = [
            models.CheckConstraint(condition=Q(margin__gte=0) & Q(margin__lte=1), name="store_margin_0_1"),
            models.CheckConstraint(condition=~Q(code=""), name="store_code_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Membership(models.Model):
    """A user's role. Owners hold one chain-wide row (no store); others one row per store."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    is_active = models.BooleanField(_("active"), default=True)
    on_leave = models.BooleanField(_("on leave"), default=False, help_text=_("Gets no notes to write."))
    # Hashed like a password (never the digits): unlocks the sign-up kiosk this member started.
    kiosk_pin = models.CharField(_("kiosk PIN"), max_length=128, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            # Owners see the whole chain, so their row names no store; everyone else works in one.
            models.CheckConstraint(
                condition=(Q(role=Role.OWNER) & Q(store__isnull=True)) | (~Q(role=Role.OWNER) & Q(store__isnull=False)),
                name="membership_owner_has_no_store",
            ),
            models.UniqueConstraint(fields=["user", "store"], name="membership_user_store_unique"),
            models.UniqueConstraint(
                fields=["user"], condition=Q(store__isnull=True), name="membership_one_owner_row_per_user"
            ),
        ]

    def __str__(self) -> str:
        where = self.store.code if self.store_id else _("all stores")
        return f"{self.user_id} · {self.get_role_display()} · {where}"


def ean13_check_digit(body: str) -> str:
    """The EAN-13 check digit for a 12-digit ``body``."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return str((10 - total % 10) % 10)


def card_number_is_valid(number: str) -> bool:
    """A card number is a valid EAN-13 (so any till scanner reads the printed barcode)."""
    return len(number) == 13 and number.isdigit() and ean13_check_digit(number[:12]) == number[12]


def new_card_number() -> str:
    """A random loyalty card number: an EAN-13 in the "2" prefix range GS1 reserves for in-store use.

    Eleven random digits give 10^11 numbers; the unique constraint catches the
    rare collision and the sign-up service retries.
    """
    body = "2" + "".join(secrets.choice("0123456789") for _ in range(11))
    return body + ean13_check_digit(body)


class ConsentChannel(models.TextChoices):
    """The channels a customer can agree to be contacted on (a subset of ``Channel``)."""

    EMAIL = "email", _("Email")
    POST = "post", _("Post / handwritten card")
    SMS = "sms", _("SMS")


# Which address a channel needs: consent without somewhere to send it contacts nobody.
CHANNEL_ADDRESS_FIELD = {
    ConsentChannel.EMAIL: "email",
    ConsentChannel.POST: "postal_address",
    ConsentChannel.SMS: "phone",
}


class CustomerQuerySet(models.QuerySet):
    def for_stores(self, stores) -> "CustomerQuerySet":
        """Customers whose home store is one of ``stores`` (a queryset or list of Store)."""
        return self.filter(home_store__in=stores)

    def active(self) -> "CustomerQuerySet":
        """Customers whose personal data has not been erased."""
        return self.filter(erased_at__isnull=True)

    def contactable_by(self, channel: str) -> "CustomerQuerySet":
        """Customers who may be contacted on ``channel`` now: consent given, an address, no "do not contact".

        One indexed filter on columns of the customer row (the consent state is
        cached there by ``consent_record``), cheap enough for any segment query.
        """
        channel = ConsentChannel(channel)
        address = CHANNEL_ADDRESS_FIELD[channel]
        return (
            self.active().filter(**{f"consent_{channel.value}": True, "do_not_contact": False}).exclude(**{address: ""})
        )

    def with_open_complaint(self) -> "CustomerQuerySet":
        """Customers with a complaint nobody has answered yet (thank-you notes wait for them)."""
        from .records import Feedback

        return self.filter(Exists(Feedback.objects.open_complaints().filter(customer=OuterRef("pk"))))

    def without_open_complaint(self) -> "CustomerQuerySet":
        from .records import Feedback

        return self.exclude(Exists(Feedback.objects.open_complaints().filter(customer=OuterRef("pk"))))


class Customer(models.Model):
    """A person in the shop's customer file."""

    first_name = models.CharField(_("first name"), max_length=80)
    last_name = models.CharField(_("last name"), max_length=80, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, help_text=_("Stored in E.164, e.g. +998901234567."))
    city = models.CharField(_("city"), max_length=80, blank=True)
    postal_address = models.TextField(_("postal address"), blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    preferred_language = models.CharField(_("preferred language"), max_length=10, blank=True)
    preferred_channel = models.CharField(
        _("preferred contact"), max_length=10, choices=Channel.choices, default=Channel.EMAIL
    )
    home_store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="customers", verbose_name=_("home store")
    )
    # Printed on the loyalty card as a barcode/QR; generated on first save.
    card_number = models.CharField(_("loyalty card"), max_length=20, unique=True, default=new_card_number)
    # Created from a POS ticket with only a card, email or phone: staff should complete the record.
    details_missing = models.BooleanField(_("details missing"), default=False)
    referred_by = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("referred by"),
    )
    created_at = models.DateTimeField(_("created"), db_default=models.functions.Now())
    tags = models.ManyToManyField(
        "customers.Tag",
        blank=True,
        related_name="customers",
        verbose_name=_("interests and preferences"),
        help_text=_('What they like or need, e.g. "kosher", "size M", "jazz".'),
    )
    # Current consent per channel, cached from the append-only ConsentEvent ledger
    # (written together by ``consent_record``) so that outreach filters on one row.
    consent_email = models.BooleanField(_("email allowed"), default=False)
    consent_post = models.BooleanField(_("post allowed"), default=False)
    consent_sms = models.BooleanField(_("SMS allowed"), default=False)
    do_not_contact = models.BooleanField(
        _("do not contact"), default=False, help_text=_("Overrides every channel: nobody contacts this person.")
    )
    # Set by ``customer_erase``: the row stays (tickets, points and stats keep their
    # customer id) but holds no personal data any more.
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)
    # Lower-cased "first last", computed by the database (imports that insert rows in
    # bulk get it too); trigram-indexed on PostgreSQL for typo-tolerant search.
    search_name = models.GeneratedField(
        expression=Lower(Concat("first_name", Value(" "), "last_name")),
        output_field=models.CharField(max_length=161),
        db_persist=True,
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["home_store", "last_name"], name="customer_store_name_idx"),
            models.Index(fields=["email"], name="customer_email_idx"),
            models.Index(fields=["phone"], name="customer_phone_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(card_number=""), name="customer_card_not_empty"),
            models.CheckConstraint(condition=~Q(referred_by=models.F("pk")), name="customer_not_own_referrer"),
        ]

    def __str__(self) -> str:
        return self.full_name

    def get_absolute_url(self) -> str:
        return reverse("customers:detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        if self.erased_at:
            return _("Erased customer #%(id)s") % {"id": self.pk}
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    def record_is_complete(self) -> bool:
        """Staff have what the shop needs: a name, a city and a way to reach the person."""
        return bool(self.first_name.strip() and self.city.strip() and (self.email or self.phone))

    def consents(self) -> dict[str, bool]:
        """The cached consent per channel, e.g. ``{"email": True, "post": False, "sms": False}``."""
        return {c.value: getattr(self, f"consent_{c.value}") for c in ConsentChannel}

    def may_contact(self, channel: str) -> bool:
        """Same rule as ``CustomerQuerySet.contactable_by`` for one loaded row."""
        channel = ConsentChannel(channel)
        return (
            not self.erased_at
            and not self.do_not_contact
            and getattr(self, f"consent_{channel.value}")
            and bool(getattr(self, CHANNEL_ADDRESS_FIELD[channel]))
        )


class TicketQuerySet(models.QuerySet):
    def for_stores(self, stores) -> "TicketQuerySet":
        return self.filter(store__in=stores)

    def sales(self) -> "TicketQuerySet":
        return self.filter(is_return=False)


class PurchaseTicket(models.Model):
    """One receipt from the till. Returns carry a negative total and may point at the sale they undo."""

    # db_index=False on store, customer and original: the composite indexes below (and the
    # unique store + number) lead with these columns, so a single-column index would only
    # cost every imported row one more index update.
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("store"), db_index=False
    )
    number = models.CharField(_("ticket number"), max_length=64)
    purchased_at = models.DateTimeField(_("purchased at"))
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    items = models.PositiveIntegerField(_("items"), default=1)
    served_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets_served",
        verbose_name=_("served by"),
    )
    # Nullable: anonymous sales count for the store, and erasure unlinks tickets
    # from the person while keeping the store's figures.
    customer = models.ForeignKey(
        Customer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("customer"),
        db_index=False,
    )
    is_return = models.BooleanField(_("return"), default=False)
    original = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="returns",
        verbose_name=_("original ticket"),
        db_index=False,
    )
    # The return code of the outreach note that brought the customer back (a note's own code, also
    # when the till sent the note's voucher code): the link from a sale to the note, by the note's
    # unique code (the customer file never imports outreach). Empty for ordinary sales. A database
    # default, so bulk COPY loaders that predate the column keep working.
    return_code = models.CharField(_("return code"), max_length=16, blank=True, default="", db_default="")
    created_at = models.DateTimeField(db_default=models.functions.Now())

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-purchased_at", "-id"]
        verbose_name = _("purchase ticket")
        verbose_name_plural = _("purchase tickets")
        constraints = [
            # The POS may retry: the same ticket number in the same store is one ticket.
            models.UniqueConstraint(fields=["store", "number"], name="ticket_store_number_unique"),
            models.CheckConstraint(
                condition=(Q(is_return=False) & Q(total__gte=0)) | (Q(is_return=True) & Q(total__lte=0)),
                name="ticket_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(original__isnull=True) | Q(is_return=True), name="ticket_only_returns_have_original"
            ),
            models.CheckConstraint(condition=~Q(original=models.F("pk")), name="ticket_not_its_own_original"),
            models.CheckConstraint(condition=~Q(number=""), name="ticket_number_not_empty"),
        ]
        indexes = [
            models.Index(fields=["customer", "purchased_at"], name="ticket_customer_time_idx"),
            models.Index(fields=["store", "purchased_at"], name="ticket_store_time_idx"),
            # Only returns have an original (~2 % of rows): a partial index serves the reverse
            # look-up and the PROTECT check without an entry per sale.
            models.Index(fields=["original"], condition=Q(original__isnull=False), name="ticket_original_idx"),
            # Few sales carry a return code: campaign results look them up by code.
            models.Index(fields=["return_code"], condition=~Q(return_code=""), name="ticket_return_code_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.store.code}/{self.number}"

    @property
    def local_date(self):
        """The calendar day of the purchase in the store's time zone (what a "visit" counts)."""
        return self.purchased_at.astimezone(self.store.tz).date()


def _hash_token(raw: str) -> str:
    import hashlib

    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A per-store key for a POS system. Only its hash is stored; the key is shown once."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("store"))
    name = models.CharField(_("name"), max_length=80, help_text=_("Which till or POS system uses it."))
    prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["store", "name"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.store.code} · {self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, *, store: Store, name: str, by=None) -> tuple["ApiToken", str]:
        """Create a token; return it with the raw key (the only time the key is known)."""
        raw = "rg_" + secrets.token_urlsafe(32)
        token = cls.objects.create(store=store, name=name, prefix=raw[3:11], key_hash=_hash_token(raw), created_by=by)
        return token, raw

    @classmethod
    def find_active(cls, raw: str) -> "ApiToken | None":
        return cls.objects.select_related("store").filter(key_hash=_hash_token(raw), revoked_at__isnull=True).first()


class AuditEntry(models.Model):
    """Who did what to whom: merges, erasures, consent changes, exports, point adjustments, role changes.

    Append-only. ``target_id`` and ``details`` carry ids and counts, never personal data,
    so the log survives an erasure without keeping what was erased.
    """

    class Action(models.TextChoices):
        MERGE = "merge", _("Customers merged")
        ERASE = "erase", _("Customer erased")
        DATA_EXPORT = "data_export", _("Personal data exported")
        CONSENT = "consent", _("Consent changed")
        EXPORT = "export", _("Customer list exported")
        POINTS_ADJUST = "points_adjust", _("Points adjusted")
        ROLE = "role", _("Role changed")
        IMPORT = "import", _("Tickets imported")
        OTHER = "other", _("Other")

    at = models.DateTimeField(_("when"), db_default=models.functions.Now(), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    store = models.ForeignKey(Store, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.BigIntegerField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = [models.Index(fields=["action", "at"], name="audit_action_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target_type}#{self.target_id}"


class IdempotencyRecord(models.Model):
    """The remembered answer to a POS request that carried an ``Idempotency-Key`` header.

    Same key + same body → the stored answer; same key + another body → 422.
    Unique per scope (the API token or user) and key, so two tills cannot collide.
    """

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key_unique")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker ran the periodic heartbeat task (what /readyz reports).

    One row per worker hostname, overwritten every minute by ``customers.worker_heartbeat``;
    rows of workers gone for a week are pruned by the same task.
    """

    hostname = models.CharField(max_length=255, unique=True)
    beat_at = models.DateTimeField()

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")
        constraints = [models.CheckConstraint(condition=~Q(hostname=""), name="heartbeat_hostname_not_empty")]

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
