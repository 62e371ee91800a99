"""POS ticket imports: every CSV import (web upload or CLI), what was in the file, what was
refused and why, and what it changed. The import itself lives in customers/importers/.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .core import Store


class ImportBatch(models.Model):
    """One CSV file of POS tickets: its preview, progress and outcome (the import history)."""

    class Status(models.TextChoices):
        VALIDATING = "validating", _("Checking the file")
        PREVIEWED = "previewed", _("Checked, waiting for confirmation")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Imported")
        REFUSED = "refused", _("Refused: nothing imported")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    class Source(models.TextChoices):
        WEB = "web", _("Web upload")
        CLI = "cli", _("Command line")

    source = models.CharField(_("source"), max_length=8, choices=Source.choices, default=Source.WEB)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.VALIDATING)
    # Deleted once the import is done or cancelled: the history keeps the figures, not the people.
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/", blank=True)
    file_name = models.CharField(_("file name"), max_length=255)
    file_size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    stores = models.ManyToManyField(Store, blank=True, related_name="+", verbose_name=_("stores"))
    skip_invalid = models.BooleanField(_("import the good rows only"), default=False)
    dry_run = models.BooleanField(_("check only"), default=False)
    delimiter = models.CharField(_("delimiter"), max_length=1, blank=True)
    decimal_mark = models.CharField(_("decimal mark"), max_length=1, blank=True)
    preview = models.JSONField(_("first rows"), default=dict, blank=True)
    file_error = models.CharField(_("file error"), max_length=255, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows done"), default=0)
    inserted = models.PositiveIntegerField(_("inserted"), default=0)
    duplicates = models.PositiveIntegerField(_("duplicates skipped"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    warning_count = models.PositiveIntegerField(_("warnings"), default=0)
    customers_created = models.PositiveIntegerField(_("customers created"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded"), db_default=models.functions.Now())
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ticket import")
        verbose_name_plural = _("ticket imports")
        constraints = [
            models.CheckConstraint(condition=Q(rows_done__lte=models.F("rows_total")), name="import_done_le_total"),
        ]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("customers:import_detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.REFUSED, self.Status.CANCELLED, self.Status.FAILED}


class ImportRowError(models.Model):
    """One refused row (or warning) of an import: line number, column and reason."""

    class Level(models.TextChoices):
        ERROR = "error", _("Error")
        WARNING = "warning", _("Warning")

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField(_("line"))
    column = models.CharField(_("column"), max_length=40, blank=True)
    message = models.CharField(_("reason"), max_length=255)
    level = models.CharField(_("level"), max_length=8, choices=Level.choices, default=Level.ERROR)

    class Meta:
        ordering = ["batch", "line", "id"]
        verbose_name = _("import error")
        verbose_name_plural = _("import errors")
        indexes = [models.Index(fields=["batch", "level", "line"], name="import_error_batch_line_idx")]

    def __str__(self) -> str:
        return f"line {self.line} {self.column}: {self.message}"
