"""Segmentation by visit frequency: settings, runs, each customer's current state and the history of moves.

A *scope* is the whole chain (``scope_key="chain"``) or one store (``"store:<id>"``). Every table here
carries it, so a store's own segmentation (visits within the store) and the chain's (visits across
stores) live side by side.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Store

CHAIN = "chain"


def scope_key_for(store: Store | None) -> str:
    """``"chain"`` for the chain, ``"store:<id>"`` for one store (ids never change; codes might)."""
    return CHAIN if store is None else f"store:{store.pk}"


class SegmentPolicy(models.Model):
    """The numbers behind every definition: one chain row (no store) and optional per-store overrides.

    A store row replaces the chain row as a whole for that store's own segmentation (it starts as a
    copy of the chain's numbers), so nobody has to reason about which field came from where.
    """

    store = models.OneToOneField(
        Store, on_delete=models.CASCADE, null=True, blank=True, related_name="segment_policy", verbose_name=_("store")
    )
    best_top_n = models.PositiveIntegerField(_("best customers: top N"), default=50)
    best_top_percent = models.DecimalField(
        _("best customers: top %"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text=_("When set, replaces the top N."),
    )
    window_days = models.PositiveIntegerField(_("ranking window (days)"), default=365)
    lapse_multiplier = models.DecimalField(_("lapse multiplier"), max_digits=4, decimal_places=2, default=Decimal("3"))
    lapse_floor_days = models.PositiveIntegerField(_("lapse floor (days)"), default=30)
    lapse_min_visits = models.PositiveIntegerField(_("visits to count as a regular"), default=3)
    lost_after_days = models.PositiveIntegerField(_("lost after (days)"), default=730)
    new_window_days = models.PositiveIntegerField(_("new for (days)"), default=30)
    at_risk_threshold = models.DecimalField(
        _("at risk below P(alive)"), max_digits=3, decimal_places=2, default=Decimal("0.50")
    )
    adherent_quarters = models.PositiveIntegerField(_("adherent: quarters with a visit"), default=4)
    abc_a_share = models.PositiveIntegerField(_("ABC: A share of revenue (%)"), default=80)
    abc_b_share = models.PositiveIntegerField(_("ABC: B share of revenue (%)"), default=15)
    xyz_x_max_cv = models.DecimalField(_("XYZ: X up to CV"), max_digits=4, decimal_places=2, default=Decimal("0.50"))
    xyz_y_max_cv = models.DecimalField(_("XYZ: Y up to CV"), max_digits=4, decimal_places=2, default=Decimal("1.00"))
    expected_days = models.PositiveIntegerField(_("expected visits over (days)"), default=30)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("segment settings")
        verbose_name_plural = _("segment settings")
        constraints = [
            # At most one chain row (store NULL): NULLs never collide in a plain unique index.
            models.UniqueConstraint(Coalesce("store", Value(0)), name="segpolicy_one_row_per_scope"),
            models.CheckConstraint(condition=Q(abc_a_share__lte=100), name="segpolicy_abc_a_le_100"),
            models.CheckConstraint(condition=Q(lapse_multiplier__gt=0), name="segpolicy_multiplier_positive"),
            models.CheckConstraint(
                condition=Q(at_risk_threshold__gte=0) & Q(at_risk_threshold__lte=1), name="segpolicy_risk_0_1"
            ),
            models.CheckConstraint(condition=Q(xyz_x_max_cv__lte=models.F("xyz_y_max_cv")), name="segpolicy_x_le_y"),
        ]

    def __str__(self) -> str:
        return f"segment settings · {self.store.code if self.store_id else 'chain'}"


class SegmentRun(models.Model):
    """One refresh of one scope: when, for which day, how long, how many customers in each segment."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Mode(models.TextChoices):
        FULL = "full", _("Full")
        INCREMENTAL = "incremental", _("Incremental")

    scope_key = models.CharField(max_length=32)
    store = models.ForeignKey(Store, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    as_of = models.DateField(_("as of"), help_text=_("Visits on days before this date count."))
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.FULL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Progress in chunks: total = chunks + 1 (the finish step), which the page shows as a bar.
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    customers_recomputed = models.PositiveIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    chunks_left = models.PositiveIntegerField(default=0)
    # The chunks as planned (ChunkSpec.to_json(), in order) and the indexes of those whose writes are
    # committed: a redelivered chunk is not counted twice, and the sweeper re-queues exactly the others.
    plan = models.JSONField(default=list, blank=True)
    chunks_done = models.JSONField(default=list, blank=True)
    # Last sign of life (planned, a chunk committed, swept): the sweeper wakes runs quiet for longer than a lease.
    touched_at = models.DateTimeField(null=True, blank=True)
    # Highest ticket id seen when the run was planned: the next run recomputes customers of newer tickets.
    ticket_watermark = models.BigIntegerField(default=0)
    pending_watermark = models.BigIntegerField(default=0)
    changes = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    # The RFM / ABC boundaries the run counted with (outreach.analytics.rank_scores reads them).
    rank_cuts = models.JSONField(default=dict, blank=True)
    # The run's ladder moves as {"from>to": customers} ("" is "not on the ladder"): the dashboard's
    # "movement since the last run" without reading the history at request time.
    ladder_moves = models.JSONField(default=dict, blank=True)
    model_params = models.JSONField(default=dict, blank=True)
    # The settings the run used: a run with other settings than the previous one recomputes everyone.
    policy_snapshot = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("segment run")
        verbose_name_plural = _("segment runs")
        constraints = [
            # The database lock: at most one running refresh per scope. A second start fails on this index.
            models.UniqueConstraint(
                fields=["scope_key"], condition=Q(status="running"), name="segrun_one_running_per_scope"
            ),
            models.CheckConstraint(condition=Q(progress_done__lte=models.F("progress_total")), name="segrun_progress"),
        ]
        indexes = [models.Index(fields=["scope_key", "status", "-started_at"], name="segrun_scope_status_idx")]

    def __str__(self) -> str:
        return f"{self.scope_key} {self.as_of} {self.status}"

    @property
    def duration(self):
        return (self.finished_at - self.started_at) if self.finished_at else None

    @property
    def percent(self) -> int:
        return 100 if not self.progress_total else round(100 * self.progress_done / self.progress_total)


class Status(models.TextChoices):
    """Where a customer is in time (exclusive)."""

    NEW = "new", _("New")
    ACTIVE = "active", _("Active")
    ONE_TIMER = "one_timer", _("One-timer")
    LAPSED = "lapsed", _("Lapsed regular")
    LOST = "lost", _("Lost")


class Ladder(models.TextChoices):
    """The customer ladder (exclusive; each rung includes the definition of the one below)."""

    BUYER = "buyer", _("Buyer")
    REPEAT = "repeat", _("Repeat client")
    REGULAR = "regular", _("Regular")
    ADHERENT = "adherent", _("Adherent")
    ADVOCATE = "advocate", _("Advocate")


class CustomerSegmentState(models.Model):
    """A customer's current figures and memberships in one scope (one row per customer and scope).

    Days are local calendar days in the store's time zone. ``*_due`` are not stored: the state is
    recomputed whenever tickets change or ``due_on`` (the next day a time-driven status flips) passes.
    """

    scope_key = models.CharField(max_length=32)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="segment_states")
    # Ticket-derived figures (recomputed only when the customer's tickets or windows change).
    visits = models.PositiveIntegerField(default=0)
    tickets = models.PositiveIntegerField(default=0)
    first_visit = models.DateField()
    last_visit = models.DateField()
    median_gap_days = models.FloatField(null=True, blank=True)
    window_visits = models.PositiveIntegerField(default=0)
    window_revenue = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    # The oldest day (visit or return) the window figures count: when it leaves the window, a nightly run
    # slides the figures (subtracts the days that left, finds the next oldest) instead of recomputing.
    window_oldest = models.DateField(null=True, blank=True)
    quarters_with_visit = models.PositiveSmallIntegerField(default=0)
    monthly_cv = models.FloatField(null=True, blank=True)
    referred_buyers = models.PositiveIntegerField(default=0)
    # Classification.
    status = models.CharField(max_length=10, choices=Status.choices)
    ladder = models.CharField(max_length=10, choices=Ladder.choices)
    due_on = models.DateField(null=True, blank=True, help_text="Next day a status changes by time alone.")
    is_best = models.BooleanField(default=False)
    best_rank = models.PositiveIntegerField(null=True, blank=True)
    is_at_risk = models.BooleanField(default=False)
    # RFM scores and the ABC class are not stored (relative to everyone, they moved for ~a third of the
    # rows every night): the run counts them and keeps their cuts (SegmentRun.rank_cuts);
    # outreach.analytics.rank_scores gives one customer's.
    xyz = models.CharField(max_length=1, blank=True)
    # P(alive) and expected visits are not stored: they move every day with T for most repeat customers.
    # Readers compute them from (visits, first, last visit) and the scope's last run (as_of, parameters):
    # ``outreach.analytics.p_alive_expression`` / ``visit_model_figures``. Only the at-risk flag is kept, exact,
    # with the first day it can turn on under the current parameters (the finish re-checks it from then).
    risk_on = models.DateField(
        null=True, blank=True, help_text="First as_of on which the at-risk flag can turn on (current model)."
    )

    class Meta:
        verbose_name = _("customer segment state")
        constraints = [
            models.UniqueConstraint(fields=["scope_key", "customer"], name="segstate_one_per_scope_customer"),
            models.CheckConstraint(condition=Q(last_visit__gte=models.F("first_visit")), name="segstate_visit_order"),
            models.CheckConstraint(condition=Q(visits__lte=models.F("tickets")), name="segstate_visits_le_tickets"),
        ]
        indexes = [
            models.Index(fields=["scope_key", "status"], name="segstate_scope_status_idx"),
            models.Index(fields=["scope_key", "ladder"], name="segstate_scope_ladder_idx"),
            models.Index(fields=["scope_key", "due_on"], name="segstate_scope_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.scope_key} · customer {self.customer_id} · {self.status}/{self.ladder}"

    @property
    def segments(self) -> list[str]:
        """Every segment name this row belongs to (the names the commands accept)."""
        names = [self.status, self.ladder]
        if self.is_best:
            names.append("best")
        if self.is_at_risk:
            names.append("at_risk")
        return [n for n in names if n != Status.ACTIVE]


class SegmentChange(models.Model):
    """One move of one customer in one dimension (status, ladder, best, at risk), written only on change."""

    class Kind(models.TextChoices):
        STATUS = "status", _("Status")
        LADDER = "ladder", _("Ladder")
        BEST = "best", _("Best customers")
        AT_RISK = "at_risk", _("At risk")

    run = models.ForeignKey(SegmentRun, on_delete=models.CASCADE, related_name="segment_changes")
    scope_key = models.CharField(max_length=32)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="segment_changes")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    from_value = models.CharField(max_length=12, blank=True)
    to_value = models.CharField(max_length=12, blank=True)
    as_of = models.DateField()

    class Meta:
        ordering = ["-as_of", "-id"]
        verbose_name = _("segment change")
        constraints = [
            models.CheckConstraint(condition=~Q(from_value=models.F("to_value")), name="segchange_is_a_change"),
        ]
        indexes = [
            models.Index(fields=["scope_key", "as_of"], name="segchange_scope_asof_idx"),
            models.Index(fields=["customer", "-as_of"], name="segchange_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.kind}: {self.from_value or '—'} → {self.to_value or '—'}"


class PendingCustomer(models.Model):
    """A customer whose tickets arrived (``tickets_created``, sent after commit) since the last run of a scope.

    The ticket-id watermark misses a ticket whose transaction committed after a run had planned with a
    higher id; this after-commit queue catches it. A run consumes the rows it saw when it started.
    """

    scope_key = models.CharField(max_length=32)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope_key", "customer"], name="pending_one_per_scope")]

    def __str__(self) -> str:
        return f"{self.scope_key} · {self.customer_id}"


class VisitDay(models.Model):
    """One customer's tickets at one store on one local calendar day (the store's time zone): the input
    of every segmentation run, so a run reads visit-days instead of grouping the tickets table.

    ``sales`` counts non-return tickets (a day with ``sales > 0`` is a visit); ``revenue`` is sales minus
    returns. A return-only day is a row with ``sales = 0``. Kept current set-based by
    :func:`outreach.analytics.visit_days_apply` (the ``tickets_created`` receiver: the (customer, store,
    day) keys of the batch are recomputed from the tickets, so a repeated id changes nothing), by the
    merge and erasure receivers, and by the catch-up at the start of every run
    (:func:`outreach.analytics.visit_days_sync`: tickets above :class:`VisitDayFeed`'s watermark, which
    covers demo data and any path that sends no signal). Derived data only: safe to rebuild.
    """

    # No single-column FK indexes: the unique key leads with the customer; a store's rows are read
    # by a scan of the whole table anyway (store scopes run over every customer).
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    sales = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))

    class Meta:
        constraints = [
            # (customer, day, store): a run reads each customer's days in day order from this index,
            # for the chain (days across stores) and for one store alike.
            models.UniqueConstraint(fields=["customer", "day", "store"], name="visitday_customer_day_store"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}@{self.store_id}/{self.day}"


class ChainVisitDay(models.Model):
    """One customer's tickets on one local day across every store (the chain's visit-day), with the
    visit's **gap**: days since the customer's previous visit day (NULL on the first visit and on a
    return-only day, ``sales = 0``). The chain's runs read these rows as they are — no regrouping of the
    stores' rows per day, no window for the gaps. Derived from :class:`VisitDay` wherever that table is
    written (:func:`outreach.analytics.visit_days_apply` recomputes each touched customer's rows from
    the earliest touched day on, seeding the gap from the visit before it; the rebuilds and the erasure
    rebuild or delete the customer's rows). Derived data only: safe to rebuild.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    sales = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    gap = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "day"], name="chainvisitday_customer_day"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.day}"


class VisitDayFeed(models.Model):
    """The single row saying how far :class:`VisitDay` is current: every ticket with an id up to
    ``ticket_watermark`` is folded in, with each store's days counted in ``zones`` (store id → time
    zone; a store whose time zone changed has its days rebuilt)."""

    ticket_watermark = models.BigIntegerField(default=0)
    zones = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="visitdayfeed_single_row")]

    def __str__(self) -> str:
        return f"visit days up to ticket {self.ticket_watermark}"
