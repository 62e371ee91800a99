"""The dashboard's precomputed tables (issue 7): daily and monthly aggregates derived from
PurchaseTicket so that no dashboard request scans the tickets table, and the export job that
shows a progress bar. Refreshed by outreach.analytics_dashboard (set-based SQL on PostgreSQL,
ORM fallback on SQLite).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

ACTIVE_WINDOW_DAYS = 90
# The dashboard's "Last 30 days" preset: its distinct visitors are kept per day (the 90-day preset's
# are ``active_customers``), so the page need not count them from CustomerMonth.
VISITORS_30_DAYS = 30
"""A customer is *active* at a store at the end of day D if they bought there in the 90 days ending D."""


class StoreDay(models.Model):
    """One store's figures for one local calendar day (the store's time zone decides the day).

    Ticket figures count the store that rang the ticket. Customer figures count
    (customer, store) relationships: a customer who buys in two stores is a customer
    of each, so the figures of several stores add up.

    - ``visits``: customers with at least one sale that day (a visit is a customer-day);
    - ``new_customers``: customers whose first-ever sale at this store was that day;
    - ``active_customers``: customers with a sale at this store in the ``ACTIVE_WINDOW_DAYS``
      days ending that day (at the close of the day);
    - ``visitors_30``: the same over the ``VISITORS_30_DAYS`` days ending that day (the distinct
      visitors of a 30-day period ending that day, which do not add up from daily rows).
    """

    store = models.ForeignKey("customers.Store", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    tickets = models.PositiveIntegerField(default=0)
    sales = models.PositiveIntegerField(default=0)
    returns = models.PositiveIntegerField(default=0)
    sales_amount = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0, help_text="Sales minus returns.")
    visits = models.PositiveIntegerField(default=0)
    customer_sales = models.PositiveIntegerField(default=0, help_text="Sales with a known customer.")
    customer_sales_amount = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    anonymous_sales = models.PositiveIntegerField(default=0)
    new_customers = models.PositiveIntegerField(default=0)
    active_customers = models.PositiveIntegerField(default=0)
    # Null on rows from before the column (until their next refresh): the page then counts from CustomerMonth.
    visitors_30 = models.PositiveIntegerField(null=True, blank=True)
    refreshed_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        verbose_name = _("store day")
        verbose_name_plural = _("store days")
        constraints = [models.UniqueConstraint(fields=["store", "day"], name="storeday_store_day_unique")]
        indexes = [
            models.Index(fields=["day", "store"], name="storeday_day_store_idx"),
            # The dashboard reads each store's newest refresh on every request (its tiles' version):
            # one index probe, not a scan of the store's days (0.2 ms a store at two years of days).
            models.Index(fields=["store", "refreshed_at"], name="storeday_store_refreshed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id}@{self.day}"


class CustomerMonth(models.Model):
    """One customer's purchases at one store in one local calendar month.

    ``visit_days`` is a bitmask (bit 0 = the 1st of the month) of the days with a sale,
    so "did this customer visit between two dates" is exact without touching tickets.
    ``first_seen`` is the customer's first-ever sale at this store (denormalised: it
    decides the cohort of the retention heatmap).
    """

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey("customers.Store", on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="First day of the month.")
    visits = models.PositiveIntegerField(default=0)
    tickets = models.PositiveIntegerField(default=0, help_text="Sales, returns excluded.")
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0, help_text="Sales minus returns.")
    first_day = models.DateField(null=True, blank=True)
    last_day = models.DateField(null=True, blank=True)
    visit_days = models.BigIntegerField(default=0)
    first_seen = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = _("customer month")
        verbose_name_plural = _("customer months")
        constraints = [
            models.UniqueConstraint(fields=["customer", "store", "month"], name="customermonth_unique"),
            models.CheckConstraint(condition=Q(month__day=1), name="customermonth_month_is_first_day"),
        ]
        indexes = [models.Index(fields=["store", "month"], name="customermonth_store_month_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id}@{self.store_id}/{self.month:%Y-%m}"


class CustomerMonthStaff(models.Model):
    """How many of one customer's sales at one store in one local month each staff member rang.

    Refreshed with CustomerMonth (same statement set, same months, same customers), so the
    owner export's "served most by" sums a few rows per customer over its window's months
    instead of reading the tickets. Sales only (returns do not count); tickets without a
    ``served_by`` have no row. ``last_day`` is the staff member's latest sale to the customer
    in the month: the export's tie rule (most sales, then the most recent sale, then the lower
    user id) needs it.
    """

    # The unique constraint leads with the customer, the index with the store: no FK indexes of their own.
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    store = models.ForeignKey("customers.Store", on_delete=models.CASCADE, related_name="+", db_index=False)
    month = models.DateField(help_text="First day of the month.")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tickets = models.PositiveIntegerField(default=0)
    last_day = models.DateField()

    class Meta:
        verbose_name = _("customer month by staff")
        verbose_name_plural = _("customer months by staff")
        constraints = [
            models.UniqueConstraint(fields=["customer", "store", "month", "staff"], name="customermonthstaff_unique"),
            models.CheckConstraint(condition=Q(month__day=1), name="customermonthstaff_month_is_first_day"),
        ]
        indexes = [
            models.Index(fields=["store", "month"], name="customermonthstaff_store_idx"),
            # The export sums (customer, staff) pairs straight from this index, in order and without
            # touching the heap (PostgreSQL; ignored where covering indexes are unsupported).
            models.Index(
                fields=["customer", "staff"],
                include=["store", "month", "tickets", "last_day"],
                name="customermonthstaff_cover_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}@{self.store_id}/{self.month:%Y-%m} by {self.staff_id}"


class CustomerServedMost(models.Model):
    """Chain-wide, the staff member who rang most of one customer's sales in the 12 whole months
    ending ``ServedMostWindow.month`` (the owner export's "served most by" for its standard window).

    The same rule as the export's live computation from CustomerMonthStaff (most sales, then the
    most recent sale, then the lower user id), kept by the dashboard refresh in the same transaction
    as CustomerMonthStaff (``analytics_dashboard.served_most_refresh``). A customer with no sale rung
    by a staff member in the window has no row. Valid only while ``ServedMostWindow`` names the
    window: other windows, and lists of some of the stores, compute it live.
    """

    customer = models.OneToOneField("customers.Customer", on_delete=models.CASCADE, primary_key=True, related_name="+")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        verbose_name = _("customer served most by")
        verbose_name_plural = _("customers served most by")

    def __str__(self) -> str:
        return f"{self.customer_id} by {self.staff_id}"


class ServedMostWindow(models.Model):
    """The window CustomerServedMost holds: the last of its 12 months (at most one row).

    Written in the transaction that fills the table; removed when a staff member or a store is
    deleted (their CustomerMonthStaff rows go with them), so the export computes live until the
    next refresh rebuilds the table.
    """

    month = models.DateField(help_text="First day of the window's last month.")
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("served-most-by window")
        verbose_name_plural = _("served-most-by windows")
        constraints = [models.CheckConstraint(condition=Q(month__day=1), name="servedmostwindow_month_is_first_day")]

    def __str__(self) -> str:
        return f"served most by, 12 months to {self.month:%Y-%m}"


class CohortMonth(models.Model):
    """How many customers of a cohort (month of their first sale at the store) bought in a month."""

    store = models.ForeignKey("customers.Store", on_delete=models.CASCADE, related_name="+")
    cohort = models.DateField()
    month = models.DateField()
    customers = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("cohort month")
        verbose_name_plural = _("cohort months")
        constraints = [
            models.UniqueConstraint(fields=["store", "cohort", "month"], name="cohortmonth_unique"),
            models.CheckConstraint(condition=Q(month__gte=models.F("cohort")), name="cohortmonth_after_cohort"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id}:{self.cohort:%Y-%m}→{self.month:%Y-%m}"


class CampaignResult(models.Model):
    """Did one campaign's notes work in one store: its figures, refreshed by ``results.campaign_results_refresh``.

    One row per (campaign, store) — the store whose staff wrote the notes (the campaign's store, or
    each customer's home store for a chain campaign), and the holdout member's store — so a manager
    sums the rows of their own store and never sees another store's customers; an owner sums them all.
    Every figure adds up across stores; rates, lift and its interval are computed from the sums.
    Written by the dashboard refresh (nightly and after ticket batches), after a queue run and after
    notes are ticked as posted or emailed; the dashboard reads only these rows.
    """

    campaign = models.ForeignKey("outreach.Campaign", on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey("customers.Store", on_delete=models.CASCADE, related_name="+")
    contacted = models.PositiveIntegerField(default=0, help_text="Notes posted or emailed.")
    contacted_returned = models.PositiveIntegerField(default=0)
    holdout = models.PositiveIntegerField(default=0)
    holdout_returned = models.PositiveIntegerField(default=0)
    vouchers_issued = models.PositiveIntegerField(default=0)
    vouchers_redeemed = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # Returns proven by the note itself (its return code on a sale, any time): notes with such a sale,
    # and the total of those sales (``results`` module docstring).
    attributed_returned = models.PositiveIntegerField(default=0, help_text="Notes whose return code a sale carries.")
    attributed_revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("campaign result")
        verbose_name_plural = _("campaign results")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "store"], name="campaignresult_campaign_store_unique"),
            models.CheckConstraint(
                condition=Q(contacted_returned__lte=models.F("contacted")), name="campaignresult_returned_le_contacted"
            ),
            models.CheckConstraint(
                condition=Q(holdout_returned__lte=models.F("holdout")), name="campaignresult_returned_le_holdout"
            ),
        ]
        indexes = [models.Index(fields=["store", "campaign"], name="campaignresult_store_idx")]

    def __str__(self) -> str:
        return f"campaign#{self.campaign_id}@{self.store_id}"


class ExportJob(models.Model):
    """A customer-list export built in the background (XLSX), with its progress and its file.

    ``filter`` holds the export's parameters (segment, top, store codes, window): ids and
    codes only, never personal data, like the audit log.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    format = models.CharField(max_length=8)
    filter = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    file = models.CharField(max_length=255, blank=True, help_text="Path under MEDIA_ROOT.")
    message = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(db_default=models.functions.Now())
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        constraints = [
            models.CheckConstraint(condition=Q(rows_done__lte=models.F("rows_total")), name="exportjob_done_le_total"),
        ]

    def __str__(self) -> str:
        return f"export#{self.pk} {self.format} {self.status}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0


class LiveVersion(models.Model):
    """Per store, the version of the dashboard's live tiles: the notes pipeline and the complaints.

    Bumped (``outreach.live_versions.live_changed``) in the transaction of every write to a note or a
    complaint of the store, so a page that reads the version before the tiles never caches older
    counts under a newer version. ``changed_at`` makes a version unique across database restores
    (a counter alone would start again and meet old cache entries).
    """

    store = models.OneToOneField("customers.Store", on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"live@{self.store_id}={self.version}"
