"""Manager dashboard and owner exports. Thin: check access, validate the filter, call the reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from customers.access import SESSION_STORE_KEY, access_for, role_required, stores_for
from customers.models import Role, Store

from . import analytics_tiles, dashboard_segments, dashboard_tiles, exports, kpis
from .models import ExportJob

MAX_PERIOD_DAYS = 3 * 366
PRESETS = [
    (30, gettext_lazy("Last 30 days")),
    (90, gettext_lazy("Last 90 days")),
    (365, gettext_lazy("Last 12 months")),
]


class DashboardFilterForm(forms.Form):
    store = forms.ChoiceField(label=gettext_lazy("Store"), required=False)
    start = forms.DateField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, stores: list[Store], **kwargs):
        super().__init__(*args, **kwargs)
        self.stores = stores
        self.fields["store"].choices = [("", _("All my stores"))] + [(s.code, s.name) for s in stores]

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("The end date is before the start date."))
            elif (end - start).days >= MAX_PERIOD_DAYS:
                self.add_error("start", _("Choose a period of at most three years."))
        return data


@dataclass(frozen=True)
class DashboardFilter:
    stores: list[Store]
    period: kpis.Period
    store_code: str


def _dashboard_filter(request: HttpRequest) -> tuple[DashboardFilterForm, DashboardFilter]:
    """The stores and period the page is about: the form's choice, else the switcher and 30 days."""
    # The stores come with their points liability and their tables' versions (subqueries): one query.
    access = access_for(request.user)
    visible = analytics_tiles.dashboard_stores(store_ids=None if access.chain_wide else access.store_ids)
    request.visible_stores = visible  # the store switcher's list (customers.context_processors): no second read
    today = timezone.localdate()
    # The store switcher's choice is the default (read from the session: no extra query).
    switched = request.session.get(SESSION_STORE_KEY, "")
    default_code = switched if any(s.code == switched for s in visible) else ""
    if len(visible) == 1:
        default_code = visible[0].code
    initial = {"store": default_code, "start": today - dt.timedelta(days=29), "end": today}
    data = request.GET.copy() if request.GET else None
    if data is not None:
        for key, value in initial.items():
            data.setdefault(key, value.isoformat() if isinstance(value, dt.date) else value)
    form = DashboardFilterForm(data, initial=initial, stores=visible)
    values = form.cleaned_data if form.is_bound and form.is_valid() else initial
    code = values.get("store") or ""
    chosen = [s for s in visible if s.code == code] if code else visible
    return form, DashboardFilter(stores=chosen, period=kpis.Period(values["start"], values["end"]), store_code=code)


@role_required(Role.MANAGER)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The manager's morning page: KPI cards, then charts, each with its table one click away.

    The page's body is rendered once per data version and kept in the cache
    (``dashboard_tiles.body_cache_key``): the tiles read from the precomputed tables by their
    refresh times, the notes pipeline and complaints by their stores' live version
    (``outreach.live_versions``). A request that finds it runs only the store query; the page
    around it (navigation, CSRF token, messages) is rendered per request. Inside a miss, the tiles
    have a cache of their own (``dashboard_tiles.tiles_html``): a marked note re-renders the
    pipeline, not the charts.
    """
    form, flt = _dashboard_filter(request)
    now = timezone.now()
    store_ids = [s.pk for s in flt.stores]
    period = flt.period
    access = access_for(request.user)
    scope_key = dashboard_segments.scope_key_for_dashboard(
        store_ids=store_ids, store_code=flt.store_code, chain_wide=access.chain_wide
    )

    def key_at(moment: dt.datetime) -> str | None:
        return dashboard_tiles.body_cache_key(
            flt=flt, scope_key=scope_key, visible=request.visible_stores, user_role=access.role, now=moment
        )

    key = key_at(now) if not form.errors else None
    body = (
        dashboard_tiles.body_cached(key=key, previous_key=lambda: key_at(now - dt.timedelta(minutes=1)))
        if key
        else None
    )
    if body is None:
        tiles_html = dashboard_tiles.tiles_html(request=request, flt=flt, scope_key=scope_key)
        live = dashboard_tiles.live_context(store_ids=store_ids, period=period, now=now)
        body = render_to_string(
            "outreach/dashboard/_body.html",
            {
                "form": form,
                "flt": flt,
                "period": period,
                "previous": period.previous(),
                "tiles_html": tiles_html,
                **live,
                "presets": [
                    {"label": label, "start": period.end - dt.timedelta(days=days - 1), "end": period.end}
                    for days, label in PRESETS
                ],
            },
            request=request,
        )
        if key:
            dashboard_tiles.body_keep(key=key, body=body)
    body_html = mark_safe(body)  # nosec B308 B703 - the output of our own autoescaping template, from our cache
    return render(request, "outreach/dashboard/index.html", {"form": form, "flt": flt, "body_html": body_html})


# --- Owner exports ----------------------------------------------------------------------------------


class ExportForm(forms.Form):
    segment = forms.ChoiceField(label=gettext_lazy("Customers"), choices=exports.SEGMENT_CHOICES, initial="best")
    top = forms.IntegerField(
        label=gettext_lazy("How many"),
        min_value=1,
        max_value=exports.XLSX_MAX_ROWS,
        required=False,
        initial=50,
        help_text=gettext_lazy("Leave empty for everyone in the list."),
    )
    store = forms.ChoiceField(label=gettext_lazy("Store"), required=False)
    as_of = forms.DateField(label=gettext_lazy("As of"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    format = forms.ChoiceField(label=gettext_lazy("Format"), choices=exports.FORMAT_CHOICES, initial="xlsx")

    def __init__(self, *args, stores: list[Store], **kwargs):
        super().__init__(*args, **kwargs)
        self.stores = stores
        self.fields["store"].choices = [("", _("All stores"))] + [(s.code, s.name) for s in stores]

    def to_request(self, *, today: dt.date) -> exports.ExportRequest:
        data = self.cleaned_data
        code = data.get("store") or ""
        chosen = [s for s in self.stores if s.code == code] if code else self.stores
        return exports.ExportRequest(
            segment=data["segment"],
            top=data.get("top"),
            store_ids=tuple(s.pk for s in chosen),
            store_codes=tuple(s.code for s in chosen) if code else (),
            as_of=data.get("as_of") or today,
        )


def _export_form(request: HttpRequest, data=None) -> ExportForm:
    return ExportForm(data, stores=list(stores_for(request.user).only("pk", "code", "name")))


@role_required(Role.OWNER)
def export_index(request: HttpRequest) -> HttpResponse:
    """Pick a list and a format; CSV and PDF download at once, XLSX is built in the background."""
    form = _export_form(request)
    jobs = ExportJob.objects.filter(requested_by=request.user)[:10]
    return render(request, "outreach/exports/index.html", {"form": form, "jobs": jobs})


@role_required(Role.OWNER)
def export_download(request: HttpRequest) -> HttpResponse:
    """CSV (streamed, constant memory) or PDF of a customer list, audited."""
    form = _export_form(request, request.GET or {"segment": "best", "top": 50, "format": "csv"})
    if not form.is_valid():
        return render(request, "outreach/exports/index.html", {"form": form, "jobs": []}, status=400)
    req = form.to_request(today=timezone.localdate())
    fmt = form.cleaned_data["format"]
    name = exports.export_filename(req, fmt)
    if fmt == "xlsx":
        return redirect(f"{reverse('dashboard:exports')}?{request.GET.urlencode()}")
    if fmt == "csv":
        rows = exports.export_rows_count(request=req)
        exports.export_audit(actor=request.user, request=req, fmt=fmt, rows=rows)
        response = StreamingHttpResponse(exports.csv_stream(request=req), content_type="text/csv; charset=utf-8")
    else:
        pdf, rows = exports.pdf_render(request=req)
        exports.export_audit(actor=request.user, request=req, fmt=fmt, rows=rows)
        response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_POST
@role_required(Role.OWNER)
def export_start(request: HttpRequest) -> HttpResponse:
    """Queue an XLSX export and go to its progress page."""
    form = _export_form(request, request.POST)
    if not form.is_valid():
        jobs = ExportJob.objects.filter(requested_by=request.user)[:10]
        return render(request, "outreach/exports/index.html", {"form": form, "jobs": jobs}, status=400)
    if form.cleaned_data["format"] != "xlsx":
        return redirect(f"{reverse('dashboard:export_download')}?{request.POST.urlencode()}")
    job = exports.export_job_start(by=request.user, request=form.to_request(today=timezone.localdate()))
    messages.info(request, _("Your export is being built. This page shows its progress; the link appears when done."))
    return redirect("dashboard:export_job", pk=job.pk)


def _job_get(request: HttpRequest, pk: int) -> ExportJob:
    return exports.export_job_get(user=request.user, pk=pk)


@role_required(Role.OWNER)
def export_job(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "outreach/exports/job.html", {"job": _job_get(request, pk)})


@role_required(Role.OWNER)
def export_job_status(request: HttpRequest, pk: int) -> JsonResponse:
    """What the progress bar polls."""
    job = _job_get(request, pk)
    return JsonResponse(
        {
            "status": job.status,
            "status_label": job.get_status_display(),
            "rows_done": job.rows_done,
            "rows_total": job.rows_total,
            "percent": job.percent,
            "message": job.message,
            "download": reverse("dashboard:export_job_file", args=[job.pk]) if job.status == job.Status.DONE else "",
        }
    )


@role_required(Role.OWNER)
def export_job_file(request: HttpRequest, pk: int) -> FileResponse:
    job = _job_get(request, pk)
    if job.status != ExportJob.Status.DONE or not job.file:
        raise Http404
    path = exports.job_path(job)
    if not path.exists():
        raise Http404
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
