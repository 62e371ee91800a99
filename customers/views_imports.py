"""Screens for POS tickets: CSV imports (upload → preview → confirm → progress → summary) and API tokens.

Thin views: check the role, validate the form, call a service or selector.
Imports are for staff and up (rows are limited to the stores the person works
in); API tokens for managers of the store and owners.
"""

import csv

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors
from .access import role_required
from .importers import COLUMNS, import_batch_cancel, import_batch_confirm, import_progress
from .importers_tasks import tickets_import_task
from .models import ImportBatch, Role
from .services_pos import api_token_create, api_token_revoke
from .spreadsheets import neutralise

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
SHOWN_ERRORS = 200


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file from the till"),
        help_text=gettext_lazy("UTF-8, comma or semicolon separated, with a header row."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size == 0:
            raise forms.ValidationError(_("The file is empty."))
        if f.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than 200 MB; split it or use the command line."))
        return f


@role_required(Role.STAFF)
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    """The import history, with the upload form on top."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        batch = ImportBatch.objects.create(
            source=ImportBatch.Source.WEB,
            status=ImportBatch.Status.VALIDATING,
            file=upload,
            file_name=upload.name[:255],
            file_size=upload.size,
            created_by=request.user,
        )
        tickets_import_task.delay_on_commit(batch.pk)
        return redirect(batch)
    batches = selectors.import_batches(user=request.user)[:50]
    return render(request, "customers/imports/import_list.html", {"form": form, "batches": batches, "columns": COLUMNS})


@role_required(Role.STAFF)
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = selectors.import_batch_get(user=request.user, pk=pk)
    issues = batch.row_errors.all()
    return render(
        request,
        "customers/imports/import_detail.html",
        {
            "batch": batch,
            "errors": issues.filter(level="error")[:SHOWN_ERRORS],
            "warnings": issues.filter(level="warning")[:SHOWN_ERRORS],
            "shown_errors": SHOWN_ERRORS,
            "progress": import_progress(batch=batch),
            "good_rows": max(batch.rows_total - batch.preview.get("refused_rows", 0), 0),
        },
    )


@role_required(Role.STAFF)
@require_GET
def import_progress_json(request: HttpRequest, pk: int) -> JsonResponse:
    batch = selectors.import_batch_get(user=request.user, pk=pk)
    return JsonResponse(import_progress(batch=batch))


@role_required(Role.STAFF)
@require_POST
def import_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    batch = selectors.import_batch_get(user=request.user, pk=pk)
    skip_invalid = request.POST.get("skip_invalid") == "1"
    if batch.error_count and not skip_invalid:
        messages.error(request, _("This file has refused rows: import the good rows only, or fix the file."))
        return redirect(batch)
    try:
        batch = import_batch_confirm(batch=batch, skip_invalid=skip_invalid)
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect(batch)
    tickets_import_task.delay_on_commit(batch.pk)
    return redirect(batch)


@role_required(Role.STAFF)
@require_POST
def import_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    batch = selectors.import_batch_get(user=request.user, pk=pk)
    import_batch_cancel(batch=batch, now=timezone.now())
    messages.info(request, _("Import cancelled: nothing was imported and the file was deleted."))
    return redirect("customers:imports")


@role_required(Role.STAFF)
@require_GET
def import_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """Every refused row (and warning) of the import, as CSV."""
    batch = selectors.import_batch_get(user=request.user, pk=pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-errors.csv"'
    response.write("\ufeff")  # so that spreadsheet programs read it as UTF-8
    writer = csv.writer(response)
    writer.writerow([_("line"), _("column"), _("level"), _("reason")])
    for issue in batch.row_errors.all().iterator(chunk_size=2000):
        writer.writerow([issue.line, neutralise(issue.column), issue.get_level_display(), neutralise(issue.message)])
    return response


# --- API tokens -------------------------------------------------------------------------------------------


class TokenForm(forms.Form):
    store = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Store"))
    name = forms.CharField(
        max_length=80, label=gettext_lazy("Name"), help_text=gettext_lazy("Which till or POS system uses it.")
    )

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores
        if stores.count() == 1:
            self.fields["store"].initial = stores.first()


@role_required(Role.MANAGER)
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List the POS keys of the stores the person manages; create one (its key is shown once)."""
    stores = selectors.stores_managed(user=request.user)
    form = TokenForm(request.POST or None, stores=stores)
    new_key = None
    if request.method == "POST" and form.is_valid():
        token, new_key = api_token_create(
            store=form.cleaned_data["store"], name=form.cleaned_data["name"], by=request.user
        )
        form = TokenForm(stores=stores)
    return render(
        request,
        "customers/api_tokens.html",
        {"form": form, "tokens": selectors.api_tokens(user=request.user), "new_key": new_key},
    )


@role_required(Role.MANAGER)
@require_POST
def api_token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    token = selectors.api_token_get(user=request.user, pk=pk)
    api_token_revoke(token=token, by=request.user, now=timezone.now())
    messages.success(
        request, _("Token %(name)s revoked: tills using it can no longer send tickets.") % {"name": token.name}
    )
    return redirect("customers:api_tokens")
