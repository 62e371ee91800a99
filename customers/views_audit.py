"""The audit log for owners: who did what (exports, merges, erasures, consent, points, roles), filterable
and exportable. Entries carry ids and counts only, so the log itself holds no personal data."""

import csv
import datetime as dt

from django import forms
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .access import role_required
from .models import AuditEntry, Role, Store
from .services import audit_record
from .spreadsheets import neutralise


class AuditFilter(forms.Form):
    action = forms.ChoiceField(
        label=gettext_lazy("Action"), required=False, choices=[("", gettext_lazy("Any"))] + AuditEntry.Action.choices
    )
    store = forms.ModelChoiceField(
        label=gettext_lazy("Store"), queryset=Store.objects.all(), required=False, to_field_name="code"
    )
    actor = forms.CharField(label=gettext_lazy("By (login)"), required=False, max_length=150)
    since = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


def _filtered(form: AuditFilter) -> QuerySet[AuditEntry]:
    qs = AuditEntry.objects.select_related("actor", "store").order_by("-at", "-id")
    if not form.is_valid():
        return qs
    data = form.cleaned_data
    if data["action"]:
        qs = qs.filter(action=data["action"])
    if data["store"]:
        qs = qs.filter(store=data["store"])
    if data["actor"]:
        qs = qs.filter(actor__in=get_user_model().objects.filter(username=data["actor"].strip()))
    if data["since"]:
        qs = qs.filter(at__gte=dt.datetime.combine(data["since"], dt.time.min, tzinfo=dt.UTC))
    if data["until"]:
        qs = qs.filter(at__lt=dt.datetime.combine(data["until"] + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC))
    return qs


@role_required(Role.OWNER)
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilter(request.GET or None)
    page = Paginator(_filtered(form), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "customers/audit_log.html", {"form": form, "page": page, "query": query.urlencode()})


class _Echo:
    def write(self, value: str) -> str:
        return value


@role_required(Role.OWNER)
def audit_log_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered log as CSV (streamed); the export is itself audited."""
    form = AuditFilter(request.GET or None)
    entries = _filtered(form)
    filters = {k: str(v) for k, v in (form.cleaned_data if form.is_valid() else {}).items() if v}
    audit_record(actor=request.user, action=AuditEntry.Action.EXPORT, details={"what": "audit_log", **filters})
    writer = csv.writer(_Echo())

    def rows():
        yield "\ufeff" + writer.writerow([_("when"), _("action"), _("by"), _("store"), _("object"), _("details")])
        for e in entries.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    e.at.isoformat(),
                    e.get_action_display(),
                    neutralise(e.actor.get_username() if e.actor else ""),
                    e.store.code if e.store else "",
                    f"{e.target_type}#{e.target_id}" if e.target_id else e.target_type,
                    neutralise(" ".join(f"{k}={v}" for k, v in sorted(e.details.items()))),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="regulars-audit-{stamp}.csv"'
    return response
